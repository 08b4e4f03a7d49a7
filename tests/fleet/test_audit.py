"""One audit trail for the fleet: every instance's events, read back through any instance."""

from __future__ import annotations

import asyncio

from tests.fleet.conftest import Scene
from tests.fleet.support import SETTLE


async def test_the_audit_trail_read_through_any_instance_holds_the_events_of_every_instance(
    scene: Scene,
) -> None:
    fleet = await scene.fleet(scene.redis(), 3)
    endpoints = [scene.endpoint(url) for url in fleet.urls]
    made: list[str] = []
    # Events recorded in turn on each instance, close together, as under real traffic.
    for _ in range(6):
        for endpoint in endpoints:
            made.append((await endpoint.enrollment("ivy"))["enrollment_id"])
    await asyncio.sleep(SETTLE)  # Every instance has written its batch by now.

    for endpoint in endpoints:
        events = await endpoint.audit(kind="enrollment.created", user_id="ivy")
        seen = [event["detail"]["enrollment_id"] for event in events]
        missing = sorted(set(made) - set(seen))
        assert not missing, f"read through {endpoint.url}, {len(missing)} of {len(made)} missing"
        assert len(seen) == len(made)
