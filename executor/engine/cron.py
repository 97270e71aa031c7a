"""Cron triggers: one timer on the injected clock for the next tick of any cron function.

Ticks are not stored: after a restart the next tick is computed from now, so ticks missed
while stopped are skipped (as Inngest does). The run's event id is derived from the tick, so
two executors on one database cannot both start it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timezone

from croniter import croniter

from executor.specs import FunctionSpec
from executor.util.clock import Clock

log = logging.getLogger("durable_tui.cron")


def next_tick(cron: str, after_ms: int) -> int:
    start = datetime.fromtimestamp(after_ms / 1000, tz=timezone.utc)
    return int(croniter(cron, start).get_next(datetime).timestamp() * 1000)


class CronTimers:
    def __init__(self, clock: Clock, fire: Callable[[FunctionSpec, str, int], Awaitable[None]]) -> None:
        self._clock = clock
        self._fire = fire
        self._schedule: list[tuple[FunctionSpec, str]] = []
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.next_due: int | None = None

    def set_functions(self, functions: Iterable[FunctionSpec]) -> None:
        self._schedule = [(fn, trigger.cron) for fn in functions for trigger in fn.cron_triggers]
        self._changed.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="durable-cron")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            now = self._clock.now_ms()
            upcoming = [(next_tick(cron, now), fn, cron) for fn, cron in self._schedule]
            changed = asyncio.create_task(self._changed.wait())
            if not upcoming:
                self.next_due = None
                await changed
                continue
            due = self.next_due = min(tick for tick, _, _ in upcoming)
            sleeper = asyncio.create_task(self._clock.sleep_until(due))
            done, pending = await asyncio.wait({changed, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if sleeper not in done:
                continue
            for tick, fn, cron in upcoming:
                if tick == due:
                    try:
                        await self._fire(fn, cron, tick)
                    except Exception:
                        log.exception("cron tick %s of function %r could not start a run", cron, fn.id)
