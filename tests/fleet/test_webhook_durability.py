"""A webhook whose receiver is failing survives the death of the instance sending it."""

from __future__ import annotations

import signal

import pytest

from tests.fleet.conftest import Scene
from tests.fleet.support import eventually


@pytest.mark.timeout(90)
async def test_a_failing_delivery_still_arrives_after_its_instance_is_killed_and_restarted(
    scene: Scene,
) -> None:
    redis = scene.redis()
    fleet = await scene.fleet(redis, 1)
    endpoint = scene.endpoint(fleet.urls[0])
    receiver = await scene.receiver()
    receiver.script("/hook", 503)
    app = await endpoint.new_app()
    await endpoint.enroll("erin", app)
    made = await endpoint.challenge(app, "erin", callback_url=receiver.url())
    await endpoint.ok("DELETE", f"/v1/challenges/{made['challenge_id']}", token=app["api_key"])
    await eventually(lambda: len(receiver.at()) >= 2, "two failed attempts")

    instance = fleet[0]
    instance.signal(signal.SIGKILL)
    assert await instance.exited(10) is not None
    receiver.script("/hook", 200)
    instance.launch()
    await instance.wait_healthy(scene.session)

    async def delivered() -> bool:
        deliveries = await endpoint.deliveries()
        return any(d["state"] == "delivered" for d in deliveries)

    await eventually(delivered, "the delivery after the restart", within=40)
    hits = receiver.at()
    assert len({h.headers["webhook-id"] for h in hits}) == 1, "every attempt is the same event"
    (delivery,) = await endpoint.deliveries()
    assert delivery["challenge_id"] == made["challenge_id"]
    assert delivery["type"] == "challenge.cancelled"
