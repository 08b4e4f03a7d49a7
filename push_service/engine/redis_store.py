"""The Redis engine's plumbing: one client, its scripts, record encoding, failure translation.

It owns how commands are sent (pipelines, EVALSHA, reloading scripts after a Redis restart) and
the one place where a Redis failure becomes PushError(unavailable). It knows no engine rules.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from ..errors import ErrorCode, PushError
from ..models import from_record, to_record
from .redis_keys import Keys, UserKeys
from .redis_scripts import Scripts

log = logging.getLogger("push_service.engine.redis")

P = ParamSpec("P")
T = TypeVar("T")

OWNER_CACHE_SIZE = 20_000
RETENTION = 24 * 3600
"""How long an ended record is kept (a challenge after its deadline, a webhook after creation)."""
STRAY_GRACE = 60.0
"""A due ref whose record is missing is dropped only once this old: its writer may be mid-way."""


def unavailable() -> PushError:
    return PushError(
        ErrorCode.UNAVAILABLE, "The state store cannot be reached; nothing was changed."
    )


class Bounded(Protocol):
    @property
    def deadline(self) -> float:
        """The longest one engine call may take before it counts as Redis being unreachable."""


S = TypeVar("S", bound=Bounded)


def guarded(
    method: Callable[Concatenate[S, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """The one place a Redis failure, or a call that outlives its deadline, becomes
    PushError(unavailable)."""

    @functools.wraps(method)
    async def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            async with asyncio.timeout(self.deadline):
                return await method(self, *args, **kwargs)
        except (RedisError, OSError) as exc:  # OSError includes the deadline's TimeoutError
            log.warning("redis %s failed: %s: %s", method.__name__, type(exc).__name__, exc)
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
    """A bounded cache of owner keys (id -> user id); safe because an id's owner never changes."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._users: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._users.get(key)

    def put(self, key: str, user_id: str) -> None:
        if len(self._users) >= self._size:
            del self._users[next(iter(self._users))]
        self._users[key] = user_id


Build = Callable[[Pipeline], None]


class Store:
    """A Redis client with the engine's keys and scripts."""

    def __init__(self, url: str, prefix: str, timeout: float) -> None:
        # No client-side retries: replaying a script whose answer was lost could apply it twice.
        # No socket_timeout either: redis-py enforces it on writes with asyncio.wait_for, which
        # on Python 3.11 can swallow the cancellation of the calling task (CPython gh-86296), so
        # a task stopped mid-command would run on. Calls are bounded by `guarded` instead.
        self.redis = Redis.from_url(
            url,
            socket_timeout=None,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self.timeout = timeout
        self.keys = Keys(prefix)
        self.scripts = Scripts.register(self.redis)
        self.owners = Owners(OWNER_CACHE_SIZE)

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

    async def owner_keys(self, owner_key: str) -> UserKeys | None:
        user_id = await self.owner(owner_key)
        return None if user_id is None else self.user(user_id)

    async def pipeline(self, build: Build) -> list[Any]:
        """Run a pipeline; when Redis lost the scripts (a restart), load them and run it again.

        Safe to repeat: what a pipeline holds besides its scripts is idempotent, and a script
        Redis did not know did not run.
        """
        results = await self._execute(build)
        if any(isinstance(r, NoScriptError) for r in results):
            await self._load_scripts()
            results = await self._execute(build)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def _execute(self, build: Build) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        build(pipe)
        return await pipe.execute(raise_on_error=False)

    async def _load_scripts(self) -> None:
        for script in self.scripts.all():
            script.sha = await self.redis.script_load(script.script)


def queue(pipe: Pipeline, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> None:
    # EVALSHA queued by hand: queuing the script object would add a SCRIPT EXISTS round trip.
    pipe.evalsha(script.sha, len(keys), *keys, *args)
