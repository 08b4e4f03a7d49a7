"""What only a Redis Cluster shows: a user's keys in one slot, users spread over the masters,
events crossing from the master that published them, scripts reloaded per node, configuration
by `PUSH_REDIS_CLUSTER`, failing fast while a master is down, and following a failover."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio
from redis.crc import key_slot

from push_service.config import ConfigError, Settings
from push_service.engine import engine_for
from push_service.engine.base import ChallengeCreated, Engine
from push_service.engine.redis import RedisEngine
from push_service.engine.redis_keys import Keys
from push_service.errors import ErrorCode, PushError
from push_service.models import Challenge
from tests.engine import records
from tests.engine.conftest import Recorder, unique_prefix
from tests.engine.records import ROOMY, T0
from tests.redis_server import RedisClusterNodes, RedisServer

USERS = 20


@pytest.fixture
async def node_clients(
    redis_cluster: RedisClusterNodes,
) -> AsyncIterator[list[redis.asyncio.Redis]]:
    """A plain client per node, in the order of `redis_cluster.nodes`, to see where keys live."""
    clients = [redis.asyncio.Redis.from_url(node.url) for node in redis_cluster.nodes]
    yield clients
    for client in clients:
        await client.aclose()


@pytest.fixture
async def cluster_engine(
    redis_cluster: RedisClusterNodes, redis_prefix: str
) -> AsyncIterator[RedisEngine]:
    engine = RedisEngine(redis_cluster.url, prefix=redis_prefix, cluster=True)
    yield engine
    await engine.close()


async def port_of_slot(client: redis.asyncio.Redis, slot: int) -> int:
    """The port of the master serving `slot`, from CLUSTER SLOTS."""
    for start, end, master, *_ in await client.cluster("SLOTS"):
        if start <= slot <= end:
            return int(master[1])
    raise AssertionError(f"no master serves slot {slot}")


def user_of(key: bytes) -> str:
    return key.decode().split("{u:", 1)[1].split("}", 1)[0]


async def create_for_users(engine: Engine, users: list[str]) -> list[Challenge]:
    challenges = [records.challenge(user) for user in users]
    for challenge in challenges:
        await records.enrolled(engine, challenge.user_id)
        await engine.create_challenge(challenge, ROOMY, "idem", T0)
    return challenges


async def test_a_users_keys_share_one_slot_and_users_spread_over_the_masters(
    cluster_engine: RedisEngine, node_clients: list[redis.asyncio.Redis], redis_prefix: str
) -> None:
    users = [f"user-{n}" for n in range(USERS)]
    await create_for_users(cluster_engine, users)
    users_by_node: list[set[str]] = []
    for client in node_clients:
        # SCAN on one node of a cluster lists only the keys that node holds.
        keys = [k async for k in client.scan_iter(match=f"{redis_prefix}{{u:*")]
        for user in {user_of(k) for k in keys}:
            mine = [k for k in keys if user_of(k) == user]
            slots = {await client.cluster("KEYSLOT", k) for k in mine}
            assert len(slots) == 1, f"{user}'s keys span slots {slots}"
            # This node counts them in that slot (other tests' users of that name may add more).
            assert await client.cluster("COUNTKEYSINSLOT", slots.pop()) >= len(mine)
            assert len(mine) >= 6  # challenge, pending, rate, idempotency, standing, devices
        users_by_node.append({user_of(k) for k in keys})
    assert sorted(u for on_node in users_by_node for u in on_node) == sorted(users)
    assert sum(1 for on_node in users_by_node if on_node) >= 2


async def test_an_event_published_on_another_master_reaches_the_subscriber(
    redis_cluster: RedisClusterNodes, node_clients: list[redis.asyncio.Redis]
) -> None:
    """The subscriber listens on the URL's node; users served by the other masters publish
    there (their scripts run there), and the cluster relays the messages."""
    prefix = unique_prefix()
    keys = Keys(prefix)
    elsewhere = [node.port for node in redis_cluster.nodes[1:]]
    users = []
    for n in range(100):
        port = await port_of_slot(node_clients[0], key_slot(keys.user(f"u{n}").pending.encode()))
        if port in elsewhere:
            elsewhere.remove(port)
            users.append(f"u{n}")
    assert len(users) == len(redis_cluster.nodes) - 1
    one, two = (RedisEngine(redis_cluster.url, prefix=prefix, cluster=True) for _ in "12")
    heard_one, heard_two = Recorder(), Recorder()
    try:
        await one.start(heard_one)
        await two.start(heard_two)
        subscribers = [(await c.pubsub_numsub(keys.channel))[0][1] for c in node_clients]
        assert subscribers == [2, 0, 0]
        challenges = await create_for_users(one, users)
        for heard in (heard_one, heard_two):
            arrived = await heard.wait_for(ChallengeCreated, len(challenges))
            assert sorted(e.challenge.challenge_id for e in arrived) == sorted(
                c.challenge_id for c in challenges
            )
    finally:
        await one.close()
        await two.close()


async def test_scripts_lost_by_every_node_are_loaded_again(
    cluster_engine: RedisEngine, node_clients: list[redis.asyncio.Redis]
) -> None:
    """As after restarts: each pipeline stage and each single script finds them again."""
    enrollment, device = records.enrollment("alice"), records.device("alice")
    await cluster_engine.add_enrollment(enrollment, T0)
    for client in node_clients:
        await client.script_flush()
    assert await cluster_engine.redeem_enrollment(enrollment.code_hash, device, T0)
    assert await cluster_engine.get_device(device.device_id) == device
    await records.enrolled(cluster_engine, "bob")
    challenge = records.challenge("bob")
    await cluster_engine.create_challenge(challenge, ROOMY, None, T0)
    for client in node_clients:
        await client.script_flush()
    delivery = records.delivery(challenge)
    assert await cluster_engine.finish(records.ended(challenge), delivery)
    claimed = await cluster_engine.claim_deliveries(delivery.next_at, 30, 10)
    assert [d.delivery_id for d in claimed] == [delivery.delivery_id]


async def test_the_settings_select_a_cluster_engine(
    redis_cluster: RedisClusterNodes, node_clients: list[redis.asyncio.Redis]
) -> None:
    env = {
        "PUSH_REDIS_URL": redis_cluster.url,
        "PUSH_REDIS_CLUSTER": "1",
        "PUSH_REDIS_PREFIX": unique_prefix(),
    }
    engine = engine_for(Settings.from_env(env))
    try:
        # A client of one node would be sent elsewhere (MOVED) for most of these users.
        challenges = await create_for_users(engine, [f"user-{n}" for n in range(USERS)])
        for challenge in challenges:
            assert await engine.get_challenge(challenge.challenge_id) == challenge
    finally:
        await engine.close()


def test_the_cluster_flag_needs_a_url() -> None:
    with pytest.raises(ConfigError, match="PUSH_REDIS_CLUSTER"):
        Settings.from_env({"PUSH_REDIS_CLUSTER": "1"})


async def test_calls_fail_fast_as_unavailable_when_no_node_answers() -> None:
    nowhere = RedisServer()  # never started: nothing listens on its port
    engine = RedisEngine(nowhere.url, prefix="test:down:", cluster=True)
    try:
        for call in (engine.ping, lambda: engine.get_challenge("ch_x"), engine.match_key):
            began = time.monotonic()
            with pytest.raises(PushError) as caught:
                await call()
            assert caught.value.code is ErrorCode.UNAVAILABLE
            assert time.monotonic() - began < 2.5
        with pytest.raises(PushError) as caught:
            await engine.start(Recorder())
        assert caught.value.code is ErrorCode.UNAVAILABLE
    finally:
        await engine.close()
        nowhere.close()


@pytest.fixture
def own_cluster() -> Iterator[RedisClusterNodes]:
    """A cluster of this test's own, so stopping a master disturbs no other test."""
    cluster = RedisClusterNodes()
    cluster.start()
    yield cluster
    cluster.close()


async def test_a_stopped_master_fails_calls_fast_and_serves_again_after_its_restart(
    own_cluster: RedisClusterNodes,
) -> None:
    """Not only its own users' calls: owner keys and the global indexes live on every master."""
    prefix = unique_prefix()
    keys, stopped = Keys(prefix), own_cluster.nodes[2]
    engine = RedisEngine(own_cluster.url, prefix=prefix, cluster=True)
    probe = redis.asyncio.Redis.from_url(own_cluster.url)
    try:
        ports = {
            user: await port_of_slot(probe, key_slot(keys.user(user).pending.encode()))
            for user in (f"u{n}" for n in range(30))
        }
        lost = next(u for u, port in ports.items() if port == stopped.port)
        await create_for_users(engine, [lost])
        stopped.stop()
        for _ in range(2):  # the pooled connection breaks, then connecting fails
            began = time.monotonic()
            with pytest.raises(PushError) as caught:
                await engine.create_challenge(records.challenge(lost), ROOMY, None, T0)
            assert caught.value.code is ErrorCode.UNAVAILABLE
            assert time.monotonic() - began < 2.5
        stopped.start()  # empty, and without the scripts, but with its slots
        await asyncio.to_thread(own_cluster.wait_ok)
        await records.enrolled(engine, lost)  # its device went with the node's data
        challenge = records.challenge(lost)
        assert (await engine.create_challenge(challenge, ROOMY, None, T0)).new
        assert await engine.finish(records.ended(challenge)) is True
    finally:
        await probe.aclose()
        await engine.close()


@pytest.fixture
def replicated_cluster() -> Iterator[RedisClusterNodes]:
    cluster = RedisClusterNodes(replicas=1)
    cluster.start()
    for node in cluster.nodes:  # a stopped master is then replaced within seconds
        with redis.Redis(port=node.port) as client:
            client.config_set("cluster-node-timeout", 1000)
    yield cluster
    cluster.close()


async def test_after_a_failover_calls_reach_the_promoted_replica(
    replicated_cluster: RedisClusterNodes,
) -> None:
    """A create runs pipelines only: after a failed pipeline redis-py keeps its old slot map
    unless the engine makes it read the map again."""
    prefix = unique_prefix()
    keys, nodes = Keys(prefix), replicated_cluster.nodes
    engine = RedisEngine(replicated_cluster.url, prefix=prefix, cluster=True)
    probe = redis.asyncio.Redis.from_url(replicated_cluster.url)
    try:
        slots = {f"u{n}": key_slot(keys.user(f"u{n}").pending.encode()) for n in range(30)}
        ports = {user: await port_of_slot(probe, slot) for user, slot in slots.items()}
        user = next(u for u, port in ports.items() if port != nodes[0].port)
        await create_for_users(engine, [user])
        master = next(node for node in nodes if node.port == ports[user])
        master.stop()
        give_up = time.monotonic() + 20
        while True:
            try:
                await engine.create_challenge(records.challenge(user), ROOMY, None, T0)
                break
            except PushError:
                assert time.monotonic() < give_up, "calls never reached the promoted replica"
                await asyncio.sleep(0.2)
        assert await port_of_slot(probe, slots[user]) != master.port
    finally:
        await probe.aclose()
        await engine.close()
