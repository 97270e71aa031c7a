"""GCRA, the generic cell rate algorithm: Inngest's throttle and rate limit.

The whole state of a limit is one number, the theoretical arrival time (``tat``): a request is
admitted when ``tat`` (pushed forward by one emission interval, ``period / limit``) is no more
than ``tolerance`` ahead of now. The tolerance is what lets requests start together: one interval
for no burst, ``n`` intervals for a burst of ``n``.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class Verdict(NamedTuple):
    admitted: bool
    tat: int          # the state to keep (unchanged when refused)
    retry_at: int     # when a refused request would be admitted (``now`` when admitted)


def gcra(tat: int | None, now: int, period_ms: int, limit: int, burst: int) -> Verdict:
    """Admit one request at ``now`` against a limit of ``limit`` per ``period_ms`` of which
    ``burst`` may arrive together."""
    emission = period_ms / limit
    base = now if tat is None or tat < now else tat
    allow_at = base + emission - emission * burst
    if now < allow_at:
        return Verdict(False, now if tat is None else tat, math.ceil(allow_at))
    return Verdict(True, math.ceil(base + emission), now)
