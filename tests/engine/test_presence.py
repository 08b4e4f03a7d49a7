"""Presence: devices declared connected to an instance until a time, and events the service
announces itself."""

from __future__ import annotations

from push_service.engine.base import DevicePresence, Engine
from tests.engine.conftest import Recorder
from tests.engine.records import T0


async def test_declared_devices_are_connected_until_their_time(engine: Engine) -> None:
    await engine.present("instance-1", ["dev_a", "dev_b"], T0 + 30)
    assert await engine.connected(["dev_a", "dev_b", "dev_c"], T0) == {"dev_a", "dev_b"}
    assert await engine.connected(["dev_a", "dev_b"], T0 + 29.9) == {"dev_a", "dev_b"}
    assert await engine.connected(["dev_a", "dev_b"], T0 + 30) == set()


async def test_refreshing_extends_the_time(engine: Engine) -> None:
    await engine.present("instance-1", ["dev_a"], T0 + 30)
    await engine.present("instance-1", ["dev_a"], T0 + 60)
    assert await engine.connected(["dev_a"], T0 + 45) == {"dev_a"}


async def test_an_absent_device_is_no_longer_connected(engine: Engine) -> None:
    await engine.present("instance-1", ["dev_a", "dev_b"], T0 + 30)
    await engine.absent("instance-1", "dev_a")
    assert await engine.connected(["dev_a", "dev_b"], T0) == {"dev_b"}


async def test_a_device_stays_connected_while_any_instance_holds_it(engine: Engine) -> None:
    await engine.present("instance-1", ["dev_a"], T0 + 30)
    await engine.present("instance-2", ["dev_a"], T0 + 60)
    await engine.absent("instance-1", "dev_a")
    assert await engine.connected(["dev_a"], T0 + 45) == {"dev_a"}
    await engine.absent("instance-2", "dev_a")
    assert await engine.connected(["dev_a"], T0) == set()


async def test_nothing_asked_nothing_connected(engine: Engine) -> None:
    await engine.present("instance-1", [], T0 + 30)
    assert await engine.connected([], T0) == set()


async def test_announced_events_reach_the_listener(engine: Engine, events: Recorder) -> None:
    online = DevicePresence("dev_a", "alice", online=True)
    await engine.announce(online)
    assert await events.wait_for(DevicePresence) == [online]
