"""Reconnection delays: exponential backoff with full jitter.

Attempt n waits a uniformly random time in [0, min(cap, base * 2**n)].
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

_system_random = random.SystemRandom()


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter.

    Attributes:
        base: Upper bound of the first delay, in seconds.
        cap: Largest upper bound any delay can have, in seconds.
        random: Source of uniform numbers in [0, 1) (replaceable for tests).
    """

    base: float = 0.5
    cap: float = 30.0
    random: Callable[[], float] = field(default=_system_random.random, repr=False)

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError("backoff needs 0 < base <= cap")

    def ceiling(self, attempt: int) -> float:
        """Return the largest delay for an attempt.

        Args:
            attempt: Attempts already made since the last success (0 for the first retry).

        Returns:
            ``min(cap, base * 2**attempt)``.
        """
        if attempt < 0:
            raise ValueError("attempt must not be negative")
        # Avoid overflow for long outages: past 2**64 the cap has long been reached.
        return min(self.cap, self.base * 2.0 ** min(attempt, 64))

    def delay(self, attempt: int) -> float:
        """Return a random delay for an attempt.

        Args:
            attempt: Attempts already made since the last success (0 for the first retry).

        Returns:
            Seconds in ``[0, ceiling(attempt)]``.

        Raises:
            ValueError: If ``attempt`` is negative.
        """
        return self.random() * self.ceiling(attempt)
