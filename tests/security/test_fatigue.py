"""Push bombing and fatigue: pending and rate caps, strikes, fraud locks, the strict profile."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import ADMIN, World, make_settings
from tests.security.helpers import (
    HOOK,
    audit,
    before,
    connect,
    deliveries,
    error_of,
    frames_until_quiet,
    next_frame,
    service_of,
    stage,
    standing,
    unchanged,
)


async def _push(world: World, app: dict[str, Any], user: str = "alice", **body: Any) -> Any:
    return await world.client.post(
        "/v1/challenges",
        json={"user_id": user, "callback_url": HOOK, **body},
        headers=app["headers"],
    )


async def _refusals(world: World) -> list[str]:
    return [e["detail"]["reason"] for e in await audit(world, kind="challenge.refused")]


async def _deny(world: World, app: dict[str, Any], phone: Any, **extra: Any) -> None:
    scene = await stage(world, app=app, phone=phone)
    answer = await scene.answer(phone.response(scene.view, "deny", **extra))
    assert answer.status == 200, await answer.text()


async def _mistype(world: World, app: dict[str, Any], phone: Any) -> None:
    scene = await stage(world, app=app, phone=phone)
    digits = len(scene.challenge["match_number"])
    wrong = f"{(int(scene.challenge['match_number']) + 1) % 10**digits:0{digits}d}"
    answer = await scene.answer(phone.response(scene.view, number=wrong))
    assert (await answer.json())["status"] == "denied"


async def test_push_bombing_fourth_pending_push_is_refused_too_many_pending(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    ws = await connect(world, phone)
    shown = [(await stage(world, app=app, phone=phone)).cid for _ in range(3)]
    was = await before(world)
    assert was.standing["pushes_since_approval"] == 3
    assert await error_of(await _push(world, app)) == (429, "too_many_pending")
    await unchanged(world, was)
    frames, closed = await frames_until_quiet(ws, quiet=0.3)
    assert closed is None
    assert [f["challenge"]["challenge_id"] for f in frames if f["type"] == "challenge"] == shown
    assert await _refusals(world) == ["too_many_pending"]
    await ws.close()


@pytest.mark.parametrize("settings", [make_settings(PUSH_RATE_LIMIT="2", PUSH_MAX_PENDING="10")])
async def test_push_bombing_beyond_the_rate_window_is_refused_with_retry_after(
    world: World,
) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    for _ in range(2):
        pushed = await _push(world, app)
        cancelled = await world.client.delete(
            f"/v1/challenges/{(await pushed.json())['challenge_id']}", headers=app["headers"]
        )
        assert cancelled.status == 200
    was = await before(world)
    refused = await _push(world, app)
    assert await error_of(refused) == (429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    await unchanged(world, was)
    assert await _refusals(world) == ["rate_limited"]
    service_of(world).clock = lambda: time.time() + 601
    assert (await _push(world, app)).status == 201


async def test_fraud_report_locks_the_user_until_the_operator_lifts_it(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    await world.enroll("bob", app)
    await _deny(world, app, phone, fraud=True)
    was = await before(world)
    assert (was.standing["locked"], was.standing["strikes"]) == (True, 1)
    refused = await _push(world, app)
    assert await error_of(refused) == (429, "rate_limited")
    assert 890 <= int(refused.headers["Retry-After"]) <= 900
    not_lifted = await world.client.post("/v1/admin/users/alice/reset", headers=app["headers"])
    assert await error_of(not_lifted) == (401, "unauthorized")
    await unchanged(world, was)
    assert (await _push(world, app, "bob")).status == 201
    lifted = await world.client.post("/v1/admin/users/alice/reset", headers=ADMIN)
    assert (await lifted.json())["locked"] is False
    [reset] = await audit(world, kind="user.reset")
    assert (reset["user_id"], reset["actor"]) == ("alice", "operator")
    assert (await _push(world, app)).status == 201


@pytest.mark.parametrize("settings", [make_settings(PUSH_MAX_STRIKES="2")])
async def test_denials_in_a_row_past_max_strikes_refuse_until_an_operator_reset(
    world: World,
) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    await _deny(world, app, phone)
    await _mistype(world, app, phone)
    was = await before(world)
    assert was.standing["strikes"] == 2
    refused = await _push(world, app)
    assert await error_of(refused) == (429, "rate_limited")
    # Time does not lift a strike lock-out (an approval or an operator does): no Retry-After.
    assert "Retry-After" not in refused.headers
    await unchanged(world, was)
    assert await _refusals(world) == ["rate_limited"]
    assert (await world.client.post("/v1/admin/users/alice/reset", headers=ADMIN)).status == 200
    assert (await _push(world, app)).status == 201


@pytest.mark.parametrize("settings", [make_settings(PUSH_MAX_STRIKES="2")])
async def test_an_approval_clears_the_strikes_even_at_the_limit(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    first, second, third = [await stage(world, app=app, phone=phone) for _ in range(3)]
    for scene in (first, second):
        assert (await scene.answer(phone.response(scene.view, "deny"))).status == 200
    assert await error_of(await _push(world, app)) == (429, "rate_limited")
    assert (await third.answer(third.approval())).status == 200
    assert (await standing(world))["strikes"] == 0
    assert (await _push(world, app)).status == 201


@pytest.mark.parametrize(
    "settings", [make_settings(PUSH_MAX_UNAPPROVED="2", PUSH_MAX_PENDING="10")]
)
async def test_pushes_that_are_never_approved_are_capped(world: World) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    for _ in range(2):
        pushed = await (await _push(world, app)).json()
        await world.client.delete(
            f"/v1/challenges/{pushed['challenge_id']}", headers=app["headers"]
        )
    was = await before(world)
    assert await error_of(await _push(world, app)) == (429, "rate_limited")
    await unchanged(world, was)


@pytest.mark.parametrize("settings", [make_settings(PUSH_PROFILE="strict")])
async def test_strict_profile_counts_wrong_numbers_across_new_challenges(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    for _ in range(3):
        await _mistype(world, app, phone)
    was = await before(world)
    assert was.standing["strikes"] == 3
    assert await error_of(await _push(world, app)) == (429, "rate_limited")
    await unchanged(world, was)
    assert len(await deliveries(world)) == 3


@pytest.mark.parametrize("settings", [make_settings(PUSH_PROFILE="strict")])
async def test_strict_profile_pushes_one_six_digit_challenge_at_a_time(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    ws = await connect(world, phone)
    scene = await stage(world, app=app, phone=phone)
    assert len(scene.challenge["match_number"]) == 6
    assert (await next_frame(ws))["challenge"]["number_matching"] is True
    was = await before(world)
    assert await error_of(await _push(world, app)) == (429, "too_many_pending")
    await unchanged(world, was, pending=[scene])
    await ws.close()


@pytest.mark.parametrize("settings", [make_settings(PUSH_PROFILE="strict")])
async def test_strict_profile_refuses_a_push_without_number_matching(world: World) -> None:
    """SP 800-63B-4 no longer accepts a push the user only approves: the secret must travel
    from the login screen to the phone. Under the strict profile an app may not turn it off."""
    app = await world.new_app()
    await world.enroll("alice", app)
    was = await before(world)
    response = await _push(world, app, number_matching=False)
    assert await error_of(response) == (400, "invalid_request")
    await unchanged(world, was)
