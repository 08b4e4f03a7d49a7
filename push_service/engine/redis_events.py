"""Engine events on one Redis pub/sub channel: their JSON form, and the task that reads them.

The reader resubscribes with backoff when its connection drops; events published while it is
away are lost (pub/sub keeps nothing), which is why state is always read back from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .. import tasks
from ..models import Challenge, from_record
from .base import (
    AppDeleted,
    ChallengeCreated,
    ChallengeEnded,
    DevicePresence,
    DeviceRevoked,
    Event,
    Resynced,
)
from .redis_store import dump

log = logging.getLogger("push_service.engine.redis")

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 2.0
# A quiet connection is pinged this often, and dropped when the pong is this late.
PING_EVERY = 5.0
PONG_WITHIN = 2.0


def encode(event: Event, record: str | None = None) -> str:
    """The message announcing `event`. `record` is a challenge event's challenge as the engine
    already encoded it to store it (redis_store.dump): a step that stores and announces a
    challenge encodes it once."""
    if isinstance(event, DeviceRevoked):
        body: dict[str, Any] = {"device_id": event.device_id, "user_id": event.user_id}
        return json.dumps({"type": "device_revoked", **body})
    if isinstance(event, DevicePresence):
        body = {"device_id": event.device_id, "user_id": event.user_id, "online": event.online}
        return json.dumps({"type": "device_presence", **body})
    if isinstance(event, AppDeleted):
        return json.dumps({"type": "app_deleted", "app_id": event.app_id})
    if isinstance(event, Resynced):
        raise ValueError("a resync is local to one instance and never published")
    kind = "challenge_created" if isinstance(event, ChallengeCreated) else "challenge_ended"
    if record is None:
        record = dump(event.challenge)
    return f'{{"type":"{kind}","challenge":{record}}}'


def decode(data: bytes | str) -> Event:
    """The event a message carries; ValueError (or KeyError, TypeError) if it is not one."""
    message = json.loads(data)
    kind = message["type"]
    if kind == "device_revoked":
        return DeviceRevoked(str(message["device_id"]), str(message["user_id"]))
    if kind == "app_deleted":
        return AppDeleted(str(message["app_id"]))
    if kind == "device_presence":
        online = message["online"]
        if not isinstance(online, bool):
            raise TypeError("'online' must be a boolean")
        return DevicePresence(str(message["device_id"]), str(message["user_id"]), online)
    challenge = from_record(Challenge, message["challenge"])
    if kind == "challenge_created":
        return ChallengeCreated(challenge)
    if kind == "challenge_ended":
        return ChallengeEnded(challenge)
    raise ValueError(f"unknown event type {kind!r}")


class Subscription:
    """One channel read by one task, handing each decoded event to `deliver`."""

    def __init__(
        self, client: Redis, channel: str, deliver: Callable[[Event], None], timeout: float
    ) -> None:
        self._client = client
        self._channel = channel
        self._deliver = deliver
        self._timeout = timeout
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Subscribe (raising if Redis does not answer), then read in a task from now on."""
        self._pubsub = await self._subscribe()
        self._task = asyncio.create_task(self._run(), name="redis-events")

    async def close(self) -> None:
        await tasks.stop(self._task)
        self._task = None
        await self._drop()

    async def _subscribe(self) -> PubSub:
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            # Wait for the confirmation: events published after open() returns must arrive.
            confirmation = await pubsub.get_message(timeout=self._timeout)
            if confirmation is None or confirmation["type"] != "subscribe":
                raise RedisConnectionError("no subscription confirmation")
        except BaseException:
            # redis-py types aclose() only from 8.x; older releases within our floor do not.
            await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            raise
        return pubsub

    @property
    def listening(self) -> bool:
        return self._pubsub is not None

    async def _drop(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]

    async def _run(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            try:
                if self._pubsub is None:
                    self._pubsub = await self._subscribe()
                    log.info("event channel resubscribed")
                    delay = BACKOFF_FIRST
                    self._deliver(Resynced())
                await self._read(self._pubsub)
            except (RedisError, OSError) as exc:
                log.warning("event channel lost (%s); retrying in %.1f s", exc, delay)
            except Exception:
                log.exception("event reader failed; retrying in %.1f s", delay)
            await self._drop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _read(self, pubsub: PubSub) -> None:
        """Deliver messages until the connection fails or stops answering pings."""
        loop = asyncio.get_running_loop()
        heard = loop.time()
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=min(1.0, self._timeout))
            now = loop.time()
            if message is not None:
                heard, pinged = now, False
                if message["type"] == "message":
                    self._handle(message["data"])
            elif pinged and now - heard > PING_EVERY + PONG_WITHIN:
                raise RedisConnectionError("the event channel stopped answering pings")
            elif not pinged and now - heard > PING_EVERY:
                await pubsub.ping()
                pinged = True

    def _handle(self, data: bytes) -> None:
        try:
            event = decode(data)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed event on the channel")
            return
        try:
            self._deliver(event)
        except Exception:
            # One failing listener call must not stop delivery of every later event.
            log.exception("event listener failed")
