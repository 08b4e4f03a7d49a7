"""Push-fatigue defences through the API, and the audit trail they and every flow leave."""

from __future__ import annotations

import json
from typing import Any

import pytest

from push_service.config import Settings
from tests.conftest import ADMIN, World, make_settings


async def _deny(world: World, app: dict[str, Any], phone: Any, **extra: Any) -> dict[str, Any]:
    challenge = await world.challenge(app)
    view = await world.device_view(phone, challenge["challenge_id"])
    token = phone.response(view, "deny", **extra)
    response = await world.client.post(
        f"/v1/challenges/{challenge['challenge_id']}/response", json={"token": token}
    )
    assert response.status == 200
    return challenge


async def _refusal(world: World, app: dict[str, Any]) -> Any:
    return await world.client.post(
        "/v1/challenges", json={"user_id": "alice"}, headers=app["headers"]
    )


async def test_fraud_report_locks_the_user_until_an_operator_lifts_it(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    await _deny(world, app, phone, fraud=True)
    refused = await _refusal(world, app)
    assert refused.status == 429
    assert (await refused.json())["error"]["code"] == "rate_limited"
    assert 890 <= int(refused.headers["Retry-After"]) <= 900
    standing = await (await world.client.get("/v1/admin/users/alice", headers=ADMIN)).json()
    assert standing["locked"] is True
    assert standing["strikes"] == 1
    lifted = await world.client.post("/v1/admin/users/alice/reset", headers=ADMIN)
    assert (await lifted.json())["locked"] is False
    await world.challenge(app)


@pytest.mark.parametrize("settings", [make_settings(PUSH_MAX_STRIKES="2")])
async def test_denials_in_a_row_are_counted_across_challenges(
    world: World, settings: Settings
) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    await _deny(world, app, phone)
    await _deny(world, app, phone)
    refused = await _refusal(world, app)
    assert (await refused.json())["error"]["code"] == "rate_limited"


@pytest.mark.parametrize("settings", [make_settings(PUSH_MAX_STRIKES="2")])
async def test_an_approval_clears_the_strikes(world: World, settings: Settings) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    await _deny(world, app, phone)
    challenge = await world.challenge(app)
    view = await world.device_view(phone, challenge["challenge_id"])
    token = phone.response(view, number=challenge["match_number"])
    await world.client.post(
        f"/v1/challenges/{view['challenge_id']}/response", json={"token": token}
    )
    await _deny(world, app, phone)
    await world.challenge(app)


@pytest.mark.parametrize(
    "settings", [make_settings(PUSH_MAX_UNAPPROVED="2", PUSH_MAX_PENDING="10")]
)
async def test_pushes_since_the_last_approval_are_capped(world: World, settings: Settings) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    await world.challenge(app)
    await world.challenge(app)
    refused = await _refusal(world, app)
    assert (await refused.json())["error"]["code"] == "rate_limited"


@pytest.mark.parametrize("settings", [make_settings(PUSH_PROFILE="strict")])
async def test_strict_profile_uses_six_digit_numbers_and_one_pending_push(
    world: World, settings: Settings
) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    challenge = await world.challenge(app)
    assert len(challenge["match_number"]) == 6
    refused = await _refusal(world, app)
    assert (await refused.json())["error"]["code"] == "too_many_pending"


async def _audit(world: World, **query: str) -> list[dict[str, Any]]:
    response = await world.client.get("/v1/admin/audit", params=query, headers=ADMIN)
    assert response.status == 200
    events: list[dict[str, Any]] = (await response.json())["events"]
    return events


async def test_a_flow_leaves_its_events_and_no_secret_in_the_audit_trail(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    challenge = await world.challenge(app)
    view = await world.device_view(phone, challenge["challenge_id"])
    token = phone.response(view, number=challenge["match_number"])
    await world.client.post(
        f"/v1/challenges/{view['challenge_id']}/response", json={"token": token}
    )
    await world.client.get("/v1/devices/me/challenges", headers={"Authorization": "Bearer x.y.z"})
    events = await _audit(world)
    kinds = [e["kind"] for e in reversed(events)]
    assert kinds[:4] == [
        "app.created",
        "enrollment.created",
        "device.enrolled",
        "challenge.created",
    ]
    assert "challenge.approved" in kinds
    assert kinds[-1] == "token.refused"
    approved = next(e for e in events if e["kind"] == "challenge.approved")
    assert approved["actor"] == f"device:{phone.device_id}"
    assert approved["source"] == "127.0.0.1"
    dumped = json.dumps(events)
    for secret in (app["api_key"], challenge["match_number"], view["nonce"], token):
        assert f'"{secret}"' not in dumped


async def test_audit_filters_by_kind_prefix_and_user(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    await world.enroll("bob", app)
    await _deny(world, app, phone, fraud=True)
    denied = await _audit(world, kind="challenge.denied")
    assert [e["kind"] for e in denied] == ["challenge.denied.fraud_reported"]
    bobs = await _audit(world, user_id="bob")
    assert {e["kind"] for e in bobs} == {"enrollment.created", "device.enrolled"}


async def test_audit_pages_with_next_before(world: World) -> None:
    for name in ("a", "b", "c"):
        await world.new_app(name)
    first = await world.client.get("/v1/admin/audit", params={"limit": "2"}, headers=ADMIN)
    page = await first.json()
    assert len(page["events"]) == 2
    rest = await _audit(world, before=page["next_before"])
    assert [e["detail"]["name"] for e in rest] == ["a"]
