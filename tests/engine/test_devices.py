"""Devices and token ids: listing, revocation (announced), key rotation, last seen, jti reuse."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from push_service.engine.base import DeviceRevoked, Engine
from tests.engine.conftest import Recorder, warm
from tests.engine.records import T0, enrolled


async def test_devices_are_listed_oldest_first_for_their_user_only(engine: Engine) -> None:
    later = await enrolled(engine, "alice", T0 + 5)
    earlier = await enrolled(engine, "alice", T0)
    await enrolled(engine, "bob")
    assert await engine.list_devices("alice") == [earlier, later]
    assert await engine.list_devices("nobody") == []


async def test_revoke_announces_and_removes_the_device(engine: Engine, events: Recorder) -> None:
    device = await enrolled(engine, "alice")
    assert await engine.revoke_device(device.device_id) == device
    assert await events.wait_for(DeviceRevoked) == [DeviceRevoked(device.device_id, "alice")]
    assert await engine.get_device(device.device_id) is None
    assert await engine.list_devices("alice") == []


async def test_revoking_twice_returns_none_and_announces_once(
    engine: Engine, events: Recorder
) -> None:
    device = await enrolled(engine, "alice")
    await engine.revoke_device(device.device_id)
    assert await engine.revoke_device(device.device_id) is None
    assert await engine.revoke_device("dev_unknown") is None
    await events.settle()
    assert len(events.of(DeviceRevoked)) == 1


async def test_rotate_key_replaces_the_public_key(engine: Engine) -> None:
    device = await enrolled(engine, "alice")
    assert await engine.rotate_key(device.device_id, "new-key") is True
    rotated = dataclasses.replace(device, public_key="new-key")
    assert await engine.get_device(device.device_id) == rotated
    assert await engine.list_devices("alice") == [rotated]


async def test_revoked_or_unknown_device_cannot_rotate_its_key(engine: Engine) -> None:
    device = await enrolled(engine, "alice")
    await engine.revoke_device(device.device_id)
    assert await engine.rotate_key(device.device_id, "new-key") is False
    assert await engine.rotate_key("dev_unknown", "new-key") is False
    assert await engine.get_device(device.device_id) is None


async def test_touch_records_last_seen(engine: Engine) -> None:
    device = await enrolled(engine, "alice")
    await engine.touch_device(device.device_id, T0 + 42.5)
    touched = dataclasses.replace(device, last_seen_at=T0 + 42.5)
    assert await engine.get_device(device.device_id) == touched
    assert await engine.list_devices("alice") == [touched]


async def test_touch_does_not_bring_back_a_revoked_device(engine: Engine) -> None:
    device = await enrolled(engine, "alice")
    await engine.revoke_device(device.device_id)
    await engine.touch_device(device.device_id, T0 + 1)
    await engine.touch_device("dev_unknown", T0 + 1)
    assert await engine.get_device(device.device_id) is None
    assert await engine.list_devices("alice") == []


async def test_a_jti_is_accepted_once(engine: Engine) -> None:
    device = await enrolled(engine, "alice")
    assert await engine.use_jti(device.device_id, "jti-1", T0 + 60, T0) is True
    assert await engine.use_jti(device.device_id, "jti-1", T0 + 60, T0 + 1) is False


async def test_a_jti_is_scoped_to_its_device(engine: Engine) -> None:
    a, b = await enrolled(engine, "alice"), await enrolled(engine, "alice")
    assert await engine.use_jti(a.device_id, "jti-1", T0 + 60, T0) is True
    assert await engine.use_jti(b.device_id, "jti-1", T0 + 60, T0) is True
    assert await engine.use_jti(a.device_id, "jti-2", T0 + 60, T0) is True


async def test_a_jti_of_a_device_that_is_not_active_is_refused(engine: Engine) -> None:
    revoked = await enrolled(engine, "alice")
    await engine.revoke_device(revoked.device_id)
    assert await engine.use_jti(revoked.device_id, "jti-1", T0 + 60, T0) is False
    assert await engine.use_jti("dev_unknown", "jti-1", T0 + 60, T0) is False


async def test_concurrent_uses_of_one_jti_accept_one(engine: Engine) -> None:
    device = await enrolled(engine, "alice")
    await warm(engine, 5)
    results = await asyncio.gather(
        *(engine.use_jti(device.device_id, "jti-1", T0 + 60, T0) for _ in range(5))
    )
    assert sorted(results) == [False] * 4 + [True]


async def test_a_jti_is_usable_again_only_after_its_expiry(engine: Engine) -> None:
    """Real time here, as Redis forgets by its own clock; a bounded poll, no fixed sleep."""
    device_id = (await enrolled(engine, "alice")).device_id
    start = time.time()
    expires_at = start + 0.3
    assert await engine.use_jti(device_id, "jti-1", expires_at, start) is True
    assert await engine.use_jti(device_id, "jti-1", expires_at, time.time()) is False
    while True:
        now = time.time()
        if await engine.use_jti(device_id, "jti-1", now + 60, now):
            break
        assert now < expires_at + 2, "the jti was still refused long after its expiry"
        await asyncio.sleep(0.01)
    assert now > expires_at - 0.05, "the jti was accepted again before its expiry"
