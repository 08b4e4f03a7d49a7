"""What every attack needs: a staged victim, a record of the state before, and proof it held."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from push_service.edge import SERVICE
from push_service.service import PushService
from tests.conftest import ADMIN, World
from tests.phone import Phone

HOOK = "https://127.0.0.1:9/hook"
"""A callback URL on every staged challenge: whether a delivery gets queued is what counts, so
nothing needs to answer there (private targets are allowed by the default test settings)."""

CLOSING = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


async def error_of(response: aiohttp.ClientResponse) -> tuple[int, str | None]:
    """The status and contract error code of a refusal (None when the answer is no error)."""
    body = await response.json()
    error = body.get("error") if isinstance(body, dict) else None
    return response.status, error.get("code") if isinstance(error, dict) else None


def service_of(world: World) -> PushService:
    return world.client.app[SERVICE]


@dataclass
class Scene:
    """A victim: an app, a user's phone enrolled through it, and one pending challenge."""

    world: World
    app: dict[str, Any]
    phone: Phone
    challenge: dict[str, Any]
    view: dict[str, Any]
    user: str = "alice"

    @property
    def cid(self) -> str:
        return str(self.challenge["challenge_id"])

    async def answer(self, token: str, challenge_id: str | None = None) -> aiohttp.ClientResponse:
        return await self.world.client.post(
            f"/v1/challenges/{challenge_id or self.cid}/response", json={"token": token}
        )

    async def as_app(self, challenge_id: str | None = None) -> dict[str, Any]:
        response = await self.world.client.get(
            f"/v1/challenges/{challenge_id or self.cid}", headers=self.app["headers"]
        )
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    def approval(self, **extra: Any) -> str:
        """The right answer: approve with the number the app shows."""
        return self.phone.response(self.view, number=self.challenge["match_number"], **extra)


async def stage(
    world: World,
    user: str = "alice",
    app: dict[str, Any] | None = None,
    phone: Phone | None = None,
    **body: Any,
) -> Scene:
    """A new pending challenge (with a callback URL) for a phone enrolled through `app`."""
    app = app or await world.new_app()
    phone = phone or await world.enroll(user, app)
    challenge = await world.challenge(app, user, callback_url=HOOK, **body)
    view = await world.device_view(phone, challenge["challenge_id"])
    return Scene(world, app, phone, challenge, view, user)


async def deliveries(world: World) -> list[dict[str, Any]]:
    response = await world.client.get("/v1/admin/webhooks?limit=1000", headers=ADMIN)
    assert response.status == 200, await response.text()
    found: list[dict[str, Any]] = (await response.json())["deliveries"]
    return found


async def standing(world: World, user: str = "alice") -> dict[str, Any]:
    response = await world.client.get(f"/v1/admin/users/{user}", headers=ADMIN)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def audit(world: World, **query: str) -> list[dict[str, Any]]:
    """Audit events, newest first (the service flushes before it answers)."""
    response = await world.client.get(
        "/v1/admin/audit", params={"limit": "1000", **query}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    events: list[dict[str, Any]] = (await response.json())["events"]
    return events


async def refused_tokens(world: World) -> dict[str, float]:
    """Device tokens refused so far, by reason slug, from the Prometheus scrape."""
    text = await (await world.client.get("/metrics")).text()
    found = re.findall(r'(?m)^push_tokens_refused_total\{reason="([^"]+)"\} (\S+)$', text)
    return {reason: float(value) for reason, value in found}


@dataclass
class Before:
    """The state an attack must leave as it found it."""

    user: str
    deliveries: list[dict[str, Any]]
    standing: dict[str, Any]
    audit_ids: set[str]
    refused: dict[str, float] = field(default_factory=dict)


async def before(world: World, user: str = "alice") -> Before:
    return Before(
        user,
        await deliveries(world),
        await standing(world, user),
        {e["event_id"] for e in await audit(world)},
        await refused_tokens(world),
    )


async def new_events(world: World, was: Before, kind: str | None = None) -> list[dict[str, Any]]:
    events = await audit(world, **({"kind": kind} if kind else {}))
    return [e for e in events if e["event_id"] not in was.audit_ids]


async def unchanged(
    world: World, was: Before, *, pending: list[Scene] | tuple[Scene, ...] = ()
) -> None:
    """No challenge ended, no webhook was queued, the user's standing did not move."""
    for scene in pending:
        seen = await scene.as_app()
        assert seen["status"] == "pending", seen
        assert seen.get("match_number") == scene.challenge["match_number"]
        assert "response_token" not in seen
    assert await deliveries(world) == was.deliveries
    assert await standing(world, was.user) == was.standing
    ended = [e["kind"] for e in await new_events(world, was) if _ends_a_challenge(e["kind"])]
    assert ended == [], ended


def _ends_a_challenge(kind: str) -> bool:
    parts = kind.split(".")
    return parts[0] == "challenge" and parts[1:2] in (
        ["approved"],
        ["denied"],
        ["expired"],
        ["cancelled"],
    )


async def token_refusal_recorded(
    world: World, was: Before, reason: str, device_id: str | None
) -> None:
    """One more refusal counted under `reason`, and a `token.refused` audit event naming the
    device the token claimed to be."""
    now = await refused_tokens(world)
    assert now.get(reason, 0) == was.refused.get(reason, 0) + 1, (reason, was.refused, now)
    events = await new_events(world, was, "token.refused")
    assert events, "the refusal was not audited"
    assert events[0]["actor"] == "anonymous"
    assert events[0].get("device_id") == device_id
    assert events[0]["detail"]["reason"]


# The device stream
async def connect(world: World, phone: Phone) -> aiohttp.ClientWebSocketResponse:
    """An authenticated stream for `phone`, past `ready`."""
    ws = await world.client.ws_connect("/v1/devices/stream")
    hello = await ws.receive_json(timeout=2)
    await ws.send_json({"type": "auth", "token": phone.token(nonce=hello["nonce"])})
    ready = await ws.receive_json(timeout=2)
    assert ready == {"type": "ready", "device_id": phone.device_id}, ready
    return ws


async def next_frame(ws: aiohttp.ClientWebSocketResponse, within: float = 2) -> dict[str, Any]:
    frame: dict[str, Any] = await ws.receive_json(timeout=within)
    return frame


async def close_code(ws: aiohttp.ClientWebSocketResponse, within: float = 3) -> int | None:
    """The close code the server ends this stream with (frames before it are skipped); fails
    with TimeoutError if the server keeps the stream open for `within` seconds."""
    async with asyncio.timeout(within):
        while True:
            message = await ws.receive()
            if message.type in CLOSING:
                return ws.close_code


async def frames_until_quiet(
    ws: aiohttp.ClientWebSocketResponse, quiet: float = 0.5, limit: float = 5.0
) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame the server sends until it is quiet for `quiet` seconds (or closes), and the
    close code if it closed."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            async with asyncio.timeout(quiet):
                message = await ws.receive()
        except TimeoutError:
            return received, None
        if message.type in CLOSING:
            return received, ws.close_code
        if message.type is aiohttp.WSMsgType.TEXT:
            received.append(json.loads(message.data))
    return received, None


async def first_done(
    tasks: list[asyncio.Task[Any]], count: int, within: float
) -> list[asyncio.Task[Any]]:
    """Wait until at least `count` of `tasks` are done (TimeoutError after `within` seconds)."""
    async with asyncio.timeout(within):
        while sum(t.done() for t in tasks) < count:
            await asyncio.wait(
                [t for t in tasks if not t.done()], return_when=asyncio.FIRST_COMPLETED
            )
    return [t for t in tasks if t.done()]


async def prompt(world: World, path: str = "/healthz", within: float = 1.0) -> float:
    """GET `path` and return how long it took; fails if it took longer than `within`."""
    started = time.monotonic()
    async with asyncio.timeout(within):
        response = await world.client.get(path)
        assert response.status == 200
    return time.monotonic() - started
