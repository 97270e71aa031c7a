"""Steps that park a run: sleeps, waits for an event or a signal, invokes — and what ends them (the
awaited thing arriving, the deadline, the operator's "fire now").

A parked step is three rows committed together: the step, the ``waits`` row events route to, and
the timer in the durable queue. From the commit on, events route to it; earlier ones never did.
"""

from __future__ import annotations

from typing import Any

from executor.engine.core import Core, Transition
from executor.feed import Change
from executor.engine.runs import start_run
from executor.engine.waits import index_key_of
from executor.errors import ErrorInfo, NotFoundError, SignalNotFoundError
from executor.records import ChangeKind, QueueKind, Run, StepState, StepStatus, Wait, WaitKind
from executor.specs import FunctionSpec
from executor.store import Tx
from executor.util import jsonvalues

INVOKE_TIMEOUT_ERROR = "InngestInvokeTimeoutError"


class InvokeSkipped(Exception):
    """The invoked function's flow control skipped the child run (a rate limit, a singleton):
    the invoke step fails at once instead of waiting for a run that will never finish."""

    def __init__(self, child: Run) -> None:
        super().__init__(f"invoked function {child.function_id!r} did not run: run {child.id} was skipped "
                         f"({child.skip_reason})")
        self.child = child


def timer_kind(wait: Wait) -> QueueKind:
    return {WaitKind.SLEEP: QueueKind.SLEEP, WaitKind.CANCEL: QueueKind.EXPIRE}.get(wait.kind, QueueKind.TIMEOUT)


async def park(core: Core, tx: Tx, run: Run, state: StepState, kind: WaitKind, due: int, t: Transition, *,
               event_name: str | None = None, expression: str | None = None, source: str | None = None,
               signal: str | None = None, invoke: tuple[FunctionSpec, dict[str, Any]] | None = None) -> StepState:
    """Commit a sleep or wait for ``state`` (already carrying its detail) with its deadline ``due``."""
    now = core.now()
    wait = Wait(id=f"{run.id}/{state.hashed_id}", run_id=run.id, function_id=run.function_id, kind=kind,
                created_at=now, hashed_id=state.hashed_id, step_id=state.step_id, event_name=event_name,
                expression=expression, source=source, signal=signal, deadline=due,
                index_key=index_key_of(expression) if kind == WaitKind.EVENT else None)
    parked = state.copy(status=StepStatus.SLEEPING if kind == WaitKind.SLEEP else StepStatus.WAITING,
                        due_at=due, started_at=state.started_at or now)
    if signal is not None:
        owner = core.waits.signal_owner(signal)
        if owner is not None and owner.id != wait.id:
            await tx.deactivate_wait(owner.id)
            t.waits_deactivated.append(owner.id)
    if invoke is not None:
        target, data = invoke
        child = await start_run(core, tx, target, data, t, parent=(run, state.hashed_id))
        if child.finished:
            raise InvokeSkipped(child)
        wait.child_run_id = child.id
        parked.detail = {**parked.detail, "child_run_id": child.id}
    await tx.save_step(parked)
    await tx.add_wait(wait)
    t.queued.append(await tx.enqueue(core.item(run.id, timer_kind(wait), due, wait=wait.id, step=state.hashed_id)))
    t.step_changed(parked)
    t.waits_added.append(wait)
    t.changes.append(Change(ChangeKind.WAIT, wait.id, run.id, "added", {"kind": kind}))
    return parked


async def resolve_wait(core: Core, tx: Tx, wait: Wait, status: StepStatus, memo: Any, t: Transition, *,
                       error: dict[str, Any] | None = None, reason: str) -> bool:
    """Finish a parked step with ``memo`` and wake its run; False if it was already finished."""
    await tx.remove_wait(wait.id)
    t.waits_removed.append(wait.id)
    t.changes.append(Change(ChangeKind.WAIT, wait.id, wait.run_id, "removed", {"kind": wait.kind}))
    timer = await tx.find_queue_item(wait.run_id, timer_kind(wait), wait.hashed_id)
    if timer is not None:
        await tx.dequeue(timer.id)
        t.dropped.append(timer.id)
    if wait.hashed_id is None:
        return False
    step = await tx.get_step(wait.run_id, wait.hashed_id)
    if step is None or step.has_memo:
        return False
    done = step.copy(status=status, memo=memo, error=error, due_at=None, ended_at=core.now(),
                     attempts=step.attempts + 1)
    await tx.save_step(done)
    t.step_changed(done)
    waiting = core.in_place.pop(wait.id, None)
    if waiting is not None and not waiting.done():
        t.resumed.append((waiting, done))     # its invocation is live and goes on in place
    else:
        await wake(core, tx, done, t, reason=reason)
    return True


async def wake(core: Core, tx: Tx, done: StepState, t: Transition, *, reason: str,
               unseen: list[str] | None = None) -> None:
    """Queue the discovery request that follows a finished step, unless it belongs to a parallel
    group in Inngest's default (wait) mode with siblings still pending: then the last one to
    finish wakes the run, once."""
    if done.group and not done.detail.get("race"):
        siblings = await tx.group_steps(done.run_id, done.group)
        if any(not s.has_memo and s.hashed_id != done.hashed_id for s in siblings):
            return
    t.queued.append(await tx.enqueue(core.item(done.run_id, QueueKind.INVOKE, reason=reason, unseen=unseen)))


async def expire(core: Core, tx: Tx, wait: Wait, t: Transition) -> None:
    """What a wait's deadline means: a sleep ends, a wait returns None, an invoke fails."""
    if wait.kind == WaitKind.CANCEL:
        await tx.remove_wait(wait.id)
        t.waits_removed.append(wait.id)
    elif wait.kind == WaitKind.INVOKE:
        error = {"name": INVOKE_TIMEOUT_ERROR, "message": "Timed out waiting for invoked function to complete",
                 "stack": None}
        await resolve_wait(core, tx, wait, StepStatus.FAILED, {"error": error}, t, error=error, reason="timeout")
    else:
        await resolve_wait(core, tx, wait, StepStatus.COMPLETED, None, t,
                           reason="sleep ended" if wait.kind == WaitKind.SLEEP else "timeout")


async def fire(core: Core, wait_id: str) -> None:
    """The operator's "skip": end a sleep now, time a wait out now, or retry a failed attempt now."""
    async with core.transition() as (tx, t):
        # The row, not the mirror: a reader may see a wait committed a moment before the mirror has it.
        wait = await tx.get_wait(wait_id)
        if wait is None or wait.kind == WaitKind.CANCEL:
            retry = await tx.get_queue_item(wait_id)
            if retry is None or retry.kind != QueueKind.RETRY:
                raise NotFoundError(f"no pending sleep, wait or retry with id {wait_id!r}")
            await tx.dequeue(retry.id)       # "retry now": the same attempt, due at once
            t.dropped.append(retry.id)
            t.queued.append(await tx.enqueue(core.item(retry.run_id, QueueKind.RETRY, **retry.payload)))
            step = await tx.get_step(retry.run_id, retry.payload["step"]) if "step" in retry.payload else None
            if step is not None and step.status == StepStatus.RETRYING:
                due_now = step.copy(due_at=core.now())
                await tx.save_step(due_now)
                t.step_changed(due_now)
            return
        await expire(core, tx, wait, t)


async def send_signal(core: Core, signal: str, data: Any = None) -> str:
    """Resume the run waiting for ``signal``; returns its id."""
    if not isinstance(signal, str) or not signal:
        raise ValueError("a signal needs a non-empty name")
    try:
        jsonvalues.dumps(data)
    except jsonvalues.NotJSONError as exc:
        raise ValueError(f"signal {signal!r}: data is not JSON: {exc}") from None
    async with core.transition() as (tx, t):
        owner = core.waits.signal_owner(signal)
        if owner is None:
            raise SignalNotFoundError(f"no run is waiting for signal {signal!r}")
        await resolve_wait(core, tx, owner, StepStatus.COMPLETED, {"data": {"signal": signal, "data": data}}, t,
                           reason=f"signal {signal}")
    return owner.run_id


async def resume_parent(core: Core, tx: Tx, run: Run, status: str, fields: dict[str, Any], t: Transition) -> None:
    """A child run ended: finish its parent's invoke step with the child's return value or error."""
    wait = core.waits.get(f"{run.parent_run_id}/{run.parent_step}")
    if wait is None:
        return
    if status == "Completed":
        await resolve_wait(core, tx, wait, StepStatus.COMPLETED, {"data": fields.get("output")}, t,
                           reason="invoked run finished")
        return
    if fields.get("error") is not None:
        info = ErrorInfo.from_dict(fields["error"])
        error = {"name": info.name, "message": info.message, "stack": info.stack}
    else:
        error = {"name": "InvokedRunCancelled", "stack": "",
                 "message": f"invoked run {run.id} of function {run.function_id!r} was cancelled"}
    await resolve_wait(core, tx, wait, StepStatus.FAILED, {"error": error}, t, error=error,
                       reason="invoked run failed")
