"""A log line that cannot flood: what untrusted input can trigger at will is logged at most once
per interval, with a count of what was held back."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class ThrottledLog:
    def __init__(self, logger: logging.Logger, interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._interval = interval_s
        self._clock = clock
        self._next = float("-inf")
        self._held = 0

    def log(self, level: int, message: str, *args: object) -> bool:
        """Log now, or count it for the next line; True if it was logged."""
        now = self._clock()
        if now < self._next:
            self._held += 1
            return False
        if self._held:
            message += f" (and {self._held:,} more like it in the last {self._interval:g} s)"
            self._held = 0
        self._next = now + self._interval
        self._logger.log(level, message, *args)
        return True
