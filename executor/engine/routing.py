"""Events in, and runs out: one transaction stores events, resumes the waits they satisfy, cancels the
runs whose cancel rules they match and starts the runs they trigger; and a run that ends resumes its
parent and records its lifecycle events, which route like any other event (that is how
``on_failure`` handlers start).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from executor.engine.core import Core, Transition
from executor.engine.pauses import resolve_wait, resume_parent
from executor.engine.runs import add_event, close_run, create_run, request_cancel
from executor.errors import quote_expression
from executor.expressions import compile_expression
from executor.records import Event, Run, StepStatus, WaitKind
from executor.specs import FunctionSpec, TriggerEvent
from executor.store import Tx
from executor.util.throttle import ThrottledLog

log = logging.getLogger("durable_tui.routing")
#: Anyone with the event key can send events that are cut off: the notes are kept on each event,
#: the log says it at most once every few seconds.
_cutoff_log = ThrottledLog(log)


def _wanted(spec: FunctionSpec, trigger: TriggerEvent, raw_event: dict[str, Any], notes: list[str]) -> bool:
    """Whether the trigger's expression holds for the event, within the evaluation budget; an
    expression that was cut off does not start a run, and the event says why."""
    if trigger.expression is None:
        return True
    verdict = compile_expression(trigger.expression).check({"event": raw_event})
    if verdict.cutoff is not None:
        notes.append(f"function {spec.id!r}: its trigger expression {quote_expression(trigger.expression)} "
                     f"was not evaluated: {verdict.cutoff}")
    return verdict.matched


async def route(core: Core, tx: Tx, events: Sequence[Event], t: Transition) -> dict[str, list[str]]:
    """Store events, then for each new one: resume the waits it satisfies (oldest first, one event
    per wait), cancel the runs whose cancel-on rules it matches, and start the runs it triggers.
    Waits armed in this same transaction never see its events. Returns event id -> run ids started
    or resumed."""
    affected: dict[str, list[str]] = {ev.key: [] for ev in events}
    now = core.now()
    new_ids = await tx.insert_events(events, now)
    consumed = set(t.waits_removed)
    for ev in events:
        if ev.key not in new_ids:
            continue
        new_ids.discard(ev.key)
        add_event(t, ev)
        raw = ev.to_dict()
        notes: list[str] = []   # expressions cut off by their evaluation budget, said on the event
        for wait in core.waits.matching(raw, notes):
            if wait.id in consumed or (wait.deadline is not None and wait.deadline <= now):
                continue   # past its deadline: its timer decides, even if it has not run yet
            consumed.add(wait.id)
            if wait.kind == WaitKind.CANCEL:
                await tx.remove_wait(wait.id)
                t.waits_removed.append(wait.id)
                await request_cancel(core, tx, wait.run_id, t)
            elif await resolve_wait(core, tx, wait, StepStatus.COMPLETED, raw, t, reason=f"event {ev.name}"):
                affected[ev.key].append(wait.run_id)
        started: set[str] = set()
        for spec, trigger in list(core.registry.candidates(ev.name)):
            if spec.id not in started and _wanted(spec, trigger, raw, notes):
                started.add(spec.id)
                run = await create_run(core, tx, spec, ev, t, notes=notes)
                if run is not None:
                    affected[ev.key].append(run.id)
        if notes:
            await tx.add_event_notes(ev.key, notes)
            _cutoff_log.log(logging.WARNING, "event %s %r: %s", ev.key, ev.name, "; ".join(notes))
    return affected


async def finish_run(core: Core, tx: Tx, run: Run, fields: dict[str, Any], t: Transition) -> None:
    """Close a run, hand its outcome to a parent waiting on it, and route its lifecycle events."""
    lifecycle = await close_run(core, tx, run, fields, t)
    if run.parent_run_id and run.parent_step:
        await resume_parent(core, tx, run, fields["status"], fields, t)
    if lifecycle:
        await route(core, tx, lifecycle, t)
