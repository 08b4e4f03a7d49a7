"""The sender on its own, over the in-process engine: what reaches the wire and what does not."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
import standardwebhooks

from push_service.config import Settings
from push_service.engine.memory import MemoryEngine
from push_service.ids import new_id, webhook_secret
from push_service.models import App, Delivery, DeliveryState
from push_service.webhooks import guard
from push_service.webhooks.sender import USER_AGENT, WebhookSender
from tests.webhooks.conftest import Receivers, webhook_settings
from tests.webhooks.receiver import HANG, Pki, Receiver, eventually

SECRET = webhook_secret()
APP = App("app_1", "Intranet", "hash", (SECRET,), time.time())


def _fake_dns(table: dict[str, list[str]]) -> guard.Lookup:
    async def lookup(host: str, port: int, family: int = 0) -> Sequence[str]:
        return table[host]

    return lookup


class Outbox:
    def __init__(self, engine: MemoryEngine, wake: asyncio.Event) -> None:
        self.engine = engine
        self.wake = wake

    async def put(self, url: str, app: App = APP) -> str:
        now = time.time()
        body = json.dumps({"type": "challenge.cancelled", "data": {"url": url}})
        delivery = Delivery(
            new_id("msg"), app.app_id, new_id("ch"), url, "challenge.cancelled", body, now, now,
            now + 60,
        )  # fmt: skip
        await self.engine.save_delivery(delivery)
        self.wake.set()
        return delivery.delivery_id

    async def state(self, delivery_id: str) -> Delivery:
        found = await self.engine.get_delivery(delivery_id)
        assert found is not None
        return found

    async def settled(self, delivery_id: str, *states: DeliveryState) -> Delivery:
        async def check() -> Delivery | None:
            delivery = await self.state(delivery_id)
            return delivery if delivery.state in states and delivery.attempts else None

        found: Delivery = await eventually(check, what=f"{delivery_id} in {states}")
        return found


@asynccontextmanager
async def running(settings: Settings, **options: object) -> AsyncIterator[Outbox]:
    engine, wake = MemoryEngine(), asyncio.Event()
    await engine.add_app(APP)
    sender = WebhookSender(engine, settings, wake, **options)  # type: ignore[arg-type]
    await sender.start()
    try:
        yield Outbox(engine, wake)
    finally:
        await sender.close()


async def test_posts_signed_json_with_its_user_agent(pki: Pki, receiver: Receiver) -> None:
    async with running(webhook_settings(pki)) as outbox:
        delivery_id = await outbox.put(receiver.url())
        done = await outbox.settled(delivery_id, DeliveryState.DELIVERED)
    [hit] = receiver.at("/hook")
    assert hit.headers["Content-Type"] == "application/json"
    assert hit.headers["User-Agent"] == USER_AGENT
    assert hit.headers["webhook-id"] == delivery_id
    assert standardwebhooks.Webhook(SECRET).verify(hit.body, hit.headers)
    assert (done.attempts, done.last_status) == (1, 200)


async def test_a_name_rebound_to_loopback_is_never_connected_to(
    pki: Pki, receiver: Receiver
) -> None:
    """The app's host passed at creation; by delivery time it resolves to 127.0.0.1."""
    dns = _fake_dns({"hooks.example": ["127.0.0.1"]})
    async with running(webhook_settings(pki, PUSH_CALLBACK_ALLOW_PRIVATE="0"), lookup=dns) as box:
        delivery_id = await box.put(receiver.url(host="hooks.example"))
        failing = await box.settled(delivery_id, DeliveryState.FAILING)
    assert "127.0.0.1, a loopback address" in (failing.last_error or "")
    assert failing.last_status is None
    assert receiver.hits == []


async def test_the_same_name_is_reached_when_private_targets_are_allowed(
    pki: Pki, receiver: Receiver
) -> None:
    """The control for the test above: the fake resolution is what the connection uses."""
    dns = _fake_dns({"hooks.example": ["127.0.0.1"]})
    async with running(webhook_settings(pki), lookup=dns) as box:
        delivery_id = await box.put(receiver.url(host="hooks.example"))
        await box.settled(delivery_id, DeliveryState.DELIVERED)
    assert len(receiver.at("/hook")) == 1


async def test_a_literal_loopback_url_is_refused_at_delivery_time(
    pki: Pki, receiver: Receiver
) -> None:
    """Literal IPs skip the resolver, so the sender checks the URL itself on every attempt."""
    async with running(webhook_settings(pki, PUSH_CALLBACK_ALLOW_PRIVATE="0")) as outbox:
        delivery_id = await outbox.put(receiver.url())
        failing = await outbox.settled(delivery_id, DeliveryState.FAILING)
    assert "loopback" in (failing.last_error or "")
    assert receiver.hits == []


async def test_an_untrusted_certificate_is_a_failure(pki: Pki, receiver: Receiver) -> None:
    settings = webhook_settings(pki, PUSH_CALLBACK_CA_FILE="")
    async with running(settings) as outbox:
        delivery_id = await outbox.put(receiver.url())
        failing = await outbox.settled(delivery_id, DeliveryState.FAILING)
    assert "certificate" in (failing.last_error or "").lower()
    assert receiver.hits == []


async def test_a_hanging_receiver_does_not_delay_another(pki: Pki, receivers: Receivers) -> None:
    slow, fast = await receivers(), await receivers()
    slow.script("/hook", HANG)
    async with running(webhook_settings(pki)) as outbox:
        stuck = [await outbox.put(slow.url()) for _ in range(6)]
        await eventually(lambda: len(slow.hits) == 4, what="four attempts hanging")
        started = time.monotonic()
        delivery_id = await outbox.put(fast.url())
        await outbox.settled(delivery_id, DeliveryState.DELIVERED)
        assert time.monotonic() - started < 2.0
        assert slow.most_in_flight == 4
        for waiting in stuck:
            assert (await outbox.state(waiting)).state is DeliveryState.PENDING


@pytest.mark.parametrize("share", [2, 8])
async def test_a_destinations_share_of_attempts_is_the_setting(
    pki: Pki, receiver: Receiver, share: int
) -> None:
    receiver.script("/hook", HANG)
    settings = webhook_settings(pki, PUSH_WEBHOOK_PER_DESTINATION=str(share))
    async with running(settings) as outbox:
        waiting = [await outbox.put(receiver.url()) for _ in range(share + 3)]
        await eventually(lambda: len(receiver.hits) == share, what=f"{share} attempts hanging")
        # The rest were put back for a moment, not sent: the share holds while they wait.
        await asyncio.sleep(0.6)
        assert receiver.most_in_flight == share
        assert len(receiver.hits) == share
        states = [(await outbox.state(delivery_id)).state for delivery_id in waiting]
        assert states == [DeliveryState.PENDING] * len(waiting)


async def test_a_burst_to_one_receiver_is_sent_once_each(pki: Pki, receiver: Receiver) -> None:
    async with running(webhook_settings(pki)) as outbox:
        ids = [await outbox.put(receiver.url()) for _ in range(20)]
        for delivery_id in ids:
            await outbox.settled(delivery_id, DeliveryState.DELIVERED)
    assert sorted(h.headers["webhook-id"] for h in receiver.hits) == sorted(ids)
    assert receiver.most_in_flight <= 4


async def test_a_deleted_app_makes_its_delivery_dead(pki: Pki, receiver: Receiver) -> None:
    gone = App("app_gone", "Gone", "hash2", (webhook_secret(),), time.time())
    async with running(webhook_settings(pki)) as outbox:
        delivery_id = await outbox.put(receiver.url(), app=gone)

        async def dead() -> bool:
            return (await outbox.state(delivery_id)).state is DeliveryState.DEAD

        await eventually(dead)
        assert "deleted" in ((await outbox.state(delivery_id)).last_error or "")
    assert receiver.hits == []


async def test_closing_abandons_a_hanging_attempt_promptly(pki: Pki, receiver: Receiver) -> None:
    receiver.script("/hook", HANG)
    async with running(webhook_settings(pki)) as outbox:
        delivery_id = await outbox.put(receiver.url())
        await eventually(lambda: receiver.hits)
        started = time.monotonic()
    assert time.monotonic() - started < 2.0
    assert (await outbox.state(delivery_id)).attempts == 0
