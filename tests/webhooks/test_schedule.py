"""Retry timing and delivery states after an attempt: pure functions, no event loop."""

from __future__ import annotations

import pytest

from push_service.models import Delivery, DeliveryState
from push_service.webhooks import schedule

LOW, HIGH = (lambda: 0.0), (lambda: 1.0)


def _delivery(**changes: object) -> Delivery:
    base: dict[str, object] = {
        "delivery_id": "msg_1",
        "app_id": "app_1",
        "challenge_id": "ch_1",
        "url": "https://hooks.example/h",
        "event_type": "challenge.approved",
        "payload": "{}",
        "created_at": 1000.0,
        "next_at": 1000.0,
        "deadline": 1000.0 + 3600,
    }
    return Delivery(**{**base, **changes})  # type: ignore[arg-type]


def test_first_retry_comes_after_about_the_base() -> None:
    assert schedule.backoff(1, 1.0, rand=LOW) == 0.5
    assert schedule.backoff(1, 1.0, rand=HIGH) == 1.0


def test_ceiling_doubles_with_each_attempt() -> None:
    ceilings = [schedule.backoff(n, 1.0, rand=HIGH) for n in range(1, 7)]
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


def test_wait_is_capped_even_after_very_many_attempts() -> None:
    assert schedule.backoff(40, 1.0, rand=HIGH) == schedule.MAX_DELAY
    assert schedule.backoff(10_000, 1.0, rand=HIGH) == schedule.MAX_DELAY
    assert schedule.backoff(12, 1.0, cap=60.0, rand=HIGH) == 60.0


@pytest.mark.parametrize("attempt", [1, 2, 5, 13, 30])
def test_jitter_stays_within_the_upper_half_of_the_ceiling(attempt: int) -> None:
    ceiling = schedule.backoff(attempt, 0.5, rand=HIGH)
    waits = {schedule.backoff(attempt, 0.5) for _ in range(200)}
    assert all(ceiling / 2 <= w <= ceiling for w in waits)
    assert len(waits) > 1


def test_a_failure_schedules_a_retry_and_counts_the_attempt() -> None:
    failed = schedule.failed(_delivery(), 1000.0, 1.0, error="HTTP 500", status=500, rand=HIGH)
    assert failed.state is DeliveryState.FAILING
    assert (failed.attempts, failed.next_at, failed.last_status) == (1, 1001.0, 500)


def test_no_retry_is_scheduled_past_the_deadline() -> None:
    failed = schedule.failed(_delivery(attempts=20), 4500.0, 1.0, error="x", rand=HIGH)
    assert failed.state is DeliveryState.FAILING
    assert failed.next_at == 4600.0


def test_a_failure_at_or_after_the_deadline_is_dead() -> None:
    dead = schedule.failed(_delivery(attempts=3), 4600.0, 1.0, error="timeout")
    assert (dead.state, dead.attempts, dead.last_error) == (DeliveryState.DEAD, 4, "timeout")


def test_success_is_delivered_and_clears_the_last_error() -> None:
    done = schedule.delivered(_delivery(attempts=2, last_error="HTTP 500"), 204)
    assert (done.state, done.attempts, done.last_status, done.last_error) == (
        DeliveryState.DELIVERED,
        3,
        204,
        None,
    )


def test_reopening_restarts_attempts_and_horizon() -> None:
    dead = _delivery(attempts=9, state=DeliveryState.DEAD)
    again = schedule.reopened(dead, 9000.0, 3600.0)
    assert (again.state, again.attempts, again.next_at, again.deadline) == (
        DeliveryState.PENDING,
        0,
        9000.0,
        12600.0,
    )
    assert (again.delivery_id, again.payload) == (dead.delivery_id, dead.payload)
