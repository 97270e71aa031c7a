"""Flow control where runs execute: whether a queue item may call its function now.

Every item that calls a function passes ``admit`` first and, once the call is over, ``release``.
A run's first call (its *start*) also ends the debounce or batch it was collecting for, passes its
throttle lane and arms its ``timeouts.finish`` timer, in one transaction that also records the
start; later calls only need their concurrency slots. An item that may not go parks in the gate
(``engine.gate``) and keeps its row in the queue, so nothing about waiting has to be durable.

``deadline`` handles the two flow-control timers: ``timeouts.start`` cancels a run still not
started, ``timeouts.finish`` cancels one still not finished.
"""

from __future__ import annotations

from dataclasses import replace

from executor.engine import flow as creation
from executor.engine.core import Core, Transition
from executor.engine.flowkeys import RunFlow, run_flow
from executor.engine.gate import LaneRule
from executor.engine.routing import finish_run
from executor.engine.runs import request_cancel
from executor.errors import ErrorInfo
from executor.feed import Change
from executor.records import ChangeKind, QueueItem, QueueKind, Run, RunStatus
from executor.specs import FunctionSpec
from executor.util.durations import format_ms

TIMEOUT_ERROR = "FunctionTimeoutError"


async def admit(core: Core, item: QueueItem, run: Run, spec: FunctionSpec) -> bool:
    """True when ``item`` may call the function now; it then holds its slots until ``release``.
    False when it parked (the gate or the scheduler brings it back) or is stale."""
    flow = spec.flow
    if not flow.active:
        return True
    starting = run.started_at is None and not item.payload.get("target")
    collecting = item.payload.get("flow") in ("debounce", "batch") and run.id not in core.flow.closed
    if starting and collecting and not await _stop_collecting(core, item, run, spec):
        return False
    rf = await _run_flow(core, run, spec)
    lane = rf.lane if starting else None
    needs_start = starting and (lane is not None or flow.timeouts is not None)
    if rf.claims or lane is not None:
        admission = core.flow.gate.admit(item, rf.score, rf.claims, lane, core.now())
        core.scheduler.push(admission.woken)
        if not admission.admitted:
            core.flow.parked(item)
            if admission.retry_at is not None:
                core.scheduler.push([replace(item, due_at=admission.retry_at)])
            core.feed.publish([Change(ChangeKind.RUN, run.id, run.id, run.status, {"function_id": run.function_id})])
            return False
    if not needs_start:
        return True
    try:
        started = await _start(core, run, spec, lane)
    except BaseException:
        release(core, item)
        raise
    if not started:
        release(core, item)
    return started


def release(core: Core, item: QueueItem) -> None:
    """The item's call is over: its slots go to the next waiters."""
    core.scheduler.push(core.flow.gate.release(item.id))


async def _run_flow(core: Core, run: Run, spec: FunctionSpec) -> RunFlow:
    """The run's keys, computed when it was created — or, after a restart, again from its event
    (read alone: a run that waits should not load its steps)."""
    rf = core.flow.runs.get(run.id)
    if rf is None:
        hot = core.hot.get(run.id)
        event = hot.event if hot is not None else core.store.writer_event(run.event_id) if run.event_id else None
        rf = run_flow(spec.id, spec.flow, run.created_at, event.to_dict() if event is not None else {})
        core.flow.runs[run.id] = rf
    return rf


async def _stop_collecting(core: Core, item: QueueItem, run: Run, spec: FunctionSpec) -> bool:
    """The debounce or batch ends: later events open a new one. False when ``item`` is stale (a
    later event replaced it while it was being dispatched)."""
    async with core.transition() as (tx, t):
        if await tx.get_queue_item(item.id) is None:
            core.scheduler.discard([item.id])     # replaced by a later event while being dispatched
            return False
        if await tx.flow.close_pending(run.id) is not None:
            await creation.arm_start_deadline(core, tx, spec, run.id, t)
        t.run_changed(run, run.status)
        t.after.append(lambda: core.flow.closed.add(run.id))
    return True


async def _start(core: Core, run: Run, spec: FunctionSpec, lane: LaneRule | None) -> bool:
    """Record the run's start with the throttle state it used and its finish deadline; False when
    the run ended meanwhile (a start timeout, a cancel)."""
    now = core.now()
    async with core.transition() as (tx, t):
        current = await tx.get_run(run.id)
        if current is None or current.finished:
            return False
        if lane is not None:
            tat = core.flow.gate.lane_tat(lane.key)
            if tat is not None:
                await tx.flow.set_tat(lane.key[0], "throttle", lane.key[1], tat)
        timeouts = spec.flow.timeouts
        if timeouts is not None and timeouts.finish is not None:
            t.queued.append(await tx.enqueue(core.item(run.id, QueueKind.DEADLINE, now + int(timeouts.finish),
                                                       timeout="finish")))
        await tx.update_run(run.id, started_at=now, status=RunStatus.RUNNING)
        t.run_changed(run, RunStatus.RUNNING)
        t.after.append(lambda: core.flow.started(run.id))
    return True


async def deadline(core: Core, item: QueueItem, run: Run) -> None:
    """A ``timeouts`` timer is up: cancel the run if it has still not started (``start``) or not
    finished (``finish``), with the reason as its error."""
    which = item.payload.get("timeout")
    async with core.transition(Transition(dropped=[item.id])) as (tx, t):
        await tx.dequeue(item.id)
        current = await tx.get_run(run.id)
        if current is None or current.finished:
            return
        spec = core.registry.get(current.function_id)
        limit = getattr(spec.flow.timeouts, which or "", None) if spec is not None and spec.flow.timeouts else None
        within = f" within {format_ms(int(limit))}" if limit is not None else ""
        where = f"function {current.function_id!r}, run {current.id}"
        if which == "start" and current.started_at is None:
            error = ErrorInfo(TIMEOUT_ERROR, f"{where}: not started{within} of being queued (timeouts.start); "
                              "cancelled — raise the timeout or the limits that held it back", "")
            await finish_run(core, tx, current, {"status": RunStatus.CANCELLED, "error": error.to_dict()}, t)
        elif which == "finish":
            error = ErrorInfo(TIMEOUT_ERROR, f"{where}: not finished{within} of its start (timeouts.finish); "
                              "cancelled at its next step boundary", "")
            await tx.update_run(current.id, error=error.to_dict())
            await request_cancel(core, tx, current.id, t)
