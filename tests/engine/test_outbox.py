"""The webhook outbox: enqueued with a winning finish only, leased by claims, saved, listed."""

from __future__ import annotations

import asyncio

import pytest

from push_service.engine.base import Engine
from push_service.models import Challenge, DeliveryState, Status
from tests.engine import records
from tests.engine.conftest import warm
from tests.engine.records import ROOMY, T0

pytestmark = pytest.mark.usefixtures("with_devices")

LEASE = 30.0


async def created(engine: Engine, user_id: str = "alice") -> Challenge:
    challenge = records.challenge(user_id)
    await engine.create_challenge(challenge, ROOMY, None, T0)
    return challenge


async def test_a_winning_finish_enqueues_its_delivery(engine: Engine) -> None:
    challenge = await created(engine)
    delivery = records.delivery(challenge, now=T0 + 1)
    assert await engine.finish(records.ended(challenge), delivery) is True
    assert await engine.get_delivery(delivery.delivery_id) == delivery
    assert await engine.list_deliveries(None, 10) == [delivery]
    assert await engine.claim_deliveries(T0 + 1, LEASE, 10) == [delivery]


async def test_a_losing_finish_enqueues_nothing(engine: Engine) -> None:
    challenge = await created(engine)
    approve, deny = (
        records.ended(challenge, Status.APPROVED),
        records.ended(challenge, Status.DENIED),
    )
    sent = [records.delivery(challenge, now=T0 + 1) for _ in range(2)]
    await warm(engine, 2)
    results = await asyncio.gather(engine.finish(approve, sent[0]), engine.finish(deny, sent[1]))
    assert sorted(results) == [False, True]
    winner, loser = (sent[0], sent[1]) if results[0] else (sent[1], sent[0])
    assert await engine.get_delivery(loser.delivery_id) is None
    assert await engine.list_deliveries(None, 10) == [winner]
    assert await engine.claim_deliveries(T0 + 1, LEASE, 10) == [winner]


async def test_a_delivery_is_not_claimed_before_it_is_due(engine: Engine) -> None:
    challenge = await created(engine)
    delivery = records.delivery(challenge, now=T0 + 5)
    await engine.finish(records.ended(challenge), delivery)
    assert await engine.claim_deliveries(T0 + 4, LEASE, 10) == []


async def test_a_claim_hides_the_delivery_until_its_lease_ends(engine: Engine) -> None:
    challenge = await created(engine)
    delivery = records.delivery(challenge, now=T0 + 1)
    await engine.finish(records.ended(challenge), delivery)
    assert await engine.claim_deliveries(T0 + 1, LEASE, 10) == [delivery]
    assert await engine.claim_deliveries(T0 + 1 + LEASE - 1, LEASE, 10) == []
    again = await engine.claim_deliveries(T0 + 1 + LEASE, LEASE, 10)
    assert [d.delivery_id for d in again] == [delivery.delivery_id]


async def test_concurrent_claims_hand_a_delivery_out_once(engine: Engine) -> None:
    challenge = await created(engine)
    delivery = records.delivery(challenge, now=T0 + 1)
    await engine.finish(records.ended(challenge), delivery)
    await warm(engine, 4)
    claims = await asyncio.gather(*(engine.claim_deliveries(T0 + 2, LEASE, 10) for _ in range(4)))
    assert sorted(len(c) for c in claims) == [0, 0, 0, 1]


async def test_a_delivered_delivery_is_never_claimed_again(engine: Engine) -> None:
    challenge = await created(engine)
    delivery = records.delivery(challenge, now=T0 + 1)
    await engine.finish(records.ended(challenge), delivery)
    (claimed,) = await engine.claim_deliveries(T0 + 1, LEASE, 10)
    done = records.settled(claimed, DeliveryState.DELIVERED)
    await engine.save_delivery(done)
    assert await engine.get_delivery(delivery.delivery_id) == done
    assert await engine.claim_deliveries(T0 + 1 + 10 * LEASE, LEASE, 10) == []


async def test_a_failing_delivery_is_claimed_again_at_its_next_attempt(engine: Engine) -> None:
    challenge = await created(engine)
    delivery = records.delivery(challenge, now=T0 + 1)
    await engine.finish(records.ended(challenge), delivery)
    (claimed,) = await engine.claim_deliveries(T0 + 1, LEASE, 10)
    retry = records.settled(claimed, DeliveryState.FAILING, next_at=T0 + 3)
    await engine.save_delivery(retry)
    assert await engine.claim_deliveries(T0 + 2, LEASE, 10) == []
    assert await engine.claim_deliveries(T0 + 3, LEASE, 10) == [retry]


async def test_claims_take_at_most_limit_oldest_due_first(engine: Engine) -> None:
    sent = []
    for offset in (3, 1, 2):
        challenge = await created(engine)
        sent.append(records.delivery(challenge, now=T0 + offset))
        await engine.finish(records.ended(challenge), sent[-1])
    claimed = await engine.claim_deliveries(T0 + 10, LEASE, 2)
    assert claimed == [sent[1], sent[2]]


async def test_deliveries_are_listed_newest_first_and_by_state(engine: Engine) -> None:
    sent = []
    for offset in (1, 2, 3):
        challenge = await created(engine)
        sent.append(records.delivery(challenge, now=T0 + offset))
        await engine.finish(records.ended(challenge), sent[-1])
    dead = records.settled(sent[0], DeliveryState.DEAD)
    await engine.save_delivery(dead)
    assert await engine.list_deliveries(None, 10) == [sent[2], sent[1], dead]
    assert await engine.list_deliveries(DeliveryState.DEAD, 10) == [dead]
    assert await engine.list_deliveries(DeliveryState.PENDING, 1) == [sent[2]]


async def test_a_reopened_delivery_is_claimed_again(engine: Engine) -> None:
    """What an operator's redelivery does: a dead delivery saved as pending again."""
    challenge = await created(engine)
    delivery = records.delivery(challenge, now=T0 + 1)
    await engine.finish(records.ended(challenge), delivery)
    dead = records.settled(delivery, DeliveryState.DEAD)
    await engine.save_delivery(dead)
    reopened = records.settled(dead, DeliveryState.PENDING, next_at=T0 + 100)
    await engine.save_delivery(reopened)
    assert await engine.claim_deliveries(T0 + 100, LEASE, 10) == [reopened]


async def test_unknown_delivery_is_none(engine: Engine) -> None:
    assert await engine.get_delivery("msg_unknown") is None
