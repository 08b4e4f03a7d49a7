"""Losing instances: one killed outright, one stopped gracefully, all of them restarted.

Phones behind the load balancer move to the instances left, get every pending challenge again,
and their answers count exactly once.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from client_sdk import DeviceChallenge, DeviceClient, PushApprovalError
from client_sdk.events import ChallengeEvent, Disconnected, Ready, Result, StreamError
from tests.fleet.conftest import Scene
from tests.fleet.support import WAIT, SdkPhone, eventually, one_audited_end_each
from tests.redis_server import free_port

MOVE_WITHIN = 5.0
"""How long a phone may take to be streaming from another instance after losing its own."""


def shown(challenge_id: str) -> Callable[[ChallengeEvent], bool]:
    return lambda event: event.challenge.challenge_id == challenge_id


def about(challenge_id: str) -> Callable[[Result], bool]:
    return lambda event: event.challenge_id == challenge_id


@pytest.mark.timeout(90)
async def test_phones_of_a_killed_instance_move_and_no_decision_is_lost_or_applied_twice(
    scene: Scene,
) -> None:
    ports = [free_port() for _ in range(3)]
    proxy = await scene.proxy(ports)
    fleet = await scene.fleet(scene.redis(), 3, public_url=proxy.url, ports=ports)
    direct = [scene.endpoint(url) for url in fleet.urls]
    app = await direct[0].new_app()
    # SDK phones enroll with the URI the service made: their base URL is the load balancer.
    clients = [
        await scene.device_client((await direct[0].enrollment("gina", app))["uri"], f"sdk-{n}")
        for n in range(3)
    ]
    raw_phone = await direct[1].enroll("gina", app)
    # Connected one after the other, round robin: the raw phone's instance gets an SDK phone.
    raw = await scene.link(proxy.url, raw_phone)
    phones = []
    for client in clients:
        phones.append(scene.stream(client))
        await phones[-1].next_of(Ready)
    victim = proxy.backend_of(raw.local_port)
    assert victim is not None
    movers_expected = proxy.live()[victim] - 1
    assert movers_expected >= 1, proxy.live()
    survivor = direct[(victim + 1) % 3]

    before = await survivor.challenge(app, "gina")
    c1 = before["challenge_id"]
    await raw.challenge(c1)
    for phone in phones:
        await phone.next_of(ChallengeEvent, shown(c1))

    killed = time.monotonic()
    await fleet[victim].kill()
    during = await survivor.challenge(app, "gina")
    c2 = during["challenge_id"]

    # The raw phone notices the drop and connects again through the load balancer.
    await raw.closed_with(within=MOVE_WITHIN)
    moved_raw = await scene.link(proxy.url, raw_phone)
    assert proxy.backend_of(moved_raw.local_port) != victim
    raw_c1 = await moved_raw.challenge(c1)
    await moved_raw.challenge(c2)
    # The SDK phones that were on the victim reconnect by themselves; all of them get c2.

    def lost_their_instance() -> list[SdkPhone]:
        gone = [phone for phone in phones if phone.of(Disconnected)]
        return gone if len(gone) >= movers_expected else []

    movers: list[SdkPhone] = await eventually(
        lost_their_instance, f"{movers_expected} SDK phone(s) to lose their instance"
    )
    assert len(movers) == movers_expected
    for phone in phones:
        await phone.next_of(ChallengeEvent, shown(c2), within=MOVE_WITHIN)
    for phone in movers:
        await phone.next_of(Ready, lambda e: e.reconnected, within=MOVE_WITHIN)
    moved_in = time.monotonic() - killed
    assert moved_in < MOVE_WITHIN, f"phones took {moved_in:.2f} s to move"
    assert all(phone.stream.connected for phone in phones)

    # c1: the moved SDK phone and the raw phone approve at once, through different instances.
    mover = movers[0]
    sdk_c1 = (await mover.next_of(ChallengeEvent, shown(c1))).challenge
    await asyncio.gather(
        mover.stream.send_response(sdk_c1, "approve", number=before["match_number"]),
        moved_raw.send_response(raw_c1, "approve", number=before["match_number"]),
    )
    raw_said = _said(await moved_raw.outcome(c1))
    sdk_outcome = await eventually(
        lambda: [e for e in mover.of(Result) + mover.of(StreamError) if e.challenge_id == c1],
        "the SDK phone's answer to c1",
    )
    sdk_said = [e.status if isinstance(e, Result) else e.code for e in sdk_outcome]
    assert sorted([raw_said, *sdk_said]) == ["approved", "challenge_not_pending"]
    c1_winner = raw_phone.device_id if raw_said == "approved" else mover.client.device_id

    # c2: an SDK phone that never moved approves over HTTP, the raw phone denies on its stream.
    stayer = next(p for p in phones if p is not mover)
    sdk_c2 = (await stayer.next_of(ChallengeEvent, shown(c2))).challenge
    raw_c2 = await moved_raw.challenge(c2)
    http_answer, _ = await asyncio.gather(
        _http_answer(stayer.client, sdk_c2, during["match_number"]),
        moved_raw.send_response(raw_c2, "deny"),
    )
    raw_c2_said = _said(await moved_raw.outcome(c2))
    assert sorted([http_answer, raw_c2_said]) in (
        ["approved", "challenge_not_pending"],
        ["challenge_not_pending", "denied"],
    )
    c2_status = "approved" if http_answer == "approved" else "denied"
    c2_winner = stayer.client.device_id if http_answer == "approved" else raw_phone.device_id

    final = {cid: await survivor.get(app, cid) for cid in (c1, c2)}
    assert (final[c1]["status"], final[c1]["device_id"]) == ("approved", c1_winner)
    assert (final[c2]["status"], final[c2]["device_id"]) == (c2_status, c2_winner)
    await one_audited_end_each(
        survivor, "gina", {cid: challenge["status"] for cid, challenge in final.items()}
    )


def _said(frame: dict[str, Any]) -> str:
    """What a raw phone was told of its answer: the status it produced, or the refusal's code."""
    said: str = frame["status"] if frame["type"] == "result" else frame["code"]
    return said


async def _http_answer(client: DeviceClient, challenge: DeviceChallenge, number: str) -> str:
    """The status an HTTP answer produced, or the error code that refused it."""
    try:
        result = await client.approve(challenge, number)
    except PushApprovalError as exc:
        return exc.code
    return result.status


async def test_instances_are_ready_and_one_stopped_with_sigterm_sends_its_phones_away_with_1001(
    scene: Scene,
) -> None:
    redis = scene.redis()
    fleet = await scene.fleet(redis, 2)
    one, two = (scene.endpoint(url) for url in fleet.urls)
    for endpoint in (one, two):
        assert await endpoint.ok("GET", "/readyz") == {"status": "ready"}
    app = await one.new_app()
    phone = await one.enroll("hal", app)
    link = await scene.link(one.url, phone)
    made = await two.challenge(app, "hal")
    await link.challenge(made["challenge_id"])

    fleet[0].signal(signal.SIGTERM)
    assert await link.closed_with(within=WAIT) == 1001
    assert await fleet[0].exited(within=10.0) == 0, fleet[0].log_tail()

    # The phone moves to the other instance and finds the challenge still pending there.
    moved = await scene.link(two.url, phone)
    view = await moved.challenge(made["challenge_id"])
    await moved.send_response(view, "approve", number=made["match_number"])
    assert (await moved.outcome(made["challenge_id"]))["status"] == "approved"


@pytest.mark.timeout(90)
async def test_after_every_instance_restarts_phones_reauthenticate_and_the_app_key_still_works(
    scene: Scene,
) -> None:
    ports = [free_port() for _ in range(2)]
    proxy = await scene.proxy(ports)
    fleet = await scene.fleet(scene.redis(), 2, public_url=proxy.url, ports=ports)
    first = scene.endpoint(fleet.urls[0])
    app = await first.new_app()
    client = await scene.device_client((await first.enrollment("ike", app))["uri"], "sdk")
    sdk = scene.stream(client)
    await sdk.next_of(Ready)
    raw_phone = await first.enroll("ike", app)
    raw = await scene.link(proxy.url, raw_phone)
    before = await first.challenge(app, "ike")
    c1 = before["challenge_id"]
    sdk_c1 = (await sdk.next_of(ChallengeEvent, shown(c1))).challenge
    await raw.challenge(c1)

    assert await fleet.terminate_all() == [0, 0], fleet.logs()
    assert await raw.closed_with() == 1001
    await sdk.next_of(Disconnected)
    await fleet.start(scene.session)  # New processes, same ports, same Redis.
    restarted = time.monotonic()

    await sdk.next_of(Ready, lambda e: e.reconnected, within=MOVE_WITHIN)
    moved_in = time.monotonic() - restarted
    assert moved_in < MOVE_WITHIN, f"the SDK phone took {moved_in:.2f} s to reconnect"
    again = await scene.link(proxy.url, raw_phone)
    await again.challenge(c1)

    # The app's key still works on the new instances, and their fan-out reaches the phones.
    through_lb = scene.endpoint(proxy.url)
    assert (await through_lb.get(app, c1))["status"] == "pending"
    after = await through_lb.challenge(app, "ike")
    c2 = after["challenge_id"]
    await sdk.next_of(ChallengeEvent, shown(c2))
    await again.challenge(c2)

    # The SDK phone answers c1, shown before the restart, over its new connection.
    await sdk.stream.send_response(sdk_c1, "approve", number=before["match_number"])
    result = await sdk.next_of(Result, about(c1))
    assert result.status == "approved"
    resolved = await again.next_of("resolved", c1)
    assert resolved["status"] == "approved"
    assert (await through_lb.get(app, c1))["device_id"] == client.device_id
