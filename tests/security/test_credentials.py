"""Credentials where they do not belong: app keys on operator routes, dead keys, guesses."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN, ADMIN_TOKEN, World
from tests.security.helpers import audit, before, close_code, error_of, stage, unchanged

OPERATOR_ROUTES = [
    ("GET", "/v1/admin/apps"),
    ("POST", "/v1/admin/apps"),
    ("DELETE", "/v1/admin/apps/{app_id}"),
    ("POST", "/v1/admin/apps/{app_id}/webhook-secret"),
    ("GET", "/v1/admin/webhooks"),
    ("POST", "/v1/admin/webhooks/msg_x/redeliver"),
    ("GET", "/v1/admin/challenges"),
    ("GET", "/v1/admin/users/alice/devices"),
    ("DELETE", "/v1/admin/devices/{device_id}"),
    ("GET", "/v1/admin/users/alice"),
    ("POST", "/v1/admin/users/alice/reset"),
    ("GET", "/v1/admin/audit"),
]


async def _call(world: World, method: str, path: str, headers: dict[str, str]) -> Any:
    body = {"name": "Rogue"} if path == "/v1/admin/apps" and method == "POST" else None
    return await world.client.request(method, path, json=body, headers=headers)


async def _operator_state(world: World) -> tuple[Any, ...]:
    apps = await (await world.client.get("/v1/admin/apps", headers=ADMIN)).json()
    devices = await (await world.client.get("/v1/admin/users/alice/devices", headers=ADMIN)).json()
    operator_events = [
        e["kind"]
        for e in await audit(world)
        if e["kind"].startswith(("app.", "device.revoked", "user.reset"))
    ]
    return apps, [d["device_id"] for d in devices["devices"]], operator_events


@pytest.mark.parametrize(("method", "route"), OPERATOR_ROUTES)
@pytest.mark.parametrize("credential", ["app key", "device token", "guessed token", "none"])
async def test_operator_routes_refuse_anything_but_the_admin_token(
    world: World, method: str, route: str, credential: str
) -> None:
    scene = await stage(world)
    headers = {
        "app key": scene.app["headers"],
        "device token": scene.phone.bearer(),
        "guessed token": {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}x"},
        "none": {},
    }[credential]
    path = route.format(app_id=scene.app["app_id"], device_id=scene.phone.device_id)
    was, state = await before(world), await _operator_state(world)
    response = await _call(world, method, path, headers)
    assert await error_of(response) == (401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    await unchanged(world, was, pending=[scene])
    assert await _operator_state(world) == state


async def test_api_key_of_a_deleted_app_is_refused_everywhere(world: World) -> None:
    scene = await stage(world)
    gone = await world.client.delete(f"/v1/admin/apps/{scene.app['app_id']}", headers=ADMIN)
    assert gone.status == 204
    headers = scene.app["headers"]
    for method, path, body in (
        ("POST", "/v1/challenges", {"user_id": "alice"}),
        ("GET", f"/v1/challenges/{scene.cid}", None),
        ("GET", f"/v1/challenges/{scene.cid}?wait=1", None),
        ("DELETE", f"/v1/challenges/{scene.cid}", None),
        ("POST", "/v1/enrollments", {"user_id": "alice"}),
    ):
        response = await world.client.request(method, path, json=body, headers=headers)
        assert await error_of(response) == (401, "unauthorized"), (method, path)
    seen = await world.client.get(f"/v1/challenges/{scene.cid}", headers=ADMIN)
    assert (await seen.json())["status"] == "pending"
    assert [e["kind"] for e in await audit(world, kind="challenge")] == ["challenge.created"]


async def test_device_token_is_not_an_api_key(world: World) -> None:
    scene = await stage(world)
    was = await before(world)
    response = await world.client.post(
        "/v1/challenges", json={"user_id": "alice"}, headers=scene.phone.bearer()
    )
    assert await error_of(response) == (401, "unauthorized")
    await unchanged(world, was, pending=[scene])


async def test_api_key_is_not_a_device_token(world: World) -> None:
    scene = await stage(world)
    was = await before(world)
    response = await world.client.get("/v1/devices/me/challenges", headers=scene.app["headers"])
    assert await error_of(response) == (401, "invalid_token")
    answer = await scene.answer(scene.app["api_key"])
    assert await error_of(answer) == (401, "invalid_token")
    await unchanged(world, was, pending=[scene])


@pytest.mark.parametrize("credential", ["app key", "guessed token"])
async def test_operator_live_feed_refuses_anything_but_the_admin_token(
    world: World, credential: str
) -> None:
    app = await world.new_app()
    token = app["api_key"] if credential == "app key" else ADMIN_TOKEN + "x"
    ws = await world.client.ws_connect("/v1/admin/stream")
    await ws.send_json({"type": "auth", "token": token})
    assert await close_code(ws) == 4401
    assert ws.closed


async def test_admin_token_in_the_query_string_is_not_accepted(world: World) -> None:
    response = await world.client.get(f"/v1/admin/apps?access_token={ADMIN_TOKEN}")
    assert await error_of(response) == (401, "unauthorized")
