"""What an answer needs: a challenge only for a user with a device serving the app, the device,
challenge and token use read together, and the token spent atomically with the decision."""

from __future__ import annotations

import pytest

from push_service.engine.base import ChallengeEnded, Engine, TokenUse
from push_service.errors import ErrorCode, PushError
from push_service.models import Challenge, Device, Status
from tests.engine import records
from tests.engine.conftest import Recorder
from tests.engine.records import ROOMY, T0


async def refused_for_no_device(engine: Engine, challenge: Challenge) -> None:
    with pytest.raises(PushError) as caught:
        await engine.create_challenge(challenge, ROOMY, None, T0)
    assert caught.value.code is ErrorCode.NO_DEVICES
    assert await engine.get_challenge(challenge.challenge_id) is None
    assert await engine.pending_for_user(challenge.user_id) == []


async def test_a_user_without_devices_gets_no_challenge(engine: Engine, events: Recorder) -> None:
    await refused_for_no_device(engine, records.challenge("alice"))
    await events.settle()
    assert events.events == []


async def test_a_device_of_other_apps_does_not_count(engine: Engine) -> None:
    await records.enrolled(engine, "alice", app_ids=("app_other",))
    await refused_for_no_device(engine, records.challenge("alice", app_id="app_main"))
    await records.enrolled(engine, "alice", app_ids=("app_other", "app_main"))
    assert (await engine.create_challenge(records.challenge("alice"), ROOMY, None, T0)).new


async def test_a_revoked_device_does_not_count(engine: Engine) -> None:
    device = await records.enrolled(engine, "alice")
    await engine.revoke_device(device.device_id)
    await refused_for_no_device(engine, records.challenge("alice"))


async def test_a_refusal_counts_nothing_against_the_user(engine: Engine) -> None:
    await refused_for_no_device(engine, records.challenge("alice"))
    assert (await engine.get_standing("alice")).unapproved == 0


async def pending_with_device(engine: Engine) -> tuple[Device, Challenge]:
    device = await records.enrolled(engine, "alice")
    challenge = records.challenge("alice")
    await engine.create_challenge(challenge, ROOMY, None, T0)
    return device, challenge


def use(device: Device, jti: str = "jti-answer-0001") -> TokenUse:
    return TokenUse(device.device_id, jti, T0 + 60, T0)


async def test_the_context_holds_the_device_the_challenge_and_no_replay(engine: Engine) -> None:
    device, challenge = await pending_with_device(engine)
    context = await engine.answer_context(device.device_id, challenge.challenge_id, "jti-1", T0)
    assert context.device == device
    assert context.challenge == challenge
    assert context.replayed is False


async def test_the_context_says_what_is_missing(engine: Engine) -> None:
    device, challenge = await pending_with_device(engine)
    no_device = await engine.answer_context("dev_unknown", challenge.challenge_id, "jti-1", T0)
    assert (no_device.device, no_device.challenge) == (None, challenge)
    no_challenge = await engine.answer_context(device.device_id, "ch_unknown", "jti-1", T0)
    assert (no_challenge.device, no_challenge.challenge) == (device, None)
    neither = await engine.answer_context("dev_unknown", "ch_unknown", "jti-1", T0)
    assert (neither.device, neither.challenge, neither.replayed) == (None, None, False)
    await engine.revoke_device(device.device_id)
    revoked = await engine.answer_context(device.device_id, challenge.challenge_id, "jti-1", T0)
    assert revoked.device is None


async def test_the_context_reports_a_spent_token(engine: Engine) -> None:
    device, challenge = await pending_with_device(engine)
    assert await engine.use_jti(device.device_id, "jti-1", T0 + 60, T0)
    context = await engine.answer_context(device.device_id, challenge.challenge_id, "jti-1", T0)
    assert context.replayed is True
    other = await engine.answer_context(device.device_id, challenge.challenge_id, "jti-2", T0)
    assert other.replayed is False


async def test_finishing_spends_the_token(engine: Engine) -> None:
    device, challenge = await pending_with_device(engine)
    assert await engine.finish(records.ended(challenge), spend=use(device)) is True
    context = await engine.answer_context(
        device.device_id, challenge.challenge_id, use(device).jti, T0
    )
    assert context.replayed is True
    assert await engine.use_jti(device.device_id, use(device).jti, T0 + 60, T0) is False


async def test_a_spent_token_finishes_nothing(engine: Engine, events: Recorder) -> None:
    device, first = await pending_with_device(engine)
    second = records.challenge("alice")
    await engine.create_challenge(second, ROOMY, None, T0)
    assert await engine.finish(records.ended(first), spend=use(device)) is True
    standing = await engine.get_standing("alice")
    with pytest.raises(PushError) as caught:
        await engine.finish(records.ended(second), records.delivery(second), spend=use(device))
    assert (caught.value.code, caught.value.reason) == (ErrorCode.INVALID_TOKEN, "replay")
    assert (await engine.get_challenge(second.challenge_id)) == second
    assert await engine.get_standing("alice") == standing
    assert await engine.claim_deliveries(T0 + 10, 30, 10) == []
    await events.settle()
    assert [e.challenge.challenge_id for e in events.of(ChallengeEnded)] == [first.challenge_id]


async def test_a_finish_that_loses_still_spends_the_token(engine: Engine) -> None:
    device, challenge = await pending_with_device(engine)
    assert await engine.finish(records.ended(challenge, Status.DENIED)) is True
    late = use(device, "jti-late-answer-01")
    assert await engine.finish(records.ended(challenge), spend=late) is False
    assert await engine.use_jti(device.device_id, late.jti, T0 + 60, T0) is False
