"""Expiry in a fleet: every instance runs the clock, yet each challenge expires exactly once.

Once means one status change, one `resolved` per phone, one audited end and one callback.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.fleet.conftest import Scene
from tests.fleet.support import SETTLE, one_audited_end_each, one_delivery_each

TTL = 10
"""The shortest TTL the contract allows; the test waits it out (bounded below)."""


@pytest.mark.timeout(90)
async def test_a_challenge_expires_exactly_once_while_three_instances_race_to_expire_it(
    scene: Scene,
) -> None:
    fleet = await scene.fleet(scene.redis(), 3)
    endpoints = [scene.endpoint(url) for url in fleet.urls]
    receiver = await scene.receiver()
    app = await endpoints[0].new_app()
    phones = [await endpoint.enroll("dave", app) for endpoint in endpoints]
    links = [
        await scene.link(endpoint.url, phone)
        for endpoint, phone in zip(endpoints, phones, strict=True)
    ]
    made = [
        await endpoint.challenge(app, "dave", ttl_seconds=TTL, callback_url=receiver.url())
        for endpoint in endpoints
    ]
    cids = [m["challenge_id"] for m in made]
    for link in links:
        for cid in cids:
            await link.challenge(cid)

    # Held on instance 3 until the last challenge expires: TTL plus a margin, never longer.
    last = await endpoints[2].get(app, cids[-1], wait=TTL + 5)
    assert last["status"] == "expired", last
    for endpoint in endpoints:
        for cid in cids:
            seen = await endpoint.get(app, cid)
            assert seen["status"] == "expired", seen
            assert "device_id" not in seen

    ended = dict.fromkeys(cids, "expired")
    for link in links:
        for cid in cids:
            await link.next_of("resolved", cid)
    await asyncio.sleep(SETTLE)  # Any second expiry would have been announced by now.
    for link in links:
        assert not link.closed
        for cid in cids:
            told = link.of("resolved", cid)
            assert told == [{"type": "resolved", "challenge_id": cid, "status": "expired"}]

    await one_delivery_each(endpoints[1], receiver, ended)
    await one_audited_end_each(endpoints[0], "dave", ended)
