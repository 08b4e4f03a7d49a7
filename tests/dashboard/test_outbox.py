"""The bounded outbox: offering never waits, and a reader that falls behind is given up on."""

from __future__ import annotations

import asyncio

from push_service.outbox import Outbox


async def test_items_are_delivered_in_order_by_the_outbox_task() -> None:
    delivered: list[int] = []
    done = asyncio.Event()

    async def deliver(item: int) -> None:
        delivered.append(item)
        if item == 3:
            done.set()

    outbox = Outbox(deliver, 8, on_full=lambda: None, name="test")
    assert all(outbox.offer(i) for i in (1, 2, 3))
    await asyncio.wait_for(done.wait(), 2)
    assert delivered == [1, 2, 3]
    await outbox.stop()


async def test_a_full_outbox_calls_on_full_once_and_drops_the_rest() -> None:
    stuck = asyncio.Event()
    full: list[bool] = []

    async def deliver(item: int) -> None:
        await stuck.wait()  # a reader that never reads

    outbox = Outbox(deliver, 2, on_full=lambda: full.append(True), name="test")
    results = [outbox.offer(i) for i in range(6)]
    assert results == [True, True, False, False, False, False]
    assert full == [True]
    await outbox.stop()


async def test_a_reader_that_went_away_ends_the_task_quietly() -> None:
    async def deliver(item: int) -> None:
        raise ConnectionResetError("gone")

    outbox = Outbox(deliver, 2, on_full=lambda: None, name="test")
    outbox.offer(1)
    await asyncio.wait_for(outbox._task, 2)
    await outbox.stop()
