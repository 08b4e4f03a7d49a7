"""The whole flow through the real HTTP server: app asks, phone answers, app learns."""

from __future__ import annotations

import asyncio

from tests.conftest import World


async def test_phone_approval_reaches_the_long_polling_app(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    challenge = await world.challenge(app, context={"ip": "203.0.113.7"})
    assert challenge["status"] == "pending"
    assert len(challenge["match_number"]) == 3
    view = await world.device_view(phone, challenge["challenge_id"])
    assert "match_number" not in view
    assert view["app"]["name"] == "Intranet"

    cid = challenge["challenge_id"]
    poll = asyncio.create_task(
        world.client.get(f"/v1/challenges/{cid}?wait=10", headers=app["headers"])
    )
    await asyncio.sleep(0.05)
    token = phone.response(view, "approve", number=challenge["match_number"])
    answer = await world.client.post(f"/v1/challenges/{cid}/response", json={"token": token})
    assert answer.status == 200
    assert (await answer.json())["status"] == "approved"
    final = await (await poll).json()
    assert final["status"] == "approved"
    assert final["device_id"] == phone.device_id
    assert final["response_token"] == token
    assert "match_number" not in final
