"""Reconnection backoff: exponential ceiling, capped, with full jitter inside the bounds."""

from __future__ import annotations

import pytest

from client_sdk import Backoff


def test_ceiling_doubles_per_attempt_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=5.0)
    assert [backoff.ceiling(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_delays_stay_between_zero_and_the_ceiling() -> None:
    backoff = Backoff(base=0.25, cap=8.0)
    for attempt in range(12):
        for _ in range(200):
            assert 0.0 <= backoff.delay(attempt) <= backoff.ceiling(attempt)


def test_delays_are_jittered_over_the_whole_range() -> None:
    backoff = Backoff(base=1.0, cap=1.0)
    delays = [backoff.delay(3) for _ in range(500)]
    assert min(delays) < 0.1
    assert max(delays) > 0.9
    assert len(set(delays)) > 400


def test_extreme_random_values_map_to_the_bounds() -> None:
    assert Backoff(base=1.0, cap=30.0, random=lambda: 0.0).delay(4) == 0.0
    assert Backoff(base=1.0, cap=30.0, random=lambda: 1.0).delay(4) == 16.0
    assert Backoff(base=1.0, cap=30.0, random=lambda: 1.0).delay(50) == 30.0


def test_long_outages_do_not_overflow() -> None:
    assert Backoff(base=1.0, cap=60.0).ceiling(10_000) == 60.0


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_invalid_settings_are_refused(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="base"):
        Backoff(base=base, cap=cap)
