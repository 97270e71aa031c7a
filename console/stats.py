"""The header's numbers: how many runs are in each status, and how many started and failed in
each of the last seconds.

Counts come from the backend (one pass over every run, so they are re-read at most every
``Recount.interval`` — a second, or ten times what the last count cost when that is more, so
a big database never keeps the executor busy counting). The per-second trend is folded from the
change feed as it arrives, so it costs nothing to keep.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from executor import Change

#: Seconds of history behind each sparkline.
TREND_SECONDS = 60
#: Recounting waits at least this long, and at least ``COST_FACTOR`` times the last count's cost.
MIN_INTERVAL = 1.0
COST_FACTOR = 10


@dataclass(frozen=True)
class Stats:
    """What the header strip shows; replaced whole, so a view can compare and skip a redraw."""

    counts: dict[str, int] = field(default_factory=dict)
    started: tuple[int, ...] = ()     # runs created per second, oldest first
    failed: tuple[int, ...] = ()      # runs that ended Failed per second
    counted: bool = False             # the counts have been read at least once


class Trend:
    """Runs started (a run change in status Queued: a run is created queued) and failed (a run
    change in status Failed), per second of the backend's clock."""

    def __init__(self, seconds: int = TREND_SECONDS) -> None:
        self.seconds = seconds
        self._started: Counter[int] = Counter()
        self._failed: Counter[int] = Counter()

    def observe(self, changes: Iterable[Change], now_ms: int) -> None:
        second = now_ms // 1000
        for change in changes:
            if change.kind != "run":
                continue
            if change.status == "Queued":
                self._started[second] += 1
            elif change.status == "Failed":
                self._failed[second] += 1
        for counter in (self._started, self._failed):
            if len(counter) > self.seconds:
                for old in [s for s in counter if s <= second - self.seconds]:
                    del counter[old]

    def series(self, now_ms: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(started, failed) for each of the last ``seconds`` seconds, the current one last."""
        last = now_ms // 1000
        span = range(last - self.seconds + 1, last + 1)
        return tuple(self._started.get(s, 0) for s in span), tuple(self._failed.get(s, 0) for s in span)


class Recount:
    """When the counts may be read again: not before ``interval`` after the last read ended."""

    def __init__(self) -> None:
        self.interval = MIN_INTERVAL
        self._ended = float("-inf")
        self._started = 0.0

    def wait(self) -> float:
        """Seconds until a recount may start (0: now)."""
        return max(0.0, self._ended + self.interval - time.monotonic())

    def begin(self) -> None:
        self._started = time.monotonic()

    def end(self) -> None:
        self._ended = time.monotonic()
        self.interval = max(MIN_INTERVAL, COST_FACTOR * (self._ended - self._started))
