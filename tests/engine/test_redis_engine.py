"""What only the Redis engine promises: fan-out between instances, TTLs on ephemeral state,
one-slot keys, failing fast as `unavailable` while Redis is down, and recovering after."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio
from redis.crc import key_slot

from push_service.audit import AuditEvent
from push_service.engine.base import (
    ChallengeCreated,
    ChallengeEnded,
    DevicePresence,
    DeviceRevoked,
)
from push_service.engine.redis import RedisEngine
from push_service.engine.redis_events import encode
from push_service.engine.redis_keys import Keys, ref
from push_service.errors import ErrorCode, PushError
from push_service.models import DeliveryState
from tests.engine import records
from tests.engine.conftest import Recorder
from tests.engine.records import ROOMY, T0
from tests.redis_server import RedisServer

DAY = 24 * 3600

MakeEngine = Callable[[], RedisEngine]


async def started(make: MakeEngine) -> tuple[RedisEngine, Recorder]:
    engine, recorder = make(), Recorder()
    await engine.start(recorder)
    return engine, recorder


async def test_events_reach_every_instance(redis_engines: MakeEngine) -> None:
    (one, heard_one), (two, heard_two) = await started(redis_engines), await started(redis_engines)
    challenge = records.challenge("alice")
    await records.enrolled(one, "alice")
    await one.create_challenge(challenge, ROOMY, None, T0)
    for heard in (heard_one, heard_two):
        assert await heard.wait_for(ChallengeCreated) == [ChallengeCreated(challenge)]
    approved = records.ended(challenge)
    assert await two.finish(approved)
    for heard in (heard_one, heard_two):
        assert await heard.wait_for(ChallengeEnded) == [ChallengeEnded(approved)]


async def test_a_revocation_reaches_every_instance(redis_engines: MakeEngine) -> None:
    (one, heard_one), (two, heard_two) = await started(redis_engines), await started(redis_engines)
    enrollment, device = records.enrollment("alice"), records.device("alice")
    await one.add_enrollment(enrollment, T0)
    await one.redeem_enrollment(enrollment.code_hash, device, T0)
    assert await two.revoke_device(device.device_id) == device
    for heard in (heard_one, heard_two):
        assert await heard.wait_for(DeviceRevoked) == [DeviceRevoked(device.device_id, "alice")]


async def test_an_announced_event_reaches_every_instance(redis_engines: MakeEngine) -> None:
    (one, heard_one), (_, heard_two) = await started(redis_engines), await started(redis_engines)
    online = DevicePresence("dev_a", "alice", online=True)
    await one.announce(online)
    for heard in (heard_one, heard_two):
        assert await heard.wait_for(DevicePresence) == [online]


async def test_another_instance_finds_records_by_id_alone(redis_engines: MakeEngine) -> None:
    """A second instance has heard nothing: it reaches users through the owner keys."""
    one, other = redis_engines(), redis_engines()
    await records.enrolled(one, "alice")
    challenge = records.challenge("alice")
    enrollment, device = records.enrollment("bob"), records.device("bob")
    await one.create_challenge(challenge, ROOMY, None, T0)
    await one.add_enrollment(enrollment, T0)
    await one.redeem_enrollment(enrollment.code_hash, device, T0)
    assert await other.get_challenge(challenge.challenge_id) == challenge
    assert await other.get_device(device.device_id) == device
    assert await other.rotate_key(device.device_id, "rotated") is True
    assert (await one.list_devices("bob"))[0].public_key == "rotated"


async def test_the_match_key_is_made_once_and_shared(redis_engines: MakeEngine) -> None:
    engines = [redis_engines() for _ in range(4)]
    keys = await asyncio.gather(*(e.match_key() for e in engines))
    assert len(set(keys)) == 1
    assert len(keys[0]) == 32
    assert await redis_engines().match_key() == keys[0]


async def prefixed_ttls(raw: redis.asyncio.Redis, prefix: str) -> dict[str, int]:
    keys = [k.decode() async for k in raw.scan_iter(match=f"{prefix}*")]
    ttls = await asyncio.gather(*(raw.pttl(k) for k in keys))
    return dict(zip(keys, ttls, strict=True))


async def test_ephemeral_keys_expire_and_durable_ones_do_not(
    redis_engines: MakeEngine, raw_redis: redis.asyncio.Redis, redis_prefix: str
) -> None:
    engine = redis_engines()
    await engine.add_app(records.app())
    await engine.match_key()
    kept, spent = records.enrollment("alice", ttl=600), records.enrollment("alice", ttl=600)
    device = records.device("alice")
    await engine.add_enrollment(kept, T0)
    await engine.fail_enrollment(kept.code_hash)
    await engine.add_enrollment(spent, T0)
    await engine.redeem_enrollment(spent.code_hash, device, T0)
    await engine.touch_device(device.device_id, T0)
    await engine.rotate_key(device.device_id, "rotated")
    await engine.use_jti(device.device_id, "jti-1", T0 + 120, T0)
    pending, done = records.challenge("alice", ttl=60), records.challenge("alice", ttl=60)
    await engine.create_challenge(pending, ROOMY, "idem-1", T0)
    await engine.create_challenge(done, ROOMY, None, T0)
    delivery = records.delivery(done)
    await engine.finish(records.ended(done), delivery)
    await engine.save_delivery(records.settled(delivery, DeliveryState.DELIVERED))
    await engine.present("instance-1", [device.device_id], time.time() + 30)
    await engine.append_audit([AuditEvent("ev_1", T0, "device.enrolled", "operator")], keep=10)

    keys, user = Keys(redis_prefix), Keys(redis_prefix).user("alice")
    ttls = await prefixed_ttls(raw_redis, redis_prefix)
    durable = {
        keys.apps, keys.app_key_hashes, keys.match_key, user.devices, user.device_keys,
        user.device_seen, keys.device_owner(device.device_id),
        user.standing, keys.deadlines, keys.challenges, keys.outbox, keys.deliveries, keys.audit,
    }  # fmt: skip
    assert {k for k, ttl in ttls.items() if ttl == -1} == durable & set(ttls)
    seconds = {k: ttl / 1000 for k, ttl in ttls.items()}
    assert 60 + DAY - 5 < seconds[user.challenge(pending.challenge_id)] <= 60 + DAY
    assert 60 + DAY - 5 < seconds[keys.challenge_owner(pending.challenge_id)] <= 60 + DAY
    assert 60 + DAY - 5 < seconds[user.pending] <= 60 + DAY
    assert DAY - 5 < seconds[user.idempotency(pending.app_id, "idem-1")] <= DAY
    assert 600 - 5 < seconds[user.rate] <= 600
    assert 600 - 5 < seconds[user.enrollment(kept.code_hash)] <= 600
    assert 0 < seconds[user.enrollment_fails(kept.code_hash)] <= 600
    assert 120 - 5 < seconds[user.jti(device.device_id, "jti-1")] <= 120
    assert seconds[user.delivery(delivery.delivery_id)] > 0
    assert seconds[keys.delivery_owner(delivery.delivery_id)] > 0
    assert 25 < seconds[keys.presence(device.device_id)] <= 30.01


async def test_a_refused_create_leaves_no_trace(
    redis_engines: MakeEngine, raw_redis: redis.asyncio.Redis, redis_prefix: str
) -> None:
    engine = redis_engines()
    await records.enrolled(engine, "alice")
    limits = records.limits(1, 100, 600)
    await engine.create_challenge(records.challenge("alice"), limits, None, T0)
    before = set(await prefixed_ttls(raw_redis, redis_prefix))
    refused = records.challenge("alice")
    with pytest.raises(PushError):
        await engine.create_challenge(refused, limits, None, T0)
    assert set(await prefixed_ttls(raw_redis, redis_prefix)) == before
    member = ref("alice", refused.challenge_id)
    assert await raw_redis.zscore(Keys(redis_prefix).deadlines, member) is None


async def test_a_losing_finish_leaves_no_trace_of_its_delivery(
    redis_engines: MakeEngine, raw_redis: redis.asyncio.Redis, redis_prefix: str
) -> None:
    engine, keys = redis_engines(), Keys(redis_prefix)
    await records.enrolled(engine, "alice")
    challenge = records.challenge("alice")
    await engine.create_challenge(challenge, ROOMY, None, T0)
    await engine.finish(records.ended(challenge))
    before = set(await prefixed_ttls(raw_redis, redis_prefix))
    late = records.delivery(challenge)
    assert await engine.finish(records.ended(challenge), late) is False
    assert set(await prefixed_ttls(raw_redis, redis_prefix)) == before
    assert await raw_redis.zscore(keys.outbox, ref("alice", late.delivery_id)) is None


async def test_due_drops_refs_whose_record_is_long_gone(
    redis_engines: MakeEngine, raw_redis: redis.asyncio.Redis, redis_prefix: str
) -> None:
    """A ref left by a write cut short never blocks the deadline index, once it is old."""
    engine, deadlines = redis_engines(), Keys(redis_prefix).deadlines
    old, fresh = ref("alice", "ch_old"), ref("alice", "ch_fresh")
    await raw_redis.zadd(deadlines, {old: T0 - 3600, fresh: T0 - 1})
    assert await engine.due(T0, limit=10) == []
    assert await raw_redis.zscore(deadlines, old) is None
    assert await raw_redis.zscore(deadlines, fresh) == T0 - 1


async def test_the_keys_of_one_user_share_one_cluster_slot(
    redis_engines: MakeEngine, raw_redis: redis.asyncio.Redis, redis_prefix: str
) -> None:
    engine, user_id = redis_engines(), "a}b{c:d%"
    used, unused, device = (
        records.enrollment(user_id),
        records.enrollment(user_id),
        records.device(user_id),
    )
    await engine.add_enrollment(used, T0)
    await engine.add_enrollment(unused, T0)
    await engine.fail_enrollment(unused.code_hash)
    await engine.redeem_enrollment(used.code_hash, device, T0)
    await engine.touch_device(device.device_id, T0)
    challenge = records.challenge(user_id)
    delivery = records.delivery(challenge)
    await engine.create_challenge(challenge, ROOMY, "idem", T0)
    await engine.create_challenge(records.challenge(user_id), ROOMY, None, T0)
    await engine.finish(records.ended(challenge), delivery)
    user = Keys(redis_prefix).user(user_id)
    expected = {
        user.challenge(challenge.challenge_id), user.pending, user.rate,
        user.idempotency(challenge.app_id, "idem"), user.enrollment(unused.code_hash),
        user.enrollment_fails(unused.code_hash), user.devices, user.device_seen,
        user.delivery(delivery.delivery_id),
    }  # fmt: skip
    tagged = {k async for k in raw_redis.scan_iter(match=f"{redis_prefix}{{u:*")}
    assert expected <= {k.decode() for k in tagged}
    assert len({key_slot(k) for k in tagged}) == 1
    assert await engine.get_challenge(challenge.challenge_id) is not None


@pytest.fixture
async def own_server() -> AsyncIterator[RedisServer]:
    """A server of this test's own, so stopping it disturbs no other test."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


def calls(engine: RedisEngine) -> dict[str, Callable[[], Awaitable[object]]]:
    challenge = records.challenge("alice")
    return {
        "ping": engine.ping,
        "match_key": engine.match_key,
        "get_app": lambda: engine.get_app("app_x"),
        "get_device": lambda: engine.get_device("dev_x"),
        "use_jti": lambda: engine.use_jti("dev_x", "jti", T0 + 60, T0),
        "create_challenge": lambda: engine.create_challenge(challenge, ROOMY, None, T0),
        "finish": lambda: engine.finish(records.ended(challenge)),
        "due": lambda: engine.due(T0, 10),
        "claim_deliveries": lambda: engine.claim_deliveries(T0, 30, 10),
    }


async def test_calls_fail_fast_as_unavailable_while_redis_is_down_and_work_after(
    own_server: RedisServer,
) -> None:
    engine = RedisEngine(own_server.url, prefix="test:down:")
    try:
        await records.enrolled(engine, "alice")
        await engine.create_challenge(records.challenge("alice"), ROOMY, None, T0)
        own_server.stop()
        for name, call in calls(engine).items():
            began = time.monotonic()
            with pytest.raises(PushError) as caught:
                await call()
            assert caught.value.code is ErrorCode.UNAVAILABLE, name
            assert caught.value.message == (
                "The state store cannot be reached; nothing was changed."
            )
            assert time.monotonic() - began < 2.5, f"{name} did not fail fast"
        own_server.start()
        await engine.ping()
        await records.enrolled(engine, "alice")  # a restarted Redis without a file is empty
        # A restarted Redis has lost its scripts: they are loaded again on first use.
        async with redis.asyncio.Redis.from_url(own_server.url) as raw:
            await raw.script_flush()
        challenge = records.challenge("alice")
        assert (await engine.create_challenge(challenge, ROOMY, None, T0)).new
        assert await engine.finish(records.ended(challenge)) is True
    finally:
        await engine.close()


async def test_start_raises_unavailable_when_redis_is_down(own_server: RedisServer) -> None:
    engine = RedisEngine(own_server.url, prefix="test:down:")
    own_server.stop()
    try:
        with pytest.raises(PushError) as caught:
            await engine.start(Recorder())
        assert caught.value.code is ErrorCode.UNAVAILABLE
    finally:
        await engine.close()


async def test_the_listener_resubscribes_after_redis_restarts(own_server: RedisServer) -> None:
    prefix = f"test:{secrets.token_hex(4)}:"
    engine, heard = RedisEngine(own_server.url, prefix=prefix), Recorder()
    await engine.start(heard)
    publisher = redis.asyncio.Redis.from_url(own_server.url)
    try:
        own_server.restart()
        marker = DeviceRevoked("dev_marker", "alice")

        async def published_and_heard() -> bool:
            # Published until heard: what is sent before the resubscription is lost by design.
            await publisher.publish(Keys(prefix).channel, encode(marker))
            await asyncio.sleep(0.05)
            return marker in heard.events

        deadline = time.monotonic() + 10
        while not await published_and_heard():
            assert time.monotonic() < deadline, "no event arrived after the restart"
        await records.enrolled(engine, "alice")
        challenge = records.challenge("alice")
        await engine.create_challenge(challenge, ROOMY, None, T0)
        await heard.until(lambda: ChallengeCreated(challenge) in heard.events, "the new challenge")
    finally:
        await publisher.aclose()
        await engine.close()


async def test_a_burst_beyond_the_connection_pool_waits_its_turn(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    """Many more calls in flight than connections: each waits for one, none fails, and the
    engine never opens more than it may."""
    engine = RedisEngine(redis_server.url, prefix=redis_prefix, connections=3)
    async with redis.asyncio.Redis.from_url(redis_server.url) as raw:
        before = len(await raw.client_list())
        try:
            await records.enrolled(engine, "alice")
            challenges = [records.challenge("alice") for _ in range(60)]
            created = await asyncio.gather(
                *(engine.create_challenge(c, ROOMY, None, T0) for c in challenges)
            )
            assert all(c.new for c in created)
            found = await asyncio.gather(
                *(engine.get_challenge(c.challenge_id) for c in challenges)
            )
            assert found == challenges
            assert len(await raw.client_list()) - before <= 3
        finally:
            await engine.close()
