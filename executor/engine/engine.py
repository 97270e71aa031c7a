"""The engine: ops in, transitions out.

A queue item that calls for the function becomes an ``InvocationRequest`` for the driver that runs
it; what comes back — ops, a return value or an error — goes through ``apply``, the one entry point
that changes a run because of what its function did. Each ``apply`` is one SQLite transaction, and
so is each checkpoint a driver makes mid-invocation (through the ``RunControl`` in the request), so a
step is durable before the function moves past it. The engine never holds a function's code: it
knows specs, and drivers run them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from executor.engine import admission, flowviews, inplace
from executor.engine.core import Core, HotRun, Transition
from executor.engine.cron import CronTimers
from executor.engine.events import validate_event
from executor.feed import Change, ChangeFeed
from executor.engine.pauses import expire, fire, send_signal, wake
from executor.engine.routing import finish_run, route
from executor.engine.runs import add_event, create_run, request_cancel, start_run
from executor.engine.scheduler import Scheduler
from executor.engine.steps import GATEWAY_REQUEST, RETRY_AFTER_MAX_MS, RETRY_AFTER_MIN_MS, Applied, StepOps
from executor.errors import ErrorInfo, EventValidationError, NotFoundError
from executor.ops import Driver, InvocationRequest, InvocationResult, Op, RunStopped
from executor.records import (STEP_WAITS, ChangeKind, Event, Limits, QueueItem, QueueKind, Run, RunStatus,
                              StepState, StepStatus)
from executor.flowcontrol import FlowControl
from executor.specs import FunctionSpec
from executor.store import Store, Tx
from executor.util.backoff import Backoff
from executor.util import jsonvalues
from executor.util.clock import Clock
from executor.util.ids import seeded_id

log = logging.getLogger("durable_tui.engine")
#: Steps another request is about to run or is running (parallel steps, targeted one by one).
_IN_FLIGHT = (StepStatus.PLANNED, StepStatus.RUNNING)

#: Makes the HTTP call a ``step.ai.infer`` describes: (hashed step id, the op's options) -> the
#: step's outcome as an op (``StepRun`` with the reply, or ``StepError``).
Gateway = Callable[[str, Mapping[str, Any]], Awaitable[Op]]


class Engine:
    def __init__(self, store: Store, clock: Clock, feed: ChangeFeed, limits: Limits, backoff: Backoff,
                 drivers: Mapping[str, Driver], concurrency: int = 64, gateway: Gateway | None = None) -> None:
        self.scheduler = Scheduler(clock, self._handle, concurrency)
        self.core = Core(store, clock, feed, limits, backoff, self.scheduler)
        store.others_busy = self.scheduler.busy
        self.drivers = dict(drivers)
        self.gateway = gateway
        self.cron = CronTimers(clock, self._start_cron_run)

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load waits and the durable queue; re-queue any run a crash left without pending work."""
        core = self.core
        core.waits.load(await core.store.waits())
        items = await core.store.queue_items()
        with_items = {item.run_id for item in items}
        core.cancelling.update(item.run_id for item in items if item.kind == QueueKind.CANCEL)
        orphans = [run for run in await core.store.unfinished_runs() if run.id not in with_items]
        if orphans:
            async with core.store.tx() as tx:
                for run in orphans:
                    items.append(await tx.enqueue(core.item(run.id, QueueKind.INVOKE, reason="recovered")))
            log.info("re-queued %d run(s) that were mid-invocation when the executor stopped", len(orphans))
        core.flow.gate.load_lanes(((fid, key), tat) for fid, key, tat in await core.store.flow.limits("throttle"))
        core.flow.note_items(items)
        self.scheduler.push(items)
        self.scheduler.start()
        self.cron.start()

    async def stop(self) -> None:
        await self.cron.stop()
        await self.scheduler.stop()

    # ---- functions ---------------------------------------------------------------------

    def set_functions(self, group: str, specs: Iterable[FunctionSpec]) -> None:
        """Replace ``group``'s functions at once (``FunctionSpec.group``: our function files, or one
        app); runs parked for a missing function resume if it is back."""
        registry = self.core.registry
        old = registry.of_group(group)
        before = set(old)
        self.scheduler.push(registry.replace(group, specs))
        new = registry.of_group(group)
        if any(_flow_of(old, fid) != _flow_of(new, fid) for fid in old.keys() | new.keys()):
            self.scheduler.push(self.core.flow.functions_changed())
        self.cron.set_functions(registry.all().values())
        self.core.feed.publish([Change(ChangeKind.FUNCTION, fn_id) for fn_id in before | set(registry.of_group(group))])

    # ---- events and runs in --------------------------------------------------------------

    def validate(self, events: Any, *, seed: str | None = None, prefix: bool = False
                 ) -> tuple[list[Event], EventValidationError | None]:
        """Check a send's events in order. All or nothing, unless ``prefix``: then the events
        before the first bad one are kept and that one's error is returned with them (Inngest's
        event API stores what came before a bad event). ``seed`` derives their ids, as Inngest's
        ``x-inngest-event-id-seed`` does."""
        batch = events if isinstance(events, (list, tuple)) else [events]
        if not batch:
            raise EventValidationError("no events to send")
        limits = self.core.limits
        if len(batch) > limits.max_events_per_send:
            raise EventValidationError(
                f"{len(batch):,} events in one send; the limit is {limits.max_events_per_send:,}")
        now = self.core.now()
        numbered = len(batch) > 1
        valid: list[Event] = []
        for i, raw in enumerate(batch):
            try:
                valid.append(validate_event(raw, now, index=i + 1 if numbered else 0,
                                            max_bytes=limits.max_event_bytes, internal_id=seeded_id(seed, i + 1)))
            except EventValidationError as exc:
                if not prefix:
                    raise
                return valid, exc
        return valid, None

    async def send(self, events: Sequence[Event]) -> dict[str, list[str]]:
        """Persist events, resume the waits they satisfy and start the runs they trigger, in one
        transaction. Returns event id -> ids of the runs it started or resumed."""
        async with self.core.transition() as (tx, t):
            return await route(self.core, tx, events, t)

    async def start_run(self, function_id: str, data: dict[str, Any]) -> Run:
        """Start a function directly, whatever its triggers (the console's and API's invoke)."""
        spec = self._require_function(function_id)
        async with self.core.transition() as (tx, t):
            return await start_run(self.core, tx, spec, data, t)

    async def rerun(self, run_id: str, from_step: str | None = None) -> Run:
        run = await self._require_run(run_id)
        spec = self._require_function(run.function_id)
        event = await self.core.store.get_event(run.event_id) if run.event_id else None
        if event is None:
            raise NotFoundError(f"run {run_id}: its triggering event is gone, so it cannot be rerun")
        kept: list[StepState] = []
        if from_step is not None:
            steps = await self.core.store.steps(run_id)
            start = next((s for s in steps if from_step in (s.step_id, s.hashed_id)), None)
            if start is None:
                raise ValueError(f"run {run_id} has no step {from_step!r}; its steps are "
                                 f"{', '.join(s.step_id for s in steps) or 'none'}")
            kept = [s for s in steps if s.seq < start.seq and s.status == StepStatus.COMPLETED]
        async with self.core.transition() as (tx, t):
            new = await create_run(self.core, tx, spec, event, t, dedupe=False)
            assert new is not None
            for step in kept:
                await tx.save_step(step.copy(run_id=new.id, detail={**step.detail, "rerun_of": run_id}))
            if kept:
                t.created.pop(new.id, None)     # its first request must read the steps it keeps
                size = sum(len(jsonvalues.dumps(s.memo)) for s in kept)
                await tx.add_run_usage(new.id, len(kept), size, kept[-1].step_id, None)
                await tx.update_run(new.id, status=RunStatus.QUEUED, started_at=None)
        return new

    async def _start_cron_run(self, spec: FunctionSpec, cron: str, due_ms: int) -> None:
        """A cron tick: the event id is derived from the tick, so a restart cannot fire it twice."""
        event = validate_event({"id": f"cron-{spec.id}-{due_ms}", "name": "inngest/scheduled.timer",
                                "data": {"cron": cron, "function_id": spec.id}, "ts": due_ms},
                               due_ms, allow_reserved=True)
        async with self.core.transition() as (tx, t):
            await tx.insert_events([event], self.core.now())
            add_event(t, event)
            await create_run(self.core, tx, spec, event, t)

    # ---- operator actions --------------------------------------------------------------

    async def cancel(self, run_id: str) -> bool:
        """Ask for a run to stop at its next step boundary; durable once this returns.
        Returns False when the run had already finished."""
        run = await self._require_run(run_id)
        if run.finished:
            return False
        async with self.core.transition() as (tx, t):
            await request_cancel(self.core, tx, run_id, t)
        return True

    async def fire(self, wait_id: str) -> None:
        await fire(self.core, wait_id)

    async def send_signal(self, signal: str, data: Any = None) -> str:
        return await send_signal(self.core, signal, data)

    async def list_waits(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Pending sleeps and waits, then retry backoffs, each soonest first."""
        waits = [w.pending() for w in await self.core.store.waits(STEP_WAITS, run_id=run_id)]
        return [w.to_dict() for w in waits + await self.core.store.retries(run_id)]

    async def describe_runs(self, runs: Sequence[Run]) -> None:
        """Say on each unfinished run why it is not moving, when flow control holds it back."""
        await flowviews.describe_runs(self.core, runs)

    async def flow_usage(self, function_id: str) -> dict[str, Any]:
        return await flowviews.usage(self.core, self._require_function(function_id))

    def live_steps(self, run_id: str) -> dict[str, StepState]:
        return dict(self.core.live.get(run_id, {}))

    async def _require_run(self, run_id: str) -> Run:
        run = await self.core.store.get_run(run_id)
        if run is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        return run

    def _require_function(self, function_id: str) -> FunctionSpec:
        spec = self.core.registry.get(function_id)
        if spec is None:
            raise NotFoundError(f"no function with id {function_id!r} is loaded")
        return spec

    # ---- queue items -------------------------------------------------------------------

    async def _handle(self, item: QueueItem) -> None:
        core = self.core
        run = core.store.writer_run(item.run_id)
        if run is None or run.finished:
            async with core.transition() as (tx, t):
                await tx.dequeue(item.id)
                t.dropped.append(item.id)
            return
        if item.kind == QueueKind.CANCEL:
            async with core.transition(Transition(dropped=[item.id])) as (tx, t):
                await finish_run(core, tx, run, {"status": RunStatus.CANCELLED}, t)
            return
        if item.kind == QueueKind.DEADLINE:
            await admission.deadline(core, item, run)
            return
        if item.kind in (QueueKind.SLEEP, QueueKind.TIMEOUT, QueueKind.EXPIRE):
            async with core.transition(Transition(dropped=[item.id])) as (tx, t):
                await tx.dequeue(item.id)
                wait = core.waits.get(item.payload.get("wait", ""))
                if wait is not None:
                    await expire(core, tx, wait, t)
            return
        spec = core.registry.get(run.function_id)
        driver = self.drivers.get(spec.driver) if spec is not None else None
        if spec is None or driver is None:
            core.registry.park(item, run.function_id)
            self.scheduler.push(core.flow.gate.discard([item.id]))   # it no longer waits for a slot
            log.warning("run %s waits for function %r, which is not loaded", run.id, run.function_id,
                        extra={"run_id": run.id, "function_id": run.function_id})
            core.feed.publish([Change(ChangeKind.RUN, run.id, run.id, run.status,
                                      {"missing_function": run.function_id})])
            return
        if not await admission.admit(core, item, run, spec):
            return
        try:
            await self._invoke(run, spec, driver, item)
        finally:
            admission.release(core, item)

    # ---- invocations -------------------------------------------------------------------

    async def _invoke(self, run: Run, spec: FunctionSpec, driver: Driver, item: QueueItem) -> None:
        core = self.core
        hot = await core.hot_run(run)
        control = _Control(self, run, spec, item)
        steps = _as_of(hot, item.payload.get("unseen"))
        request = InvocationRequest(
            run=run, function_id=spec.id, event=hot.event, events=hot.events or [hot.event], steps=steps,
            now_ms=core.now(),
            attempt=item.payload.get("attempt", run.attempt), max_attempts=spec.max_attempts, limits=core.limits,
            control=control, target=item.payload.get("target"), request_id=item.id,
            # Parallel steps still planned or in flight in other requests: the SDK must not run a new
            # step inline (it may be one of them), as Inngest's ForceStepPlan until they all end.
            disable_immediate_execution=any(s.status in _IN_FLIGHT for s in steps.values()))
        gateway_call = (hot.steps[request.target].detail.get(GATEWAY_REQUEST)
                        if request.target in hot.steps else None)
        try:
            if gateway_call is not None and self.gateway is not None:
                result = InvocationResult(ops=[await self.gateway(request.target, gateway_call)])
            else:
                result = await driver.invoke(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:   # a driver bug must not lose the run: retry it like a function error
            log.exception("the %s driver failed to invoke run %s", spec.driver, run.id,
                          extra={"run_id": run.id, "function_id": run.function_id})
            result = InvocationResult(error=ErrorInfo.from_exception(exc))
        await self.apply(run.id, result, control=control, item=item)

    async def apply(self, run_id: str, result: InvocationResult, *, control: "_Control",
                    item: QueueItem | None = None) -> dict[str, StepState]:
        """Apply what a function did to its run, in one transaction: each op's step transition,
        then — when ``item`` ends the invocation — the run's fate: completed, failed, retried,
        cancelled, or what is queued next. Without ``item`` this is a checkpoint: the ops commit
        and the function goes on. Returns each op's step as it now stands."""
        core = self.core
        final = item is not None
        async with core.transition(Transition(dropped=[item.id] if item else [])) as (tx, t):
            if item is not None:
                await tx.dequeue(item.id)
            run = await tx.get_run(run_id)
            if run is None or run.finished:
                if final:
                    return {}
                raise RunStopped(f"run {run_id} has ended")
            hot = await core.hot_run(run)
            spec = control.spec
            target = item.payload.get("target") if item is not None else None
            ops = StepOps(core, tx, t, run, spec, hot, target=target, request=result.detail.get("http"))
            fatal = self._step_limit(run, hot, result.ops)
            applied = await ops.apply(result.ops) if fatal is None else None
            promoted = False
            if applied is not None:
                fatal = applied.fatal
                if applied.new_steps or applied.state_bytes or applied.last_step or run.started_at is None:
                    starts = run.status == RunStatus.QUEUED or run.started_at is None
                    await tx.add_run_usage(run.id, applied.new_steps, applied.state_bytes, applied.last_step,
                                           control.started_at if starts else None)
                    run.started_at = run.started_at or control.started_at   # as the statement set them
                    promoted = run.status == RunStatus.QUEUED
                    if promoted:
                        run.status = RunStatus.RUNNING
                hot.state_bytes += applied.state_bytes
            fields: dict[str, Any] = {}
            if run.started_at is None:
                fields["started_at"] = control.started_at
            if applied is not None and applied.memoized and run.attempt:
                # Progress: the next request is a new one, with retries of its own (as on Inngest,
                # where each step's completion queues a fresh item at attempt 0).
                fields["attempt"] = run.attempt = 0
            self._record_warnings(run, result.warnings, fields)
            terminal = (await self._fate(tx, t, run, spec, result, fatal, fields) if final
                        else self._fatal(fatal, fields))
            if (final or terminal is not None) and control.item.payload.get("target") is None:
                fields["invocations"] = run.invocations + 1     # this invocation ends here
            if final and terminal is None and result.error is None and applied is not None:
                await self._next(tx, t, run, hot, result, applied, target)
            if terminal is not None:
                if promoted:    # it ran, if only within this transition: the feed says so in order
                    t.run_changed(run, RunStatus.RUNNING)
                fields["status"] = terminal
                fields["finished_version"] = spec.version
                await finish_run(core, tx, run, fields, t)
            elif fields:
                if run.status == RunStatus.QUEUED:
                    fields["status"] = RunStatus.RUNNING
                await tx.update_run(run.id, **fields)
                t.run_changed(run, fields.get("status", run.status))
            elif promoted or (applied is not None and applied.states):
                t.run_changed(run, run.status)
        if fatal is not None and not final:
            raise RunStopped(f"run {run_id} failed: {fatal.name}")
        return applied.states if applied is not None else {}

    def _step_limit(self, run: Run, hot: HotRun, ops: list[Op]) -> ErrorInfo | None:
        new = list({op.id: op for op in ops if op.id not in hot.steps}.values())
        limit = self.core.limits.max_steps
        if len(hot.steps) + len(new) <= limit:
            return None
        over = new[max(limit - len(hot.steps), 0)]
        return ErrorInfo("StepLimitExceeded", f"function {run.function_id!r}, run {run.id}, step {over.step_id!r}: the "
                         f"run exceeded the step limit of {limit} steps; split the work with step.invoke or send_event",
                         "")

    def _record_warnings(self, run: Run, warnings: list[dict[str, Any]], fields: dict[str, Any]) -> None:
        known = {w["message"] for w in run.nondeterminism}
        fresh = [w for w in warnings if w["message"] not in known]
        if fresh:
            fields["nondeterminism"] = run.nondeterminism + fresh
            log.warning("non-determinism in function %r, run %s: %s", run.function_id, run.id,
                        "; ".join(w["message"] for w in fresh), extra={"run_id": run.id, "function_id": run.function_id})

    @staticmethod
    def _fatal(fatal: ErrorInfo | None, fields: dict[str, Any]) -> RunStatus | None:
        """A step that fails the whole run (a non-retriable error in a step, a limit) ends it now,
        even in the middle of an invocation."""
        if fatal is None:
            return None
        fields["error"] = fatal.to_dict()
        return RunStatus.FAILED

    async def _fate(self, tx: Tx, t: Transition, run: Run, spec: FunctionSpec, result: InvocationResult,
                    fatal: ErrorInfo | None, fields: dict[str, Any]) -> RunStatus | None:
        """The run's status once an invocation ended, or None when it goes on."""
        if fatal is not None:
            return self._fatal(fatal, fields)
        if run.id in self.core.cancelling:
            return RunStatus.CANCELLED     # a cancel wins over whatever the function did meanwhile
        if result.complete:
            fields["output"] = result.output
            return RunStatus.COMPLETED
        if result.error is None:
            return None
        fields["error"] = result.error.to_dict()
        attempt = run.attempt + 1
        if not result.retriable or attempt > spec.retries:
            return RunStatus.FAILED
        now = self.core.now()
        if result.retry_at is not None:
            due = min(max(result.retry_at, now + RETRY_AFTER_MIN_MS), now + RETRY_AFTER_MAX_MS)
        else:
            due = now + int(self.core.backoff(attempt) * 1000)
        fields["attempt"] = attempt
        t.queued.append(await tx.enqueue(self.core.item(run.id, QueueKind.RETRY, due, reason="function error",
                                                        attempt=attempt)))
        return None

    async def _next(self, tx: Tx, t: Transition, run: Run, hot: HotRun, result: InvocationResult,
                    applied: Applied, target: str | None) -> None:
        """What is queued after an invocation that neither finished the run nor failed it: the
        discovery request that follows a step run inline, or — after a targeted step — the one its
        parallel group calls for."""
        if target is not None:
            done = hot.steps.get(target)
            if done is not None and done.has_memo:
                siblings = [s.hashed_id for s in hot.steps.values()
                            if s.group == done.group and s.hashed_id != target and not s.has_memo]
                await wake(self.core, tx, done, t, reason="step finished",
                           unseen=siblings if done.detail.get("race") and siblings else None)
            return
        if applied.memoized and not result.stopped:
            t.queued.append(await tx.enqueue(self.core.item(run.id, QueueKind.INVOKE, reason="step finished")))

    def pending(self) -> list[dict[str, Any]]:
        """Due work; ``parked`` marks items due already but held back by flow control (a full
        concurrency limit, a throttle lane), which wait for another run, not for time."""
        now, gate = self.core.now(), self.core.flow.gate
        return [{"run_id": i.run_id, "kind": i.kind, "due_at": i.due_at, **i.payload,
                 **({"parked": True} if i.due_at <= now and gate.holds(i.id) else {})}
                for i in self.scheduler.items()]

    def next_due(self) -> int | None:
        dues = [d for d in (self.scheduler.next_due(), self.cron.next_due) if d is not None]
        return min(dues, default=None)


def _flow_of(specs: Mapping[str, FunctionSpec], function_id: str) -> FlowControl | None:
    spec = specs.get(function_id)
    return spec.flow if spec is not None and spec.flow.active else None


def _as_of(hot: HotRun, unseen: list[str] | None) -> dict[str, StepState]:
    """The steps as a request sees them: ``unseen`` siblings, which finished after the moment this
    request stands for (the end of one step of a race-mode parallel batch), still look in flight."""
    steps = dict(hot.steps)
    for hashed in unseen or ():
        state = steps.get(hashed)
        if state is not None and state.has_memo:
            steps[hashed] = state.copy(status=StepStatus.PLANNED, memo=None, error=None, ended_at=None)
    return steps


class _Control:
    """The engine's side of one invocation, handed to the driver (``ops.RunControl``)."""

    def __init__(self, engine: Engine, run: Run, spec: FunctionSpec, item: QueueItem) -> None:
        self._engine = engine
        self.run = run
        self.spec = spec
        self.item = item
        self.started_at = engine.core.now()

    async def checkpoint(self, ops: Sequence[Op]) -> dict[str, StepState]:
        return await self._engine.apply(self.run.id, InvocationResult(ops=list(ops)), control=self)

    def stopping(self) -> bool:
        return self.run.id in self._engine.core.cancelling

    def may_wait_in_place(self, due_ms: int | None = None) -> bool:
        return self.item.payload.get("target") is None and inplace.allowed(self._engine.core, self.spec, due_ms)

    async def wait_in_place(self, state: StepState) -> StepState | None:
        if self.item.payload.get("target") is not None or self.stopping():
            return None
        return await inplace.wait(self._engine.core, self.spec, state)

    def step_started(self, op: Op) -> None:
        core = self._engine.core
        hot = core.hot.get(self.run.id)
        known = hot.steps.get(op.id) if hot is not None else None
        now = core.now()
        running = (known.copy(status=StepStatus.RUNNING, started_at=known.started_at or now) if known is not None
                   else StepState(run_id=self.run.id, hashed_id=op.id, step_id=op.step_id,
                                  name=op.display_name or op.name, op=op.kind, seq=op.seq or 0,
                                  status=StepStatus.RUNNING, started_at=now, group=op.group))
        core.live.setdefault(self.run.id, {})[op.id] = running
        core.feed.publish([Change(ChangeKind.STEP, f"{self.run.id}/{op.id}", self.run.id, StepStatus.RUNNING)])

