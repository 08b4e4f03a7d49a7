"""When a webhook is tried again and which state an attempt leaves its delivery in.

Pure: `now` and randomness come in as arguments; nothing here sends, stores or sleeps.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from ..models import Delivery, DeliveryState

MAX_DELAY = 3600.0
"""No wait between two attempts is longer, however many failed before."""

SCHEDULED = (DeliveryState.PENDING, DeliveryState.FAILING)


def backoff(
    attempt: int,
    base: float,
    *,
    cap: float = MAX_DELAY,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1 for the first).

    The ceiling doubles from `base` on each attempt, up to `cap`; the wait is drawn from its upper
    half ("equal jitter"), so receivers that fail together are not retried in lockstep, and
    the first retry still comes after about `base`.
    """
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 64))
    return ceiling / 2 + rand() * ceiling / 2


def delivered(delivery: Delivery, status: int) -> Delivery:
    return dataclasses.replace(
        delivery,
        attempts=delivery.attempts + 1,
        state=DeliveryState.DELIVERED,
        last_status=status,
        last_error=None,
    )


def failed(
    delivery: Delivery,
    now: float,
    base: float,
    *,
    error: str,
    status: int | None = None,
    rand: Callable[[], float] = random.random,
) -> Delivery:
    """After a failed attempt: retry later, no later than the deadline; dead once it has passed."""
    attempts = delivery.attempts + 1
    if now >= delivery.deadline:
        state, next_at = DeliveryState.DEAD, delivery.next_at
    else:
        state = DeliveryState.FAILING
        next_at = min(now + backoff(attempts, base, rand=rand), delivery.deadline)
    return dataclasses.replace(
        delivery,
        attempts=attempts,
        state=state,
        next_at=next_at,
        last_status=status,
        last_error=error,
    )


def abandoned(delivery: Delivery, reason: str) -> Delivery:
    """Dead without an attempt, e.g. because its app is gone."""
    return dataclasses.replace(delivery, state=DeliveryState.DEAD, last_error=reason)


def deferred(delivery: Delivery, now: float, delay: float) -> Delivery:
    """Put back, unattempted, to be picked up again after `delay`."""
    return dataclasses.replace(delivery, next_at=now + delay)


def reopened(delivery: Delivery, now: float, horizon: float) -> Delivery:
    """An operator's redelivery: a fresh attempt now and a fresh retry schedule and horizon."""
    return dataclasses.replace(
        delivery, state=DeliveryState.PENDING, attempts=0, next_at=now, deadline=now + horizon
    )


def scheduled(delivery: Delivery) -> bool:
    return delivery.state in SCHEDULED
