"""Enrollments: readable until expiry, burned by failures, redeemed once into a device."""

from __future__ import annotations

import asyncio

from push_service.engine.base import ENROLLMENT_ATTEMPTS, Engine
from tests.engine import records
from tests.engine.conftest import warm
from tests.engine.records import T0


async def test_enrollment_is_readable_until_it_expires(engine: Engine) -> None:
    enrollment = records.enrollment("alice", ttl=600)
    await engine.add_enrollment(enrollment, T0)
    assert await engine.get_enrollment(enrollment.code_hash, T0 + 599) == enrollment
    assert await engine.get_enrollment(enrollment.code_hash, T0 + 600) is None


async def test_unknown_code_is_none(engine: Engine) -> None:
    assert await engine.get_enrollment("no-such-code", T0) is None


async def test_failures_below_the_limit_leave_the_code_usable(engine: Engine) -> None:
    enrollment = records.enrollment("alice")
    await engine.add_enrollment(enrollment, T0)
    for _ in range(ENROLLMENT_ATTEMPTS - 1):
        await engine.fail_enrollment(enrollment.code_hash)
    assert await engine.get_enrollment(enrollment.code_hash, T0) == enrollment


async def test_the_fifth_failure_burns_the_code(engine: Engine) -> None:
    enrollment = records.enrollment("alice")
    await engine.add_enrollment(enrollment, T0)
    for _ in range(ENROLLMENT_ATTEMPTS):
        await engine.fail_enrollment(enrollment.code_hash)
    assert await engine.get_enrollment(enrollment.code_hash, T0) is None
    assert (
        await engine.redeem_enrollment(enrollment.code_hash, records.device("alice"), T0) is False
    )
    assert await engine.list_devices("alice") == []


async def test_failing_an_unknown_code_is_harmless(engine: Engine) -> None:
    await engine.fail_enrollment("no-such-code")
    assert await engine.get_enrollment("no-such-code", T0) is None


async def test_redeem_consumes_the_code_and_adds_the_device(engine: Engine) -> None:
    enrollment = records.enrollment("alice")
    device = records.device("alice")
    await engine.add_enrollment(enrollment, T0)
    assert await engine.redeem_enrollment(enrollment.code_hash, device, T0 + 1) is True
    assert await engine.get_enrollment(enrollment.code_hash, T0 + 1) is None
    assert await engine.get_device(device.device_id) == device
    assert await engine.list_devices("alice") == [device]


async def test_a_code_is_redeemed_once_only(engine: Engine) -> None:
    enrollment = records.enrollment("alice")
    first, second = records.device("alice"), records.device("alice")
    await engine.add_enrollment(enrollment, T0)
    assert await engine.redeem_enrollment(enrollment.code_hash, first, T0) is True
    assert await engine.redeem_enrollment(enrollment.code_hash, second, T0) is False
    assert await engine.get_device(second.device_id) is None
    assert await engine.list_devices("alice") == [first]


async def test_concurrent_redeems_add_exactly_one_device(engine: Engine) -> None:
    enrollment = records.enrollment("alice")
    devices = [records.device("alice") for _ in range(4)]
    await engine.add_enrollment(enrollment, T0)
    await warm(engine, 4)
    results = await asyncio.gather(
        *(engine.redeem_enrollment(enrollment.code_hash, d, T0) for d in devices)
    )
    assert sorted(results) == [False, False, False, True]
    winner = devices[results.index(True)]
    assert await engine.list_devices("alice") == [winner]


async def test_an_expired_code_cannot_be_redeemed(engine: Engine) -> None:
    enrollment = records.enrollment("alice", ttl=600)
    device = records.device("alice")
    await engine.add_enrollment(enrollment, T0)
    assert await engine.redeem_enrollment(enrollment.code_hash, device, T0 + 600) is False
    assert await engine.get_device(device.device_id) is None
