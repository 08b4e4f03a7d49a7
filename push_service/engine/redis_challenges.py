"""The Redis engine's challenges and the push-fatigue standing checked with them.

A challenge lives in its user's slot; creating and finishing one are single scripts there.
Its owner key and global refs (deadline, listing) are written around the script, in the order
that leaves only droppable refs behind if a write is cut short: one round trip on one Redis,
one per stage of that order on a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from .. import fatigue
from ..errors import PushError
from ..fatigue import NO_CHANGE, Change, Standing
from ..models import Challenge, Delivery
from . import redis_events
from .base import (
    IDEMPOTENCY_TTL,
    AnswerContext,
    ChallengeCreated,
    ChallengeEnded,
    Created,
    Limits,
    TokenUse,
    no_devices,
    replayed,
    too_frequent,
    too_many_pending,
)
from .redis_devices import Devices
from .redis_keys import ref, unref
from .redis_outbox import Outbox
from .redis_store import RETENTION, STRAY_GRACE, Pipe, Store, dump, load, ms, queue

LISTING_HORIZON = RETENTION + 3600
"""Listing refs outlive any challenge record (the contract's longest ttl is 300 s)."""
LISTING_BATCH = 200


def _refusal(outcome: list[Any], limits: Limits, now: float) -> PushError:
    if outcome[0] == b"no_devices":
        return no_devices()
    if outcome[0] == b"fatigued":
        standing = Standing(int(outcome[1]), int(outcome[2]), float(outcome[3]))
        refusal = fatigue.refusal(standing, limits.policy, now)
        if refusal is None:
            raise RuntimeError("the create script and fatigue.refusal disagree")
        return refusal
    if outcome[0] == b"too_many_pending":
        return too_many_pending(limits)
    return too_frequent(int(outcome[1]))


def _change_args(change: Change) -> list[Any]:
    return [
        int(change != NO_CHANGE),
        int(change.reset),
        int(change.strike),
        repr(change.lock_until),
    ]


class Challenges:
    def __init__(self, store: Store, outbox: Outbox, devices: Devices) -> None:
        self._store = store
        self._outbox = outbox
        self._devices = devices
        self._redis = store.redis
        self._keys = store.keys
        self._scripts = store.scripts

    async def create(
        self, challenge: Challenge, limits: Limits, idempotency_key: str | None, now: float
    ) -> Created:
        outcome = await self._create(challenge, limits, idempotency_key, now, look_up=True)
        if outcome[0] == b"existing":
            earlier_key = self._store.user(challenge.user_id).challenge(outcome[1].decode())
            earlier = await self._take_back(challenge, reading=earlier_key)
            if earlier is not None:
                return Created(load(Challenge, earlier), new=False)
            # Gone although it outlives its key (evicted?): the key is spent, start anew.
            outcome = await self._create(challenge, limits, idempotency_key, now, look_up=False)
        if outcome[0] != b"created":
            await self._take_back(challenge)
            raise _refusal(outcome, limits, now)
        self.remember(challenge)
        return Created(challenge, new=True)

    async def _create(
        self,
        challenge: Challenge,
        limits: Limits,
        idempotency_key: str | None,
        now: float,
        *,
        look_up: bool,
    ) -> list[Any]:
        """Owner and deadline first, then the script and the listing ref.

        The owner and the deadline go before the record so that a record, once stored, is
        always reachable and always expires; `_take_back` removes them if nothing was stored.
        The listing ref needs no order: a listing skips refs whose record is missing.
        """
        user = self._store.user(challenge.user_id)
        keys = [
            user.challenge(challenge.challenge_id),
            user.pending,
            user.rate,
            user.idempotency(challenge.app_id, idempotency_key or ""),
            user.standing,
            user.devices,
        ]
        life = ms(challenge.expires_at + RETENTION - now)
        record = dump(challenge)
        args = [
            *(challenge.challenge_id, record, repr(challenge.expires_at), life),
            *(limits.max_pending, limits.rate_limit, limits.rate_window),
            IDEMPOTENCY_TTL * 1000 if idempotency_key else 0,
            1 if look_up else 0,
            *(repr(now), RETENTION),
            *(self._keys.channel, redis_events.encode(ChallengeCreated(challenge), record)),
            *(limits.policy.max_strikes, limits.policy.max_unapproved),
            challenge.app_id,
        ]
        member = ref(challenge.user_id, challenge.challenge_id)

        def ahead(pipe: Pipe) -> None:
            pipe.set(self._keys.challenge_owner(challenge.challenge_id), challenge.user_id, px=life)
            pipe.zadd(self._keys.deadlines, {member: challenge.expires_at})

        def store(pipe: Pipe) -> None:
            queue(pipe, self._scripts.create_challenge, keys, args)
            pipe.zadd(self._keys.challenges, {member: challenge.created_at})
            pipe.zremrangebyscore(self._keys.challenges, "-inf", now - LISTING_HORIZON)

        return cast(list[Any], (await self._store.pipeline(ahead, store))[2])

    async def _take_back(self, challenge: Challenge, reading: str | None = None) -> bytes | None:
        """Remove the owner and refs written ahead of a create that stored nothing; in the
        same round trip, read the key `reading` (the challenge an idempotency key names)."""
        member = ref(challenge.user_id, challenge.challenge_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.delete(self._keys.challenge_owner(challenge.challenge_id))
        pipe.zrem(self._keys.deadlines, member)
        pipe.zrem(self._keys.challenges, member)
        if reading is not None:
            pipe.get(reading)
        results = await pipe.execute()
        return cast(bytes | None, results[3]) if reading is not None else None

    async def get(self, challenge_id: str) -> Challenge | None:
        user = await self._store.owner_keys(self._keys.challenge_owner(challenge_id))
        raw = None if user is None else await self._redis.get(user.challenge(challenge_id))
        return None if raw is None else load(Challenge, raw)

    async def answer_context(self, device_id: str, challenge_id: str, jti: str) -> AnswerContext:
        """The device, the challenge and the jti's use in one pipeline. Both owners are
        usually cached (a device's from its first token, a challenge's from its announcement),
        so this is one round trip; a device and a challenge of different users (a forged
        answer) are read from their two slots, which a cluster pipeline also allows."""
        device_user, challenge_user = await self._store.owners_of(
            self._keys.device_owner(device_id), self._keys.challenge_owner(challenge_id)
        )

        def read(pipe: Pipe) -> None:
            if device_user is not None:
                user = self._store.user(device_user)
                self._devices.read(pipe, user, device_id)
                pipe.exists(user.jti(device_id, jti))
            if challenge_user is not None:
                pipe.get(self._store.user(challenge_user).challenge(challenge_id))

        replies = await self._store.pipeline(read) if device_user or challenge_user else []
        device = self._devices.parsed(replies[0]) if device_user is not None else None
        seen = device_user is not None and bool(replies[1])
        raw = replies[-1] if challenge_user is not None else None
        challenge = None if raw is None else load(Challenge, raw)
        return AnswerContext(device, challenge, seen)

    async def pending_for_user(self, user_id: str) -> list[Challenge]:
        user = self._store.user(user_id)
        ids = cast(list[bytes], await self._redis.zrange(user.pending, 0, -1))
        if not ids:
            return []
        raws = await self._redis.mget([user.challenge(i.decode()) for i in ids])
        found = (load(Challenge, raw) for raw in raws if raw is not None)
        # A challenge finished between the two reads is no longer pending.
        return sorted((c for c in found if c.pending), key=lambda c: c.created_at)

    async def listing(
        self, status: str | None, app_id: str | None, user_id: str | None, limit: int
    ) -> list[Challenge]:
        def wanted(c: Challenge) -> bool:
            return (
                (status is None or c.status == status)
                and (app_id is None or c.app_id == app_id)
                and (user_id is None or c.user_id == user_id)
            )

        found: list[Challenge] = []
        start = 0
        while len(found) < limit:
            members = cast(
                list[bytes],
                await self._redis.zrevrange(
                    self._keys.challenges, start, start + LISTING_BATCH - 1
                ),
            )
            if not members:
                break
            start += len(members)
            found.extend(c for c in await self._fetch(members) if c is not None and wanted(c))
        return found[:limit]

    async def finish(
        self, ended: Challenge, delivery: Delivery | None, change: Change, spend: TokenUse | None
    ) -> bool:
        user = self._store.user(ended.user_id)
        delivery_key, delivery_args = self._outbox.script_part(user, delivery)
        jti_key = user.jti(spend.device_id, spend.jti) if spend else user.jti("", "")
        keys = [user.challenge(ended.challenge_id), user.pending, delivery_key, user.standing]
        record = dump(ended)
        message = redis_events.encode(ChallengeEnded(ended), record)
        args = [
            *(ended.challenge_id, record, self._keys.channel, message),
            *delivery_args,
            *_change_args(change),
            ms(spend.expires_at - spend.now) if spend else 0,
        ]

        def ahead(pipe: Pipe) -> None:
            if delivery is not None:
                self._outbox.ahead(pipe, ended.user_id, delivery)

        def store(pipe: Pipe) -> None:
            queue(pipe, self._scripts.finish, [*keys, jti_key], args)

        # The deadline ref goes whatever the script says: a challenge that is not pending
        # (finished now or before) has no deadline left. Not before: a pending one must keep it.
        def behind(pipe: Pipe) -> None:
            pipe.zrem(self._keys.deadlines, ref(ended.user_id, ended.challenge_id))
            if delivery is not None:
                self._outbox.behind(pipe, ended.user_id, delivery)

        stages = (ahead, store, behind) if delivery is not None else (store, behind)
        results = await self._store.pipeline(*stages)
        outcome = int(results[Outbox.AHEAD if delivery is not None else 0])
        if outcome != 1 and delivery is not None:
            await self._outbox.take_back(ended.user_id, delivery)
        if outcome == -1:
            raise replayed()
        return outcome == 1

    async def due(self, now: float, limit: int) -> list[Challenge]:
        refs = cast(
            list[tuple[bytes, float]],
            await self._redis.zrangebyscore(
                self._keys.deadlines, "-inf", now, 0, limit, withscores=True
            ),
        )
        challenges = await self._fetch([member for member, _ in refs])
        stale = [
            member
            for (member, deadline), c in zip(refs, challenges, strict=True)
            if (c is None and deadline < now - STRAY_GRACE) or (c is not None and not c.pending)
        ]
        if stale:
            await self._redis.zrem(self._keys.deadlines, *stale)
        return [c for c in challenges if c is not None and c.pending]

    async def _fetch(self, members: Sequence[bytes]) -> list[Challenge | None]:
        """The challenges that refs name, in one round trip (None where gone)."""
        if not members:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for member in members:
            user_id, challenge_id = unref(member)
            pipe.get(self._store.user(user_id).challenge(challenge_id))
        raws = await pipe.execute()
        return [None if raw is None else load(Challenge, raw) for raw in raws]

    def remember(self, challenge: Challenge) -> None:
        """Cache the challenge's owner, so a later lookup by id skips the owner key."""
        owner = self._keys.challenge_owner(challenge.challenge_id)
        self._store.owners.put(owner, challenge.user_id)

    # Push-fatigue standing
    async def standing(self, user_id: str) -> Standing:
        fields = cast(
            dict[bytes, bytes], await self._redis.hgetall(self._store.user(user_id).standing)
        )
        return Standing(
            strikes=int(fields.get(b"strikes", 0)),
            unapproved=int(fields.get(b"unapproved", 0)),
            locked_until=float(fields.get(b"locked_until", 0.0)),
        )

    async def reset_standing(self, user_id: str) -> None:
        await self._redis.delete(self._store.user(user_id).standing)
