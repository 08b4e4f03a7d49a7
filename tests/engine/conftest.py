"""Fixtures of the engine contract suite: a real redis-server and a real 3-master Redis Cluster
for the session, each engine in turn (the Redis ones under a key prefix of their own), and a
listener that records events."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

import pytest
import redis.asyncio

from push_service.engine.base import DeviceRevoked, Engine, Event
from push_service.engine.memory import MemoryEngine
from push_service.engine.redis import RedisEngine
from push_service.engine.redis_events import encode
from push_service.engine.redis_keys import Keys
from tests.engine import records
from tests.redis_server import RedisClusterNodes, RedisServer

E = TypeVar("E", bound=Event)

DELIVERY_TIMEOUT = 2.0
"""The longest a Redis event may take to arrive; the wait ends as soon as it does."""


class Recorder:
    """A listener that keeps every event, with bounded waits for events still on their way."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.flush: Callable[[], Awaitable[None]] | None = None
        self._arrived = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._arrived.set()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    async def until(
        self, condition: Callable[[], bool], what: str, within: float = DELIVERY_TIMEOUT
    ) -> None:
        """Wait for events until `condition` holds; fail the test after `within` seconds."""
        try:
            async with asyncio.timeout(within):
                while not condition():
                    await self._arrived.wait()
                    self._arrived.clear()
        except TimeoutError:
            raise AssertionError(f"waited {within} s for {what}") from None

    async def wait_for(self, kind: type[E], count: int = 1) -> list[E]:
        """Wait until `count` events of `kind` arrived (at once for the in-process engine)."""
        await self.until(lambda: len(self.of(kind)) >= count, f"{count} {kind.__name__} event(s)")
        return self.of(kind)

    async def settle(self) -> None:
        """Return once every event published so far has been delivered."""
        if self.flush is not None:
            await self.flush()


async def warm(engine: Engine, connections: int) -> None:
    """Open connections ahead, so calls gathered next truly overlap on the Redis engine
    instead of queueing behind connection set-up."""
    await asyncio.gather(*(engine.ping() for _ in range(connections)))


def unique_prefix() -> str:
    return f"test:{secrets.token_hex(6)}:"


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterNodes]:
    cluster = RedisClusterNodes()
    cluster.start()
    yield cluster
    cluster.close()


@pytest.fixture
def events() -> Recorder:
    return Recorder()


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
async def engine(request: pytest.FixtureRequest, events: Recorder) -> AsyncIterator[Engine]:
    if request.param == "memory":
        memory = MemoryEngine()
        await memory.start(events)
        yield memory
        await memory.close()
        return
    cluster = request.param == "redis-cluster"
    if cluster:
        nodes: RedisClusterNodes = request.getfixturevalue("redis_cluster")
        url, node_urls = nodes.url, [node.url for node in nodes.nodes]
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        url, node_urls = server.url, [server.url]
    prefix = unique_prefix()
    engine = RedisEngine(url, prefix=prefix, cluster=cluster)
    raws = [redis.asyncio.Redis.from_url(node_url) for node_url in node_urls]
    events.flush = sentinel_flush(raws, Keys(prefix).channel, events)
    await engine.start(events)
    yield engine
    await engine.close()
    for raw in raws:
        await raw.aclose()


def sentinel_flush(
    raws: list[redis.asyncio.Redis], channel: str, recorder: Recorder
) -> Callable[[], Awaitable[None]]:
    """Publish a marker through each node after everything else and wait for them all: what
    one node publishes keeps its order, also when a cluster relays it to the other nodes."""

    async def flush() -> None:
        markers = [DeviceRevoked(secrets.token_hex(8), "sentinel") for _ in raws]
        for raw, marker in zip(raws, markers, strict=True):
            await raw.publish(channel, encode(marker))
        await recorder.until(
            lambda: all(m in recorder.events for m in markers), "the sentinel events"
        )
        for marker in markers:
            recorder.events.remove(marker)

    return flush


USERS_WITH_DEVICES = ("alice", "bob")


@pytest.fixture
async def with_devices(engine: Engine) -> None:
    """A device each for the users most tests push to: a challenge needs one to be created."""
    for user_id in USERS_WITH_DEVICES:
        await records.enrolled(engine, user_id)


@pytest.fixture
def redis_prefix() -> str:
    return unique_prefix()


@pytest.fixture
async def redis_engines(
    redis_server: RedisServer, redis_prefix: str
) -> AsyncIterator[Callable[[], RedisEngine]]:
    """Make Redis engines sharing one prefix, as instances of one deployment; all closed after."""
    made: list[RedisEngine] = []

    def make() -> RedisEngine:
        made.append(RedisEngine(redis_server.url, prefix=redis_prefix))
        return made[-1]

    yield make
    for engine in made:
        await engine.close()


@pytest.fixture
async def raw_redis(redis_server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    """A plain client, to inspect what the engine stored."""
    client = redis.asyncio.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()
