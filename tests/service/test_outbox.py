"""The bounded outbox: offering never waits, items arrive in order, a reader that falls behind
is given up on, and an idle outbox holds no task."""

from __future__ import annotations

import asyncio

from push_service.outbox import Outbox
from tests.waiting import eventually


class Reader:
    """A reader that takes items only while `reading` is set: a phone behind a slow link."""

    def __init__(self) -> None:
        self.got: list[int] = []
        self.reading = asyncio.Event()
        self.reading.set()

    async def deliver(self, item: int) -> None:
        await self.reading.wait()
        self.got.append(item)


async def test_items_are_delivered_in_order() -> None:
    reader = Reader()
    outbox = Outbox(reader.deliver, 8, on_full=lambda: None, name="test")
    assert all(outbox.offer(i) for i in (1, 2, 3))
    await eventually(lambda: reader.got == [1, 2, 3], "three items delivered")
    await outbox.stop()


async def test_an_idle_outbox_holds_no_task_and_wakes_for_the_next_item() -> None:
    reader = Reader()
    outbox = Outbox(reader.deliver, 8, on_full=lambda: None, name="test")
    assert outbox._task is None
    outbox.offer(1)
    await eventually(lambda: outbox._task is None, "the writer ended once idle")
    assert [outbox.offer(2), outbox.offer(3)] == [True, True]
    await eventually(lambda: reader.got == [1, 2, 3], "later items delivered, in order")
    await outbox.stop()


async def test_items_offered_while_one_is_delivered_follow_it_in_order() -> None:
    reader = Reader()
    reader.reading.clear()
    outbox = Outbox(reader.deliver, 8, on_full=lambda: None, name="test")
    outbox.offer(0)
    await asyncio.sleep(0)  # the writer has taken 0 and waits on the reader
    assert all(outbox.offer(i) for i in range(1, 9))
    reader.reading.set()
    await eventually(lambda: reader.got == list(range(9)), "every item, in offer order")
    await outbox.stop()


async def test_a_full_outbox_calls_on_full_once_and_drops_the_rest() -> None:
    reader = Reader()
    reader.reading.clear()  # a reader that never reads
    full: list[bool] = []
    outbox = Outbox(reader.deliver, 2, on_full=lambda: full.append(True), name="test")
    results = [outbox.offer(i) for i in range(6)]
    assert results == [True, True, False, False, False, False]
    assert full == [True]
    await outbox.stop()


async def test_the_bound_counts_the_items_waiting_behind_the_one_in_delivery() -> None:
    reader = Reader()
    reader.reading.clear()
    full: list[bool] = []
    outbox = Outbox(reader.deliver, 2, on_full=lambda: full.append(True), name="test")
    outbox.offer(0)
    await asyncio.sleep(0)  # 0 is in delivery, stuck on the reader
    assert [outbox.offer(i) for i in (1, 2, 3)] == [True, True, False]
    assert full == [True]
    reader.reading.set()
    await eventually(lambda: reader.got == [0, 1, 2], "what was accepted is still delivered")
    assert not outbox.offer(4)
    await outbox.stop()


async def test_a_reader_that_catches_up_makes_room_again() -> None:
    reader = Reader()
    reader.reading.clear()
    full: list[bool] = []
    outbox = Outbox(reader.deliver, 2, on_full=lambda: full.append(True), name="test")
    assert [outbox.offer(1), outbox.offer(2)] == [True, True]
    reader.reading.set()
    await eventually(lambda: reader.got == [1, 2], "the backlog delivered")
    assert [outbox.offer(3), outbox.offer(4)] == [True, True]
    await eventually(lambda: reader.got == [1, 2, 3, 4], "later items delivered")
    assert full == []
    await outbox.stop()


async def test_a_reader_that_went_away_ends_the_task_quietly_and_refuses_more() -> None:
    async def deliver(item: int) -> None:
        raise ConnectionResetError("gone")

    full: list[bool] = []
    outbox = Outbox(deliver, 2, on_full=lambda: full.append(True), name="test")
    outbox.offer(1)
    task = outbox._task
    assert task is not None
    await asyncio.wait_for(task, 2)
    assert not outbox.offer(2)
    assert full == []
    await outbox.stop()


async def test_a_stopped_outbox_delivers_nothing_more() -> None:
    reader = Reader()
    reader.reading.clear()
    outbox = Outbox(reader.deliver, 8, on_full=lambda: None, name="test")
    outbox.offer(1)
    await outbox.stop()
    assert not outbox.offer(2)
    assert outbox._task is None or outbox._task.done()
    reader.reading.set()
    await asyncio.sleep(0.05)
    assert reader.got == []
