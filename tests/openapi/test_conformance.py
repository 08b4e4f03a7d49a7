"""Real answers along the service's flows, each checked against /openapi.json.

The fuzzer rarely holds a real id; these walks do, so successful answers of every kind (and the
refusals that need state, such as 409 and 429) are compared with the description too.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from push_service.config import Settings
from tests.conftest import ADMIN, World, make_settings
from tests.openapi.described import Description
from tests.phone import Phone, sign

LOCAL_CALLBACK = "https://127.0.0.1:9/hook"
ONE = "/v1/challenges/{challenge_id}"
RESPOND = "/v1/challenges/{challenge_id}/response"


class Walk:
    """Sends requests through the test client and checks each answer against the description."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.described = Description()

    async def __call__(
        self, method: str, template: str, path: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        response = await self.world.client.request(method, path or template, **kw)
        return response.status, await self.described.conforms(method, template, response)

    async def refused(self, method: str, template: str, path: str | None = None, **kw: Any) -> Any:
        """(status, error code) of an answer expected to be a refusal."""
        status, body = await self(method, template, path, **kw)
        return status, body["error"]["code"]


@pytest.fixture
def settings() -> Settings:
    return make_settings(PUSH_MAX_PENDING="2")


@pytest.fixture
def walk(world: World) -> Walk:
    return Walk(world)


async def test_the_open_endpoints_conform(walk: Walk) -> None:
    for path in ["/.well-known/push-approval", "/healthz", "/readyz", "/metrics", "/dashboard"]:
        assert (await walk("GET", path))[0] == 200
    for asset in ["/dashboard/dashboard.js", "/dashboard/dashboard.css"]:
        assert (await walk("GET", "/dashboard/{name}", asset))[0] == 200
    assert await walk.refused("GET", "/dashboard/{name}", "/dashboard/x.js") == (404, "not_found")
    assert await walk.refused("GET", "/v1/devices/stream") == (400, "invalid_request")
    assert await walk.refused("GET", "/v1/admin/stream") == (400, "invalid_request")


async def test_apps_conform(walk: Walk) -> None:
    apps = "/v1/admin/apps"
    status, made = await walk("POST", apps, json={"name": "A"}, headers=ADMIN)
    assert status == 201
    assert (await walk("GET", apps, headers=ADMIN))[0] == 200
    assert await walk.refused("GET", apps) == (401, "unauthorized")
    rotate, one = "/v1/admin/apps/{app_id}/webhook-secret", "/v1/admin/apps/{app_id}"
    path = f"/v1/admin/apps/{made['app_id']}"
    assert (await walk("POST", rotate, path + "/webhook-secret", headers=ADMIN))[0] == 200
    assert (await walk("DELETE", one, path, headers=ADMIN))[0] == 204
    assert await walk.refused("DELETE", one, path, headers=ADMIN) == (404, "not_found")


async def test_enrolling_a_phone_conforms(walk: Walk, world: World) -> None:
    app = await world.new_app()
    for scope in [None, [app["app_id"]]]:
        body = {"user_id": "bob", "app_ids": scope}
        assert (await walk("POST", "/v1/enrollments", json=body, headers=ADMIN))[0] == 201
    body = {"user_id": "carol"}
    status, enrollment = await walk("POST", "/v1/enrollments", json=body, headers=app["headers"])
    assert status == 201
    phone, code = Phone(user_id="carol"), enrollment["code"]
    wrong = {"code": "nope", "public_key": phone.jwk, "proof": phone.proof("nope")}
    assert await walk.refused("POST", "/v1/devices", json=wrong) == (400, "invalid_enrollment")
    right = {"code": code, "public_key": phone.jwk, "proof": phone.proof(code)}
    status, device = await walk("POST", "/v1/devices", json=right)
    assert (status, device["user_id"]) == (201, "carol")


async def test_a_challenge_from_creation_to_approval_conforms(walk: Walk, world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    body = {"user_id": "alice", "context": {"action": "Sign in"}, "callback_url": LOCAL_CALLBACK}
    status, made = await walk("POST", "/v1/challenges", json=body, headers=app["headers"])
    assert (status, made["status"]) == (201, "pending")
    path = f"/v1/challenges/{made['challenge_id']}"
    status, waited = await walk("GET", ONE, path + "?wait=1", headers=app["headers"])
    assert (status, waited["match_number"]) == (200, made["match_number"])
    assert "match_number" not in (await walk("GET", ONE, path, headers=ADMIN))[1]
    mine = "/v1/devices/me/challenges"
    status, pending = await walk("GET", mine, headers=phone.bearer())
    view = pending["challenges"][0]
    answer = {"token": phone.response(view, number=made["match_number"])}
    status, result = await walk("POST", RESPOND, path + "/response", json=answer)
    assert (status, result["status"]) == (200, "approved")
    status, ended = await walk("GET", ONE, path, headers=app["headers"])
    assert {"decided_at", "device_id", "response_token"} <= set(ended)
    again = {"token": phone.response(view)}
    refusal = (409, "challenge_not_pending")
    assert await walk.refused("POST", RESPOND, path + "/response", json=again) == refusal
    assert await walk.refused("DELETE", ONE, path, headers=app["headers"]) == refusal
    unknown = "/v1/challenges/ch_unknown"
    assert await walk.refused("GET", ONE, unknown, headers=app["headers"]) == (404, "not_found")
    bad_wait = path + "?wait=61"
    assert await walk.refused("GET", ONE, bad_wait, headers=ADMIN) == (400, "invalid_request")


async def test_refusals_of_new_challenges_conform(walk: Walk, world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)

    async def ask(user_id: str = "alice") -> tuple[int, Any]:
        body = {"user_id": user_id}
        return await walk("POST", "/v1/challenges", json=body, headers=app["headers"])

    status, refused = await ask("nobody")
    assert (status, refused["error"]["code"]) == (422, "no_devices")
    first, second = (await ask())[1], (await ask())[1]
    status, refused = await ask()
    assert (status, refused["error"]["code"]) == (429, "too_many_pending")
    view = await world.device_view(phone, first["challenge_id"])
    fraud = {"token": phone.response(view, "deny", fraud=True)}
    path = f"/v1/challenges/{first['challenge_id']}"
    assert (await walk("POST", RESPOND, path + "/response", json=fraud))[1]["status"] == "denied"
    path = f"/v1/challenges/{second['challenge_id']}"
    status, cancelled = await walk("DELETE", ONE, path, headers=app["headers"])
    assert (status, cancelled["status"]) == (200, "cancelled")
    status, refused = await ask()
    assert (status, refused["error"]["code"]) == (429, "rate_limited")
    user = "/v1/admin/users/alice"
    status, standing = await walk("GET", "/v1/admin/users/{user_id}", user, headers=ADMIN)
    assert (status, standing["locked"]) == (200, True)
    reset = "/v1/admin/users/{user_id}/reset"
    status, standing = await walk("POST", reset, user + "/reset", headers=ADMIN)
    assert (status, standing["locked"]) == (200, False)


async def test_the_operator_views_conform(walk: Walk, world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    made = await world.challenge(app, callback_url=LOCAL_CALLBACK)
    await world.client.delete(f"/v1/challenges/{made['challenge_id']}", headers=app["headers"])
    for template, path in [
        ("/v1/admin/challenges", "/v1/admin/challenges?status=cancelled&limit=5"),
        ("/v1/admin/users/{user_id}/devices", "/v1/admin/users/alice/devices"),
        ("/v1/admin/users/{user_id}", "/v1/admin/users/alice"),
        ("/v1/admin/audit", "/v1/admin/audit?limit=1&kind=challenge"),
    ]:
        assert (await walk("GET", template, path, headers=ADMIN))[0] == 200
    path = "/v1/admin/challenges?status=lost"
    refusal = (400, "invalid_request")
    assert await walk.refused("GET", "/v1/admin/challenges", path, headers=ADMIN) == refusal
    revoke, path = "/v1/admin/devices/{device_id}", f"/v1/admin/devices/{phone.device_id}"
    assert (await walk("DELETE", revoke, path, headers=ADMIN))[0] == 204
    assert await walk.refused("DELETE", revoke, path, headers=ADMIN) == (404, "not_found")


async def test_a_webhook_delivery_conforms(walk: Walk, world: World) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    made = await world.challenge(app, callback_url=LOCAL_CALLBACK)
    await world.client.delete(f"/v1/challenges/{made['challenge_id']}", headers=app["headers"])
    status, found = await walk("GET", "/v1/admin/webhooks", headers=ADMIN)
    delivery = found["deliveries"][0]
    assert (status, delivery["type"]) == (200, "challenge.cancelled")
    template = "/v1/admin/webhooks/{delivery_id}/redeliver"
    path = f"/v1/admin/webhooks/{delivery['delivery_id']}/redeliver"
    assert await walk.refused("POST", template, path, headers=ADMIN) == (400, "invalid_request")


async def test_the_device_endpoints_conform(walk: Walk, world: World) -> None:
    app = await world.new_app()
    phone = await world.enroll("alice", app)
    new = Phone(device_id=phone.device_id, user_id="alice")
    key = "/v1/devices/me/key"
    wrong = {"public_key": new.jwk, "proof": new.proof("a code, not a device id")}
    refusal = (400, "invalid_proof")
    assert await walk.refused("POST", key, json=wrong, headers=phone.bearer()) == refusal
    proof = sign(new.key, {"device_id": phone.device_id, "iat": int(time.time())})
    right = {"public_key": new.jwk, "proof": proof}
    status, rotated = await walk("POST", key, json=right, headers=phone.bearer())
    assert (status, rotated["rotated"]) == (200, True)
    me = "/v1/devices/me"
    assert (await walk("DELETE", me, headers=new.bearer()))[0] == 204
    assert await walk.refused("DELETE", me, headers=new.bearer()) == (401, "invalid_token")


async def test_a_body_past_the_limit_conforms(walk: Walk) -> None:
    huge = b'{"name": "' + b"n" * (70 * 1024) + b'"}'
    headers = {**ADMIN, "Content-Type": "application/json"}
    refusal = (413, "payload_too_large")
    assert await walk.refused("POST", "/v1/admin/apps", data=huge, headers=headers) == refusal
