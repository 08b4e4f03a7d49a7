"""A bounded outbox drained by its own task: what lets a fan-out hand items to a slow reader
without ever awaiting it. It knows nothing of websockets or frames; the owner says how an item
is delivered and what happens when the reader falls too far behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from . import tasks

T = TypeVar("T")


class Outbox(Generic[T]):
    def __init__(
        self,
        deliver: Callable[[T], Awaitable[None]],
        size: int,
        *,
        on_full: Callable[[], None],
        name: str,
    ) -> None:
        self._deliver = deliver
        self._on_full = on_full
        self._queue: asyncio.Queue[T] = asyncio.Queue(size)
        self._overflowed = False
        self._task = asyncio.create_task(self._drain(), name=name)

    def offer(self, item: T) -> bool:
        """Queue an item without waiting; False once the queue has overflowed.

        The first overflow calls `on_full` (the owner closes its reader); later items are
        dropped, since a reader that missed one item must start over anyway.
        """
        if self._overflowed:
            return False
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._overflowed = True
            self._on_full()
            return False
        return True

    async def stop(self) -> None:
        await tasks.stop(self._task)

    async def _drain(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._deliver(item)
            except (ConnectionError, RuntimeError):
                # The reader is gone (aiohttp raises these on a closing transport): stop quietly.
                return
