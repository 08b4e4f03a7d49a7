"""Callbacks end to end: a challenge ends, and its signed event reaches the app's HTTPS receiver."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
import standardwebhooks

from push_service.edge import SERVICE
from tests.conftest import ADMIN, World
from tests.phone import Phone
from tests.webhooks.conftest import Serve
from tests.webhooks.receiver import Hit, Receiver, eventually


async def _answer(
    world: World, phone: Phone, challenge: dict[str, Any], *args: Any, **kw: Any
) -> None:
    view = await world.device_view(phone, challenge["challenge_id"])
    response = await world.client.post(
        f"/v1/challenges/{challenge['challenge_id']}/response",
        json={"token": phone.response(view, *args, **kw)},
    )
    assert response.status == 200, await response.text()


async def cancel(world: World, app: dict[str, Any], challenge: dict[str, Any]) -> None:
    response = await world.client.delete(
        f"/v1/challenges/{challenge['challenge_id']}", headers=app["headers"]
    )
    assert response.status == 200, await response.text()


async def delivery_of(world: World, challenge_id: str) -> dict[str, Any] | None:
    response = await world.client.get("/v1/admin/webhooks?limit=1000", headers=ADMIN)
    assert response.status == 200, await response.text()
    found = [d for d in (await response.json())["deliveries"] if d["challenge_id"] == challenge_id]
    return found[0] if found else None


async def settled(world: World, challenge_id: str, state: str, within: float = 5.0) -> Any:
    async def check() -> dict[str, Any] | None:
        delivery = await delivery_of(world, challenge_id)
        return delivery if delivery is not None and delivery["state"] == state else None

    return await eventually(check, f"delivery of {challenge_id} {state}", within)


def _verified(hit: Hit, secret: str) -> Any:
    return standardwebhooks.Webhook(secret).verify(hit.body, hit.headers)


async def _setup(world: World) -> tuple[dict[str, Any], Phone]:
    app = await world.new_app()
    return app, await world.enroll("alice", app)


async def test_each_ending_sends_its_event_type(world: World, receiver: Receiver) -> None:
    app, phone = await _setup(world)
    url = receiver.url()
    approved = await world.challenge(app, callback_url=url)
    await _answer(world, phone, approved, "approve", number=approved["match_number"])
    denied = await world.challenge(app, callback_url=url)
    await _answer(world, phone, denied, "deny")
    cancelled = await world.challenge(app, callback_url=url)
    await cancel(world, app, cancelled)
    expiring = await world.challenge(app, callback_url=url, ttl_seconds=10)
    world.client.app[SERVICE].clock = lambda: time.time() + 11
    await eventually(lambda: len(receiver.hits) == 4, what="four events")
    events = {
        e["data"]["challenge_id"]: e
        for e in (_verified(h, app["webhook_secret"]) for h in receiver.hits)
    }
    expected = {
        approved["challenge_id"]: ("challenge.approved", "approved"),
        denied["challenge_id"]: ("challenge.denied", "denied"),
        cancelled["challenge_id"]: ("challenge.cancelled", "cancelled"),
        expiring["challenge_id"]: ("challenge.expired", "expired"),
    }
    assert {cid: (e["type"], e["data"]["status"]) for cid, e in events.items()} == expected
    assert events[denied["challenge_id"]]["data"]["reason"] == "user_denied"


async def test_the_event_carries_the_challenge_without_its_match_number(
    world: World, receiver: Receiver
) -> None:
    app, phone = await _setup(world)
    challenge = await world.challenge(app, callback_url=receiver.url(), context={"ip": "1.2.3.4"})
    await _answer(world, phone, challenge, "approve", number=challenge["match_number"])
    [hit] = await eventually(lambda: receiver.at("/hook"))
    event = _verified(hit, app["webhook_secret"])
    assert set(event) == {"type", "timestamp", "data"}
    assert "match_number" not in event["data"]
    assert challenge["match_number"] not in json.dumps(event["data"]["context"])
    assert event["data"]["response_token"]
    assert (event["data"]["context"], event["data"]["device_id"]) == (
        {"ip": "1.2.3.4"},
        phone.device_id,
    )


async def test_failures_are_retried_under_the_same_webhook_id(
    world: World, receiver: Receiver
) -> None:
    receiver.script("/hook", 500, 503, 200)
    app, _ = await _setup(world)
    challenge = await world.challenge(app, callback_url=receiver.url())
    await cancel(world, app, challenge)
    delivered = await settled(world, challenge["challenge_id"], "delivered")
    hits = receiver.at("/hook")
    assert len(hits) == 3
    assert {h.headers["webhook-id"] for h in hits} == {delivered["delivery_id"]}
    assert len({h.body for h in hits}) == 1
    assert all(_verified(h, app["webhook_secret"]) for h in hits)
    assert (delivered["attempts"], delivered["last_status"]) == (3, 200)


async def test_redirects_are_not_followed(world: World, receiver: Receiver) -> None:
    receiver.script("/hook", 302)
    app, _ = await _setup(world)
    challenge = await world.challenge(app, callback_url=receiver.url())
    await cancel(world, app, challenge)
    failing = await settled(world, challenge["challenge_id"], "failing")
    assert failing["last_status"] == 302
    assert "redirect" in failing["last_error"]
    assert receiver.at("/landing") == []


async def test_a_delivery_is_dead_after_its_horizon(serve: Serve, receiver: Receiver) -> None:
    world = await serve(PUSH_CALLBACK_RETRY_HORIZON="1")
    receiver.script("/hook", 500)
    app, _ = await _setup(world)
    challenge = await world.challenge(app, callback_url=receiver.url())
    await cancel(world, app, challenge)
    dead = await settled(world, challenge["challenge_id"], "dead")
    assert dead["attempts"] == len(receiver.at("/hook")) >= 3
    assert dead["next_attempt_at"] is None
    assert dead["last_error"] == "The receiver answered HTTP 500."


async def test_each_event_is_delivered_once(world: World, receiver: Receiver) -> None:
    app, _ = await _setup(world)
    ids = []
    for _ in range(8):
        challenge = await world.challenge(app, callback_url=receiver.url())
        await cancel(world, app, challenge)
        ids.append(challenge["challenge_id"])
    for challenge_id in ids:
        await settled(world, challenge_id, "delivered")
    marker = await world.challenge(app, callback_url=receiver.url("/marker"))
    await cancel(world, app, marker)
    await settled(world, marker["challenge_id"], "delivered")
    delivered = sorted(json.loads(h.body)["data"]["challenge_id"] for h in receiver.at("/hook"))
    assert delivered == sorted(ids)


async def test_challenges_without_a_callback_send_nothing(world: World, receiver: Receiver) -> None:
    app, _ = await _setup(world)
    await cancel(world, app, await world.challenge(app))
    marker = await world.challenge(app, callback_url=receiver.url("/marker"))
    await cancel(world, app, marker)
    await settled(world, marker["challenge_id"], "delivered")
    assert [h.path for h in receiver.hits] == ["/marker"]


async def test_secrets_and_signatures_stay_out_of_the_logs(
    world: World, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.script("/hook", 500, 200)
    app, _ = await _setup(world)
    challenge = await world.challenge(app, callback_url=receiver.url("/hook?token=s3cr3t"))
    await cancel(world, app, challenge)
    await settled(world, challenge["challenge_id"], "delivered")
    ours = [r for r in caplog.records if r.name.startswith("push_service")]
    logged = "\n".join(r.getMessage() for r in ours)
    assert "delivered after 2 attempt(s)" in logged
    secret_key = app["webhook_secret"].removeprefix("whsec_")
    signatures = receiver.hits[0].headers["webhook-signature"]
    for leak in (secret_key, signatures.removeprefix("v1,")[:20], "s3cr3t"):
        assert leak not in logged


async def test_a_new_event_is_sent_at_once_not_at_the_next_poll(
    world: World, receiver: Receiver
) -> None:
    """The sender idles up to a second between polls; an ending challenge wakes it."""
    app, _ = await _setup(world)
    for _ in range(3):
        challenge = await world.challenge(app, callback_url=receiver.url())
        before = len(receiver.hits)
        started = time.monotonic()
        await cancel(world, app, challenge)
        await eventually(lambda: len(receiver.hits) > before, what="an event")  # noqa: B023
        assert time.monotonic() - started < 0.5
