"""Challenges: creation under limits and idempotency, the one winning finish, due and listing."""

from __future__ import annotations

import asyncio

import pytest

from push_service.engine.base import ChallengeCreated, ChallengeEnded, Engine
from push_service.errors import ErrorCode, PushError
from push_service.models import Status
from tests.engine import records
from tests.engine.conftest import Recorder, warm
from tests.engine.records import ROOMY, T0

pytestmark = pytest.mark.usefixtures("with_devices")

DAY = 24 * 3600


async def test_create_stores_and_announces(engine: Engine, events: Recorder) -> None:
    challenge = records.challenge("alice")
    created = await engine.create_challenge(challenge, ROOMY, None, T0)
    assert (created.challenge, created.new) == (challenge, True)
    assert await engine.get_challenge(challenge.challenge_id) == challenge
    assert await events.wait_for(ChallengeCreated) == [ChallengeCreated(challenge)]


async def test_unknown_challenge_is_none(engine: Engine) -> None:
    assert await engine.get_challenge("ch_unknown") is None


async def test_idempotency_key_returns_the_original_without_announcing(
    engine: Engine, events: Recorder
) -> None:
    original, retry = records.challenge("alice"), records.challenge("alice", now=T0 + 5)
    await engine.create_challenge(original, ROOMY, "key-1", T0)
    again = await engine.create_challenge(retry, ROOMY, "key-1", T0 + 5)
    assert (again.challenge, again.new) == (original, False)
    assert await engine.get_challenge(retry.challenge_id) is None
    assert await engine.pending_for_user("alice") == [original]
    await events.settle()
    assert events.of(ChallengeCreated) == [ChallengeCreated(original)]


async def test_idempotency_returns_the_original_as_it_is_now(engine: Engine) -> None:
    original = records.challenge("alice")
    await engine.create_challenge(original, ROOMY, "key-1", T0)
    approved = records.ended(original)
    await engine.finish(approved)
    again = await engine.create_challenge(records.challenge("alice"), ROOMY, "key-1", T0 + 5)
    assert (again.challenge, again.new) == (approved, False)


async def test_an_idempotency_key_is_per_app(engine: Engine) -> None:
    first = records.challenge("alice", app_id="app_one")
    second = records.challenge("alice", app_id="app_two")
    await engine.create_challenge(first, ROOMY, "key-1", T0)
    created = await engine.create_challenge(second, ROOMY, "key-1", T0)
    assert (created.challenge, created.new) == (second, True)


async def test_the_pending_cap_refuses_with_too_many_pending(
    engine: Engine, events: Recorder
) -> None:
    limits = records.limits(2, 100, 600)
    kept = [records.challenge("alice"), records.challenge("alice", now=T0 + 1)]
    for challenge in kept:
        await engine.create_challenge(challenge, limits, None, challenge.created_at)
    refused = records.challenge("alice", now=T0 + 2)
    with pytest.raises(PushError) as caught:
        await engine.create_challenge(refused, limits, None, T0 + 2)
    assert caught.value.code is ErrorCode.TOO_MANY_PENDING
    assert await engine.get_challenge(refused.challenge_id) is None
    assert await engine.pending_for_user("alice") == kept
    await events.settle()
    assert len(events.of(ChallengeCreated)) == 2


async def test_the_pending_cap_counts_per_user_and_frees_a_place_when_one_ends(
    engine: Engine,
) -> None:
    limits = records.limits(1, 100, 600)
    first = records.challenge("alice")
    await engine.create_challenge(first, limits, None, T0)
    await engine.create_challenge(records.challenge("bob"), limits, None, T0)
    await engine.finish(records.ended(first))
    created = await engine.create_challenge(records.challenge("alice"), limits, None, T0 + 2)
    assert created.new


async def test_concurrent_creates_stop_at_the_pending_cap(engine: Engine) -> None:
    limits = records.limits(3, 100, 600)
    attempts = [records.challenge("alice") for _ in range(6)]
    await warm(engine, 6)
    results = await asyncio.gather(
        *(engine.create_challenge(c, limits, None, T0) for c in attempts), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, PushError)]
    assert len(refused) == 3
    assert {r.code for r in refused} == {ErrorCode.TOO_MANY_PENDING}
    assert len(await engine.pending_for_user("alice")) == 3


async def test_the_rate_window_refuses_with_retry_after(engine: Engine) -> None:
    limits = records.limits(100, 2, 60)
    await engine.create_challenge(records.challenge("alice"), limits, None, T0)
    await engine.create_challenge(records.challenge("alice"), limits, None, T0 + 10)
    with pytest.raises(PushError) as caught:
        await engine.create_challenge(records.challenge("alice"), limits, None, T0 + 20)
    assert caught.value.code is ErrorCode.RATE_LIMITED
    assert caught.value.retry_after == 40


async def test_retry_after_is_at_least_one_whole_second(engine: Engine) -> None:
    limits = records.limits(100, 1, 60)
    await engine.create_challenge(records.challenge("alice"), limits, None, T0)
    for now, expected in ((T0 + 59.5, 1), (T0 + 59.99, 1), (T0 + 58.2, 2)):
        with pytest.raises(PushError) as caught:
            await engine.create_challenge(records.challenge("alice"), limits, None, now)
        assert caught.value.retry_after == expected


async def test_the_rate_window_lets_through_once_it_has_passed(engine: Engine) -> None:
    limits = records.limits(100, 1, 60)
    await engine.create_challenge(records.challenge("alice"), limits, None, T0)
    with pytest.raises(PushError):
        await engine.create_challenge(records.challenge("alice"), limits, None, T0 + 59)
    later = records.challenge("alice", now=T0 + 60)
    assert (await engine.create_challenge(later, limits, None, T0 + 60)).new


async def test_the_rate_window_is_per_user(engine: Engine) -> None:
    limits = records.limits(100, 1, 60)
    await engine.create_challenge(records.challenge("alice"), limits, None, T0)
    assert (await engine.create_challenge(records.challenge("bob"), limits, None, T0)).new


async def test_finish_applies_once(engine: Engine, events: Recorder) -> None:
    challenge = records.challenge("alice")
    await engine.create_challenge(challenge, ROOMY, None, T0)
    approved = records.ended(challenge, Status.APPROVED)
    assert await engine.finish(approved) is True
    assert await engine.finish(records.ended(challenge, Status.DENIED)) is False
    assert await engine.get_challenge(challenge.challenge_id) == approved
    await events.settle()
    assert events.of(ChallengeEnded) == [ChallengeEnded(approved)]


async def test_concurrent_finishes_have_exactly_one_winner(
    engine: Engine, events: Recorder
) -> None:
    challenge = records.challenge("alice")
    await engine.create_challenge(challenge, ROOMY, None, T0)
    approve = records.ended(challenge, Status.APPROVED)
    deny = records.ended(challenge, Status.DENIED)
    await warm(engine, 2)
    results = await asyncio.gather(engine.finish(approve), engine.finish(deny))
    assert sorted(results) == [False, True]
    winner = approve if results[0] else deny
    assert await engine.get_challenge(challenge.challenge_id) == winner
    await events.settle()
    assert events.of(ChallengeEnded) == [ChallengeEnded(winner)]


async def test_finishing_an_unknown_challenge_does_nothing(engine: Engine) -> None:
    ghost = records.ended(records.challenge("alice"))
    assert await engine.finish(ghost) is False
    assert await engine.get_challenge(ghost.challenge_id) is None


async def test_a_finished_challenge_leaves_the_pending_list(engine: Engine) -> None:
    first, second = records.challenge("alice"), records.challenge("alice", now=T0 + 1)
    for challenge in (first, second):
        await engine.create_challenge(challenge, ROOMY, None, challenge.created_at)
    await engine.finish(records.ended(first))
    assert await engine.pending_for_user("alice") == [second]


async def test_pending_is_listed_oldest_first_for_its_user_only(engine: Engine) -> None:
    newer, older = records.challenge("alice", now=T0 + 5), records.challenge("alice", now=T0)
    for challenge in (newer, older, records.challenge("bob")):
        await engine.create_challenge(challenge, ROOMY, None, T0 + 5)
    assert await engine.pending_for_user("alice") == [older, newer]
    assert await engine.pending_for_user("nobody") == []


async def test_due_returns_pending_challenges_past_their_deadline_only(engine: Engine) -> None:
    soon = records.challenge("alice", ttl=10)
    late = records.challenge("alice", ttl=100)
    finished = records.challenge("bob", ttl=10)
    for challenge in (soon, late, finished):
        await engine.create_challenge(challenge, ROOMY, None, T0)
    await engine.finish(records.ended(finished))
    assert await engine.due(T0 + 9, limit=10) == []
    assert await engine.due(T0 + 10, limit=10) == [soon]


async def test_due_returns_at_most_limit(engine: Engine) -> None:
    for ttl in (10, 11, 12):
        await engine.create_challenge(records.challenge("alice", ttl=ttl), ROOMY, None, T0)
    assert len(await engine.due(T0 + 60, limit=2)) == 2


async def test_list_challenges_filters_by_status_app_and_user_newest_first(
    engine: Engine,
) -> None:
    a1 = records.challenge("alice", app_id="app_one", now=T0)
    a2 = records.challenge("alice", app_id="app_two", now=T0 + 1)
    b1 = records.challenge("bob", app_id="app_one", now=T0 + 2)
    for challenge in (a1, a2, b1):
        await engine.create_challenge(challenge, ROOMY, None, challenge.created_at)
    a1_done = records.ended(a1, Status.DENIED)
    await engine.finish(a1_done)

    async def listed(**filters: str) -> list[str]:
        query = {"status": None, "app_id": None, "user_id": None, **filters}
        found = await engine.list_challenges(**query, limit=10)
        return [c.challenge_id for c in found]

    assert await listed() == [b1.challenge_id, a2.challenge_id, a1.challenge_id]
    assert await listed(status="pending") == [b1.challenge_id, a2.challenge_id]
    assert await listed(status="denied") == [a1.challenge_id]
    assert await listed(app_id="app_one") == [b1.challenge_id, a1.challenge_id]
    assert await listed(user_id="alice") == [a2.challenge_id, a1.challenge_id]
    assert await listed(user_id="alice", status="pending", app_id="app_two") == [a2.challenge_id]
    assert await engine.list_challenges(status=None, app_id=None, user_id=None, limit=1) == [b1]


async def test_expiry_that_runs_a_day_late_still_frees_the_user(engine: Engine) -> None:
    """A host suspended for a day, or an expiry loop stalled that long: once expiry runs, the
    user's pending list and cap recover."""
    limits = records.limits(max_pending=1)
    await engine.create_challenge(records.challenge("alice", ttl=60), limits, None, T0)
    late = T0 + 60 + DAY + 1
    for stale in await engine.due(late, limit=10):
        await engine.finish(records.ended(stale, Status.EXPIRED, at=late))
    assert await engine.pending_for_user("alice") == []
    assert (
        await engine.create_challenge(records.challenge("alice", now=late), limits, None, late)
    ).new
