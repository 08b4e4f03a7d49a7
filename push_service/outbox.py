"""A bounded outbox drained by a task of its own: what lets a fan-out hand items to a slow reader
without ever awaiting it. It knows nothing of websockets or frames; the owner says how an item
is delivered and what happens when the reader falls too far behind.

An idle outbox holds no queue and no task: thousands of idle phones each own one, and an empty
asyncio.Queue with a task parked on it costs several kilobytes. Both exist only while items are
waiting, and go away once the last one is delivered.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from . import tasks

T = TypeVar("T")


class Outbox(Generic[T]):
    __slots__ = ("_deliver", "_name", "_on_full", "_pending", "_refusing", "_size", "_task")

    def __init__(
        self,
        deliver: Callable[[T], Awaitable[None]],
        size: int,
        *,
        on_full: Callable[[], None],
        name: str,
    ) -> None:
        """`size` (at least 1) is how many items may wait besides the one being delivered."""
        self._deliver = deliver
        self._size = size
        self._on_full = on_full
        self._name = name
        self._pending: deque[T] | None = None
        self._task: asyncio.Task[None] | None = None
        self._refusing = False

    def offer(self, item: T) -> bool:
        """Queue an item without waiting; False once the queue has overflowed, the reader has
        gone, or the outbox was stopped.

        The first overflow calls `on_full` (the owner closes its reader); later items are
        dropped, since a reader that missed one item must start over anyway.
        """
        if self._refusing:
            return False
        if self._pending is None:
            self._pending = deque((item,))
            self._task = asyncio.create_task(self._drain(self._pending), name=self._name)
        elif len(self._pending) < self._size:
            self._pending.append(item)
        else:
            self._refusing = True
            self._on_full()
            return False
        return True

    async def stop(self) -> None:
        self._refusing = True
        await tasks.stop(self._task)

    async def _drain(self, pending: deque[T]) -> None:
        # The only writer while it runs: items are delivered one at a time, in offer order.
        try:
            while pending:
                await self._deliver(pending.popleft())
        except (ConnectionError, RuntimeError):
            # The reader is gone (aiohttp raises these on a closing transport): stop quietly.
            self._refusing = True
        # No await since the last check: nothing was offered into `pending` unseen.
        self._pending = None
        self._task = None
