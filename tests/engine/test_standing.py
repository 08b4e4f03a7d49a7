"""Push-fatigue standing: counted at creation, changed only by a winning finish, checked
atomically with every new challenge, cleared by an operator."""

from __future__ import annotations

import pytest

from push_service.engine.base import ChallengeCreated, Engine
from push_service.errors import ErrorCode, PushError
from push_service.fatigue import Change, Standing
from push_service.models import Challenge, Status
from tests.engine import records
from tests.engine.conftest import Recorder
from tests.engine.records import ROOMY, T0

pytestmark = pytest.mark.usefixtures("with_devices")


async def pushed(engine: Engine, user_id: str = "alice", now: float = T0) -> Challenge:
    challenge = records.challenge(user_id, now=now)
    await engine.create_challenge(challenge, ROOMY, None, now)
    return challenge


async def test_an_unknown_user_has_a_clean_standing(engine: Engine) -> None:
    assert await engine.get_standing("nobody") == Standing()


async def test_each_new_challenge_counts_as_unapproved(engine: Engine) -> None:
    await pushed(engine)
    await pushed(engine)
    await pushed(engine, "bob")
    assert await engine.get_standing("alice") == Standing(unapproved=2)


async def test_a_replayed_idempotent_create_is_not_counted(engine: Engine) -> None:
    await engine.create_challenge(records.challenge("alice"), ROOMY, "key-1", T0)
    await engine.create_challenge(records.challenge("alice"), ROOMY, "key-1", T0)
    assert await engine.get_standing("alice") == Standing(unapproved=1)


async def test_a_winning_finish_applies_its_change(engine: Engine) -> None:
    denied = await pushed(engine)
    await engine.finish(records.ended(denied, Status.DENIED), None, Change(strike=True))
    assert await engine.get_standing("alice") == Standing(strikes=1, unapproved=1)
    approved = await pushed(engine)
    await engine.finish(records.ended(approved), None, Change(reset=True))
    assert await engine.get_standing("alice") == Standing()


async def test_a_losing_finish_changes_nothing(engine: Engine) -> None:
    challenge = await pushed(engine)
    await engine.finish(records.ended(challenge), None, Change(reset=True))
    late = records.ended(challenge, Status.DENIED)
    assert await engine.finish(late, None, Change(strike=True, lock_until=T0 + 900)) is False
    assert await engine.get_standing("alice") == Standing()


async def test_a_lock_only_ever_extends(engine: Engine) -> None:
    first, second = await pushed(engine), await pushed(engine)
    await engine.finish(records.ended(first), None, Change(strike=True, lock_until=T0 + 900))
    await engine.finish(records.ended(second), None, Change(strike=True, lock_until=T0 + 100))
    assert await engine.get_standing("alice") == Standing(2, 2, T0 + 900)


async def test_a_fraud_lock_refuses_new_pushes_until_it_ends(
    engine: Engine, events: Recorder
) -> None:
    reported = await pushed(engine)
    lock = Change(strike=True, lock_until=T0 + 900)
    await engine.finish(records.ended(reported, Status.DENIED), None, lock)
    refused = records.challenge("alice", now=T0 + 100)
    with pytest.raises(PushError) as caught:
        await engine.create_challenge(refused, ROOMY, None, T0 + 100)
    assert (caught.value.code, caught.value.retry_after) == (ErrorCode.RATE_LIMITED, 800)
    assert await engine.get_challenge(refused.challenge_id) is None
    assert await engine.get_standing("alice") == Standing(1, 1, T0 + 900)
    assert (await engine.create_challenge(records.challenge("alice"), ROOMY, None, T0 + 900)).new
    await events.settle()
    assert len(events.of(ChallengeCreated)) == 2


async def test_too_many_strikes_refuse_new_pushes(engine: Engine) -> None:
    limits = records.limits(max_strikes=2)
    for _ in range(2):
        challenge = await pushed(engine)
        await engine.finish(records.ended(challenge, Status.DENIED), None, Change(strike=True))
    with pytest.raises(PushError) as caught:
        await engine.create_challenge(records.challenge("alice"), limits, None, T0)
    assert caught.value.code is ErrorCode.RATE_LIMITED
    assert "2 pushes in a row" in caught.value.message


async def test_too_many_unapproved_pushes_refuse_new_ones(engine: Engine) -> None:
    limits = records.limits(max_unapproved=2)
    for _ in range(2):
        await engine.create_challenge(records.challenge("alice"), limits, None, T0)
    with pytest.raises(PushError) as caught:
        await engine.create_challenge(records.challenge("alice"), limits, None, T0)
    assert caught.value.code is ErrorCode.RATE_LIMITED
    assert await engine.get_standing("alice") == Standing(unapproved=2)


async def test_an_operator_reset_clears_the_standing(engine: Engine) -> None:
    challenge = await pushed(engine)
    lock = Change(strike=True, lock_until=T0 + 900)
    await engine.finish(records.ended(challenge, Status.DENIED), None, lock)
    await engine.reset_standing("alice")
    assert await engine.get_standing("alice") == Standing()
    assert (await engine.create_challenge(records.challenge("alice"), ROOMY, None, T0 + 1)).new
