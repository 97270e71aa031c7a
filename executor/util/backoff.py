"""Retry schedules: attempt number (1 = first retry) -> seconds to wait."""

from __future__ import annotations

import random
from collections.abc import Callable

Backoff = Callable[[int], float]

# Inngest's published schedule; jitter spreads retries of many runs failing together.
_TABLE = (15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200)


def default_backoff(attempt: int, *, rng: random.Random | None = None) -> float:
    base = _TABLE[min(max(attempt, 1), len(_TABLE)) - 1]
    return base + (rng or random).uniform(0, min(30.0, base / 2))


def exponential_backoff(base: float = 1.0, factor: float = 2.0, cap: float = 3600.0,
                        jitter: float = 0.1) -> Backoff:
    """Build a schedule ``base * factor**(attempt-1)`` capped at ``cap``, with +0..jitter fraction."""

    def schedule(attempt: int) -> float:
        delay = min(cap, base * factor ** max(attempt - 1, 0))
        return delay * (1 + random.uniform(0, jitter))

    return schedule
