"""The challenge state machine, as a table, and the judgement of a phone's signed answer.

Rules of this module: it does no I/O and reads no clock (`now` is an argument); a terminal state
never changes; every refusal is a PushError with the contract's code. Engines apply the
transitions it computes atomically, re-checking only that the challenge is still pending.

    pending --approve--------> approved
    pending --number_mismatch> denied (number_mismatch)
    pending --deny-----------> denied (user_denied)
    pending --fraud----------> denied (fraud_reported)
    pending --expire---------> expired
    pending --cancel---------> cancelled
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import ErrorCode, PushError, invalid
from .ids import same_secret
from .models import Challenge, Device, Reason, Status


class Event(StrEnum):
    APPROVE = "approve"
    NUMBER_MISMATCH = "number_mismatch"
    DENY = "deny"
    FRAUD = "fraud"
    EXPIRE = "expire"
    CANCEL = "cancel"


TRANSITIONS: dict[Event, tuple[Status, Reason | None]] = {
    Event.APPROVE: (Status.APPROVED, None),
    Event.NUMBER_MISMATCH: (Status.DENIED, Reason.NUMBER_MISMATCH),
    Event.DENY: (Status.DENIED, Reason.USER_DENIED),
    Event.FRAUD: (Status.DENIED, Reason.FRAUD_REPORTED),
    Event.EXPIRE: (Status.EXPIRED, None),
    Event.CANCEL: (Status.CANCELLED, None),
}

WEBHOOK_TYPES: dict[Status, str] = {
    Status.APPROVED: "challenge.approved",
    Status.DENIED: "challenge.denied",
    Status.EXPIRED: "challenge.expired",
    Status.CANCELLED: "challenge.cancelled",
}


@dataclass(frozen=True, slots=True)
class Decision:
    """A transition to apply: the event and, for a phone's answer, who answered and with what."""

    event: Event
    device_id: str | None = None
    response_token: str | None = None


def not_pending(challenge: Challenge) -> PushError:
    return PushError(
        ErrorCode.CHALLENGE_NOT_PENDING,
        f"The challenge is already {challenge.status.value}; it can no longer change.",
    )


def ensure_open(challenge: Challenge, now: float) -> None:
    """Refuse any transition but expiry once a challenge is terminal or past its deadline."""
    if not challenge.pending or now >= challenge.expires_at:
        raise not_pending(dataclasses.replace(challenge, status=_effective_status(challenge, now)))


def _effective_status(challenge: Challenge, now: float) -> Status:
    if challenge.pending and now >= challenge.expires_at:
        return Status.EXPIRED
    return challenge.status


def apply(challenge: Challenge, decision: Decision, now: float) -> Challenge:
    """The challenge after `decision`; raises challenge_not_pending from a terminal state."""
    if not challenge.pending:
        raise not_pending(challenge)
    status, reason = TRANSITIONS[decision.event]
    return dataclasses.replace(
        challenge,
        status=status,
        reason=reason,
        decided_at=now,
        device_id=decision.device_id,
        response_token=decision.response_token,
    )


def judge_response(
    claims: dict[str, Any],
    token: str,
    challenge: Challenge,
    device: Device,
    expected_number: str | None,
    now: float,
) -> Decision:
    """Turn a verified response token into the decision it asks for, or refuse it.

    `claims` come from a token whose signature, audience, times and jti were already checked;
    `expected_number` is the challenge's match number when number matching is on.
    """
    if device.user_id != challenge.user_id or not device.serves(challenge.app_id):
        raise PushError(ErrorCode.FORBIDDEN, "This device may not answer this challenge.")
    ensure_open(challenge, now)
    if claims["cid"] != challenge.challenge_id:
        raise invalid("The token's 'cid' names a different challenge.")
    if not same_secret(claims["nonce"], challenge.nonce):
        raise invalid("The token's 'nonce' does not match the challenge's nonce.")
    return Decision(_event(claims, expected_number), device.device_id, token)


def _event(claims: dict[str, Any], expected_number: str | None) -> Event:
    if claims["decision"] == "deny":
        return Event.FRAUD if claims.get("fraud") is True else Event.DENY
    if expected_number is None:
        return Event.APPROVE
    number = claims.get("number")
    if isinstance(number, str) and same_secret(number, expected_number):
        return Event.APPROVE
    return Event.NUMBER_MISMATCH
