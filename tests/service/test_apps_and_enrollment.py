"""Operators manage apps; apps and operators enroll phones; codes are single use and scoped."""

from __future__ import annotations

import re

from tests.conftest import ADMIN, World
from tests.phone import Phone


async def test_app_secrets_are_shown_once_and_never_listed(world: World) -> None:
    app = await world.new_app("Payroll")
    assert app["api_key"]
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", app["webhook_secret"])
    listing = await (await world.client.get("/v1/admin/apps", headers=ADMIN)).json()
    assert listing == {
        "apps": [{"app_id": app["app_id"], "name": "Payroll", "created_at": app["created_at"]}]
    }


async def test_deleted_app_key_stops_working_at_once(world: World) -> None:
    app = await world.new_app()
    used = await world.client.post("/v1/enrollments", json={"user_id": "a"}, headers=app["headers"])
    assert used.status == 201
    gone = await world.client.delete(f"/v1/admin/apps/{app['app_id']}", headers=ADMIN)
    assert gone.status == 204
    refused = await world.client.post(
        "/v1/enrollments", json={"user_id": "a"}, headers=app["headers"]
    )
    assert refused.status == 401
    assert (await refused.json())["error"]["code"] == "unauthorized"


async def test_admin_routes_refuse_app_keys_and_missing_credentials(world: World) -> None:
    app = await world.new_app()
    for headers in (
        app["headers"],
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic x"},
    ):
        response = await world.client.get("/v1/admin/apps", headers=headers)
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"


async def test_enrollment_uri_carries_code_url_and_issuer(world: World) -> None:
    app = await world.new_app()
    response = await world.client.post(
        "/v1/enrollments", json={"user_id": "alice"}, headers=app["headers"]
    )
    body = await response.json()
    assert response.status == 201
    assert body["user_id"] == "alice"
    assert body["uri"].startswith("pushapproval://enroll?code=" + body["code"])
    assert "issuer=push-approval" in body["uri"]
    assert "url=http" in body["uri"]
    assert len(body["code"]) >= 22


async def _new_code(world: World) -> str:
    response = await world.client.post("/v1/enrollments", json={"user_id": "bob"}, headers=ADMIN)
    return str((await response.json())["code"])


async def test_enrollment_code_is_single_use(world: World) -> None:
    code = await _new_code(world)
    first, second = Phone(), Phone()
    ok = await world.client.post(
        "/v1/devices",
        json={"code": code, "public_key": first.jwk, "name": "a", "proof": first.proof(code)},
    )
    assert ok.status == 201
    again = await world.client.post(
        "/v1/devices",
        json={"code": code, "public_key": second.jwk, "name": "b", "proof": second.proof(code)},
    )
    assert again.status == 400
    assert (await again.json())["error"]["code"] == "invalid_enrollment"


async def test_guessed_code_is_invalid_enrollment(world: World) -> None:
    phone = Phone()
    response = await world.client.post(
        "/v1/devices",
        json={
            "code": "guess" * 5,
            "public_key": phone.jwk,
            "name": "x",
            "proof": phone.proof("guess" * 5),
        },
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_enrollment"


async def test_proof_by_another_key_is_invalid_proof_and_five_failures_burn_the_code(
    world: World,
) -> None:
    code = await _new_code(world)
    phone, thief = Phone(), Phone()
    for _ in range(5):
        response = await world.client.post(
            "/v1/devices",
            json={"code": code, "public_key": phone.jwk, "name": "x", "proof": thief.proof(code)},
        )
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "invalid_proof"
    burned = await world.client.post(
        "/v1/devices",
        json={"code": code, "public_key": phone.jwk, "name": "x", "proof": phone.proof(code)},
    )
    assert (await burned.json())["error"]["code"] == "invalid_enrollment"


async def test_private_or_small_order_keys_are_invalid_key(world: World) -> None:
    code = await _new_code(world)
    phone = Phone()
    with_private = {**phone.jwk, "d": "AAAA"}
    small_order = {"kty": "OKP", "crv": "Ed25519", "x": "AQ" + "A" * 41}
    for key in (with_private, small_order, {"kty": "RSA"}, "not a jwk"):
        response = await world.client.post(
            "/v1/devices",
            json={"code": code, "public_key": key, "name": "x", "proof": phone.proof(code)},
        )
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "invalid_key"


async def test_operator_enrollment_can_be_narrowed_to_known_apps(world: World) -> None:
    app = await world.new_app()
    ok = await world.client.post(
        "/v1/enrollments", json={"user_id": "alice", "app_ids": [app["app_id"]]}, headers=ADMIN
    )
    assert ok.status == 201
    assert (await ok.json())["app_ids"] == [app["app_id"]]
    unknown = await world.client.post(
        "/v1/enrollments", json={"user_id": "alice", "app_ids": ["app_nope"]}, headers=ADMIN
    )
    assert unknown.status == 400
    assert (await unknown.json())["error"]["code"] == "invalid_request"


async def test_apps_cannot_widen_their_enrollments(world: World) -> None:
    app = await world.new_app()
    response = await world.client.post(
        "/v1/enrollments", json={"user_id": "alice", "app_ids": ["x"]}, headers=app["headers"]
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_request"


async def test_device_enrolled_by_one_app_cannot_answer_another_apps_challenges(
    world: World,
) -> None:
    first, second = await world.new_app("A"), await world.new_app("B")
    await world.enroll("alice", first)
    response = await world.client.post(
        "/v1/challenges", json={"user_id": "alice"}, headers=second["headers"]
    )
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "no_devices"


async def test_operator_sees_a_users_devices(world: World) -> None:
    phone = await world.enroll("carol")
    response = await world.client.get("/v1/admin/users/carol/devices", headers=ADMIN)
    devices = (await response.json())["devices"]
    assert [d["device_id"] for d in devices] == [phone.device_id]
    assert devices[0]["connected"] is False
    assert devices[0]["name"] == "pixel"
