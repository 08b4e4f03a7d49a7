"""The hub: which streams each user and device holds, and fan-out to them without waiting."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from push_service import frames
from push_service.hub import Hub
from push_service.models import Device, Status
from push_service.stream import Connection, FrameBudget
from tests.core.helpers import make_challenge, make_device
from tests.phone import Phone


@dataclass(eq=False)
class Outlet:
    device: Device
    shown: set[str] = field(default_factory=set)
    frames: list[str] = field(default_factory=list)
    closed_with: list[int] = field(default_factory=list)

    def offer(self, frame: str) -> bool:
        self.frames.append(frame)
        return True

    def close_soon(self, code: int, reason: str) -> None:
        self.closed_with.append(code)


def device(user_id: str = "alice", device_id: str = "dev_1") -> Device:
    return make_device(Phone(user_id=user_id, device_id=device_id))


def test_every_stream_of_a_user_is_shown_a_new_challenge_once() -> None:
    hub = Hub()
    phone, phone_again, tablet = Outlet(device()), Outlet(device()), Outlet(device(device_id="t"))
    for outlet in (phone, phone_again, tablet):
        hub.add(outlet)
    challenge = make_challenge()
    hub.created(challenge)
    hub.created(challenge)
    assert [len(o.frames) for o in (phone, phone_again, tablet)] == [1, 1, 1]
    assert hub.streams_of("dev_1") == 2
    assert hub.count() == 3
    assert sorted(hub.device_ids()) == ["dev_1", "t"]


def test_removing_streams_forgets_a_device_only_with_its_last_one() -> None:
    hub = Hub()
    first, second = Outlet(device()), Outlet(device())
    hub.add(first)
    hub.add(second)
    hub.remove(first)
    assert hub.connected("dev_1")
    assert hub.outlets() == [second]
    hub.created(make_challenge())
    assert (first.frames, len(second.frames)) == ([], 1)
    hub.remove(second)
    hub.remove(second)  # a stream ends once, but removing twice must not fail
    assert not hub.connected("dev_1")
    assert hub.count() == 0
    hub.created(make_challenge())
    assert len(second.frames) == 1


def test_an_ended_challenge_is_resolved_on_the_other_streams_that_showed_it() -> None:
    hub = Hub()
    phone, tablet = Outlet(device()), Outlet(device(device_id="t"))
    hub.add(phone)
    hub.add(tablet)
    challenge = make_challenge()
    hub.created(challenge)
    hub.ended(dataclasses.replace(challenge, status=Status.APPROVED, device_id="dev_1"))
    assert len(phone.frames) == 1
    assert tablet.frames[-1] == frames.resolved(challenge.challenge_id, "approved")
    assert phone.shown == tablet.shown == set()


def test_revocation_closes_every_stream_of_that_device_only() -> None:
    hub = Hub()
    first, second, other = Outlet(device()), Outlet(device()), Outlet(device(device_id="t"))
    for outlet in (first, second, other):
        hub.add(outlet)
    hub.revoked("dev_1")
    assert first.closed_with == second.closed_with == [frames.CLOSE_REVOKED]
    assert other.closed_with == []


class StuckSocket:
    """A websocket whose phone stopped reading: every send waits forever."""

    def __init__(self) -> None:
        self.closed = False
        self.close_codes: list[int] = []

    async def send_str(self, data: str) -> None:
        await asyncio.Event().wait()

    async def close(self, *, code: int, message: bytes) -> None:
        self.closed = True
        self.close_codes.append(code)


async def test_a_phone_too_slow_for_the_fan_out_is_closed_4408_and_never_awaited() -> None:
    hub = Hub()
    ws: Any = StuckSocket()
    connection = Connection(ws, device(), 4, FrameBudget(1.0, 1))
    hub.add(connection)
    for number in range(7):  # one in delivery, four waiting, then one too many
        hub.created(make_challenge(challenge_id=f"ch_{number}"))
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert ws.close_codes == [frames.CLOSE_SLOW]
    hub.remove(connection)
    await connection.stop()
