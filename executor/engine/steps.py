"""One op, one step transition: what each of Inngest's opcodes does to a run's step.

Called inside the transaction ``Engine.apply`` opened, for every op of a result in order
(``WaitForEvent`` first, as Inngest does, so a batch of ``[wait, send]`` cannot miss its own event).
Anything the op asks for that can never work (an expression that does not compile, a function that
does not exist, a time too far ahead) fails that step for good, so the function sees a ``StepError``
it may catch, exactly as a replay will.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from executor.engine.core import Core, HotRun, Transition
from executor.engine.events import validate_event
from executor.engine.pauses import InvokeSkipped, park
from executor.engine.routing import route
from executor.errors import ErrorInfo, EventValidationError, ExpressionError
from executor.expressions import bind_event, compile_expression
from executor.ops import Op, Opcode
from executor.records import QueueKind, Run, StepState, StepStatus, WaitKind
from executor.specs import FunctionSpec
from executor.store import Tx
from executor.util import jsonvalues
from executor.util.durations import check_horizon, parse_duration, parse_instant

#: How many attempts a step's history keeps (the latest; ``attempts`` counts them all).
MAX_ATTEMPT_HISTORY = 20
_NOT_STEPS = frozenset({Opcode.NONE, Opcode.STEP, Opcode.RUN_COMPLETE, Opcode.DISCOVERY_REQUEST})
RETRY_AFTER_MIN_MS = 1000
RETRY_AFTER_MAX_MS = 24 * 3600 * 1000
#: Where a planned ``step.ai.infer`` keeps the call to make (private: ``StepState.to_dict`` leaves it out).
GATEWAY_REQUEST = "_gateway"
#: Inngest's default invoke timeout is a year; ours stays inside the 366-day ceiling.
DEFAULT_INVOKE_TIMEOUT = "365d"


@dataclass
class Applied:
    """What applying one result's ops amounted to, for the decision that follows them."""

    states: dict[str, StepState]
    fatal: ErrorInfo | None = None
    new_steps: int = 0
    state_bytes: int = 0
    last_step: str | None = None
    memoized: bool = False           # some op left a memo: the function can make progress now


class StepOps:
    """Applies ops for one run inside one transaction."""

    def __init__(self, core: Core, tx: Tx, t: Transition, run: Run, spec: FunctionSpec, hot: HotRun, *,
                 target: str | None, request: dict[str, Any] | None = None) -> None:
        self.core, self.tx, self.t = core, tx, t
        self.run, self.spec, self.hot = run, spec, hot
        self.target = target
        self.request = request      # how the request that produced these ops went (HTTP status, duration…)
        self.applied = Applied(states={})
        self._group: str | None = None

    def where(self, step_id: str) -> str:
        return f"function {self.run.function_id!r}, run {self.run.id}, step {step_id!r}"

    async def apply(self, ops: list[Op]) -> Applied:
        ordered = sorted(ops, key=lambda o: o.op != Opcode.WAIT_FOR_EVENT)
        # Ops reported together are one parallel group (Inngest: a response with several ops), so
        # the next discovery waits for all of them, not just the planned steps.
        fresh = [o for o in ops if o.id not in self.hot.steps and o.op not in _NOT_STEPS]
        self._group = fresh[0].id if len(fresh) > 1 else None
        for op in ordered:
            if self.applied.fatal is not None:
                break
            if op.op in _NOT_STEPS:
                continue
            state = await self._apply_one(op)
            if state is not None:
                self.applied.states[op.id] = state
        return self.applied

    # ---- the step record -----------------------------------------------------------------

    def _state(self, op: Op) -> StepState:
        existing = self.hot.steps.get(op.id)
        if existing is not None:
            return existing
        seq = op.seq if op.seq is not None else max((s.seq for s in self.hot.steps.values()), default=-1) + 1
        return StepState(run_id=self.run.id, hashed_id=op.id, step_id=op.step_id, name=op.display_name or op.name,
                         op=op.kind, seq=seq, group=op.group or self._group, started_at=op.started_at,
                         detail={"race": True} if op.race and self._group else {})

    def _account(self, state: StepState, size: int = 0) -> StepState:
        """Count a step against the run's limits; later ops of this batch see it at once (the
        mirror is set again from the transition once it has committed)."""
        if state.hashed_id not in self.hot.steps:
            self.applied.new_steps += 1
        self.hot.steps[state.hashed_id] = state
        self.applied.state_bytes += size
        self.applied.last_step = state.step_id
        if state.has_memo:
            self.applied.memoized = True
        return state

    def _attempt(self, state: StepState, op: Op | None, outcome: str, error: ErrorInfo | None = None) -> StepState:
        """The step with this attempt added to its history (kept in ``detail["attempts"]``, the
        latest ones), and the handler's arguments when the driver reported them."""
        now = self.core.now()
        record: dict[str, Any] = {"n": state.attempts + 1, "outcome": outcome,
                                  "started_at": (op.started_at if op else None) or state.started_at or now,
                                  "ended_at": (op.ended_at if op else None) or now}
        if error is not None:
            record["error"] = {"name": error.name, "message": error.message}
        if self.request is not None:
            record["request"] = {k: self.request[k] for k in ("status", "duration_ms", "url", "error")
                                 if self.request.get(k) is not None}
            took = self.request.get("duration_ms")
            if (op is None or op.started_at is None) and isinstance(took, (int, float)):
                # An SDK reports no timings of its own: the attempt ran within the request that
                # carried it, so it took (at most) as long as that request.
                record["started_at"] = record["ended_at"] - int(took)
        history = [*state.detail.get("attempts", ()), record][-MAX_ATTEMPT_HISTORY:]
        detail = {**state.detail, "attempts": history}
        if op is not None and "input" in op.opts and "input" not in detail:
            detail["input"] = op.opts["input"]
        return state.copy(detail=detail)

    async def _save(self, state: StepState, size: int = 0) -> StepState:
        await self.tx.save_step(state)
        self.t.step_changed(state)
        return self._account(state, size)

    async def _apply_one(self, op: Op) -> StepState | None:
        state = self._state(op)
        if state.has_memo:
            return state        # reported again by a replay: the memo stands
        if op.op == Opcode.STEP_RUN:
            if op.events is not None:
                return await self._send_events(state, op)
            return await self._completed(state, op)
        if op.op == Opcode.STEP_ERROR:
            return await self._errored(state, op)
        if op.op == Opcode.STEP_FAILED:
            return await self._fail(state, op.error or ErrorInfo("Error", "the step failed"), op)
        if op.op == Opcode.STEP_PLANNED:
            return await self._planned(state, op)
        if state.status in (StepStatus.SLEEPING, StepStatus.WAITING):
            return state        # already parked: a replay found it again
        if op.op == Opcode.SLEEP:
            return await self._sleep(state, op)
        if op.op == Opcode.WAIT_FOR_EVENT:
            return await self._wait_for_event(state, op)
        if op.op == Opcode.WAIT_FOR_SIGNAL:
            return await self._wait_for_signal(state, op)
        if op.op == Opcode.INVOKE_FUNCTION:
            return await self._invoke(state, op)
        if op.op == Opcode.AI_GATEWAY:
            return await self._gateway(state, op)
        return await self._fail(state, ErrorInfo(
            "UnsupportedOpcode", f"{self.where(state.step_id)}: durable-tui does not support the {op.op} op"), op)

    # ---- run steps ---------------------------------------------------------------------

    async def _completed(self, state: StepState, op: Op) -> StepState:
        size = op.size if op.size is not None else len(jsonvalues.dumps(op.data))
        limits = self.core.limits
        if size > limits.max_step_output_bytes:
            return await self._fail(state, ErrorInfo(
                "StepOutputTooLarge", f"{self.where(state.step_id)}: output is {size:,} bytes; the limit is "
                f"{limits.max_step_output_bytes:,} bytes per step — store large data elsewhere and return a "
                "reference", ""), op)
        used = self.hot.state_bytes + self.applied.state_bytes
        if used + size > limits.max_run_state_bytes:
            error = ErrorInfo("StateLimitExceeded", f"{self.where(state.step_id)}: the run's state would reach "
                              f"{used + size:,} bytes; the limit is {limits.max_run_state_bytes:,} bytes per run", "")
            return await self._fail(state, error, op, fatal=True)
        done = self._attempt(state, op, "completed").copy(
            status=StepStatus.COMPLETED, memo={"data": op.data}, error=None, due_at=None, attempts=state.attempts + 1,
            ended_at=op.ended_at or self.core.now(), started_at=state.started_at or op.started_at)
        return await self._save(done, size)

    async def _errored(self, state: StepState, op: Op) -> StepState:
        error = op.error or ErrorInfo("Error", "the step failed")
        attempts = state.attempts + 1
        if op.fatal:
            return await self._fail(state, error, op, fatal=True)
        if not op.retriable or attempts >= self.spec.max_attempts:
            return await self._fail(state, error, op)
        now = self.core.now()
        if op.retry_at is not None:
            due = min(max(op.retry_at, now + RETRY_AFTER_MIN_MS), now + RETRY_AFTER_MAX_MS)
        else:
            due = now + int(self.core.backoff(attempts) * 1000)
        retrying = self._attempt(state, op, "error", error).copy(
            status=StepStatus.RETRYING, error=error.to_dict(), due_at=due, attempts=attempts,
            started_at=state.started_at or op.started_at)
        target = op.id if self.target == op.id else None
        self.t.queued.append(await self.tx.enqueue(self.core.item(
            self.run.id, QueueKind.RETRY, due, step=op.id, target=target, attempt=attempts)))
        return await self._save(retrying)

    async def _fail(self, state: StepState, error: ErrorInfo, op: Op | None = None, *, fatal: bool = False) -> StepState:
        """Fail a step for good; ``fatal`` also fails the run with the same error."""
        err = error.to_dict()
        if fatal:
            err["fatal"] = True
            self.applied.fatal = error
        failed = self._attempt(state, op, "failed", error).copy(
            status=StepStatus.FAILED, memo={"error": err}, error=err, due_at=None, attempts=state.attempts + 1,
            ended_at=(op.ended_at if op else None) or self.core.now(),
            started_at=state.started_at or (op.started_at if op else None))
        return await self._save(failed)

    async def _planned(self, state: StepState, op: Op) -> StepState:
        if op.id in self.hot.steps:
            return state        # planned already (a discovery while it is in flight)
        planned = state.copy(status=StepStatus.PLANNED, group=self._group or op.id,
                             detail={**state.detail, **({"race": True} if op.race else {})})
        self.t.queued.append(await self.tx.enqueue(self.core.item(
            self.run.id, QueueKind.INVOKE, reason="planned", target=op.id)))
        return await self._save(planned)

    async def _gateway(self, state: StepState, op: Op) -> StepState:
        """``step.ai.infer``: the server makes the call, as a planned step of its own (durable, and
        retried like one); the request, credentials included, is kept out of what the step shows."""
        if op.id in self.hot.steps:
            return state        # planned already: its call is queued
        public = {k: op.opts.get(k) for k in ("url", "format") if op.opts.get(k)}
        planned = state.copy(status=StepStatus.PLANNED, group=state.group or op.id,
                             detail={**state.detail, "ai": public, GATEWAY_REQUEST: dict(op.opts)})
        self.t.queued.append(await self.tx.enqueue(self.core.item(
            self.run.id, QueueKind.INVOKE, reason="ai gateway", target=op.id)))
        return await self._save(planned)

    async def _send_events(self, state: StepState, op: Op) -> StepState:
        try:
            batch = list(op.events or [])
            if not batch:
                raise EventValidationError("no events to send")
            now = self.core.now()
            numbered = len(batch) > 1
            events = [validate_event(raw, now, index=i + 1 if numbered else 0,
                                     max_bytes=self.core.limits.max_event_bytes) for i, raw in enumerate(batch)]
        except EventValidationError as exc:
            return await self._fail(state, ErrorInfo("EventValidationError", f"{self.where(state.step_id)}: {exc}", ""), op)
        await route(self.core, self.tx, events, self.t)
        ids = [ev.key for ev in events]
        now = self.core.now()
        done = state.copy(status=StepStatus.COMPLETED, memo={"data": ids}, attempts=1, started_at=op.started_at or now,
                          ended_at=now, detail={**state.detail, "events": [ev.name for ev in events]})
        return await self._save(done, len(jsonvalues.dumps(ids)))

    # ---- parking steps -------------------------------------------------------------------

    def _due(self, state: StepState, value: Any, what: str) -> int:
        now = self.core.now()
        return check_horizon(now + parse_duration(value), now, what)

    async def _refuse(self, state: StepState, op: Op, exc: Exception, name: str = "StepInputError") -> StepState:
        return await self._fail(state, ErrorInfo(name, f"{self.where(state.step_id)}: {exc}", ""), op)

    async def _sleep(self, state: StepState, op: Op) -> StepState:
        now = self.core.now()
        duration = op.opts.get("duration")
        try:
            if duration is not None:
                due, detail = self._due(state, duration, "the sleep"), {"duration_ms": parse_duration(duration)}
            elif len(op.name) >= 10 and _is_instant(op.name):
                due = check_horizon(parse_instant(op.name), now, "the sleep_until time")
                detail = {"until": due}
            else:
                due, detail = self._due(state, op.name, "the sleep"), {"duration_ms": parse_duration(op.name)}
        except ValueError as exc:
            return await self._refuse(state, op, exc)
        parked = await park(self.core, self.tx, self.run, state.copy(detail={**state.detail, **detail}),
                            WaitKind.SLEEP, due, self.t)
        return self._account(parked)

    async def _wait_for_event(self, state: StepState, op: Op) -> StepState:
        event = op.opts.get("event") or op.name
        source = op.opts.get("if")
        try:
            if not isinstance(event, str) or not event:
                raise ValueError("wait_for_event needs a non-empty event name")
            ms = parse_duration(op.opts.get("timeout") or 0)
            due = self._due(state, ms, "the timeout")
        except ValueError as exc:
            return await self._refuse(state, op, exc)
        bound = None
        if source:
            try:
                bound = bind_event(source, self.hot.event.to_dict())
                compile_expression(bound)
            except ExpressionError as exc:
                return await self._refuse(state, op, exc, "InvalidExpression")
        match = op.opts.get("match")     # our SDK's shorthand, kept for display; ``if`` is its expansion
        detail = {"event": event, "match": match, "if": None if match else source, "timeout_ms": ms}
        parked = await park(self.core, self.tx, self.run, state.copy(detail={**state.detail, **detail}),
                            WaitKind.EVENT, due, self.t, event_name=event, expression=bound, source=match or source)
        return self._account(parked)

    async def _wait_for_signal(self, state: StepState, op: Op) -> StepState:
        signal = op.opts.get("signal") or op.name
        conflict = op.opts.get("conflict") or "fail"
        try:
            if not isinstance(signal, str) or not signal:
                raise ValueError("wait_for_signal needs a non-empty signal name")
            if conflict not in ("replace", "fail"):
                raise ValueError(f"on_conflict must be 'replace' or 'fail', not {conflict!r}")
            ms = parse_duration(op.opts.get("timeout") or DEFAULT_INVOKE_TIMEOUT)
            due = self._due(state, ms, "the timeout")
        except ValueError as exc:
            return await self._refuse(state, op, exc)
        owner = self.core.waits.signal_owner(signal)
        if owner is not None and owner.run_id != self.run.id and conflict == "fail":
            return await self._fail(state, ErrorInfo(
                "SignalConflict", f"{self.where(state.step_id)}: signal {signal!r} is already awaited by run "
                f"{owner.run_id} (step {owner.step_id!r}); on_conflict='fail'", ""), op)
        detail = {"signal": signal, "on_conflict": conflict, "timeout_ms": ms}
        parked = await park(self.core, self.tx, self.run, state.copy(detail={**state.detail, **detail}),
                            WaitKind.SIGNAL, due, self.t, signal=signal)
        return self._account(parked)

    async def _invoke(self, state: StepState, op: Op) -> StepState:
        function_id = op.opts.get("function_id")
        payload = op.opts.get("payload") or {}
        data = payload.get("data") if isinstance(payload, dict) else None
        try:
            if data is not None and not isinstance(data, dict):
                raise ValueError(f"invoke data must be an object, not {type(data).__name__}")
            jsonvalues.dumps(data)
            timeout = op.opts.get("timeout")
            ms = parse_duration(timeout if timeout not in (None, "") else DEFAULT_INVOKE_TIMEOUT)
            due = self._due(state, ms, "the timeout")
        except (ValueError, jsonvalues.NotJSONError) as exc:
            return await self._refuse(state, op, exc)
        target = self.core.registry.get(function_id) if isinstance(function_id, str) else None
        if target is None:
            return await self._fail(state, ErrorInfo(
                "FunctionNotFound", f"{self.where(state.step_id)}: no function with id {function_id!r} is loaded", ""),
                op)
        detail = {"function_id": function_id, "timeout_ms": ms}
        try:
            parked = await park(self.core, self.tx, self.run, state.copy(detail={**state.detail, **detail}),
                                WaitKind.INVOKE, due, self.t, invoke=(target, data or {}))
        except InvokeSkipped as exc:
            return await self._fail(state.copy(detail={**state.detail, **detail, "child_run_id": exc.child.id}),
                                    ErrorInfo("Error", f"{self.where(state.step_id)}: {exc}", ""), op)
        return self._account(parked)


def _is_instant(text: str) -> bool:
    try:
        parse_instant(text)
    except ValueError:
        return False
    return True
