"""Which devices hold a stream, fleet-wide: this instance's part, kept fresh in the engine.

Each instance declares its connected devices with a deadline and refreshes them well before it
passes, so the devices of an instance that dies stop counting as connected within PRESENCE_TTL.
Changes are announced to every instance for live operator views.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection

from . import tasks
from .engine.base import DevicePresence, Engine
from .errors import PushError
from .hub import Hub
from .ids import new_id
from .models import Device

log = logging.getLogger("push_service.presence")

PRESENCE_TTL = 90.0
REFRESH_EVERY = 30.0


class Presence:
    def __init__(self, engine: Engine, hub: Hub, clock: Callable[[], float]) -> None:
        self.instance_id = new_id("inst")
        self._engine = engine
        self._hub = hub
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def online(self, device: Device) -> None:
        until = self._clock() + PRESENCE_TTL
        await self._engine.present(self.instance_id, [device.device_id], until)
        await self._engine.announce(DevicePresence(device.device_id, device.user_id, True))

    async def offline(self, device: Device) -> None:
        """Called after a stream closed; the device may still hold others here."""
        if self._hub.connected(device.device_id):
            return
        await self._engine.absent(self.instance_id, device.device_id)
        await self._engine.announce(DevicePresence(device.device_id, device.user_id, False))

    async def connected(self, device_ids: Collection[str]) -> set[str]:
        return await self._engine.connected(device_ids, self._clock())

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="presence")

    async def close(self) -> None:
        await tasks.stop(self._task)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_EVERY)
            try:
                until = self._clock() + PRESENCE_TTL
                await self._engine.present(self.instance_id, self._hub.device_ids(), until)
            except PushError as exc:
                log.warning("presence not refreshed: %s", exc.message)
