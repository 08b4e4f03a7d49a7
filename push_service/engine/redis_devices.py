"""The Redis engine's enrollments, devices and token ids.

A device lives in its user's slot as its registration record plus the two fields that change
(rotated key, last seen), each written by a script that refuses a revoked device.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from redis.asyncio.client import Pipeline

from ..models import Device, Enrollment
from . import redis_events
from .base import ENROLLMENT_ATTEMPTS, DeviceRevoked
from .redis_keys import UserKeys
from .redis_store import Store, dump, load, ms, queue


def _device(record: bytes, key: bytes | None, seen: bytes | None) -> Device:
    """A device from its registration record and the fields changed since."""
    device = load(Device, record)
    if key:
        device = dataclasses.replace(device, public_key=key.decode())
    if seen:
        device = dataclasses.replace(device, last_seen_at=float(seen))
    return device


class Devices:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._redis = store.redis
        self._keys = store.keys
        self._scripts = store.scripts

    # Enrollments
    async def add_enrollment(self, enrollment: Enrollment, now: float) -> None:
        if enrollment.expires_at <= now:
            return
        life = ms(enrollment.expires_at - now)
        owner = self._keys.enrollment_owner(enrollment.code_hash)
        key = self._store.user(enrollment.user_id).enrollment(enrollment.code_hash)
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(owner, enrollment.user_id, px=life)
        pipe.set(key, dump(enrollment), px=life)
        await pipe.execute()
        self._store.owners.put(owner, enrollment.user_id)

    async def get_enrollment(self, code_hash: str, now: float) -> Enrollment | None:
        user = await self._store.owner_keys(self._keys.enrollment_owner(code_hash))
        raw = None if user is None else await self._redis.get(user.enrollment(code_hash))
        enrollment = None if raw is None else load(Enrollment, raw)
        return enrollment if enrollment is not None and enrollment.expires_at > now else None

    async def fail_enrollment(self, code_hash: str) -> None:
        user = await self._store.owner_keys(self._keys.enrollment_owner(code_hash))
        if user is not None:
            keys = [user.enrollment(code_hash), user.enrollment_fails(code_hash)]
            await self._scripts.fail_enrollment(keys=keys, args=[ENROLLMENT_ATTEMPTS])

    async def redeem_enrollment(self, code_hash: str, device: Device, now: float) -> bool:
        user = self._store.user(device.user_id)
        owner = self._keys.device_owner(device.device_id)
        keys = [user.enrollment(code_hash), user.enrollment_fails(code_hash), user.devices]
        args = [repr(now), device.device_id, dump(device)]

        # The owner key goes first: a device must be reachable by id once it exists.
        def build(pipe: Pipeline) -> None:
            pipe.set(owner, device.user_id)
            queue(pipe, self._scripts.redeem_enrollment, keys, args)

        if not (await self._store.pipeline(build))[1]:
            await self._redis.delete(owner)
            return False
        self._store.owners.put(owner, device.user_id)
        return True

    # Devices
    async def get(self, device_id: str) -> Device | None:
        user = await self._store.owner_keys(self._keys.device_owner(device_id))
        if user is None:
            return None
        pipe = self._redis.pipeline(transaction=True)
        for hash_key in (user.devices, user.device_keys, user.device_seen):
            pipe.hget(hash_key, device_id)
        record, key, seen = await pipe.execute()
        return None if record is None else _device(record, key, seen)

    async def listing(self, user_id: str) -> list[Device]:
        user = self._store.user(user_id)
        pipe = self._redis.pipeline(transaction=True)
        for hash_key in (user.devices, user.device_keys, user.device_seen):
            pipe.hgetall(hash_key)
        records, keys, seen = await pipe.execute()
        devices = [_device(raw, keys.get(d), seen.get(d)) for d, raw in records.items()]
        return sorted(devices, key=lambda d: d.created_at)

    async def revoke(self, device_id: str) -> Device | None:
        owner = self._keys.device_owner(device_id)
        user_id = await self._store.owner(owner)
        if user_id is None:
            return None
        user = self._store.user(user_id)
        keys = [user.devices, user.device_keys, user.device_seen, user.revoked]
        message = redis_events.encode(DeviceRevoked(device_id, user_id))

        def build(pipe: Pipeline) -> None:
            queue(pipe, self._scripts.revoke_device, keys, [device_id, self._keys.channel, message])
            pipe.delete(owner)

        found = (await self._store.pipeline(build))[0]
        return None if found is None else _device(*found)

    async def rotate_key(self, device_id: str, public_key: str) -> bool:
        return await self._set_field(device_id, lambda u: u.device_keys, public_key)

    async def touch(self, device_id: str, now: float) -> None:
        await self._set_field(device_id, lambda u: u.device_seen, repr(now))

    async def _set_field(
        self, device_id: str, field: Callable[[UserKeys], str], value: str
    ) -> bool:
        user = await self._store.owner_keys(self._keys.device_owner(device_id))
        if user is None:
            return False
        keys = [user.devices, field(user)]
        return bool(await self._scripts.set_device_field(keys=keys, args=[device_id, value]))

    # Token ids
    async def use_jti(self, device_id: str, jti: str, expires_at: float, now: float) -> bool:
        if expires_at <= now:
            return True  # Nothing to remember: an expired token is refused before this.
        key = self._keys.jti(device_id, jti)
        return bool(await self._redis.set(key, b"1", px=ms(expires_at - now), nx=True))
