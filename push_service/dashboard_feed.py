"""One signed-in operator's live feed: a snapshot read from the engine, then every event from
every instance as a JSON frame. The feed is a service watcher that only queues: a browser that
cannot keep up is closed (it reconnects and gets a fresh snapshot), never awaited.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import dashboard_views as views
from . import frames, jsonbody
from .engine.base import (
    AppDeleted,
    ChallengeCreated,
    ChallengeEnded,
    DevicePresence,
    DeviceRevoked,
    Event,
    Resynced,
)
from .errors import PushError
from .models import Challenge, rfc3339
from .outbox import Outbox
from .service import PushService

OUTBOX = 512
"""Frames a browser may fall behind by; generous, as operators are few and bursts are short."""
RECENT = 50
SCAN = 500
"""Challenges read for the snapshot: the pending ones, and the newest for recent decisions."""
USERS_SCANNED = 200


@dataclass(frozen=True, slots=True)
class _SnapshotDue:
    """Queued first, so the snapshot is read after the watcher is in place: no event is lost
    between the two, and one seen in both is harmless (the page applies events by id)."""


class Feed:
    def __init__(self, ws: web.WebSocketResponse, push: PushService) -> None:
        self._ws = ws
        self._push = push
        self._closing: asyncio.Task[bool] | None = None
        self._outbox: Outbox[Event | _SnapshotDue] = Outbox(
            self._send, OUTBOX, on_full=self._too_slow, name="dashboard-feed"
        )
        self._outbox.offer(_SnapshotDue())

    def __call__(self, event: Event) -> None:
        """The watcher: called with every event, never waits."""
        if not isinstance(event, AppDeleted):  # nothing on the page shows apps as such
            self._outbox.offer(event)

    def close_soon(self, code: int, reason: str) -> None:
        if not self._ws.closed and self._closing is None:
            self._closing = asyncio.create_task(
                self._ws.close(code=code, message=reason.encode()[:120])
            )

    async def stop(self) -> None:
        await self._outbox.stop()

    def _too_slow(self) -> None:
        self.close_soon(frames.CLOSE_SLOW, "too slow to read the feed")

    async def _send(self, item: Event | _SnapshotDue) -> None:
        try:
            if isinstance(item, _SnapshotDue | Resynced):
                # After missed events the page starts over from a fresh snapshot.
                body = await snapshot(self._push)
            else:
                body = await frame(self._push, item)
        except PushError as exc:
            # The store is unreachable: the page reconnects and starts from a fresh snapshot.
            self.close_soon(frames.CLOSE_UNAVAILABLE, exc.message)
            raise ConnectionError(exc.message) from exc
        await self._ws.send_str(jsonbody.dumps(body))


def close_all(push: PushService, code: int, reason: str) -> None:
    """Close every feed of this process (on shutdown, like the device streams)."""
    for watcher in list(push.watchers):
        if isinstance(watcher, Feed):
            watcher.close_soon(code, reason)


async def frame(push: PushService, event: Event) -> dict[str, Any]:
    if isinstance(event, ChallengeCreated):
        return views.created(event)
    if isinstance(event, ChallengeEnded):
        return views.ended(event)
    if isinstance(event, DeviceRevoked):
        return views.revoked(event)
    assert isinstance(event, DevicePresence)
    return await _presence(push, event)


async def _presence(push: PushService, event: DevicePresence) -> dict[str, Any]:
    found = await push.engine.get_device(event.device_id)
    connected = event.online
    if not connected:
        # One instance lost the device; it may still hold a stream to another.
        connected = event.device_id in await push.connected([event.device_id])
    name = found.name if found is not None else None
    return views.presence(event.device_id, event.user_id, name, connected)


async def snapshot(push: PushService) -> dict[str, Any]:
    now = push.clock()
    engine = push.engine
    pending = await engine.list_challenges(status="pending", app_id=None, user_id=None, limit=SCAN)
    latest = await engine.list_challenges(status=None, app_id=None, user_id=None, limit=SCAN)
    recent = sorted((c for c in latest if not c.pending), key=_decided, reverse=True)[:RECENT]
    return {
        "type": "snapshot",
        "server_time": rfc3339(now),
        "pending": [views.challenge(c) for c in sorted(pending, key=lambda c: c.expires_at)],
        "recent": [views.challenge(c) for c in recent],
        "devices": await connected_devices(push, {c.user_id for c in pending}),
        "rates": views.rates(latest, now),
    }


def _decided(item: Challenge) -> float:
    return item.decided_at or item.created_at


async def connected_devices(push: PushService, users: set[str]) -> list[dict[str, Any]]:
    """Connected devices among those this instance holds and those of users with pending
    challenges (the engine has no fleet-wide listing; events fill in the rest live)."""
    candidates = {}
    for device_id in push.hub.device_ids():
        found = await push.engine.get_device(device_id)
        if found is not None:
            candidates[device_id] = found
    for user_id in sorted(users)[:USERS_SCANNED]:
        candidates.update((d.device_id, d) for d in await push.engine.list_devices(user_id))
    online = await push.connected(candidates)
    listed = sorted(candidates.values(), key=lambda d: (d.user_id, d.name, d.device_id))
    return [views.device(d, True) for d in listed if d.device_id in online]
