"""Fixtures and helpers of the dashboard tests: the operator feed opened as a browser would, and
bounded reads of its frames."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.conftest import ADMIN_TOKEN, World
from tests.phone import Phone

WAIT = 3.0
"""The longest any expected frame may take; each read returns as soon as it arrives."""


async def open_feed(client: Any, token: str = ADMIN_TOKEN) -> aiohttp.ClientWebSocketResponse:
    ws: aiohttp.ClientWebSocketResponse = await client.ws_connect("/v1/admin/stream")
    await ws.send_json({"type": "auth", "token": token})
    return ws


async def signed_in(client: Any) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    """An authenticated feed and its first frame, which must be the snapshot."""
    ws = await open_feed(client)
    first = await ws.receive_json(timeout=WAIT)
    assert first["type"] == "snapshot", first
    return ws, first


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str, **match: Any) -> dict[str, Any]:
    """The next frame of type `kind` whose fields include `match` (nested dicts compared by
    their listed keys), skipping others; fails after WAIT seconds of no such frame."""
    while True:
        message = await ws.receive(timeout=WAIT)
        assert message.type is aiohttp.WSMsgType.TEXT, f"feed ended: {message}"
        frame: dict[str, Any] = json.loads(message.data)
        if frame["type"] == kind and _matches(frame, match):
            return frame


def _matches(frame: dict[str, Any], match: dict[str, Any]) -> bool:
    for key, wanted in match.items():
        value = frame.get(key)
        if isinstance(wanted, dict):
            if not isinstance(value, dict) or not _matches(value, wanted):
                return False
        elif value != wanted:
            return False
    return True


async def close_code(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """Read until the server closes the socket; the code in its close frame."""
    while True:
        message = await ws.receive(timeout=WAIT)
        if message.type is aiohttp.WSMsgType.CLOSE:
            # Taken from the frame: replying to it may fail on a transport the server already
            # shut, and then aiohttp reports 1006 instead.
            code: int = message.data
            return code
        if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return ws.close_code


async def connect_phone(world: World, phone: Phone) -> aiohttp.ClientWebSocketResponse:
    """A phone's device stream, authenticated (hello, auth, ready)."""
    ws: aiohttp.ClientWebSocketResponse = await world.client.ws_connect("/v1/devices/stream")
    hello = await ws.receive_json(timeout=WAIT)
    await ws.send_json({"type": "auth", "token": phone.token(nonce=hello["nonce"])})
    ready = await ws.receive_json(timeout=WAIT)
    assert ready["type"] == "ready", ready
    return ws


async def answer(world: World, phone: Phone, challenge: dict[str, Any], **how: Any) -> str:
    """Answer over HTTP as a polling phone would; the resulting status."""
    view = await world.device_view(phone, challenge["challenge_id"])
    decision = how.pop("decision", "approve")
    if decision == "approve":
        how.setdefault("number", challenge.get("match_number"))
    response = await world.client.post(
        f"/v1/challenges/{challenge['challenge_id']}/response",
        json={"token": phone.response(view, decision, **how)},
    )
    assert response.status == 200, await response.text()
    status: str = (await response.json())["status"]
    return status
