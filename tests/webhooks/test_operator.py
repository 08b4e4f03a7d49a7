"""Operator endpoints for webhooks (listing, redelivery, secret rotation) and the refusal of
callback URLs that point into private networks."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import standardwebhooks

from push_service.edge import SERVICE
from tests.conftest import ADMIN, World
from tests.webhooks.conftest import Serve
from tests.webhooks.receiver import Receiver, eventually
from tests.webhooks.test_delivery import cancel, settled

DAY = 24 * 3600


async def _error(response: Any) -> tuple[int, str]:
    return response.status, (await response.json())["error"]["code"]


async def _ended(world: World, app: dict[str, Any], url: str) -> str:
    challenge = await world.challenge(app, callback_url=url)
    await cancel(world, app, challenge)
    return str(challenge["challenge_id"])


async def _listed(world: World, query: str = "") -> list[dict[str, Any]]:
    response = await world.client.get(f"/v1/admin/webhooks{query}", headers=ADMIN)
    assert response.status == 200, await response.text()
    deliveries: list[dict[str, Any]] = (await response.json())["deliveries"]
    return deliveries


async def _redeliver(world: World, delivery_id: str) -> Any:
    return await world.client.post(f"/v1/admin/webhooks/{delivery_id}/redeliver", headers=ADMIN)


async def _rotate(world: World, app_id: str) -> Any:
    return await world.client.post(f"/v1/admin/apps/{app_id}/webhook-secret", headers=ADMIN)


# Listing
async def test_deliveries_are_listed_by_state(world: World, receiver: Receiver) -> None:
    receiver.script("/broken", 500)
    app = await world.new_app()
    await world.enroll("alice", app)
    ok = await _ended(world, app, receiver.url())
    bad = await _ended(world, app, receiver.url("/broken"))
    await settled(world, ok, "delivered")
    await settled(world, bad, "failing")
    assert [d["challenge_id"] for d in await _listed(world, "?state=delivered")] == [ok]
    [failing] = await _listed(world, "?state=failing")
    assert (failing["challenge_id"], failing["url"], failing["type"]) == (
        bad,
        receiver.url("/broken"),
        "challenge.cancelled",
    )
    assert failing["next_attempt_at"] is not None
    assert [d["challenge_id"] for d in await _listed(world)] == [bad, ok]
    assert len(await _listed(world, "?limit=1")) == 1


@pytest.mark.parametrize("query", ["?state=sent", "?limit=0", "?limit=x"])
async def test_bad_filters_are_invalid_requests(world: World, query: str) -> None:
    response = await world.client.get(f"/v1/admin/webhooks{query}", headers=ADMIN)
    assert await _error(response) == (400, "invalid_request")


async def test_only_operators_see_or_redeliver_webhooks(world: World) -> None:
    app = await world.new_app()
    for response in (
        await world.client.get("/v1/admin/webhooks", headers=app["headers"]),
        await world.client.post("/v1/admin/webhooks/msg_x/redeliver", headers=app["headers"]),
        await world.client.post(f"/v1/admin/apps/{app['app_id']}/webhook-secret"),
    ):
        assert await _error(response) == (401, "unauthorized")


# Redelivery
async def test_a_dead_delivery_is_redelivered_with_a_fresh_horizon(
    serve: Serve, receiver: Receiver
) -> None:
    world = await serve(PUSH_CALLBACK_RETRY_HORIZON="1")
    receiver.script("/hook", 500)
    app = await world.new_app()
    await world.enroll("alice", app)
    challenge_id = await _ended(world, app, receiver.url())
    dead = await settled(world, challenge_id, "dead")
    receiver.script("/hook", 200)
    response = await _redeliver(world, dead["delivery_id"])
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["delivery_id"], body["state"], body["attempts"]) == (
        dead["delivery_id"],
        "pending",
        0,
    )
    delivered = await settled(world, challenge_id, "delivered")
    assert delivered["attempts"] == 1
    assert receiver.hits[-1].headers["webhook-id"] == dead["delivery_id"]


async def test_a_delivered_event_can_be_sent_again(world: World, receiver: Receiver) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    challenge_id = await _ended(world, app, receiver.url())
    first = await settled(world, challenge_id, "delivered")
    assert (await _redeliver(world, first["delivery_id"])).status == 200
    await eventually(lambda: len(receiver.hits) == 2)
    assert receiver.hits[0].body == receiver.hits[1].body
    assert {h.headers["webhook-id"] for h in receiver.hits} == {first["delivery_id"]}


async def test_a_delivery_still_being_retried_is_not_redelivered(
    serve: Serve, receiver: Receiver
) -> None:
    world = await serve(PUSH_CALLBACK_RETRY_BASE="60")
    receiver.script("/hook", 500)
    app = await world.new_app()
    await world.enroll("alice", app)
    failing = await settled(world, await _ended(world, app, receiver.url()), "failing")
    response = await _redeliver(world, failing["delivery_id"])
    assert await _error(response) == (400, "invalid_request")
    assert len(receiver.hits) == 1


async def test_an_unknown_delivery_is_not_found(world: World) -> None:
    assert await _error(await _redeliver(world, "msg_nope")) == (404, "not_found")


# Secret rotation
async def test_during_the_grace_both_secrets_verify(world: World, receiver: Receiver) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    response = await _rotate(world, app["app_id"])
    assert response.status == 200, await response.text()
    rotated = await response.json()
    assert set(rotated) == {"app_id", "webhook_secret"}
    assert rotated["app_id"] == app["app_id"]
    assert rotated["webhook_secret"].startswith("whsec_")
    assert rotated["webhook_secret"] != app["webhook_secret"]
    await _ended(world, app, receiver.url())
    [hit] = await eventually(lambda: receiver.hits)
    assert len(hit.headers["webhook-signature"].split(" ")) == 2
    for secret in (app["webhook_secret"], rotated["webhook_secret"]):
        assert standardwebhooks.Webhook(secret).verify(hit.body, hit.headers)


async def test_after_the_grace_only_the_new_secret_signs(world: World, receiver: Receiver) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    new_secret = (await (await _rotate(world, app["app_id"])).json())["webhook_secret"]
    world.client.app[SERVICE].clock = lambda: time.time() + DAY + 1
    await _ended(world, app, receiver.url())
    [hit] = await eventually(lambda: receiver.hits)
    sent_at = datetime.fromtimestamp(int(hit.headers["webhook-timestamp"]), UTC)

    def signed_with(secret: str) -> str:
        webhook = standardwebhooks.Webhook(secret)
        return webhook.sign(hit.headers["webhook-id"], sent_at, hit.body.decode())

    assert hit.headers["webhook-signature"] == signed_with(new_secret)
    assert signed_with(app["webhook_secret"]) != signed_with(new_secret)


async def test_with_no_grace_the_old_secret_stops_at_once(serve: Serve, receiver: Receiver) -> None:
    world = await serve(PUSH_WEBHOOK_SECRET_GRACE="0")
    app = await world.new_app()
    await world.enroll("alice", app)
    new_secret = (await (await _rotate(world, app["app_id"])).json())["webhook_secret"]
    await _ended(world, app, receiver.url())
    [hit] = await eventually(lambda: receiver.hits)
    assert standardwebhooks.Webhook(new_secret).verify(hit.body, hit.headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(app["webhook_secret"]).verify(hit.body, hit.headers)


async def test_rotation_keeps_secrets_out_of_the_app_listing(world: World) -> None:
    app = await world.new_app()
    assert (await _rotate(world, app["app_id"])).status == 200
    response = await world.client.get("/v1/admin/apps", headers=ADMIN)
    assert "whsec_" not in await response.text()
    assert (await response.json())["apps"][0]["app_id"] == app["app_id"]


async def test_rotating_an_unknown_app_is_not_found(world: World) -> None:
    assert await _error(await _rotate(world, "app_nope")) == (404, "not_found")


# Refusal at creation
@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://192.168.0.10:8443/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://localhost:8443/hook",
        "http://example.com/hook",
    ],
)
async def test_private_targets_are_refused_at_creation(serve: Serve, url: str) -> None:
    world = await serve(PUSH_CALLBACK_ALLOW_PRIVATE="0")
    app = await world.new_app()
    await world.enroll("alice", app)
    response = await world.client.post(
        "/v1/challenges", json={"user_id": "alice", "callback_url": url}, headers=app["headers"]
    )
    assert await _error(response) == (400, "callback_url_rejected")
    listed = await world.client.get("/v1/admin/challenges", headers=ADMIN)
    assert (await listed.json())["challenges"] == []


async def test_the_refusal_says_why(serve: Serve) -> None:
    world = await serve(PUSH_CALLBACK_ALLOW_PRIVATE="0")
    app = await world.new_app()
    await world.enroll("alice", app)
    response = await world.client.post(
        "/v1/challenges",
        json={"user_id": "alice", "callback_url": "https://localhost:8443/hook"},
        headers=app["headers"],
    )
    message = (await response.json())["error"]["message"]
    assert "loopback" in message
    assert "PUSH_CALLBACK_ALLOW_PRIVATE" in message


async def test_private_targets_are_accepted_when_allowed(world: World) -> None:
    app = await world.new_app()
    await world.enroll("alice", app)
    challenge = await world.challenge(app, callback_url="https://localhost:8443/hook")
    assert challenge["callback_url"] == "https://localhost:8443/hook"
