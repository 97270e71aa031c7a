"""Time as the engine sees it: one injectable clock in milliseconds.

Sleeps, wait timeouts and retry backoff all read this clock, so a test (or the console's
"fire now") can move time instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...

    async def sleep_until(self, when_ms: int) -> None:
        """Return once ``now_ms() >= when_ms``; cancellable."""


class RealClock:
    """Wall-clock time."""

    #: Time passes by itself: the engine may wait a few milliseconds in place (a ``VirtualClock``
    #: only moves when every run is idle, so nothing may wait on it in place).
    live = True

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    async def sleep_until(self, when_ms: int) -> None:
        while True:
            delay = when_ms - self.now_ms()
            if delay <= 0:
                return
            # asyncio timers may fire a hair early; loop until the wall clock agrees.
            await asyncio.sleep(delay / 1000)


class VirtualClock:
    """A clock that only moves when told to: tests advance it and due work runs at once."""

    def __init__(self, start_ms: int = 1_767_225_600_000) -> None:   # 2026-01-01T00:00:00Z
        self._now = start_ms
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now_ms(self) -> int:
        return self._now

    async def sleep_until(self, when_ms: int) -> None:
        if when_ms <= self._now:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when_ms, next(self._seq), fut))
        await fut

    def advance(self, ms: int | float) -> None:
        """Move time forward by ``ms`` milliseconds and wake whoever is now due."""
        self.set(self._now + int(ms))

    def set(self, now_ms: int) -> None:
        if now_ms < self._now:
            raise ValueError("a virtual clock never goes backwards")
        self._now = now_ms
        while self._sleepers and self._sleepers[0][0] <= now_ms:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)
