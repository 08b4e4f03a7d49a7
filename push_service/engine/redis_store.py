"""The Redis engine's plumbing: one client, its scripts, record encoding, failure translation.

It owns how commands are sent (pipelines, EVALSHA, reloading scripts after a Redis restart) and
the one place where a Redis failure becomes PushError(unavailable). It knows no engine rules.

Redis Cluster is chosen by a flag beside the URL (`PUSH_REDIS_CLUSTER`), not by a URL scheme of
our own: the URL stays one that redis-py and redis-cli read as it is, and the choice is visible
in the settings, where the URL (which may hold a password) is not. The cluster client sends
commands and scripts to the node of their slot; the event channel is a plain connection to the
URL's node, since a classic PUBLISH on any node reaches the subscribers of every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import ErrorCode, PushError
from ..models import from_record, to_record
from .redis_keys import Keys, UserKeys
from .redis_scripts import Scripts

log = logging.getLogger("push_service.engine.redis")

P = ParamSpec("P")
T = TypeVar("T")

OWNER_CACHE_SIZE = 20_000
HEALTH_CHECK_INTERVAL = 1
RETENTION = 24 * 3600
"""How long an ended record is kept (a challenge after its deadline, a webhook after creation)."""
STRAY_GRACE = 60.0
"""A due ref whose record is missing is dropped only once this old: its writer may be mid-way."""
RELEARN_EVERY = 1.0
"""Seconds between two times a cluster client is made to learn the slot map again."""


Client = Redis | RedisCluster
Pipe = Pipeline | ClusterPipeline
Build = Callable[[Pipe], None]

# What a store that cannot serve raises; the cluster client's own failures (no node reachable,
# a slot not served) are not RedisErrors.
FAILURES = (RedisError, RedisClusterException, OSError)
LOST = (RedisConnectionError, RedisTimeoutError, OSError)


def unavailable() -> PushError:
    return PushError(
        ErrorCode.UNAVAILABLE, "The state store cannot be reached; nothing was changed."
    )


class Bounded(Protocol):
    @property
    def deadline(self) -> float:
        """The longest one engine call may take before it counts as Redis being unreachable."""

    @property
    def store(self) -> Store:
        """The store the calls go to, and whose turns they wait for."""


S = TypeVar("S", bound=Bounded)


def guarded(
    method: Callable[Concatenate[S, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """The one place a Redis failure, or a call that outlives its deadline, becomes
    PushError(unavailable)."""

    @functools.wraps(method)
    async def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            async with asyncio.timeout(self.deadline), self.store.turns:
                return await method(self, *args, **kwargs)
        except FAILURES as exc:  # OSError includes the deadline's TimeoutError
            log.warning("redis %s failed: %s: %s", method.__name__, type(exc).__name__, exc)
            if isinstance(exc, LOST):
                await self.store.connection_lost()
            raise unavailable() from exc

    return run


def ms(seconds: float) -> int:
    """A TTL in whole milliseconds, at least 1 (Redis refuses 0)."""
    return max(1, math.ceil(seconds * 1000))


def dump(record: Any) -> str:
    return json.dumps(to_record(record), separators=(",", ":"), allow_nan=False)


def load(kind: type[T], raw: bytes | str) -> T:
    return from_record(kind, json.loads(raw))


class Owners:
    """A bounded cache of owner keys (id -> user id); safe because an id's owner never changes.

    Least recently used goes first: a device answering every day stays cached however many
    challenges (each cached once, as it is announced) pass through meanwhile.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._users: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        user_id = self._users.pop(key, None)
        if user_id is not None:
            self._users[key] = user_id
        return user_id

    def put(self, key: str, user_id: str) -> None:
        if key not in self._users and len(self._users) >= self._size:
            del self._users[next(iter(self._users))]
        self._users[key] = user_id


class Store:
    """A Redis client (one server or a cluster) with the engine's keys and scripts."""

    def __init__(
        self, url: str, prefix: str, timeout: float, *, cluster: bool, connections: int
    ) -> None:
        self.cluster = cluster
        self.redis: Client
        # Engine calls in flight at once, each holding at most one connection at a time: at a
        # burst, a call waits its turn here (within its deadline) rather than fail for want of
        # a connection. A semaphore costs nothing while turns are free, unlike redis-py's
        # blocking pool, which sets a timer for every command.
        self.turns = asyncio.Semaphore(connections)
        if cluster:
            self.redis = cluster_client(url, timeout)
            # The event channel's client: a plain one, to the URL's node.
            self.listener = server_client(url, timeout, 1)
        else:
            self.redis = self.listener = server_client(url, timeout, connections)
        self.timeout = timeout
        self.keys = Keys(prefix)
        self.scripts = Scripts.register(self.redis)
        self.owners = Owners(OWNER_CACHE_SIZE)
        self._relearned_at = -math.inf

    async def close(self) -> None:
        clients: list[Client] = [self.redis]
        if self.listener is not self.redis:
            clients.append(self.listener)
        for client in clients:
            try:
                await client.aclose()
            except FAILURES as exc:
                log.warning("redis close failed: %s", exc)

    async def connection_lost(self) -> None:
        """After a call lost its connection or ran out of time: on a cluster, make the client
        read the slot map again before its next command, as a failover may have moved the slots
        of the node that went away.

        redis-py does so itself only after a single command's connection error; after a
        pipeline's, or a call cut short by its deadline, it would go on sending to the node
        that is gone. Closing the client is its own way to start afresh. At most once a second,
        so that calls failing together do not keep closing each other's connections.
        """
        now = time.monotonic()
        if not self.cluster or now - self._relearned_at < RELEARN_EVERY:
            return
        self._relearned_at = now
        with contextlib.suppress(*FAILURES):
            async with asyncio.timeout(self.timeout):
                await self.redis.aclose()

    def user(self, user_id: str) -> UserKeys:
        return self.keys.user(user_id)

    async def owner(self, owner_key: str) -> str | None:
        """The user an id belongs to: from the cache, else from its owner key."""
        user_id = self.owners.get(owner_key)
        if user_id is None:
            raw = cast(bytes | None, await self.redis.get(owner_key))
            if raw is None:
                return None
            user_id = raw.decode()
            self.owners.put(owner_key, user_id)
        return user_id

    async def owners_of(self, *owner_keys: str) -> list[str | None]:
        """The users several ids belong to; those not cached are read in one round trip."""
        found = [self.owners.get(key) for key in owner_keys]
        missing = [key for key, user_id in zip(owner_keys, found, strict=True) if user_id is None]
        if not missing:
            return found

        def read(pipe: Pipe) -> None:
            for key in missing:
                pipe.get(key)

        stored = dict(zip(missing, await self.pipeline(read), strict=True))
        for index, key in enumerate(owner_keys):
            raw = stored.get(key)
            if found[index] is None and raw is not None:
                user_id = found[index] = raw.decode()
                self.owners.put(key, user_id)
        return found

    async def owner_keys(self, owner_key: str) -> UserKeys | None:
        user_id = await self.owner(owner_key)
        return None if user_id is None else self.user(user_id)

    async def pipeline(self, *stages: Build) -> list[Any]:
        """Run the commands `stages` queue, each stage only after the one before has run, and
        return all their results in order.

        The order is what leaves a write cut short harmless (a ref before its record, say).
        One Redis runs a pipeline in order, so there all stages go in one round trip; a cluster
        pipeline sends each node its share at once, so there each stage is a round trip.
        """
        if not self.cluster:
            return await self._run(stages)
        results: list[Any] = []
        for stage in stages:
            results += await self._run([stage])
        return results

    async def _run(self, stages: Sequence[Build]) -> list[Any]:
        """One pipeline; when Redis lost the scripts (a restart), load them and run it again.

        Safe to repeat: what a pipeline holds besides its scripts is idempotent, and a script
        Redis did not know did not run.
        """
        results = await self._execute(stages)
        if any(isinstance(r, NoScriptError) for r in results):
            await self._load_scripts()
            results = await self._execute(stages)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def _execute(self, stages: Sequence[Build]) -> list[Any]:
        # Never a transaction: on a cluster only a non-transactional pipeline may span slots.
        pipe = self.redis.pipeline(transaction=False)
        for build in stages:
            build(pipe)
        return await pipe.execute(raise_on_error=False)

    async def _load_scripts(self) -> None:
        # On a cluster, SCRIPT LOAD goes to every master.
        for script in self.scripts.all():
            script.sha = await self.redis.script_load(script.script)


# No client-side retries: replaying a script whose answer was lost could apply it twice (a
# cluster client still follows MOVED and ASK, which only say where a command must run).
# No socket_timeout either: redis-py enforces it on writes with asyncio.wait_for, which on
# Python 3.11 can swallow the cancellation of the calling task (CPython gh-86296), so a task
# stopped mid-command would run on. Calls are bounded by `guarded` instead.
# `connections` is the engine calls' share; the event channel holds one more.
def server_client(url: str, timeout: float, connections: int) -> Redis:
    return Redis.from_url(
        url,
        max_connections=connections + 1,
        socket_timeout=None,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        # A connection idle this long is pinged before use: after a Redis restart the pool's
        # old connections are found dead here, not by a request that then fails.
        health_check_interval=HEALTH_CHECK_INTERVAL,
    )


def cluster_client(url: str, timeout: float) -> RedisCluster:
    """A cluster client that finds every node from the one `url` names."""
    return RedisCluster.from_url(
        url,
        socket_timeout=None,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=HEALTH_CHECK_INTERVAL,
    )


def queue(pipe: Pipe, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> None:
    # EVALSHA queued by hand: queuing the script object would add a SCRIPT EXISTS round trip,
    # and a cluster pipeline blocks its `evalsha` method, unable to know that a script's keys
    # share a slot. Ours do, and the cluster client still checks it before sending.
    pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
