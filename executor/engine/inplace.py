"""Waiting in place: a live invocation that parked on something that ends soon keeps its coroutine
and goes on from there, instead of ending and being invoked (and replayed) again.

A park is committed first, exactly as when the invocation ends there (the step, its ``waits`` row
and its timer), so a crash in the meantime leaves what it always left. Then, for at most
``IN_PLACE_MS``: a sleep that is due within that time is ended by the waiting invocation itself
(the same ``expire`` its timer would run); a wait for a signal, an event or an invoked run is
resolved by whoever resolves it (``pauses.resolve_wait``), which hands the finished step to the
waiting invocation once its transaction is durable instead of queueing a new invocation. The
invocation's own queue item stays in the queue until it ends, so a crash after that hand-off
re-invokes the run, which finds the finished step in its memo.

Only where waiting costs nobody anything: time must pass by itself (a ``VirtualClock`` moves when
everything is idle, and an invocation waiting here is not), the function has no flow control (an
invocation holds its concurrency slots while it waits), and a scheduler slot is free.
"""

from __future__ import annotations

import asyncio
import logging

from executor.engine.core import Core
from executor.engine.pauses import expire
from executor.records import StepState, WaitKind
from executor.specs import FunctionSpec

log = logging.getLogger("durable_tui.engine")

#: How long a live invocation waits in place: a sleep due within this many milliseconds, or this
#: long for a signal, event or invoked run before it ends (and a later resolution queues it again).
IN_PLACE_MS = 20


def allowed(core: Core, spec: FunctionSpec, due_ms: int | None = None) -> bool:
    """Whether an invocation of ``spec`` may wait in place (for a sleep: until ``due_ms``)."""
    if not getattr(core.clock, "live", False) or spec.flow.active or core.scheduler.slots.locked():
        return False
    return due_ms is None or due_ms - core.now() <= IN_PLACE_MS


async def wait(core: Core, spec: FunctionSpec, state: StepState) -> StepState | None:
    """Wait in place for the parked step ``state`` (committed); the step once finished, or None
    when the invocation should end as usual (waited long enough, not allowed, gone meanwhile)."""
    wait_id = f"{state.run_id}/{state.hashed_id}"
    parked = core.waits.get(wait_id)
    sleep = parked is not None and parked.kind == WaitKind.SLEEP
    if parked is None or wait_id in core.in_place or not allowed(core, spec, parked.deadline if sleep else None):
        return None
    resumed: asyncio.Future[StepState | None] = asyncio.get_running_loop().create_future()
    core.in_place[wait_id] = resumed
    try:
        if sleep:
            assert parked.deadline is not None
            timer = asyncio.ensure_future(core.clock.sleep_until(parked.deadline))
            try:
                await asyncio.wait({resumed, timer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
            if not resumed.done() and core.in_place.get(wait_id) is resumed:
                try:
                    await _end_sleep(core, wait_id)
                except Exception:     # the sleep's timer ends it instead, in a new invocation
                    log.exception("run %s: ending sleep %s in place failed", state.run_id, wait_id,
                                  extra={"run_id": state.run_id})
                    return None
        else:
            await asyncio.wait({resumed}, timeout=IN_PLACE_MS / 1000)
        if not resumed.done() and core.in_place.get(wait_id) is resumed:
            return None        # nobody took it: the invocation ends, a later resolution queues the run
        # Taken by a transition: its outcome is on the way (None if that transition failed).
        return await resumed
    finally:
        if core.in_place.get(wait_id) is resumed:
            del core.in_place[wait_id]


async def _end_sleep(core: Core, wait_id: str) -> None:
    """The sleep is due: end it as its timer would (the timer's item is dropped with it)."""
    async with core.transition() as (tx, t):
        current = core.waits.get(wait_id)
        if current is not None:
            await expire(core, tx, current, t)

