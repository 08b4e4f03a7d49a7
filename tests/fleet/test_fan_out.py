"""Three instances on one Redis act as one service: pushes and answers cross instances.

Covered: a push made on one instance reaching a phone on another, its answer ending a long-poll
on a third, two phones racing on different instances, and who is connected, seen from anywhere.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.fleet.conftest import Scene
from tests.fleet.support import (
    SETTLE,
    Endpoint,
    PhoneLink,
    eventually,
    one_audited_end_each,
    one_delivery_each,
)

OUTCOME = {"approve": "approved", "deny": "denied"}


async def test_a_push_crosses_instances_and_its_answer_ends_a_long_poll_held_on_a_third(
    scene: Scene,
) -> None:
    fleet = await scene.fleet(scene.redis(), 3)
    one, two, three = (scene.endpoint(url) for url in fleet.urls)
    app = await one.new_app("Intranet")
    phone = await three.enroll("alice", app)
    link = await scene.link(one.url, phone)

    sent = time.monotonic()
    made = await two.challenge(app, "alice", context={"action": "Sign in"})
    cid = made["challenge_id"]
    view = await link.challenge(cid, within=2.0)
    pushed_in = time.monotonic() - sent
    assert pushed_in < 2.0, f"the push took {pushed_in:.2f} s"
    assert view["app"] == {"app_id": app["app_id"], "name": "Intranet"}
    assert "match_number" not in view

    poll = asyncio.create_task(three.get(app, cid, wait=30))
    await asyncio.sleep(0.5)
    assert not poll.done(), "the long-poll on instance 3 should still be held"
    answered = time.monotonic()
    # The number instance 2 showed the app is the one instance 1 checks: the match key is shared.
    await link.send_response(view, "approve", number=made["match_number"])
    result = await link.next_of("result", cid)
    assert result == {"type": "result", "challenge_id": cid, "status": "approved"}
    ended = await asyncio.wait_for(poll, 5.0)
    released_in = time.monotonic() - answered
    assert ended["status"] == "approved"
    assert ended["device_id"] == phone.device_id
    assert released_in < 2.0, f"the long-poll returned {released_in:.2f} s after the answer"
    assert link.of("resolved", cid) == [], "the answering phone is not told 'resolved'"


async def test_the_first_answer_wins_when_two_phones_answer_at_once_on_different_instances(
    scene: Scene,
) -> None:
    fleet = await scene.fleet(scene.redis(), 3)
    one, two, three = (scene.endpoint(url) for url in fleet.urls)
    receiver = await scene.receiver()
    app = await one.new_app()
    left, right = await one.enroll("bob", app), await two.enroll("bob", app)
    links = [await scene.link(one.url, left), await scene.link(two.url, right)]

    ended: dict[str, str] = {}
    for round_ in range(3):
        made = await three.challenge(app, "bob", callback_url=receiver.url())
        cid = made["challenge_id"]
        views = [await link.challenge(cid) for link in links]
        # One approves, the other denies, swapped each round; both frames leave together.
        decisions = ["approve", "deny"] if round_ % 2 == 0 else ["deny", "approve"]
        await asyncio.gather(
            *(
                link.send_response(view, decision, number=made["match_number"])
                for link, view, decision in zip(links, views, decisions, strict=True)
            )
        )
        for link in links:
            await link.outcome(cid)
        winners = [
            (link, decision)
            for link, decision in zip(links, decisions, strict=True)
            if link.of("result", cid)
        ]
        assert len(winners) == 1, [link.about(cid) for link in links]
        winner, decision = winners[0]
        loser = links[1 - links.index(winner)]
        assert winner.of("result", cid) == [
            {"type": "result", "challenge_id": cid, "status": OUTCOME[decision]}
        ]
        refusals = loser.of("error", cid)
        assert [f["code"] for f in refusals] == ["challenge_not_pending"], loser.about(cid)
        final = await one.get(app, cid)
        assert final["status"] == OUTCOME[decision]
        assert final["device_id"] == winner.phone.device_id
        ended[cid] = OUTCOME[decision]

    await asyncio.sleep(SETTLE)  # Late duplicates, if any, arrive by now.
    for link in links:
        for cid, status in ended.items():
            told = link.of("resolved", cid)
            if link.of("result", cid):
                assert told == [], link.about(cid)
            else:
                assert told == [{"type": "resolved", "challenge_id": cid, "status": status}]

    await one_delivery_each(two, receiver, ended)
    await one_audited_end_each(three, "bob", ended)


async def test_an_operator_on_one_instance_sees_a_device_streaming_on_another_as_connected(
    scene: Scene,
) -> None:
    fleet = await scene.fleet(scene.redis(), 2)
    one, two = (scene.endpoint(url) for url in fleet.urls)
    app = await one.new_app()
    streaming, idle = await one.enroll("carol", app), await two.enroll("carol", app)
    link: PhoneLink = await scene.link(two.url, streaming)

    for endpoint in (one, two):
        devices = await eventually(
            lambda endpoint=endpoint: _connected(endpoint, "carol", streaming.device_id),
            f"{streaming.device_id} connected, seen from {endpoint.url}",
        )
        assert devices[idle.device_id]["connected"] is False

    await link.close()
    await eventually(
        lambda: _disconnected(one, "carol", streaming.device_id),
        "the device shown as no longer connected once its stream closed",
    )


async def _connected(endpoint: Endpoint, user_id: str, device_id: str) -> Any:
    devices = await endpoint.devices(user_id)
    return devices if devices[device_id]["connected"] is True else None


async def _disconnected(endpoint: Endpoint, user_id: str, device_id: str) -> bool:
    devices = await endpoint.devices(user_id)
    return devices[device_id]["connected"] is False
