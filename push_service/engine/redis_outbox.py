"""The Redis engine's webhook outbox: each delivery lives in its challenge's user slot, so the
finish script can enqueue it atomically, and a global schedule of refs says when it is due.

A ref alone never sends anything: a claim script, run on the delivery itself, is the judge of
whether it is due and leases it, so two senders never hold the same delivery.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, cast

from ..models import Delivery, DeliveryState
from .redis_keys import UserKeys, ref, unref
from .redis_store import RETENTION, STRAY_GRACE, Pipe, Store, dump, load, queue

log = logging.getLogger("push_service.engine.redis")

LISTING_HORIZON = 8 * 24 * 3600
"""Listing refs are dropped this long after creation (longer than any retry horizon)."""
LISTING_BATCH = 200
SCHEDULED = (DeliveryState.PENDING, DeliveryState.FAILING)


def expire_at(delivery: Delivery) -> int:
    """When Redis drops the record, in epoch ms; 0 keeps it while it is still scheduled."""
    if delivery.state in SCHEDULED:
        return 0
    return int((delivery.created_at + RETENTION) * 1000)


def from_fields(fields: dict[bytes, bytes]) -> Delivery:
    # `next_at` lives beside the record so a claim can move it without re-encoding the JSON.
    delivery = load(Delivery, fields[b"record"])
    return dataclasses.replace(delivery, next_at=float(fields[b"next_at"]))


class Outbox:
    AHEAD = 2
    """How many commands `ahead` queues."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._keys = store.keys

    # Enqueuing with a finish: refs written around the finish script, taken back if it lost.
    def script_part(self, user: UserKeys, delivery: Delivery | None) -> tuple[str, list[Any]]:
        """The finish script's delivery key and arguments (an empty record for none)."""
        if delivery is None:
            return user.delivery(""), ["", 0, 0]
        args = [dump(delivery), repr(delivery.next_at), expire_at(delivery)]
        return user.delivery(delivery.delivery_id), args

    def ahead(self, pipe: Pipe, user_id: str, delivery: Delivery) -> None:
        """Before the record: its owner and schedule, so a stored delivery is always found."""
        pipe.set(self._keys.delivery_owner(delivery.delivery_id), user_id)
        pipe.zadd(self._keys.outbox, {ref(user_id, delivery.delivery_id): delivery.next_at})

    def behind(self, pipe: Pipe, user_id: str, delivery: Delivery) -> None:
        """After the record: its listing ref, so a listed delivery always has a record."""
        pipe.zadd(self._keys.deliveries, {ref(user_id, delivery.delivery_id): delivery.created_at})

    async def take_back(self, user_id: str, delivery: Delivery) -> None:
        member = ref(user_id, delivery.delivery_id)
        pipe = self._store.redis.pipeline(transaction=False)
        pipe.delete(self._keys.delivery_owner(delivery.delivery_id))
        pipe.zrem(self._keys.outbox, member)
        pipe.zrem(self._keys.deliveries, member)
        await pipe.execute()

    # The Engine's outbox methods
    async def save(self, delivery: Delivery) -> None:
        user_id = await self._owner_of(delivery)
        if user_id is None:
            log.warning(
                "webhook %s: no stored delivery or challenge; not saved", delivery.delivery_id
            )
            return
        key = self._store.user(user_id).delivery(delivery.delivery_id)
        args = [dump(delivery), repr(delivery.next_at), expire_at(delivery)]
        scheduled = delivery.state in SCHEDULED

        # A scheduled delivery gets its ref before its record, an ended one loses it after:
        # a failure half-way leaves a ref to drop, never a delivery that is not sent.
        def before(pipe: Pipe) -> None:
            self.ahead(pipe, user_id, delivery)

        def store(pipe: Pipe) -> None:
            queue(pipe, self._store.scripts.save_delivery, [key], args)

        def after(pipe: Pipe) -> None:
            if not scheduled:
                self._forget_when_done(pipe, user_id, delivery)
            self.behind(pipe, user_id, delivery)

        await self._store.pipeline(*((before,) if scheduled else ()), store, after)

    def _forget_when_done(self, pipe: Pipe, user_id: str, delivery: Delivery) -> None:
        pipe.set(self._keys.delivery_owner(delivery.delivery_id), user_id, pxat=expire_at(delivery))
        pipe.zrem(self._keys.outbox, ref(user_id, delivery.delivery_id))

    async def claim(self, now: float, lease: float, limit: int) -> list[Delivery]:
        """Three round trips when something is due: the refs, the claims, the schedule."""
        refs = await self._due_refs(now, limit)
        if not refs:
            return []
        until = now + lease

        def claim_each(pipe: Pipe) -> None:
            for member, _ in refs:
                user_id, delivery_id = unref(member)
                key = self._store.user(user_id).delivery(delivery_id)
                queue(pipe, self._store.scripts.claim_delivery, [key], [repr(now), repr(until)])

        outcomes = await self._store.pipeline(claim_each)
        pipe = self._store.redis.pipeline(transaction=False)
        claimed = [
            claim
            for (member, due_at), outcome in zip(refs, outcomes, strict=True)
            if (claim := self._settle(pipe, member, due_at, outcome, now, until)) is not None
        ]
        await pipe.execute()
        return claimed

    async def _due_refs(self, now: float, limit: int) -> list[tuple[bytes, float]]:
        def build(pipe: Pipe) -> None:
            pipe.zrangebyscore(self._keys.outbox, "-inf", now, 0, limit, withscores=True)
            pipe.zremrangebyscore(self._keys.deliveries, "-inf", now - LISTING_HORIZON)

        return cast(list[tuple[bytes, float]], (await self._store.pipeline(build))[0])

    def _settle(
        self,
        pipe: Pipe,
        member: bytes,
        due_at: float,
        outcome: list[Any],
        now: float,
        until: float,
    ) -> Delivery | None:
        """Queue the schedule change a claim's outcome calls for; the delivery if it was won."""
        kind = outcome[0]
        if kind == b"claimed":
            pipe.zadd(self._keys.outbox, {member: until}, xx=True)
            delivery = load(Delivery, outcome[1])
            return dataclasses.replace(delivery, next_at=float(outcome[2]))
        if kind == b"later":
            pipe.zadd(self._keys.outbox, {member: float(outcome[1])}, xx=True)
        elif kind == b"done" or due_at < now - STRAY_GRACE:
            pipe.zrem(self._keys.outbox, member)
        return None

    async def get(self, delivery_id: str) -> Delivery | None:
        user = await self._store.owner_keys(self._keys.delivery_owner(delivery_id))
        if user is None:
            return None
        fields = cast(
            dict[bytes, bytes], await self._store.redis.hgetall(user.delivery(delivery_id))
        )
        return from_fields(fields) if fields else None

    async def listing(self, state: DeliveryState | None, limit: int) -> list[Delivery]:
        found: list[Delivery] = []
        start = 0
        while len(found) < limit:
            members = cast(
                list[bytes],
                await self._store.redis.zrevrange(
                    self._keys.deliveries, start, start + LISTING_BATCH - 1
                ),
            )
            if not members:
                break
            batch, dropped = await self._fetch(members)
            start += len(members) - dropped
            found.extend(d for d in batch if state is None or d.state == state)
        return found[:limit]

    async def _fetch(self, members: list[bytes]) -> tuple[list[Delivery], int]:
        """The deliveries listing refs name; refs whose record is gone are dropped (counted)."""
        pipe = self._store.redis.pipeline(transaction=False)
        for member in members:
            user_id, delivery_id = unref(member)
            pipe.hgetall(self._store.user(user_id).delivery(delivery_id))
        results = await pipe.execute()
        gone = [m for m, fields in zip(members, results, strict=True) if not fields]
        if gone:
            await self._store.redis.zrem(self._keys.deliveries, *gone)
        return [from_fields(fields) for fields in results if fields], len(gone)

    async def _owner_of(self, delivery: Delivery) -> str | None:
        # A delivery saved before any finish stored it belongs with its challenge's user.
        owner = await self._store.owner(self._keys.delivery_owner(delivery.delivery_id))
        if owner is None:
            owner = await self._store.owner(self._keys.challenge_owner(delivery.challenge_id))
        return owner
