"""The device stream: authentication in the first message, fan-out, answers, and close codes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import aiohttp
import pytest

from push_service.config import Settings
from tests.conftest import ADMIN, World, make_settings
from tests.phone import Phone


async def _connect(world: World, phone: Phone) -> aiohttp.ClientWebSocketResponse:
    ws = await world.client.ws_connect("/v1/devices/stream")
    hello = await ws.receive_json(timeout=2)
    assert hello["type"] == "hello"
    assert len(hello["nonce"]) >= 22
    await ws.send_json({"type": "auth", "token": phone.token(nonce=hello["nonce"])})
    ready = await ws.receive_json(timeout=2)
    assert ready == {"type": "ready", "device_id": phone.device_id}
    return ws


async def _next(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message: dict[str, Any] = await ws.receive_json(timeout=2)
    return message


async def _closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    message = await ws.receive(timeout=3)
    while message.type not in (
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.CLOSING,
    ):
        message = await ws.receive(timeout=3)
    return ws.close_code


async def test_pending_challenges_arrive_on_connect_and_new_ones_at_once(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    earlier = await world.challenge(app)
    ws = await _connect(world, phone)
    first = await _next(ws)
    assert first["type"] == "challenge"
    assert first["challenge"]["challenge_id"] == earlier["challenge_id"]
    assert "match_number" not in first["challenge"]
    later = await world.challenge(app, context={"browser": "Firefox"})
    second = await _next(ws)
    assert second["challenge"]["challenge_id"] == later["challenge_id"]
    assert second["challenge"]["context"] == {"browser": "Firefox"}
    await ws.close()


async def test_answer_on_one_device_resolves_it_on_the_other(world: World) -> None:
    app = await world.new_app()
    phone, tablet = await world.enroll("alice", app), await world.enroll("alice", app)
    ws_phone, ws_tablet = await _connect(world, phone), await _connect(world, tablet)
    challenge = await world.challenge(app)
    view = (await _next(ws_phone))["challenge"]
    await _next(ws_tablet)
    await ws_phone.send_json(
        {"type": "response", "token": phone.response(view, number=challenge["match_number"])}
    )
    assert await _next(ws_phone) == {
        "type": "result",
        "challenge_id": view["challenge_id"],
        "status": "approved",
    }
    assert await _next(ws_tablet) == {
        "type": "resolved",
        "challenge_id": view["challenge_id"],
        "status": "approved",
    }
    await ws_phone.close()
    await ws_tablet.close()


async def test_refused_answer_is_an_error_message_and_the_stream_stays(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    ws = await _connect(world, phone)
    await world.challenge(app)
    view = (await _next(ws))["challenge"]
    await ws.send_json(
        {
            "type": "response",
            "token": phone.token(cid=view["challenge_id"], nonce="n" * 22, decision="deny"),
        }
    )
    error = await _next(ws)
    assert error["type"] == "error"
    assert error["code"] == "invalid_request"
    assert error["challenge_id"] == view["challenge_id"]
    await ws.send_json({"type": "response", "token": phone.response(view, "deny")})
    assert (await _next(ws))["status"] == "denied"
    await ws.close()


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        json.dumps({"type": "dance", "token": "x"}),
        json.dumps({"type": "response"}),
        json.dumps({"type": "response", "token": "a.b.c", "extra": 1}),
        '{"type": "response", "type": "auth", "token": "x"}',
    ],
)
async def test_bad_frames_get_an_error_and_the_stream_stays(world: World, frame: str) -> None:
    phone = await world.enroll("alice")
    ws = await _connect(world, phone)
    await ws.send_str(frame)
    assert (await _next(ws))["code"] == "invalid_request"
    await ws.send_bytes(b"\x00\x01")
    assert (await _next(ws))["code"] == "invalid_request"
    assert not ws.closed
    await ws.close()


async def test_another_devices_token_on_this_stream_is_refused(world: World) -> None:
    app = await world.new_app()
    phone, other = await world.enroll("alice", app), await world.enroll("alice", app)
    ws = await _connect(world, phone)
    await world.challenge(app)
    view = (await _next(ws))["challenge"]
    await ws.send_json({"type": "response", "token": other.response(view, "deny")})
    assert (await _next(ws))["code"] == "invalid_token"
    await ws.close()


async def test_bad_auth_closes_with_4401(world: World) -> None:
    phone = await world.enroll("alice")
    ws = await world.client.ws_connect("/v1/devices/stream")
    await ws.receive_json(timeout=2)
    await ws.send_json({"type": "auth", "token": phone.token(nonce="not-the-hello-nonce")})
    assert await _closed_with(ws) == 4401


async def test_auth_token_cannot_be_replayed_on_another_connection(world: World) -> None:
    phone = await world.enroll("alice")
    ws = await world.client.ws_connect("/v1/devices/stream")
    nonce = (await ws.receive_json(timeout=2))["nonce"]
    token = phone.token(nonce=nonce)
    await ws.send_json({"type": "auth", "token": token})
    assert (await _next(ws))["type"] == "ready"
    thief = await world.client.ws_connect("/v1/devices/stream")
    await thief.receive_json(timeout=2)
    await thief.send_json({"type": "auth", "token": token})
    assert await _closed_with(thief) == 4401
    await ws.close()


@pytest.mark.parametrize("settings", [dataclasses.replace(make_settings(), ws_auth_timeout=0.3)])
async def test_no_auth_in_time_closes_with_4401(world: World, settings: Settings) -> None:
    ws = await world.client.ws_connect("/v1/devices/stream")
    await ws.receive_json(timeout=2)
    assert await _closed_with(ws) == 4401


async def test_frame_over_64_kib_closes_with_1009(world: World) -> None:
    phone = await world.enroll("alice")
    ws = await _connect(world, phone)
    await ws.send_str("x" * (64 * 1024 + 1))
    assert await _closed_with(ws) == 1009


async def test_operator_revocation_closes_streams_with_4403_and_refuses_tokens(
    world: World,
) -> None:
    phone = await world.enroll("alice")
    ws = await _connect(world, phone)
    response = await world.client.delete(f"/v1/admin/devices/{phone.device_id}", headers=ADMIN)
    assert response.status == 204
    assert await _closed_with(ws) == 4403
    refused = await world.client.get("/v1/devices/me/challenges", headers=phone.bearer())
    assert refused.status == 401
    assert (await refused.json())["error"]["code"] == "invalid_token"


async def test_self_revocation_closes_the_stream(world: World) -> None:
    phone = await world.enroll("alice")
    ws = await _connect(world, phone)
    assert (await world.client.delete("/v1/devices/me", headers=phone.bearer())).status == 204
    assert await _closed_with(ws) == 4403


async def test_cancel_and_expiry_send_resolved(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    ws = await _connect(world, phone)
    challenge = await world.challenge(app)
    await _next(ws)
    await world.client.delete(f"/v1/challenges/{challenge['challenge_id']}", headers=app["headers"])
    assert await _next(ws) == {
        "type": "resolved",
        "challenge_id": challenge["challenge_id"],
        "status": "cancelled",
    }
    await ws.close()


@pytest.mark.parametrize("settings", [make_settings(PUSH_MAX_STREAMS_PER_DEVICE="1")])
async def test_streams_per_device_are_capped(world: World, settings: Settings) -> None:
    phone = await world.enroll("alice")
    first = await _connect(world, phone)
    second = await world.client.ws_connect("/v1/devices/stream")
    nonce = (await second.receive_json(timeout=2))["nonce"]
    await second.send_json({"type": "auth", "token": phone.token(nonce=nonce)})
    assert await _closed_with(second) == 4429
    await first.close()


async def test_operator_sees_the_device_connected(world: World) -> None:
    phone = await world.enroll("alice")
    ws = await _connect(world, phone)
    devices = (
        await (await world.client.get("/v1/admin/users/alice/devices", headers=ADMIN)).json()
    )["devices"]
    assert devices[0]["connected"] is True
    assert devices[0]["last_seen_at"]
    await ws.close()


@pytest.mark.parametrize(
    "settings", [make_settings(PUSH_WS_FRAMES_PER_SECOND="1", PUSH_WS_FRAME_BURST="3")]
)
async def test_a_flood_of_frames_is_refused_beyond_the_budget(
    world: World, settings: Settings
) -> None:
    phone = await world.enroll("alice")
    ws = await _connect(world, phone)
    for _ in range(10):
        await ws.send_str("not json")
    codes = [(await _next(ws))["code"] for _ in range(10)]
    assert codes.count("invalid_request") == 3
    assert codes.count("rate_limited") == 7
    assert (await world.client.get("/healthz")).status == 200
    await ws.close()
