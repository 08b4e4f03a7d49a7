"""Records for the contract suite, built with fresh ids so tests never share state by accident."""

from __future__ import annotations

import dataclasses
import secrets

from push_service.engine.base import Engine, Limits
from push_service.fatigue import Policy
from push_service.models import (
    App,
    Challenge,
    Delivery,
    DeliveryState,
    Device,
    Enrollment,
    Reason,
    Status,
)

T0 = 1_900_000_000.0
"""A fixed "now" for tests that pass time in; they move it forward instead of sleeping."""


def limits(
    max_pending: int = 100,
    rate_limit: int = 100,
    rate_window: int = 600,
    *,
    max_strikes: int = 100,
    max_unapproved: int = 100,
    fraud_lock: int = 900,
) -> Limits:
    """Limits roomy enough to stay out of the way, but for those a test names."""
    policy = Policy(max_strikes, max_unapproved, fraud_lock)
    return Limits(max_pending, rate_limit, rate_window, policy)


ROOMY = limits()


def fresh(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def app(name: str = "Intranet", created_at: float = T0) -> App:
    return App(fresh("app"), name, fresh("hash"), ("whsec_test",), created_at)


def enrollment(user_id: str, now: float = T0, ttl: float = 600) -> Enrollment:
    return Enrollment(fresh("enr"), fresh("code"), user_id, None, "operator", now + ttl)


def device(user_id: str, created_at: float = T0) -> Device:
    return Device(fresh("dev"), user_id, "pixel", fresh("key"), None, created_at)


async def enrolled(
    engine: Engine,
    user_id: str,
    created_at: float = T0,
    app_ids: tuple[str, ...] | None = None,
) -> Device:
    """A device of `user_id` (for `app_ids`, or every app), added as enrollment adds one."""
    code = enrollment(user_id)
    added = dataclasses.replace(device(user_id, created_at), app_ids=app_ids)
    await engine.add_enrollment(code, T0)
    assert await engine.redeem_enrollment(code.code_hash, added, T0)
    return added


def challenge(
    user_id: str, app_id: str = "app_main", now: float = T0, ttl: float = 60
) -> Challenge:
    return Challenge(
        challenge_id=fresh("ch"),
        app_id=app_id,
        app_name="Intranet",
        user_id=user_id,
        context={"action": "Sign in", "ip": "192.0.2.1"},
        number_matching=True,
        nonce=fresh("nonce"),
        created_at=now,
        expires_at=now + ttl,
        callback_url="https://example.test/hook",
    )


def ended(
    pending: Challenge, status: Status = Status.APPROVED, at: float | None = None
) -> Challenge:
    reason = Reason.USER_DENIED if status is Status.DENIED else None
    decided = pending.created_at + 1 if at is None else at
    return dataclasses.replace(
        pending, status=status, decided_at=decided, reason=reason, device_id="dev_x"
    )


def delivery(for_challenge: Challenge, now: float = T0) -> Delivery:
    return Delivery(
        delivery_id=fresh("msg"),
        app_id=for_challenge.app_id,
        challenge_id=for_challenge.challenge_id,
        url="https://example.test/hook",
        event_type="challenge.approved",
        payload='{"type":"challenge.approved"}',
        created_at=now,
        next_at=now,
        deadline=now + 3600,
    )


def settled(sent: Delivery, state: DeliveryState, next_at: float | None = None) -> Delivery:
    return dataclasses.replace(
        sent,
        state=state,
        attempts=sent.attempts + 1,
        next_at=sent.next_at if next_at is None else next_at,
    )
