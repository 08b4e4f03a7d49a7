"""The Redis engine: state in Redis and events on its pub/sub, so any number of instances serve.

This class is the Engine's face: every public method goes through `guarded`, the one place a
Redis failure becomes PushError(unavailable), and hands its work to a module of one concern:
`redis_challenges` (with push-fatigue standing), `redis_devices` (enrollments, devices, jti),
`redis_outbox` (webhooks), `redis_activity` (presence, audit trail), `redis_events` (the
channel). Key names and hash tags are in `redis_keys`, the atomic steps in `redis_scripts`.

TTLs are computed from the caller's `now`, not Redis's clock, so they agree with the service's
own judgement of expiry. Needs Redis 7.0 or later with a `noeviction` memory policy: the engine
relies on records living exactly as long as it says. With `cluster=True` the same engine runs
on a Redis Cluster, the URL naming any one of its nodes (see `redis_store`).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from typing import cast

from redis.exceptions import ConnectionError as RedisConnectionError

from ..audit import AuditEvent, AuditQuery
from ..fatigue import NO_CHANGE, Change, Standing
from ..models import App, Challenge, Delivery, DeliveryState, Device, Enrollment
from . import redis_events
from .base import (
    AnswerContext,
    ChallengeCreated,
    ChallengeEnded,
    Created,
    Event,
    Limits,
    Listener,
    TokenUse,
)
from .redis_activity import AuditTrail, Presence
from .redis_challenges import Challenges
from .redis_devices import Devices
from .redis_outbox import Outbox
from .redis_store import Store, dump, guarded, load

TIMEOUT = 1.5
"""Seconds to connect, or for the event channel to answer: a dead Redis is noticed fast."""
DEADLINE = 2.0
"""Seconds one engine call may take, all its round trips included, before it fails."""
CONNECTIONS = 64
"""Connections to one Redis server at most; calls beyond wait for one (within DEADLINE)."""


class RedisEngine:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "push:",
        cluster: bool = False,
        timeout: float = TIMEOUT,
        deadline: float = DEADLINE,
        connections: int = CONNECTIONS,
    ) -> None:
        self.deadline = deadline
        self._store = Store(url, prefix, timeout, cluster=cluster, connections=connections)
        self._redis = self._store.redis
        self._keys = self._store.keys
        self._outbox = Outbox(self._store)
        self._devices = Devices(self._store)
        self._challenges = Challenges(self._store, self._outbox, self._devices)
        self._presence = Presence(self._store)
        self._audit = AuditTrail(self._store)
        self._subscription: redis_events.Subscription | None = None

    @property
    def store(self) -> Store:
        """Where `guarded` reports a lost connection."""
        return self._store

    @guarded
    async def start(self, listener: Listener) -> None:
        def deliver(event: Event) -> None:
            if isinstance(event, ChallengeCreated | ChallengeEnded):
                self._challenges.remember(event.challenge)
            listener(event)

        subscription = redis_events.Subscription(
            self._store.listener, self._keys.channel, deliver, self._store.timeout
        )
        await subscription.open()
        self._subscription = subscription

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
        await self._store.close()

    @guarded
    async def ping(self) -> None:
        await self._redis.ping()
        if self._subscription is not None and not self._subscription.listening:
            # Without the event channel this instance would miss pushes: not ready.
            raise RedisConnectionError("the event channel is not subscribed")

    @guarded
    async def match_key(self) -> bytes:
        mine = secrets.token_bytes(32)
        earlier = await self._redis.set(self._keys.match_key, mine, nx=True, get=True)
        return mine if earlier is None else cast(bytes, earlier)

    # Apps: few, all under one tag, so the registry and its key-hash index change together.
    @guarded
    async def add_app(self, app: App) -> None:
        keys = [self._keys.apps, self._keys.app_key_hashes]
        await self._store.scripts.add_app(keys=keys, args=[app.app_id, dump(app), app.key_hash])

    @guarded
    async def get_app(self, app_id: str) -> App | None:
        raw = await self._redis.hget(self._keys.apps, app_id)
        return None if raw is None else load(App, raw)

    @guarded
    async def app_by_key_hash(self, key_hash: str) -> App | None:
        keys = [self._keys.app_key_hashes, self._keys.apps]
        raw = await self._store.scripts.app_by_key_hash(keys=keys, args=[key_hash])
        return None if raw is None else load(App, raw)

    @guarded
    async def list_apps(self) -> list[App]:
        raws = await self._redis.hvals(self._keys.apps)
        return sorted((load(App, raw) for raw in raws), key=lambda a: a.created_at)

    @guarded
    async def delete_app(self, app_id: str) -> bool:
        keys = [self._keys.apps, self._keys.app_key_hashes]
        return bool(await self._store.scripts.delete_app(keys=keys, args=[app_id]))

    # Enrollments and devices
    @guarded
    async def add_enrollment(self, enrollment: Enrollment, now: float) -> None:
        await self._devices.add_enrollment(enrollment, now)

    @guarded
    async def get_enrollment(self, code_hash: str, now: float) -> Enrollment | None:
        return await self._devices.get_enrollment(code_hash, now)

    @guarded
    async def fail_enrollment(self, code_hash: str) -> None:
        await self._devices.fail_enrollment(code_hash)

    @guarded
    async def redeem_enrollment(self, code_hash: str, device: Device, now: float) -> bool:
        return await self._devices.redeem_enrollment(code_hash, device, now)

    @guarded
    async def get_device(self, device_id: str) -> Device | None:
        return await self._devices.get(device_id)

    @guarded
    async def list_devices(self, user_id: str) -> list[Device]:
        return await self._devices.listing(user_id)

    @guarded
    async def revoke_device(self, device_id: str) -> Device | None:
        return await self._devices.revoke(device_id)

    @guarded
    async def rotate_key(self, device_id: str, public_key: str) -> bool:
        return await self._devices.rotate_key(device_id, public_key)

    @guarded
    async def touch_device(self, device_id: str, now: float) -> None:
        await self._devices.touch(device_id, now)

    @guarded
    async def use_jti(self, device_id: str, jti: str, expires_at: float, now: float) -> bool:
        return await self._devices.use_jti(device_id, jti, expires_at, now)

    @guarded
    async def answer_context(
        self, device_id: str, challenge_id: str, jti: str, now: float
    ) -> AnswerContext:
        return await self._challenges.answer_context(device_id, challenge_id, jti)

    # Challenges
    @guarded
    async def create_challenge(
        self, challenge: Challenge, limits: Limits, idempotency_key: str | None, now: float
    ) -> Created:
        return await self._challenges.create(challenge, limits, idempotency_key, now)

    @guarded
    async def get_challenge(self, challenge_id: str) -> Challenge | None:
        return await self._challenges.get(challenge_id)

    @guarded
    async def pending_for_user(self, user_id: str) -> list[Challenge]:
        return await self._challenges.pending_for_user(user_id)

    @guarded
    async def list_challenges(
        self, *, status: str | None, app_id: str | None, user_id: str | None, limit: int
    ) -> list[Challenge]:
        return await self._challenges.listing(status, app_id, user_id, limit)

    @guarded
    async def finish(
        self,
        ended: Challenge,
        delivery: Delivery | None = None,
        change: Change = NO_CHANGE,
        spend: TokenUse | None = None,
    ) -> bool:
        return await self._challenges.finish(ended, delivery, change, spend)

    @guarded
    async def due(self, now: float, limit: int) -> list[Challenge]:
        return await self._challenges.due(now, limit)

    # Webhook outbox
    @guarded
    async def claim_deliveries(self, now: float, lease: float, limit: int) -> list[Delivery]:
        return await self._outbox.claim(now, lease, limit)

    @guarded
    async def save_delivery(self, delivery: Delivery) -> None:
        await self._outbox.save(delivery)

    @guarded
    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        return await self._outbox.get(delivery_id)

    @guarded
    async def list_deliveries(self, state: DeliveryState | None, limit: int) -> list[Delivery]:
        return await self._outbox.listing(state, limit)

    # Push-fatigue standing
    @guarded
    async def get_standing(self, user_id: str) -> Standing:
        return await self._challenges.standing(user_id)

    @guarded
    async def reset_standing(self, user_id: str) -> None:
        await self._challenges.reset_standing(user_id)

    # Presence
    @guarded
    async def present(self, instance_id: str, device_ids: Collection[str], until: float) -> None:
        await self._presence.present(instance_id, device_ids, until)

    @guarded
    async def absent(self, instance_id: str, device_id: str) -> None:
        await self._presence.absent(instance_id, device_id)

    @guarded
    async def connected(self, device_ids: Collection[str], now: float) -> set[str]:
        return await self._presence.connected(device_ids, now)

    @guarded
    async def announce(self, event: Event) -> None:
        await self._redis.publish(self._keys.channel, redis_events.encode(event))

    # Audit trail
    @guarded
    async def append_audit(self, events: Sequence[AuditEvent], keep: int) -> None:
        await self._audit.append(events, keep)

    @guarded
    async def read_audit(self, query: AuditQuery) -> list[AuditEvent]:
        return await self._audit.read(query)
