"""A run's life at its edges: created (by an event, an invoke, a cron tick or a rerun), cancelled,
and closed — with Inngest's lifecycle events recorded when it ends.

``close_run`` returns the lifecycle events instead of routing them itself: routing them can resume
a parent or start an ``on_failure`` run, which is ``routing.finish_run``'s business.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from executor.engine import flow
from executor.engine.core import Core, HotRun, Transition
from executor.engine.events import validate_event
from executor.feed import Change
from executor.engine.waits import index_key_of
from executor.errors import ErrorInfo, ExpressionError
from executor.expressions import bind_event
from executor.records import ChangeKind, Event, QueueKind, Run, RunStatus, Wait, WaitKind
from executor.specs import FunctionSpec
from executor.store import Tx
from executor.util.durations import parse_duration
from executor.util import jsonvalues
from executor.util.ids import new_id

log = logging.getLogger("durable_tui.engine")

INVOKED_EVENT = "inngest/function.invoked"
#: ``FunctionSpec.mode`` (and so ``Run.mode``) of functions served by an Inngest SDK.
SDK_MODE = "sdk"
FINISHED_EVENT = "inngest/function.finished"
FAILED_EVENT = "inngest/function.failed"
CANCELLED_EVENT = "inngest/function.cancelled"
#: Runs started by these do not emit lifecycle events themselves, so an ``on_failure`` handler that
#: fails cannot start another one. (Invoked runs do emit them, as on Inngest.)
LIFECYCLE_EVENTS = frozenset({FINISHED_EVENT, FAILED_EVENT, CANCELLED_EVENT})


def add_event(t: Transition, event: Event) -> None:
    t.changes.append(Change(ChangeKind.EVENT, event.key, data={"name": event.name}))


async def create_run(core: Core, tx: Tx, spec: FunctionSpec, event: Event, t: Transition, *,
                     parent: tuple[Run, str] | None = None, dedupe: bool = True,
                     notes: list[str] | None = None) -> Run | None:
    """A new run of ``spec`` for ``event``, queued; None when the event's own id already started
    a run of this function (an id the sender chose is the run's idempotency key for a day), or
    its idempotency key did. Flow control (``flow.plan_start``) may instead skip the run (it is
    recorded, Skipped), or fold the event into a run still collecting events (returned).
    ``dedupe=False`` marks a direct start (invoke, console, rerun). ``notes`` collects what could
    not be evaluated, for the event."""
    run_id = new_id()
    now = core.now()
    if dedupe and event.custom_id and not await tx.claim_key(spec.id, f"id:{event.id}", run_id, now,
                                                             flow.IDEMPOTENCY_TTL_MS):
        return None
    plan = (await flow.plan_start(core, tx, spec, event, t, run_id, direct=not dedupe or parent is not None,
                                  notes=notes) if spec.flow.active else None)
    if plan is not None and (plan.nothing or plan.joined is not None):
        return plan.joined
    skipped = plan is not None and plan.status == RunStatus.SKIPPED
    run = Run(id=run_id, function_id=spec.id, event_id=event.key, status=plan.status if plan else RunStatus.QUEUED,
              created_at=now, function_version=spec.version, mode=spec.mode,
              parent_run_id=parent[0].id if parent else None, parent_step=parent[1] if parent else None,
              skip_reason=plan.skip_reason if plan else None, ended_at=now if skipped else None)
    await tx.insert_run(run)
    t.run_changed(run, run.status)
    if skipped:
        return run
    item = await tx.enqueue(core.item(run.id, QueueKind.INVOKE, plan.due if plan else None, reason="triggered",
                                      **(plan.payload if plan else {})))
    t.queued.append(item)
    if plan is not None:
        if plan.cancel is not None:
            await request_cancel(core, tx, plan.cancel, t)
        await flow.record_start(core, tx, spec, run, item, plan, t)
    if plan is None or plan.collect is None:
        # Its own copy of the data, as a read from the database would give: runs of one event must
        # not share a dict a function could change. (A debounce or batch still collecting is read
        # when it starts: its event may change, its events grow.)
        t.created[run.id] = HotRun(event=dataclasses.replace(event, data=jsonvalues.loads(jsonvalues.dumps(event.data))),
                                   steps={}, state_bytes=0)
    await arm_cancel_rules(core, tx, spec, run, event, t)
    return run


async def start_run(core: Core, tx: Tx, spec: FunctionSpec, data: dict[str, Any], t: Transition, *,
                    parent: tuple[Run, str] | None = None) -> Run:
    """Start ``spec`` directly, whatever its triggers, with an ``inngest/function.invoked`` event whose
    ``data`` is the caller's plus ``_inngest`` (who invoked it), as Inngest does."""
    meta: dict[str, Any] = {"fn_id": spec.id}
    if parent is not None:
        meta.update(source_run_id=parent[0].id, source_fn_id=parent[0].function_id,
                    correlation_id=f"{parent[0].id}.{parent[1]}")
    event = validate_event({"name": INVOKED_EVENT, "data": {**data, "_inngest": meta}}, core.now(),
                           allow_reserved=True, max_bytes=core.limits.max_event_bytes)
    await tx.insert_events([event], core.now())
    add_event(t, event)
    run = await create_run(core, tx, spec, event, t, parent=parent, dedupe=False)
    assert run is not None
    return run


async def arm_cancel_rules(core: Core, tx: Tx, spec: FunctionSpec, run: Run, event: Event, t: Transition) -> None:
    now = core.now()
    for i, rule in enumerate(spec.cancel):
        source = rule.expression()
        try:
            bound = bind_event(source, event.to_dict()) if source else None
            key = index_key_of(bound)
        except ExpressionError as exc:
            log.warning("function %r, run %s: cancel rule %d not armed: %s", spec.id, run.id, i, exc,
                        extra={"run_id": run.id, "function_id": spec.id})
            continue
        deadline = now + parse_duration(rule.timeout) if rule.timeout is not None else None
        wait = Wait(id=f"{run.id}/cancel/{i}", run_id=run.id, function_id=spec.id, kind=WaitKind.CANCEL,
                    created_at=now, event_name=rule.event, expression=bound, source=source, deadline=deadline,
                    index_key=key)
        await tx.add_wait(wait)
        t.waits_added.append(wait)
        if deadline is not None:
            t.queued.append(await tx.enqueue(core.item(run.id, QueueKind.EXPIRE, deadline, wait=wait.id)))


async def request_cancel(core: Core, tx: Tx, run_id: str, t: Transition) -> None:
    if run_id in t.cancelling:
        return
    t.cancelling.append(run_id)
    t.queued.append(await tx.enqueue(core.item(run_id, QueueKind.CANCEL)))


async def close_run(core: Core, tx: Tx, run: Run, fields: dict[str, Any], t: Transition) -> list[Event]:
    """Make a run terminal: drop its queue and waits. Returns the lifecycle events to route."""
    status = fields["status"]
    fields.setdefault("ended_at", core.now())
    await tx.update_run(run.id, **fields)
    await flow.release(core, tx, run)
    t.dropped += await tx.dequeue_run(run.id)
    t.waits_removed += await tx.remove_run_waits(run.id)
    t.finished.append(run.id)
    error = fields.get("error") if status == RunStatus.FAILED else None
    # Why it failed travels with the change, so a log of finished runs needs no read per failure.
    t.run_changed(run, status, **({"error": {"name": str(error.get("name", "Error")),
                                             "message": str(error.get("message", ""))[:500]}}
                                  if isinstance(error, dict) else {}))
    hot = core.hot.get(run.id)
    event = hot.event if hot is not None else core.store.writer_event(run.event_id) if run.event_id else None
    if event is None or not event.key or event.name in LIFECYCLE_EVENTS:
        return []
    return lifecycle_events(run, status, fields, event, core.now())


def lifecycle_events(run: Run, status: str, fields: dict[str, Any], event: Event, now: int) -> list[Event]:
    base = {"function_id": run.function_id, "run_id": run.id, "event": event.to_dict()}
    error = _standard_error(run, fields.get("error")) if status == RunStatus.FAILED else None
    finished = {**base, **({"result": fields.get("output")} if status == RunStatus.COMPLETED
                           else {"error": error} if status == RunStatus.FAILED else {})}
    raw = [{"name": FINISHED_EVENT, "data": finished}]
    if status == RunStatus.FAILED:
        raw.append({"name": FAILED_EVENT, "data": {**base, "error": error}})
    elif status == RunStatus.CANCELLED:
        raw.append({"name": CANCELLED_EVENT, "data": base})
    # Made here, not checked as a sender's event is: every part is the run's own JSON (its trigger
    # as stored, its output and error as committed), and the names are ours.
    return [Event(id=key, name=r["name"], data=r["data"], ts=now, internal_id=key)
            for r in raw for key in (new_id(),)]


def _standard_error(run: Run, error: Any) -> dict[str, Any]:
    """A failed run's error as Inngest's lifecycle events carry it: ``{error, name, message, stack}``,
    where ``error`` says what failed — for an SDK's run, the HTTP status its last request got."""
    info = ErrorInfo.from_dict(error)
    summary = "invalid status code: 500" if run.mode == SDK_MODE else f"{info.name}: {info.message}"
    return {"error": summary, "name": info.name, "message": info.message, "stack": info.stack}
