"""Challenges from the app's side: creation, limits, long-poll, cancel, and the phone's answers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from push_service.edge import SERVICE
from tests.conftest import ADMIN, World, make_settings
from tests.phone import Phone


async def _error(response: Any) -> tuple[int, str]:
    return response.status, (await response.json())["error"]["code"]


async def _setup(world: World) -> tuple[dict[str, Any], Phone, dict[str, Any], dict[str, Any]]:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    challenge = await world.challenge(app, context={"action": "Sign in", "ip": "198.51.100.4"})
    view = await world.device_view(phone, challenge["challenge_id"])
    return app, phone, challenge, view


async def _answer(world: World, challenge_id: str, token: str) -> Any:
    return await world.client.post(f"/v1/challenges/{challenge_id}/response", json={"token": token})


async def test_challenge_object_has_the_contract_fields(world: World) -> None:
    app, _, challenge, view = await _setup(world)
    assert challenge["app_id"] == app["app_id"]
    assert challenge["number_matching"] is True
    assert challenge["context"] == {"action": "Sign in", "ip": "198.51.100.4"}
    assert challenge["created_at"].endswith("Z")
    assert challenge["expires_at"].endswith("Z")
    assert set(view) == {
        "challenge_id",
        "user_id",
        "app",
        "context",
        "number_matching",
        "nonce",
        "created_at",
        "expires_at",
    }


async def test_wrong_number_denies_with_number_mismatch(world: World) -> None:
    app, phone, challenge, view = await _setup(world)
    wrong = "000" if challenge["match_number"] != "000" else "001"
    response = await _answer(world, challenge["challenge_id"], phone.response(view, number=wrong))
    assert (await response.json())["status"] == "denied"
    final = await (
        await world.client.get(
            f"/v1/challenges/{challenge['challenge_id']}", headers=app["headers"]
        )
    ).json()
    assert final["reason"] == "number_mismatch"


async def test_missing_number_denies_with_number_mismatch(world: World) -> None:
    app, phone, challenge, view = await _setup(world)
    await _answer(world, challenge["challenge_id"], phone.response(view))
    final = await (
        await world.client.get(
            f"/v1/challenges/{challenge['challenge_id']}", headers=app["headers"]
        )
    ).json()
    assert final["status"] == "denied"
    assert final["reason"] == "number_mismatch"


@pytest.mark.parametrize(
    ("extra", "reason"), [({}, "user_denied"), ({"fraud": True}, "fraud_reported")]
)
async def test_deny_and_fraud_reasons(world: World, extra: dict[str, Any], reason: str) -> None:
    app, phone, challenge, view = await _setup(world)
    await _answer(world, challenge["challenge_id"], phone.response(view, "deny", **extra))
    final = await (
        await world.client.get(
            f"/v1/challenges/{challenge['challenge_id']}", headers=app["headers"]
        )
    ).json()
    assert final["status"] == "denied"
    assert final["reason"] == reason
    assert "match_number" not in final


async def test_first_answer_wins_and_later_answers_get_409(world: World) -> None:
    app, phone, challenge, view = await _setup(world)
    second = await world.enroll("alice", app)
    await _answer(
        world, challenge["challenge_id"], phone.response(view, number=challenge["match_number"])
    )
    late = await _answer(world, challenge["challenge_id"], second.response(view, "deny"))
    assert await _error(late) == (409, "challenge_not_pending")


async def test_replayed_token_is_refused(world: World) -> None:
    _, phone, challenge, view = await _setup(world)
    token = phone.response(view, "deny")
    await _answer(world, challenge["challenge_id"], token)
    assert await _error(await _answer(world, challenge["challenge_id"], token)) == (
        401,
        "invalid_token",
    )


async def test_another_users_device_is_forbidden_and_changes_nothing(world: World) -> None:
    app, _, challenge, view = await _setup(world)
    mallory = await world.enroll("mallory", app)
    response = await _answer(
        world, challenge["challenge_id"], mallory.response(view, number=challenge["match_number"])
    )
    assert await _error(response) == (403, "forbidden")
    still = await (
        await world.client.get(
            f"/v1/challenges/{challenge['challenge_id']}", headers=app["headers"]
        )
    ).json()
    assert still["status"] == "pending"


async def test_wrong_nonce_or_cid_is_invalid_request(world: World) -> None:
    _, phone, challenge, view = await _setup(world)
    bad_nonce = phone.token(cid=view["challenge_id"], nonce="x" * 22, decision="deny")
    assert await _error(await _answer(world, challenge["challenge_id"], bad_nonce)) == (
        400,
        "invalid_request",
    )
    bad_cid = phone.token(cid="ch_other", nonce=view["nonce"], decision="deny")
    assert await _error(await _answer(world, challenge["challenge_id"], bad_cid)) == (
        400,
        "invalid_request",
    )


async def test_unknown_challenge_is_404(world: World) -> None:
    _, phone, _, view = await _setup(world)
    response = await _answer(world, "ch_missing", phone.response(view, "deny"))
    assert await _error(response) == (404, "not_found")


async def test_apps_see_only_their_own_challenges(world: World) -> None:
    _, _, challenge, _ = await _setup(world)
    other = await world.new_app("Other")
    for method in ("get", "delete"):
        response = await getattr(world.client, method)(
            f"/v1/challenges/{challenge['challenge_id']}", headers=other["headers"]
        )
        assert await _error(response) == (404, "not_found")


async def test_cancel_then_cancel_again_is_409(world: World) -> None:
    app, _, challenge, _ = await _setup(world)
    url = f"/v1/challenges/{challenge['challenge_id']}"
    cancelled = await world.client.delete(url, headers=app["headers"])
    body = await cancelled.json()
    assert cancelled.status == 200
    assert body["status"] == "cancelled"
    assert "match_number" not in body
    assert await _error(await world.client.delete(url, headers=app["headers"])) == (
        409,
        "challenge_not_pending",
    )


async def test_long_poll_returns_pending_after_the_wait(world: World) -> None:
    app, _, challenge, _ = await _setup(world)
    started = time.monotonic()
    response = await world.client.get(
        f"/v1/challenges/{challenge['challenge_id']}?wait=1", headers=app["headers"]
    )
    assert (await response.json())["status"] == "pending"
    assert time.monotonic() - started >= 0.9


@pytest.mark.parametrize("wait", ["0", "61", "abc", "-1", "1.5"])
async def test_wait_out_of_range_is_invalid_request(world: World, wait: str) -> None:
    app, _, challenge, _ = await _setup(world)
    response = await world.client.get(
        f"/v1/challenges/{challenge['challenge_id']}?wait={wait}", headers=app["headers"]
    )
    assert await _error(response) == (400, "invalid_request")


async def test_idempotency_key_returns_the_original_and_pushes_nothing_new(world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    headers = {**app["headers"], "Idempotency-Key": "login-42"}
    first = await (
        await world.client.post("/v1/challenges", json={"user_id": "alice"}, headers=headers)
    ).json()
    second = await (
        await world.client.post("/v1/challenges", json={"user_id": "alice"}, headers=headers)
    ).json()
    assert first["challenge_id"] == second["challenge_id"]
    pending = await (
        await world.client.get("/v1/devices/me/challenges", headers=phone.bearer())
    ).json()
    assert len(pending["challenges"]) == 1


async def test_fourth_pending_push_is_refused(world: World) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    for _ in range(3):
        await world.challenge(app)
    response = await world.client.post(
        "/v1/challenges", json={"user_id": "alice"}, headers=app["headers"]
    )
    assert await _error(response) == (429, "too_many_pending")


@pytest.mark.parametrize("settings", [make_settings(PUSH_RATE_LIMIT="2", PUSH_MAX_PENDING="10")])
async def test_rate_window_refuses_with_retry_after(world: World) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    await world.challenge(app)
    await world.challenge(app)
    response = await world.client.post(
        "/v1/challenges", json={"user_id": "alice"}, headers=app["headers"]
    )
    assert await _error(response) == (429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 600


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "alice", "ttl_seconds": 9},
        {"user_id": "alice", "ttl_seconds": 301},
        {"user_id": "alice", "ttl_seconds": True},
        {"user_id": "alice", "ttl_seconds": "60"},
        {"user_id": "alice", "number_matching": "yes"},
        {"user_id": "alice", "colour": "blue"},
        {"user_id": 7},
        {"user_id": "alice", "context": {"action": "Sign in\u202e"}},
        {"user_id": "alice", "context": {"ip": "x" * 257}},
        {"user_id": "alice", "context": {f"k{i}": "v" for i in range(21)}},
        {"user_id": "alice", "context": {"n": 1}},
        {"user_id": "alice", "context": ["a"]},
        [],
    ],
)
async def test_bad_challenge_bodies_are_invalid_request(world: World, body: Any) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    response = await world.client.post("/v1/challenges", json=body, headers=app["headers"])
    assert await _error(response) == (400, "invalid_request")
    listing = await (await world.client.get("/v1/admin/challenges", headers=ADMIN)).json()
    assert listing["challenges"] == []


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"user_id": "alice", "user_id": "bob"}',
        b'{"user_id": "alice", "ttl_seconds": NaN}',
        b"[" * 5000 + b"]" * 5000,
        b"\xff\xfe",
    ],
)
async def test_malformed_json_is_invalid_request(world: World, raw: bytes) -> None:
    app = await world.new_app()
    headers = {**app["headers"], "Content-Type": "application/json"}
    response = await world.client.post("/v1/challenges", data=raw, headers=headers)
    assert await _error(response) == (400, "invalid_request")


async def test_oversized_body_is_413(world: World) -> None:
    app = await world.new_app()
    headers = {**app["headers"], "Content-Type": "application/json"}
    response = await world.client.post("/v1/challenges", data=b" " * (65 * 1024), headers=headers)
    assert await _error(response) == (413, "payload_too_large")


async def test_callback_url_must_be_https(world: World) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    response = await world.client.post(
        "/v1/challenges",
        json={"user_id": "alice", "callback_url": "http://example.com/hook"},
        headers=app["headers"],
    )
    assert await _error(response) == (400, "callback_url_rejected")


async def test_expiry_is_driven_by_the_clock(world: World) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    challenge = await world.challenge(app, ttl_seconds=10)
    world.client.app[SERVICE].clock = lambda: time.time() + 11
    started = time.monotonic()
    response = await world.client.get(
        f"/v1/challenges/{challenge['challenge_id']}?wait=5", headers=app["headers"]
    )
    assert (await response.json())["status"] == "expired"
    assert time.monotonic() - started < 1.0


async def test_unknown_paths_and_methods_get_contract_errors(world: World) -> None:
    assert await _error(await world.client.get("/v1/nothing")) == (404, "not_found")
    assert (await world.client.put("/v1/challenges", headers=ADMIN)).status == 405


@pytest.mark.parametrize("settings", [make_settings(PUSH_MAX_WAITS_PER_APP="1")])
async def test_long_polls_per_app_are_capped(world: World) -> None:
    app, _, challenge, _ = await _setup(world)
    url = f"/v1/challenges/{challenge['challenge_id']}?wait=5"
    held = asyncio.create_task(world.client.get(url, headers=app["headers"]))
    await asyncio.sleep(0.1)
    refused = await world.client.get(url, headers=app["headers"])
    assert await _error(refused) == (429, "rate_limited")
    assert refused.headers["Retry-After"] == "1"
    await world.client.delete(f"/v1/challenges/{challenge['challenge_id']}", headers=app["headers"])
    assert (await (await held).json())["status"] == "cancelled"
