"""Time-skipping for tests and demos: run an executor on a ``VirtualClock`` and jump the clock to
the next due item whenever every unfinished run is only waiting for time to pass, so a "7d"
sleep, a wait's timeout or a retry backoff takes no real time.

    clock = VirtualClock()
    async with Executor(":memory:", functions, clock=clock) as ex:
        run_id = await only_run(ex, {"name": "app/signup", "data": {...}})
        run = await run_to_end(ex, clock, run_id)

The clock never moves while a run is between items (a step executing, an invocation in flight),
so what a run does is what it would do in real time, only sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from executor.executor import Executor
from executor.records import Run, RunStatus
from executor.util.clock import VirtualClock

#: How long ``drive`` waits, in real seconds, before it gives up.
DEFAULT_TIMEOUT = 10.0


async def _unfinished(ex: Executor) -> set[str]:
    runs = [run for status in (RunStatus.QUEUED, RunStatus.RUNNING) for run in await ex.runs(status=status, limit=10_000)]
    return {run.id for run in runs}


async def is_idle(ex: Executor, clock: VirtualClock) -> bool:
    """Nothing left to do until the clock moves (or an event or signal arrives)."""
    unfinished = await _unfinished(ex)
    items = ex.pending()
    timed = [item for item in items if not item.get("parked")]
    return all(item["due_at"] > clock.now_ms() for item in timed) and unfinished <= {i["run_id"] for i in items}


async def advance_if_idle(ex: Executor, clock: VirtualClock) -> bool:
    """Move the clock to the next due item when nothing is due now and every unfinished run is
    parked on a future item or held back by flow control; say whether it moved. A run with no item
    at all is busy."""
    unfinished = await _unfinished(ex)
    items = ex.pending()    # read after the await: nothing changes between here and clock.set
    timed = [item for item in items if not item.get("parked")]
    if not timed or min(item["due_at"] for item in timed) <= clock.now_ms():
        return False
    if not unfinished <= {item["run_id"] for item in items}:
        return False
    clock.set(min(item["due_at"] for item in timed))
    return True


async def drive(ex: Executor, clock: VirtualClock, done: Callable[[], Awaitable[bool]], *,
                advance: bool = True, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Until ``done()``: let the executor work, and (with ``advance``) jump the virtual clock to
    the next due item whenever everything is waiting for time to pass."""
    with ex.subscribe() as changes:
        async with asyncio.timeout(timeout):
            while not await done():
                if advance and await advance_if_idle(ex, clock):
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await changes.get_batch()


async def run_to_end(ex: Executor, clock: VirtualClock, run_id: str, *, timeout: float = DEFAULT_TIMEOUT) -> Run:
    """Wait for the run to finish, moving the virtual clock whenever everything is waiting."""
    async def finished() -> bool:
        run = await ex.run(run_id)
        return run is not None and run.finished

    await drive(ex, clock, finished, timeout=timeout)
    run = await ex.run(run_id)
    assert run is not None
    return run


async def run_all_to_end(ex: Executor, clock: VirtualClock, *, timeout: float = DEFAULT_TIMEOUT) -> list[Run]:
    """Wait until every run has finished (children and fan-out receivers too); oldest first."""
    async def all_finished() -> bool:
        return all(run.finished for run in await ex.runs(limit=10_000))

    await drive(ex, clock, all_finished, timeout=timeout)
    return list(reversed(await ex.runs(limit=10_000)))


async def settle(ex: Executor, clock: VirtualClock, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Let everything due now happen, without moving the clock."""
    await drive(ex, clock, lambda: is_idle(ex, clock), advance=False, timeout=timeout)


async def wait_until(ex: Executor, clock: VirtualClock, predicate: Callable[[], Awaitable[bool]], *,
                     timeout: float = DEFAULT_TIMEOUT) -> None:
    """Let the executor work (clock still) until ``predicate()``, e.g. "the run is waiting"."""
    await drive(ex, clock, predicate, advance=False, timeout=timeout)


async def only_run(ex: Executor, event: dict[str, Any]) -> str:
    """Send one event that starts exactly one run; return the run's id."""
    started = await ex.send_and_route(event)
    [run_id] = [run_id for ids in started.values() for run_id in ids]
    return run_id
