"""The device stream: a websocket that authenticates in its first message, then carries
challenges down and signed answers up.

Writes go through each connection's bounded outbox, drained by a writer task while frames
wait, so the fan-out never awaits a phone. Close codes: 4401 auth refused or late, 4403
revoked, 4408 too slow, 4429 too many streams for one device, 1009 frame too large (aiohttp
enforces it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import WSMsgType, web

from . import frames, tokens
from .edge import first_message, service
from .errors import ErrorCode, PushError, invalid
from .ids import new_secret
from .models import Device
from .outbox import Outbox
from .service import PushService

log = logging.getLogger("push_service.stream")


class Connection:
    """One authenticated phone: its outbox, and the challenges it was shown."""

    # Slots: an instance per idle phone, thousands to an instance.
    __slots__ = ("_outbox", "budget", "device", "shown", "ws")

    def __init__(
        self, ws: web.WebSocketResponse, device: Device, size: int, budget: FrameBudget
    ) -> None:
        self.ws = ws
        self.device = device
        self.budget = budget
        self.shown: set[str] = set()
        self._outbox = Outbox(
            ws.send_str, size, on_full=self._too_slow, name=f"ws-writer-{device.device_id}"
        )

    def offer(self, frame: str) -> bool:
        return self._outbox.offer(frame)

    def close_soon(self, code: int, reason: str) -> None:
        if not self.ws.closed:
            asyncio.create_task(self.ws.close(code=code, message=reason.encode()))  # noqa: RUF006

    async def stop(self) -> None:
        await self._outbox.stop()

    def _too_slow(self) -> None:
        self.close_soon(frames.CLOSE_SLOW, "too slow to read its messages")


class FrameBudget:
    """A token bucket: how many frames a phone may send, refilled at a steady rate."""

    __slots__ = ("_at", "_burst", "_rate", "_tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()

    def spend(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


FLOODING = PushError(
    ErrorCode.RATE_LIMITED, "Too many messages on this stream; slow down.", retry_after=1
)


async def stream(request: web.Request) -> web.WebSocketResponse:
    push = service(request)
    settings = push.settings
    # No permessage-deflate: frames are small JSON, and compressing each costs more CPU
    # than it saves bytes.
    ws = web.WebSocketResponse(
        heartbeat=settings.ws_heartbeat,
        max_msg_size=settings.ws_max_frame,
        autoping=True,
        compress=False,
    )
    await ws.prepare(request)
    device = await _authenticate(ws, push)
    if device is None:
        return ws
    if push.hub.streams_of(device.device_id) >= settings.max_streams_per_device:
        await ws.close(code=frames.CLOSE_TOO_MANY_STREAMS, message=b"too many streams")
        return ws
    budget = FrameBudget(settings.ws_frames_per_second, settings.ws_frame_burst)
    connection = Connection(ws, device, settings.ws_outbox, budget)
    connection.offer(frames.ready(device.device_id))
    push.hub.add(connection)
    try:
        await push.presence.online(device)
        for challenge in await push.pending_for(device):
            push.hub.show(connection, challenge)
        await _converse(ws, push, connection)
    except PushError as exc:
        # The store went away mid-stream: the phone reconnects and gets what is pending.
        await ws.close(code=frames.CLOSE_UNAVAILABLE, message=exc.message.encode()[:120])
    finally:
        push.hub.remove(connection)
        await connection.stop()
        # Shielded: a handler cancelled because its connection dropped (aiohttp's
        # handler_cancellation) must still tell the fleet the phone left, rather than leave it
        # counted as connected until the presence deadline.
        await asyncio.shield(_offline(push, device))
    return ws


async def _offline(push: PushService, device: Device) -> None:
    with contextlib.suppress(PushError):
        await push.presence.offline(device)


async def _authenticate(ws: web.WebSocketResponse, push: PushService) -> Device | None:
    nonce = new_secret(nbytes=16)
    await ws.send_str(frames.hello(nonce))
    try:
        message = await first_message(ws, push.settings.ws_auth_timeout)
        if message.type is not WSMsgType.TEXT:
            raise invalid("The first message must be a text 'auth' frame.")
        _, token = frames.parse(message.data, {"auth"})
        device, _ = await push.device_from_token(token, tokens.Kind.STREAM_AUTH, nonce=nonce)
    except TimeoutError:
        await ws.close(code=frames.CLOSE_AUTH, message=b"no auth within the time allowed")
        return None
    except PushError as exc:
        # A store outage is not a bad token: 1013 tells the phone to come back later.
        code = frames.CLOSE_UNAVAILABLE if exc.code is ErrorCode.UNAVAILABLE else frames.CLOSE_AUTH
        await ws.close(code=code, message=exc.message.encode()[:120])
        return None
    return device


async def _converse(ws: web.WebSocketResponse, push: PushService, connection: Connection) -> None:
    async for message in ws:
        # Let the writer drain between frames: a burst of reads must not fill the outbox.
        await asyncio.sleep(0)
        if message.type in (WSMsgType.TEXT, WSMsgType.BINARY) and not connection.budget.spend():
            connection.offer(frames.error(FLOODING))
        elif message.type is WSMsgType.TEXT:
            await _answer(push, connection, message.data)
        elif message.type is WSMsgType.BINARY:
            connection.offer(
                frames.error(invalid("Binary frames are not accepted; send JSON text."))
            )
        else:
            break


async def _answer(push: PushService, connection: Connection, text: str) -> None:
    token: str | None = None
    try:
        kind, token = frames.parse(text, {"response"})
        push.metrics.ws_messages.labels("in", kind).inc()
        ended = await push.respond(token, device_id=connection.device.device_id)
        connection.offer(frames.result(ended.challenge_id, ended.status.value))
    except PushError as exc:
        connection.offer(frames.error(exc, _claimed_challenge(token) if token else None))


def _claimed_challenge(token: str) -> str | None:
    """The challenge a token says it answers, for error messages only (not yet trusted)."""
    with contextlib.suppress(PushError):
        cid = tokens.peek(token).claims.get("cid")
        return cid if isinstance(cid, str) else None
    return None
