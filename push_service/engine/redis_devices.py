"""The Redis engine's enrollments, devices and token ids.

A device lives in its user's slot as its registration record plus the two fields that change
(rotated key, last seen), each written by a script that refuses a revoked device and read
together with the record by another, so a read never mixes two moments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from ..models import Device, Enrollment
from . import redis_events
from .base import ENROLLMENT_ATTEMPTS, DeviceRevoked
from .redis_keys import UserKeys
from .redis_store import Pipe, Store, dump, load, ms, queue


def _fields(flat: Sequence[bytes]) -> dict[bytes, bytes]:
    """A hash from a script's HGETALL reply, which comes back as a flat field, value list."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


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
        # Either write alone is harmless (on a cluster they run side by side): an owner key
        # leads to nothing, an enrollment no owner names is never found and expires.
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
        def ahead(pipe: Pipe) -> None:
            pipe.set(owner, device.user_id)

        def store(pipe: Pipe) -> None:
            queue(pipe, self._scripts.redeem_enrollment, keys, args)

        if not (await self._store.pipeline(ahead, store))[1]:
            await self._redis.delete(owner)
            return False
        self._store.owners.put(owner, device.user_id)
        return True

    # Devices
    async def get(self, device_id: str) -> Device | None:
        user = await self._store.owner_keys(self._keys.device_owner(device_id))
        if user is None:
            return None
        (reply,) = await self._store.pipeline(lambda pipe: self.read(pipe, user, device_id))
        return self.parsed(reply)

    def read(self, pipe: Pipe, user: UserKeys, device_id: str) -> None:
        """Queue the read of one device of `user`; `parsed` makes its reply a Device."""
        keys = [user.devices, user.device_keys, user.device_seen]
        queue(pipe, self._scripts.read_device, keys, [device_id])

    @staticmethod
    def parsed(reply: Sequence[bytes | None]) -> Device | None:
        record, key, seen = reply
        return None if record is None else _device(record, key, seen)

    async def listing(self, user_id: str) -> list[Device]:
        user = self._store.user(user_id)
        hashes = [user.devices, user.device_keys, user.device_seen]
        replies = await self._scripts.list_devices(keys=hashes, args=[])
        records, keys, seen = map(_fields, replies)
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

        def store(pipe: Pipe) -> None:
            queue(pipe, self._scripts.revoke_device, keys, [device_id, self._keys.channel, message])

        # The owner key goes last: an active device must stay reachable by id.
        def behind(pipe: Pipe) -> None:
            pipe.delete(owner)

        found = (await self._store.pipeline(store, behind))[0]
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
        user = await self._store.owner_keys(self._keys.device_owner(device_id))
        if user is None:
            return False
        keys = [user.devices, user.jti(device_id, jti)]
        args: list[str | int] = [device_id, ms(expires_at - now)]
        return bool(await self._scripts.use_jti(keys=keys, args=args))
