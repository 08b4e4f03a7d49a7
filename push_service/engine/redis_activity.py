"""The Redis engine's records of activity: which devices hold a stream to which instance, and
the audit trail. Neither takes part in an atomic step, so each is a plain single-key write."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import cast

from ..audit import AuditEvent, AuditQuery
from .redis_store import Pipe, Store

AUDIT_BATCH = 200


class Presence:
    """Per device, a zset of instance -> until; an instance that dies simply stops refreshing."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def present(self, instance_id: str, device_ids: Collection[str], until: float) -> None:
        if not device_ids:
            return
        pipe = self._store.redis.pipeline(transaction=False)
        for device_id in device_ids:
            self._declare(pipe, self._store.keys.presence(device_id), instance_id, until)
        await pipe.execute()

    @staticmethod
    def _declare(pipe: Pipe, key: str, instance_id: str, until: float) -> None:
        pipe.zadd(key, {instance_id: until})
        # The key lives until its latest `until`: NX sets a first expiry, GT only extends it.
        expire_at = int(until * 1000) + 1
        pipe.pexpireat(key, expire_at, nx=True)
        pipe.pexpireat(key, expire_at, gt=True)

    async def absent(self, instance_id: str, device_id: str) -> None:
        await self._store.redis.zrem(self._store.keys.presence(device_id), instance_id)

    async def connected(self, device_ids: Collection[str], now: float) -> set[str]:
        ordered = list(device_ids)
        if not ordered:
            return set()
        pipe = self._store.redis.pipeline(transaction=False)
        for device_id in ordered:
            pipe.zcount(self._store.keys.presence(device_id), f"({now!r}", "+inf")
        counts = await pipe.execute()
        return {d for d, count in zip(ordered, counts, strict=True) if count}


def _encode(event: AuditEvent) -> str:
    fields = {name: getattr(event, name) for name in AuditEvent.__dataclass_fields__}
    return json.dumps(fields, separators=(",", ":"), allow_nan=False)


def _decode(raw: bytes) -> AuditEvent:
    fields = json.loads(raw)
    names = AuditEvent.__dataclass_fields__
    return AuditEvent(**{k: v for k, v in fields.items() if k in names})


class AuditTrail:
    """One sorted set ordered by event id (all scores 0, members `<event_id> <json>`), so events
    flushed late by one instance still sort by time; trimmed to `keep` on every append."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._key = store.keys.audit

    async def append(self, events: Sequence[AuditEvent], keep: int) -> None:
        if not events:
            return
        pipe = self._store.redis.pipeline(transaction=False)
        pipe.zadd(self._key, {f"{e.event_id} {_encode(e)}": 0 for e in events})
        pipe.zremrangebyrank(self._key, 0, -keep - 1)
        await pipe.execute()

    async def read(self, query: AuditQuery) -> list[AuditEvent]:
        found: list[AuditEvent] = []
        # Event ids hold no space, so "(<id>" sorts below every member of that id and above
        # every older one.
        upper = f"({query.before}" if query.before is not None else "+"
        while len(found) < query.limit:
            members = cast(
                list[bytes],
                await self._store.redis.zrevrangebylex(
                    self._key, upper, "-", start=0, num=AUDIT_BATCH
                ),
            )
            if not members:
                break
            for member in members:
                event = _decode(member.split(b" ", 1)[1])
                if query.matches(event):
                    found.append(event)
            upper = "(" + members[-1].decode()
        return found[: query.limit]
