"""Push-fatigue standing: strikes, pushes since approval, fraud locks, and what resets them."""

from __future__ import annotations

import dataclasses

import pytest

from push_service import fatigue
from push_service.errors import ErrorCode
from push_service.fatigue import Change, Policy, Standing
from push_service.models import Challenge, Reason, Status

POLICY = Policy(max_strikes=3, max_unapproved=5, fraud_lock=900)
NOW = 1_800_000_000.0


def _ended(status: Status, reason: Reason | None = None) -> Challenge:
    return Challenge(
        "ch_1", "app_1", "App", "alice", {}, True, "n" * 22, NOW - 5, NOW + 55,
        status=status, reason=reason, decided_at=NOW,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (Status.APPROVED, None, Change(reset=True)),
        (Status.DENIED, Reason.USER_DENIED, Change(strike=True)),
        (Status.DENIED, Reason.NUMBER_MISMATCH, Change(strike=True)),
        (Status.DENIED, Reason.FRAUD_REPORTED, Change(strike=True, lock_until=NOW + 900)),
        (Status.EXPIRED, None, fatigue.NO_CHANGE),
        (Status.CANCELLED, None, fatigue.NO_CHANGE),
    ],
)
def test_each_ending_changes_the_standing_as_documented(
    status: Status, reason: Reason | None, expected: Change
) -> None:
    assert fatigue.change_for(_ended(status, reason), POLICY) == expected


def test_strikes_accumulate_across_challenges_and_an_approval_clears_them() -> None:
    standing = Standing(unapproved=4)
    for _ in range(2):
        standing = fatigue.apply(standing, Change(strike=True))
    assert standing.strikes == 2
    assert standing.unapproved == 4
    cleared = fatigue.apply(standing, Change(reset=True))
    assert (cleared.strikes, cleared.unapproved) == (0, 0)


def test_an_approval_does_not_lift_a_fraud_lock() -> None:
    locked = fatigue.apply(Standing(), Change(strike=True, lock_until=NOW + 900))
    assert fatigue.apply(locked, Change(reset=True)).locked_until == NOW + 900


def test_a_fraud_lock_refuses_with_the_time_left() -> None:
    refusal = fatigue.refusal(Standing(locked_until=NOW + 90.2), POLICY, NOW)
    assert refusal is not None
    assert refusal.code is ErrorCode.RATE_LIMITED
    assert refusal.retry_after == 91


def test_a_lock_in_the_past_refuses_nothing() -> None:
    assert fatigue.refusal(Standing(locked_until=NOW - 1), POLICY, NOW) is None


@pytest.mark.parametrize(
    ("standing", "refused"),
    [
        (Standing(strikes=2), False),
        (Standing(strikes=3), True),
        (Standing(unapproved=4), False),
        (Standing(unapproved=5), True),
    ],
)
def test_thresholds_refuse_at_the_limit_not_before(standing: Standing, refused: bool) -> None:
    refusal = fatigue.refusal(standing, POLICY, NOW)
    assert (refusal is not None) is refused
    if refusal is not None:
        assert refusal.code is ErrorCode.RATE_LIMITED
        # Time does not lift these (an approval or an operator does), so no Retry-After.
        assert refusal.retry_after is None


def test_public_view_says_how_long_a_lock_lasts() -> None:
    view = dataclasses.replace(Standing(), locked_until=NOW + 10).public(NOW)
    assert view == {
        "strikes": 0,
        "pushes_since_approval": 0,
        "locked": True,
        "locked_for_seconds": 10,
    }
