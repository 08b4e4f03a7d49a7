"""A task that is calling the engine stops when it is cancelled, whenever that happens.

The service relies on it to stop its background loops; a cancellation lost inside a store call
leaves such a loop running forever (and the shutdown that awaits it hanging).
"""

from __future__ import annotations

import asyncio
import random

import pytest

from push_service.engine.base import Engine
from push_service.errors import PushError
from tests.engine.records import T0

pytestmark = pytest.mark.usefixtures("with_devices")

ATTEMPTS = 200


async def busy(engine: Engine) -> None:
    while True:
        await asyncio.sleep(0)
        try:
            await engine.due(T0, limit=100)
            await engine.get_challenge("ch_unknown")
            await engine.use_jti("dev_a", "jti", T0 + 60, T0)
        except PushError:
            pass


async def test_a_task_using_the_engine_stops_when_cancelled(engine: Engine) -> None:
    chance = random.Random(7)
    for _ in range(ATTEMPTS):
        task = asyncio.create_task(busy(engine))
        await asyncio.sleep(chance.random() * 0.002)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=1)
        assert done, "the cancellation was lost inside an engine call"
        assert task.cancelled()
