"""Push-fatigue defences: a user's standing, and whether it allows one more push. Pure.

A user accumulates *strikes* (denials and wrong numbers in a row, across challenges: a new
challenge never resets them) and *unapproved pushes* (pushes since the last approval); a fraud
report locks new pushes for a cool-down. An approval clears strikes and the push count; an
operator can clear everything. Engines store a `Standing` per user and apply `Change`s atomically
with the end of a challenge; the thresholds are checked atomically with the creation of one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ErrorCode, PushError
from .models import Challenge, Reason, Status


@dataclass(frozen=True, slots=True)
class Policy:
    max_strikes: int
    max_unapproved: int
    fraud_lock: int


@dataclass(frozen=True, slots=True)
class Standing:
    strikes: int = 0
    unapproved: int = 0
    locked_until: float = 0.0

    def public(self, now: float) -> dict[str, object]:
        return {
            "strikes": self.strikes,
            "pushes_since_approval": self.unapproved,
            "locked": self.locked_until > now,
            "locked_for_seconds": max(0, math.ceil(self.locked_until - now)),
        }


@dataclass(frozen=True, slots=True)
class Change:
    """What the end of one challenge does to its user's standing."""

    reset: bool = False
    strike: bool = False
    lock_until: float = 0.0


NO_CHANGE = Change()


def change_for(ended: Challenge, policy: Policy) -> Change:
    """The standing change a terminal challenge causes."""
    if ended.status is Status.APPROVED:
        return Change(reset=True)
    if ended.reason is Reason.FRAUD_REPORTED:
        return Change(strike=True, lock_until=(ended.decided_at or 0.0) + policy.fraud_lock)
    if ended.status is Status.DENIED:
        return Change(strike=True)
    return NO_CHANGE


def apply(standing: Standing, change: Change) -> Standing:
    return Standing(
        strikes=0 if change.reset else standing.strikes + int(change.strike),
        unapproved=0 if change.reset else standing.unapproved,
        locked_until=max(standing.locked_until, change.lock_until),
    )


def refusal(standing: Standing, policy: Policy, now: float) -> PushError | None:
    """Why one more push for this user must be refused, or None."""
    if standing.locked_until > now:
        wait = math.ceil(standing.locked_until - now)
        return PushError(
            ErrorCode.RATE_LIMITED,
            f"The user reported a push as fraud; new pushes are locked for {wait} s "
            "unless an operator lifts the lock.",
            retry_after=wait,
        )
    if standing.strikes >= policy.max_strikes:
        return PushError(
            ErrorCode.RATE_LIMITED,
            f"The user denied or mistyped {standing.strikes} pushes in a row; new pushes wait "
            "for an approval or an operator's reset.",
        )
    if standing.unapproved >= policy.max_unapproved:
        return PushError(
            ErrorCode.RATE_LIMITED,
            f"{standing.unapproved} pushes were sent since the user's last approval; new pushes "
            "wait for an operator's reset.",
        )
    return None
