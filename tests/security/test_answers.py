"""Who may answer or see which challenge: other users and apps, late and crossed answers."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import ADMIN, World
from tests.security.helpers import (
    audit,
    before,
    close_code,
    connect,
    deliveries,
    error_of,
    frames_until_quiet,
    next_frame,
    service_of,
    stage,
    standing,
    token_refusal_recorded,
    unchanged,
)


async def test_device_of_another_user_answering_is_forbidden(world: World) -> None:
    scene = await stage(world)
    mallory = await world.enroll("mallory", scene.app)
    was = await before(world)
    token = mallory.response(scene.view, number=scene.challenge["match_number"])
    assert await error_of(await scene.answer(token)) == (403, "forbidden")
    await unchanged(world, was, pending=[scene])
    assert (await standing(world, "mallory"))["strikes"] == 0


async def test_device_enrolled_for_app_a_answering_app_b_challenge_is_forbidden(
    world: World,
) -> None:
    app_a = await world.new_app("Intranet")
    phone_a = await world.enroll("alice", app_a)
    scene_b = await stage(world, app=await world.new_app("Payroll"))
    was = await before(world)
    token = phone_a.response(scene_b.view, number=scene_b.challenge["match_number"])
    assert await error_of(await scene_b.answer(token)) == (403, "forbidden")
    await unchanged(world, was, pending=[scene_b])
    polled = await world.client.get("/v1/devices/me/challenges", headers=phone_a.bearer())
    assert (await polled.json())["challenges"] == []


async def test_app_scoped_device_is_never_shown_another_apps_challenge(world: World) -> None:
    app_a = await world.new_app("Intranet")
    phone_a = await world.enroll("alice", app_a)
    ws = await connect(world, phone_a)
    scene_b = await stage(world, app=await world.new_app("Payroll"))
    mine = await world.challenge(app_a, "alice")
    frame = await next_frame(ws)
    assert frame["challenge"]["challenge_id"] == mine["challenge_id"]
    rest, _ = await frames_until_quiet(ws, quiet=0.3)
    assert rest == []
    assert scene_b.view["nonce"] not in json.dumps(frame)
    await ws.close()


@pytest.mark.parametrize("query", ["", "?wait=1"])
async def test_app_b_reading_app_a_challenge_is_not_found(world: World, query: str) -> None:
    scene = await stage(world)
    other = await world.new_app("Other")
    was = await before(world)
    response = await world.client.get(
        f"/v1/challenges/{scene.cid}{query}", headers=other["headers"]
    )
    assert await error_of(response) == (404, "not_found")
    await unchanged(world, was, pending=[scene])


async def test_app_b_cancelling_app_a_challenge_is_not_found(world: World) -> None:
    scene = await stage(world)
    other = await world.new_app("Other")
    was = await before(world)
    response = await world.client.delete(f"/v1/challenges/{scene.cid}", headers=other["headers"])
    assert await error_of(response) == (404, "not_found")
    await unchanged(world, was, pending=[scene])


async def test_idempotency_key_reused_by_another_app_returns_nothing_of_the_first(
    world: World,
) -> None:
    app_a, app_b = await world.new_app("A"), await world.new_app("B")
    await world.enroll("alice", app_a)
    await world.enroll("alice", app_b)
    key = {"Idempotency-Key": "login-7"}
    first = await world.client.post(
        "/v1/challenges", json={"user_id": "alice"}, headers={**app_a["headers"], **key}
    )
    second = await world.client.post(
        "/v1/challenges", json={"user_id": "alice"}, headers={**app_b["headers"], **key}
    )
    a, b = await first.json(), await second.json()
    assert (first.status, second.status) == (201, 201)
    assert b["challenge_id"] != a["challenge_id"]
    assert (a["app_id"], b["app_id"]) == (app_a["app_id"], app_b["app_id"])
    listed = await world.client.get("/v1/admin/challenges?status=pending", headers=ADMIN)
    assert len((await listed.json())["challenges"]) == 2


async def test_response_after_the_decision_is_not_pending(world: World) -> None:
    scene = await stage(world)
    tablet = await world.enroll(scene.user, scene.app)
    denial = scene.phone.response(scene.view, "deny")
    assert (await scene.answer(denial)).status == 200
    was = await before(world)
    late = tablet.response(scene.view, number=scene.challenge["match_number"])
    assert await error_of(await scene.answer(late)) == (409, "challenge_not_pending")
    final = await scene.as_app()
    assert (final["status"], final["reason"], final["device_id"]) == (
        "denied",
        "user_denied",
        scene.phone.device_id,
    )
    assert final["response_token"] == denial
    await unchanged(world, was)
    assert [d["type"] for d in await deliveries(world)] == ["challenge.denied"]


async def test_response_after_expiry_is_not_pending(world: World) -> None:
    scene = await stage(world, ttl_seconds=10)
    service_of(world).clock = lambda: time.time() + 11
    ended = await world.client.get(
        f"/v1/challenges/{scene.cid}?wait=3", headers=scene.app["headers"]
    )
    assert (await ended.json())["status"] == "expired"
    was = await before(world)
    token = scene.approval()
    assert await error_of(await scene.answer(token)) == (409, "challenge_not_pending")
    final = await scene.as_app()
    assert final["status"] == "expired"
    assert "device_id" not in final
    assert "response_token" not in final
    await unchanged(world, was)
    assert [d["type"] for d in await deliveries(world)] == ["challenge.expired"]


@pytest.mark.parametrize(
    ("cid_of", "nonce_of", "sent_to"),
    [
        ("first", "second", "first"),
        ("second", "first", "first"),
        ("first", "first", "second"),
    ],
)
async def test_cid_and_nonce_crossed_between_two_pending_challenges_are_invalid_request(
    world: World, cid_of: str, nonce_of: str, sent_to: str
) -> None:
    first = await stage(world)
    second = await stage(world, app=first.app, phone=first.phone)
    scenes = {"first": first, "second": second}
    was = await before(world)
    token = first.phone.token(
        cid=scenes[cid_of].cid,
        nonce=scenes[nonce_of].view["nonce"],
        decision="approve",
        number=scenes[sent_to].challenge["match_number"],
    )
    response = await first.answer(token, challenge_id=scenes[sent_to].cid)
    assert await error_of(response) == (400, "invalid_request")
    await unchanged(world, was, pending=[first, second])


async def test_answer_to_a_guessed_challenge_id_is_not_found(world: World) -> None:
    scene = await stage(world)
    was = await before(world)
    token = scene.phone.token(cid="ch_guessed", nonce=scene.view["nonce"], decision="approve")
    response = await scene.answer(token, challenge_id="ch_guessed")
    assert await error_of(response) == (404, "not_found")
    await unchanged(world, was, pending=[scene])


async def test_wrong_number_denies_at_once_with_no_second_try_and_counts_a_strike(
    world: World,
) -> None:
    scene = await stage(world)
    right = scene.challenge["match_number"]
    wrong = f"{(int(right) + 1) % 1000:03d}"
    guess = await scene.answer(scene.phone.response(scene.view, number=wrong))
    assert (guess.status, await guess.json()) == (
        200,
        {"challenge_id": scene.cid, "status": "denied"},
    )
    retry = await scene.answer(scene.approval())
    assert await error_of(retry) == (409, "challenge_not_pending")
    final = await scene.as_app()
    assert (final["status"], final["reason"]) == ("denied", "number_mismatch")
    assert "match_number" not in final
    assert (await standing(world))["strikes"] == 1
    [delivery] = await deliveries(world)
    assert delivery["type"] == "challenge.denied"
    [stored] = await service_of(world).engine.list_deliveries(None, 10)
    assert json.loads(stored.payload)["data"]["reason"] == "number_mismatch"
    [event] = await audit(world, kind="challenge.denied")
    assert (event["kind"], event["actor"]) == (
        "challenge.denied.number_mismatch",
        f"device:{scene.phone.device_id}",
    )


async def test_device_revoked_mid_stream_is_closed_4403_and_its_tokens_refused(
    world: World,
) -> None:
    scene = await stage(world)
    ws = await connect(world, scene.phone)
    assert (await next_frame(ws))["challenge"]["challenge_id"] == scene.cid
    gone = await world.client.delete(f"/v1/admin/devices/{scene.phone.device_id}", headers=ADMIN)
    assert gone.status == 204
    assert await close_code(ws) == 4403
    was = await before(world)
    response = await scene.answer(scene.approval())
    assert await error_of(response) == (401, "invalid_token")
    await token_refusal_recorded(world, was, "unknown_device", scene.phone.device_id)
    polled = await world.client.get("/v1/devices/me/challenges", headers=scene.phone.bearer())
    assert await error_of(polled) == (401, "invalid_token")
    again = await world.client.ws_connect("/v1/devices/stream")
    nonce = (await again.receive_json(timeout=2))["nonce"]
    await again.send_json({"type": "auth", "token": scene.phone.token(nonce=nonce)})
    assert await close_code(again) == 4401
    await unchanged(world, was, pending=[scene])
    [revoked] = await audit(world, kind="device.revoked")
    assert (revoked["device_id"], revoked["actor"]) == (scene.phone.device_id, "operator")
