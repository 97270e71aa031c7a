"""Transitions that cross runs: events into waits, triggers and cancellations; parking a run on
a sleep or wait and waking it; a run's ending reaching its parent and the event history.

``Routing`` is the part of ``Engine`` that deals with waits; it runs inside the engine's
transactions and records in a ``Transition`` what the in-memory mirrors must learn once the
transaction has committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from executor.engine.events import name_matches, validate_event
from executor.engine.feed import Change
from executor.engine.waits import index_key_of
from executor.errors import EventValidationError, ExpressionError, SignalNotFoundError, quote_expression
from executor.expressions import bind_event, compile_expression
from executor.records import Event, QueueItem, QueueKind, Run, RunStatus, StepState, StepStatus, Wait, WaitKind
from executor.util import jsonvalues
from executor.util.durations import parse_duration
from executor.util.throttle import ThrottledLog

if TYPE_CHECKING:
    from executor.drivers.local.function import Function
    from executor.drivers.local.invocation import Invocation
    from executor.engine.engine import Engine

log = logging.getLogger("durable_tui.routing")
#: Anyone with the event key can send events that are cut off: the notes are kept on each event,
#: the log says it at most once every few seconds.
_cutoff_log = ThrottledLog(log)

LIFECYCLE_PREFIX = "inngest/function."


@dataclass
class HotRun:
    """A run the engine is working on: its event and committed memo, kept between invocations."""

    event: Event
    memo: dict[str, StepState]
    state_bytes: int


@dataclass
class Transition:
    """What one commit changed, applied to the mirrors and the feed after the commit succeeds."""

    queued: list[QueueItem] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    steps: list[StepState] = field(default_factory=list)
    waits_added: list[Wait] = field(default_factory=list)
    waits_removed: list[str] = field(default_factory=list)
    waits_deactivated: list[str] = field(default_factory=list)
    cancelling: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)


def _timer_kind(wait: Wait) -> str:
    return {WaitKind.SLEEP: QueueKind.SLEEP, WaitKind.CANCEL: QueueKind.EXPIRE}.get(wait.kind, QueueKind.TIMEOUT)


def _triggered_by(fn: "Function", name: str, raw_event: dict[str, Any], notes: list[str]) -> bool:
    for trigger in fn.event_triggers:
        if not name_matches(trigger.event, name):
            continue
        if trigger.expression is None:
            return True
        verdict = compile_expression(trigger.expression).check({"event": raw_event})
        if verdict.cutoff is not None:
            notes.append(f"function {fn.id!r}: its trigger expression {quote_expression(trigger.expression)} "
                         f"was not evaluated: {verdict.cutoff}")
        if verdict.matched:
            return True
    return False


class Routing:
    # ---- events ------------------------------------------------------------------------

    async def route(self: "Engine", tx: Any, events: list[Event], t: Transition) -> dict[str, list[str]]:
        """Store events, then for each new one: resume the waits it satisfies (oldest first, one
        event per wait), cancel the runs whose cancel-on rules it matches, and start the runs it
        triggers. Waits armed in this same transaction never see its events."""
        affected: dict[str, list[str]] = {ev.id: [] for ev in events}
        now = self.clock.now_ms()
        new_ids = await tx.insert_events(events, now)
        consumed = set(t.waits_removed)
        for ev in events:
            if ev.id not in new_ids:
                continue
            new_ids.discard(ev.id)
            t.changes.append(Change("event", ev.id, data={"name": ev.name}))
            raw = ev.to_dict()
            notes: list[str] = []   # expressions cut off by their evaluation budget, said on the event
            for wait in self.waits.matching(raw, notes):
                if wait.id in consumed or (wait.deadline is not None and wait.deadline <= now):
                    continue   # past its deadline: its timer decides, even if it has not run yet
                consumed.add(wait.id)
                if wait.kind == WaitKind.CANCEL:
                    await tx.remove_wait(wait.id)
                    t.waits_removed.append(wait.id)
                    await self.request_cancel(tx, wait.run_id, t)
                elif await self.resolve_wait(tx, wait, StepStatus.COMPLETED, raw, t, reason=f"event {ev.name}"):
                    affected[ev.id].append(wait.run_id)
            for fn in list(self.functions.values()):
                if _triggered_by(fn, ev.name, raw, notes):
                    affected[ev.id].append((await self.create_run(tx, fn, ev, t)).id)
            if notes:
                await tx.add_event_notes(ev.id, notes)
                _cutoff_log.log(logging.WARNING, "event %s %r: %s", ev.id, ev.name, "; ".join(notes))
        return affected

    async def send_from_step(self: "Engine", inv: "Invocation", state: StepState, events: Any) -> list[str]:
        """``step.send_event``: the events and the step's memo commit together (exactly once)."""
        try:
            validated = self.validate(events)
        except EventValidationError as exc:
            await inv.fail_step(state, "EventValidationError", f"{inv.where(state.step_id)}: {exc}")
        now = self.clock.now_ms()
        ids = [ev.id for ev in validated]
        done = state.copy(status=StepStatus.COMPLETED, memo={"data": ids}, attempts=1, started_at=now, ended_at=now,
                          detail={"events": [ev.name for ev in validated]})
        t = Transition(steps=[done])
        async with self.store.tx() as tx:
            await self.route(tx, validated, t)
            await tx.save_step(done)
            await tx.add_run_usage(inv.run.id, 1, len(jsonvalues.dumps(ids)), done.step_id, now)
        t.changes.append(Change("step", f"{inv.run.id}/{done.hashed_id}", inv.run.id, done.status))
        self.apply(t)
        inv.memo[done.hashed_id] = done
        return ids

    # ---- parking a run -----------------------------------------------------------------

    async def park(self: "Engine", inv: "Invocation", state: StepState, kind: str, due: int, *,
                   detail: dict[str, Any], event_name: str | None = None, expression: str | None = None,
                   source: str | None = None, signal: str | None = None, on_conflict: str | None = None,
                   invoke: tuple["Function", dict[str, Any]] | None = None) -> None:
        """Commit a sleep or wait: the step, the ``waits`` row and its timer in one transaction.
        From the commit on, events route to it; earlier ones never did."""
        run, now = inv.run, self.clock.now_ms()
        wait = Wait(id=f"{run.id}/{state.hashed_id}", run_id=run.id, function_id=run.function_id, kind=kind,
                    created_at=now, hashed_id=state.hashed_id, step_id=state.step_id, event_name=event_name,
                    expression=expression, source=source, signal=signal, deadline=due,
                    index_key=index_key_of(expression) if kind == WaitKind.EVENT else None)
        state.status = StepStatus.SLEEPING if kind == WaitKind.SLEEP else StepStatus.WAITING
        state.due_at, state.started_at, state.detail = due, now, detail
        t = Transition(steps=[state], waits_added=[wait])
        owner = self.waits.signal_owner(signal) if signal is not None else None
        if owner is not None and owner.id != wait.id:
            if on_conflict == "fail":
                await inv.fail_step(state, "SignalConflict",
                                    f"{inv.where(state.step_id)}: signal {signal!r} is already awaited by run "
                                    f"{owner.run_id} (step {owner.step_id!r}); on_conflict='fail'")
            t.waits_deactivated.append(owner.id)
        async with self.store.tx() as tx:
            if owner is not None and owner.id != wait.id:
                await tx.deactivate_wait(owner.id)
            if invoke is not None:
                target, data = invoke
                child = await self.start_run(target, data, parent=(run, state.hashed_id), tx=tx, t=t)
                wait.child_run_id = state.detail["child_run_id"] = child.id
            await tx.save_step(state)
            await tx.add_run_usage(run.id, 1, 0, state.step_id, now)
            await tx.add_wait(wait)
            t.queued.append(await tx.enqueue(self.item(run.id, _timer_kind(wait), due, wait=wait.id,
                                                       step=state.hashed_id)))
        t.changes += [Change("step", f"{run.id}/{state.hashed_id}", run.id, state.status),
                      Change("wait", wait.id, run.id, "added", {"kind": kind})]
        self.apply(t)
        inv.memo[state.hashed_id] = state

    async def resolve_wait(self: "Engine", tx: Any, wait: Wait, status: str, memo: Any, t: Transition, *,
                           error: dict[str, Any] | None = None, reason: str) -> bool:
        """Finish a parked step with ``memo`` and queue its run; False if it was already finished."""
        await tx.remove_wait(wait.id)
        t.waits_removed.append(wait.id)
        t.changes.append(Change("wait", wait.id, wait.run_id, "removed", {"kind": wait.kind}))
        timer = await tx.find_queue_item(wait.run_id, _timer_kind(wait), wait.hashed_id)
        if timer is not None:
            await tx.dequeue(timer.id)
            t.dropped.append(timer.id)
        if wait.hashed_id is None:
            return False
        step = await tx.get_step(wait.run_id, wait.hashed_id)
        if step is None or step.has_memo:
            return False
        done = step.copy(status=status, memo=memo, error=error, due_at=None, ended_at=self.clock.now_ms(),
                         attempts=step.attempts + 1)
        await tx.save_step(done)
        t.steps.append(done)
        t.queued.append(await tx.enqueue(self.item(wait.run_id, QueueKind.INVOKE, reason=reason)))
        t.changes.append(Change("step", f"{wait.run_id}/{done.hashed_id}", wait.run_id, done.status))
        return True

    async def _expire(self: "Engine", tx: Any, wait: Wait, t: Transition) -> None:
        """What a wait's deadline means: a sleep ends, a wait returns None, an invoke fails."""
        if wait.kind == WaitKind.CANCEL:
            await tx.remove_wait(wait.id)
            t.waits_removed.append(wait.id)
        elif wait.kind == WaitKind.INVOKE:
            fn_id = wait.function_id
            error = {"name": "InvokeTimeoutError", "stack": "",
                     "message": f"timed out waiting for invoked function (child run {wait.child_run_id}) of "
                                f"function {fn_id!r}, run {wait.run_id}, step {wait.step_id!r} to complete"}
            await self.resolve_wait(tx, wait, StepStatus.FAILED, {"error": error}, t, error=error, reason="timeout")
        else:
            await self.resolve_wait(tx, wait, StepStatus.COMPLETED, None, t,
                                    reason="sleep ended" if wait.kind == WaitKind.SLEEP else "timeout")

    async def time_out(self: "Engine", item: QueueItem) -> None:
        t = Transition(dropped=[item.id])
        async with self.store.tx() as tx:
            await tx.dequeue(item.id)
            wait = self.waits.get(item.payload.get("wait", ""))
            if wait is not None:
                await self._expire(tx, wait, t)
        self.apply(t)

    async def fire(self: "Engine", wait_id: str) -> None:
        """The operator's "skip": end a sleep now, or time a wait out now."""
        wait = self.waits.get(wait_id)
        if wait is None or wait.kind == WaitKind.CANCEL:
            raise KeyError(f"no pending sleep or wait with id {wait_id!r}")
        t = Transition()
        async with self.store.tx() as tx:
            await self._expire(tx, wait, t)
        self.apply(t)

    async def send_signal(self: "Engine", signal: str, data: Any = None) -> str:
        """Resume the run waiting for ``signal``; returns its id."""
        if not isinstance(signal, str) or not signal:
            raise ValueError("a signal needs a non-empty name")
        try:
            jsonvalues.dumps(data)
        except jsonvalues.NotJSONError as exc:
            raise ValueError(f"signal {signal!r}: data is not JSON: {exc}") from None
        t = Transition()
        async with self.store.tx() as tx:
            owner = self.waits.signal_owner(signal)
            if owner is None:
                raise SignalNotFoundError(f"no run is waiting for signal {signal!r}")
            await self.resolve_wait(tx, owner, StepStatus.COMPLETED, {"data": {"signal": signal, "data": data}}, t,
                                    reason=f"signal {signal}")
        self.apply(t)
        return owner.run_id

    async def list_waits(self: "Engine", run_id: str | None = None) -> list[dict[str, Any]]:
        return [w.to_dict() for w in await self.store.waits(WaitKind.PENDING_STEPS, run_id=run_id)]

    # ---- cancellation ------------------------------------------------------------------

    async def arm_cancel_rules(self: "Engine", tx: Any, fn: "Function", run: Run, event: Event, t: Transition) -> None:
        now = self.clock.now_ms()
        for i, rule in enumerate(fn.cancel):
            source = rule.expression()
            try:
                bound = bind_event(source, event.to_dict()) if source else None
                key = index_key_of(bound)
            except ExpressionError as exc:
                log.warning("function %r, run %s: cancel rule %d not armed: %s", fn.id, run.id, i, exc)
                continue
            deadline = now + parse_duration(rule.timeout) if rule.timeout is not None else None
            wait = Wait(id=f"{run.id}/cancel/{i}", run_id=run.id, function_id=fn.id, kind=WaitKind.CANCEL,
                        created_at=now, event_name=rule.event, expression=bound, source=source, deadline=deadline,
                        index_key=key)
            await tx.add_wait(wait)
            t.waits_added.append(wait)
            if deadline is not None:
                t.queued.append(await tx.enqueue(self.item(run.id, QueueKind.EXPIRE, deadline, wait=wait.id)))

    async def request_cancel(self: "Engine", tx: Any, run_id: str, t: Transition) -> None:
        if run_id in t.cancelling:
            return
        t.cancelling.append(run_id)
        t.queued.append(await tx.enqueue(self.item(run_id, QueueKind.CANCEL)))

    # ---- a run ends ---------------------------------------------------------------------

    async def close_run(self: "Engine", tx: Any, run: Run, fields: dict[str, Any], t: Transition,
                        version: str | None = None) -> None:
        """Make a run terminal: drop its queue and waits, resume a parent waiting on it, and
        record Inngest's lifecycle events (which is how ``on_failure`` handlers start)."""
        status = fields["status"]
        fields.setdefault("ended_at", self.clock.now_ms())
        if version is not None:
            fields["finished_version"] = version
        await tx.update_run(run.id, **fields)
        t.dropped += await tx.dequeue_run(run.id)
        t.waits_removed += await tx.remove_run_waits(run.id)
        t.finished.append(run.id)
        t.changes.append(Change("run", run.id, run.id, status, {"function_id": run.function_id}))
        if run.parent_run_id and run.parent_step:
            await self._resume_parent(tx, run, status, fields, t)
        hot = self._hot.get(run.id)
        event = hot.event if hot is not None else await self.store.get_event(run.event_id) if run.event_id else None
        if event is not None and event.id and not event.name.startswith(LIFECYCLE_PREFIX):
            await self.route(tx, self._lifecycle_events(run, status, fields, event), t)

    async def _resume_parent(self: "Engine", tx: Any, run: Run, status: str, fields: dict[str, Any],
                             t: Transition) -> None:
        wait = self.waits.get(f"{run.parent_run_id}/{run.parent_step}")
        if wait is None:
            return
        if status == RunStatus.COMPLETED:
            await self.resolve_wait(tx, wait, StepStatus.COMPLETED, {"data": fields.get("output")}, t,
                                    reason="invoked run finished")
            return
        child_error = fields.get("error") or {}
        error = {"name": child_error.get("name", "InvokedRunCancelled"),
                 "message": child_error.get("message", f"invoked run {run.id} of function {run.function_id!r} "
                                                       "was cancelled"),
                 "stack": child_error.get("stack", "")}
        await self.resolve_wait(tx, wait, StepStatus.FAILED, {"error": error}, t, error=error,
                                reason="invoked run failed")

    def _lifecycle_events(self: "Engine", run: Run, status: str, fields: dict[str, Any], event: Event) -> list[Event]:
        now = self.clock.now_ms()
        base = {"function_id": run.function_id, "run_id": run.id, "event": event.to_dict()}
        finished = {**base, **({"result": fields.get("output")} if status == RunStatus.COMPLETED
                               else {"error": fields.get("error")} if status == RunStatus.FAILED else {})}
        raw = [{"name": "inngest/function.finished", "data": finished}]
        if status == RunStatus.FAILED:
            raw.append({"name": "inngest/function.failed", "data": {**base, "error": fields.get("error")}})
        elif status == RunStatus.CANCELLED:
            raw.append({"name": "inngest/function.cancelled", "data": base})
        return [validate_event(r, now, allow_reserved=True) for r in raw]

