"""Flow control where runs are created: what an event starts, given the function's options.

``plan_start`` decides, inside the routing transaction, before a run row exists: nothing (the
idempotency key was used in the last day), a run skipped and recorded as such (rate limited, or a
singleton already running with mode "skip"), the event joining a run that is still collecting
events (a debounce moves that run's start later and gives it this event; a batch adds the event),
or a new run — maybe collecting, maybe starting later (a negative priority), maybe cancelling the
singleton it replaces. ``record_start`` writes what goes with the new run once it exists.

A debounced or batched run exists from its first event, so the runs list can say "debouncing
until …" or "batching 3/100": its start item is due when the debounce or batch ends, and a row in
``pending_starts`` lets later events find it. The row goes when the start item is dispatched (or,
for a full batch, at once): from then on events open a new one. Everything here is durable in the
transaction that routes the event, so a restart finds the debounce or batch where it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from executor.engine.core import Core, Transition
from executor.engine.flowkeys import RunFlow, key_value, run_flow
from executor.expressions import compile_expression
from executor.records import Event, QueueItem, QueueKind, Run, RunStatus
from executor.specs import FunctionSpec
from executor.store import Tx
from executor.store.flowrows import PendingStart
from executor.util import jsonvalues
from executor.util.gcra import gcra

#: How long a key keeps a function from starting again for it (Inngest: 24 hours).
IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
#: A batch also ends when its events reach this size (Inngest's default batch size limit).
BATCH_MAX_BYTES = 10 * 1024 * 1024
RATE_LIMITED = "rate limited"
SINGLETON = "singleton"


@dataclass
class StartPlan:
    """What an event does to a function (see the module docstring)."""

    status: RunStatus = RunStatus.QUEUED
    skip_reason: str | None = None
    nothing: bool = False
    joined: Run | None = None
    due: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    cancel: str | None = None              # the singleton run this one replaces
    singleton_key: str | None = None
    collect: PendingStart | None = None    # the new run collects events (item id filled in later)
    first_events: list[str] = field(default_factory=list)
    flow: RunFlow | None = None


async def plan_start(core: Core, tx: Tx, spec: FunctionSpec, event: Event, t: Transition, run_id: str, *,
                     direct: bool, notes: list[str] | None) -> StartPlan:
    """``direct``: started by an invoke, the console or a rerun — only what governs execution
    applies (singleton, concurrency, throttle, priority, timeouts), not what decides whether an
    event deserves a run (idempotency, rate limit) or folds events (debounce, batch)."""
    flow, fid, now = spec.flow, spec.id, core.now()
    raw = event.to_dict()
    if not direct and flow.idempotency is not None:
        key = key_value(fid, "idempotency", flow.idempotency, raw, notes)
        if not await tx.claim_key(fid, f"key:{key.value}", run_id, now, IDEMPOTENCY_TTL_MS):
            if notes is not None:
                notes.append(f"function {fid!r}: idempotency key {key.label} already started a run in the "
                             "last 24 hours; this event starts none")
            return StartPlan(nothing=True)
    plan = StartPlan(flow=run_flow(fid, flow, now, raw, notes))
    if not direct and flow.batch is not None and _batched(spec, raw, notes):
        key = key_value(fid, "batch", flow.batch.key, raw, notes)
        joined = await _join_batch(core, tx, spec, key.value, event, t)
        if joined is not None:
            return StartPlan(joined=joined)
        plan.due, plan.payload = now + int(flow.batch.timeout), {"flow": "batch"}
        plan.collect = PendingStart(fid, "batch", key.value, run_id, "", 1, _size(event), now, plan.due)
        plan.first_events = [event.key]
    elif not direct and flow.debounce is not None:
        d = flow.debounce
        key = key_value(fid, "debounce", d.key, raw, notes)
        joined = await _join_debounce(core, tx, spec, key.value, event, t)
        if joined is not None:
            return StartPlan(joined=joined)
        deadline = now + int(d.timeout) if d.timeout is not None else None
        plan.due, plan.payload = _debounce_due(now, int(d.period), deadline), {"flow": "debounce"}
        plan.collect = PendingStart(fid, "debounce", key.value, run_id, "", 1, 0, now, plan.due, deadline, event.ts)
    if not direct and flow.rate_limit is not None:
        r = flow.rate_limit
        key = key_value(fid, "rate_limit", r.key, raw, notes)
        tat = await tx.flow.tat(fid, "rate", key.value)
        # Inngest's rate limit is GCRA with a tenth of the limit as burst.
        verdict = gcra(tat, now, int(r.period), r.limit, r.limit // 10 + 1)
        if not verdict.admitted:
            return _skipped(RATE_LIMITED, key.label)
        await tx.flow.set_tat(fid, "rate", key.value, verdict.tat)
    if flow.singleton is not None:
        key = key_value(fid, "singleton", flow.singleton.key, raw, notes)
        holder = await tx.flow.singleton(fid, key.value)
        holder_run = await tx.get_run(holder) if holder is not None else None
        if holder_run is not None and not holder_run.finished:
            if flow.singleton.mode == "skip":
                return _skipped(SINGLETON, key.label, holder)
            plan.cancel = holder
        plan.singleton_key = key.value
    if plan.collect is None and plan.flow is not None and plan.flow.score > now:
        plan.due, plan.payload = plan.flow.score, {"flow": "priority"}     # a negative priority waits
    return plan


async def record_start(core: Core, tx: Tx, spec: FunctionSpec, run: Run, item: QueueItem, plan: StartPlan,
                       t: Transition) -> None:
    """What goes with a new run: its collecting row, its singleton key, its start deadline."""
    if plan.collect is not None:
        await tx.flow.put_pending(replace(plan.collect, item_id=item.id))
        if plan.first_events:
            await tx.flow.add_run_events(run.id, 0, plan.first_events)
    else:
        await arm_start_deadline(core, tx, spec, run.id, t)
    if plan.singleton_key is not None:
        await tx.flow.hold_singleton(spec.id, plan.singleton_key, run.id)
    if plan.flow is not None:
        run_id, flow = run.id, plan.flow
        t.after.append(lambda: (core.flow.runs.__setitem__(run_id, flow), core.flow.note_items([item])))


async def arm_start_deadline(core: Core, tx: Tx, spec: FunctionSpec, run_id: str, t: Transition) -> None:
    """``timeouts.start`` counts from the moment the run could start: its creation, or the end of
    its debounce or batch."""
    timeouts = spec.flow.timeouts
    if timeouts is not None and timeouts.start is not None:
        t.queued.append(await tx.enqueue(core.item(run_id, QueueKind.DEADLINE, core.now() + int(timeouts.start),
                                                   timeout="start")))


async def release(core: Core, tx: Tx, run: Run) -> None:
    """A run ended: it holds no singleton key and collects no more events."""
    spec = core.registry.get(run.function_id)
    if spec is None or spec.flow.singleton or spec.flow.debounce or spec.flow.batch:
        await tx.flow.release_run(run.id)


def _skipped(reason: str, label: str, holder: str | None = None) -> StartPlan:
    detail = f" ({label})" if label else ""
    if holder is not None:
        detail = f"{detail} while run {holder} is unfinished"
    return StartPlan(status=RunStatus.SKIPPED, skip_reason=f"{reason}{detail}")


def _batched(spec: FunctionSpec, raw: dict[str, Any], notes: list[str] | None) -> bool:
    """Only events where the batch's ``if`` holds are batched; the others run alone at once."""
    condition = spec.flow.batch.if_exp if spec.flow.batch is not None else None
    if condition is None:
        return True
    verdict = compile_expression(condition).check({"event": raw})
    if verdict.cutoff is not None and notes is not None:
        notes.append(f"function {spec.id!r}: batch condition was not evaluated ({verdict.cutoff}); "
                     "the event runs alone")
    return verdict.matched


def _size(event: Event) -> int:
    return len(jsonvalues.dumps(event.to_dict()))


def _debounce_due(now: int, period: int, deadline: int | None) -> int:
    return now + period if deadline is None else min(now + period, deadline)


async def _replace_start(core: Core, tx: Tx, p: PendingStart, due: int, t: Transition) -> str:
    """Move a collecting run's start: a new item replaces the old one (the scheduler's heap never
    holds one item at two times)."""
    item = core.item(p.run_id, QueueKind.INVOKE, due, reason="triggered", flow=p.kind)
    await tx.dequeue(p.item_id)
    t.dropped.append(p.item_id)
    t.queued.append(await tx.enqueue(item))
    t.after.append(lambda: core.flow.note_items([item]))
    return item.id


async def _join_debounce(core: Core, tx: Tx, spec: FunctionSpec, key: str, event: Event,
                         t: Transition) -> Run | None:
    p = await tx.flow.pending(spec.id, "debounce", key)
    run = await tx.get_run(p.run_id) if p is not None else None
    if p is None or run is None or run.finished:
        return None
    if p.event_ts is not None and event.ts < p.event_ts:
        return run       # older than the event the debounce holds: Inngest ignores it
    assert spec.flow.debounce is not None
    due = _debounce_due(core.now(), int(spec.flow.debounce.period), p.deadline)
    item_id = await _replace_start(core, tx, p, due, t)
    await tx.flow.put_pending(replace(p, item_id=item_id, due_at=due, event_ts=event.ts, size=p.size + 1))
    await tx.update_run(run.id, event_id=event.key)
    run_id = run.id
    t.after.append(lambda: (core.hot.pop(run_id, None), core.flow.runs.pop(run_id, None)))
    t.run_changed(run, run.status)
    return run


async def _join_batch(core: Core, tx: Tx, spec: FunctionSpec, key: str, event: Event, t: Transition) -> Run | None:
    p = await tx.flow.pending(spec.id, "batch", key)
    run = await tx.get_run(p.run_id) if p is not None else None
    if p is None or run is None or run.finished:
        return None
    assert spec.flow.batch is not None
    await tx.flow.add_run_events(run.id, p.size, [event.key])
    grown = replace(p, size=p.size + 1, bytes=p.bytes + _size(event))
    if grown.size >= spec.flow.batch.max_size or grown.bytes >= BATCH_MAX_BYTES:
        await tx.flow.close_pending(run.id)           # full: later events open the next batch
        await _replace_start(core, tx, grown, core.now(), t)
        await arm_start_deadline(core, tx, spec, run.id, t)
    else:
        await tx.flow.put_pending(grown)
    t.run_changed(run, run.status)
    return run
