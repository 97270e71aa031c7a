"""State transitions: each thing that happens to a run is one SQLite transaction.

The engine turns queue items into invocations, commits what invocations produce (step
results, planned steps, completion or failure), and publishes a change for each commit. It is
the only writer; everything else reads. Waits, event routing and run endings that touch other
runs live in ``routing.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from executor.drivers.local.attempt import Outcome, error_dict, run_attempt
from executor.drivers.local.context import Context, ReplayAwareLogger, Step
from executor.drivers.local.function import Function
from executor.drivers.local.invocation import Invocation, Planned
from executor.engine.cron import CronTimers
from executor.engine.events import validate_event
from executor.engine.feed import Change, ChangeFeed
from executor.engine.routing import HotRun, Routing, Transition
from executor.engine.scheduler import Scheduler
from executor.engine.waits import WaitRegistry
from executor.errors import EventValidationError, FunctionDefinitionError, NonRetriableError, RetryAfterError, StepError
from executor.records import Event, Limits, QueueItem, QueueKind, Run, RunStatus, StepState, StepStatus
from executor.store import Store
from executor.util import jsonvalues
from executor.util.backoff import Backoff
from executor.util.clock import Clock
from executor.util.durations import duration_or_instant_to_due
from executor.util.ids import new_id

log = logging.getLogger("durable_tui.engine")
function_log = logging.getLogger("durable_tui.functions")

INVOKED_EVENT = "inngest/function.invoked"


class Engine(Routing):
    def __init__(self, store: Store, clock: Clock, feed: ChangeFeed, limits: Limits, backoff: Backoff,
                 concurrency: int = 64) -> None:
        self.store = store
        self.clock = clock
        self.feed = feed
        self.limits = limits
        self.backoff = backoff
        self.scheduler = Scheduler(clock, self._handle, concurrency)
        self.waits = WaitRegistry()
        self.cron = CronTimers(clock, self._start_cron_run)
        self._functions: dict[str, Function] = {}
        self._hot: dict[str, HotRun] = {}
        self._inflight: dict[str, set[str]] = {}
        self._cancelling: set[str] = set()
        self._live: dict[str, dict[str, StepState]] = {}
        self._parked: dict[str, list[QueueItem]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load waits and the durable queue; re-queue any run a crash left without pending work."""
        self.waits.load(await self.store.waits())
        items = await self.store.queue_items()
        with_items = {item.run_id for item in items}
        self._cancelling.update(item.run_id for item in items if item.kind == QueueKind.CANCEL)
        orphans = [run for run in await self.store.unfinished_runs() if run.id not in with_items]
        if orphans:
            async with self.store.tx() as tx:
                for run in orphans:
                    items.append(await tx.enqueue(self.item(run.id, QueueKind.INVOKE, reason="recovered")))
            log.info("re-queued %d run(s) that were mid-invocation when the executor stopped", len(orphans))
        self.scheduler.push(items)
        self.scheduler.start()
        self.cron.start()

    async def stop(self) -> None:
        await self.cron.stop()
        await self.scheduler.stop()
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- functions ---------------------------------------------------------------------

    @property
    def functions(self) -> dict[str, Function]:
        return self._functions

    def set_functions(self, functions: Iterable[Function]) -> None:
        """Replace the registry at once; runs parked for a missing function resume if it is back.
        A function's ``on_failure`` handler is registered alongside it."""
        registry: dict[str, Function] = {}
        for fn in functions:
            for member in (fn, fn.on_failure):
                if member is None:
                    continue
                known = registry.get(member.id)
                if known is not None and known is not member:
                    raise FunctionDefinitionError(
                        f"function id {member.id!r} is defined twice ({known.source_file} and {member.source_file})")
                registry[member.id] = member
        self._functions = registry
        self.cron.set_functions(registry.values())
        for function_id in [f for f in self._parked if f in registry]:
            self.scheduler.push(self._parked.pop(function_id))
        self.feed.publish([Change("function", fn_id) for fn_id in registry])

    def parked_functions(self) -> dict[str, int]:
        """Function ids that runs are waiting for (deleted or not yet loaded), with run counts."""
        return {fid: len({i.run_id for i in items}) for fid, items in self._parked.items()}

    # ---- events and runs in --------------------------------------------------------------

    def validate(self, events: Any, *, allow_reserved: bool = False) -> list[Event]:
        batch = events if isinstance(events, (list, tuple)) else [events]
        if not batch:
            raise EventValidationError("no events to send")
        if len(batch) > self.limits.max_events_per_send:
            raise EventValidationError(
                f"{len(batch):,} events in one send; the limit is {self.limits.max_events_per_send:,}")
        now = self.clock.now_ms()
        numbered = len(batch) > 1
        return [validate_event(raw, now, index=i + 1 if numbered else 0, allow_reserved=allow_reserved,
                               max_bytes=self.limits.max_event_bytes) for i, raw in enumerate(batch)]

    async def send(self, events: Sequence[Event]) -> dict[str, list[str]]:
        """Persist events, resume the waits they satisfy and start the runs they trigger, in one
        transaction. Returns event id -> ids of the runs it started or resumed."""
        t = Transition()
        async with self.store.tx() as tx:
            affected = await self.route(tx, events, t)
        self.apply(t)
        return affected

    async def start_run(self, fn: Function, data: dict[str, Any], *, parent: tuple[Run, str] | None = None,
                        tx: Any = None, t: Transition | None = None) -> Run:
        """Start ``fn`` directly with a synthetic ``inngest/function.invoked`` event (the console's
        and API's invoke, and ``step.invoke`` with ``parent``)."""
        if tx is None or t is None:
            own = Transition()
            async with self.store.tx() as own_tx:
                run = await self.start_run(fn, data, parent=parent, tx=own_tx, t=own)
            self.apply(own)
            return run
        event = validate_event({"name": INVOKED_EVENT, "data": {**data, "function_id": fn.id}},
                               self.clock.now_ms(), allow_reserved=True, max_bytes=self.limits.max_event_bytes)
        await tx.insert_events([event], self.clock.now_ms())
        t.changes.append(Change("event", event.id, data={"name": event.name}))
        return await self.create_run(tx, fn, event, t, parent=parent)

    async def rerun(self, run_id: str) -> Run:
        run = await self._require_run(run_id)
        fn = self._require_function(run.function_id)
        event = await self.store.get_event(run.event_id) if run.event_id else None
        if event is None:
            raise KeyError(f"run {run_id}: its triggering event is gone, so it cannot be rerun")
        t = Transition()
        async with self.store.tx() as tx:
            new = await self.create_run(tx, fn, event, t)
        self.apply(t)
        return new

    async def _start_cron_run(self, fn: Function, cron: str, due_ms: int) -> None:
        """A cron tick: the event id is derived from the tick, so a restart cannot fire it twice."""
        event = validate_event({"id": f"cron-{fn.id}-{due_ms}", "name": "inngest/scheduled.timer",
                                "data": {"cron": cron, "function_id": fn.id}, "ts": due_ms},
                               due_ms, allow_reserved=True)
        t = Transition()
        async with self.store.tx() as tx:
            if await tx.insert_events([event], self.clock.now_ms()):
                t.changes.append(Change("event", event.id, data={"name": event.name}))
                await self.create_run(tx, fn, event, t)
        self.apply(t)

    async def create_run(self, tx: Any, fn: Function, event: Event, t: Transition,
                         parent: tuple[Run, str] | None = None) -> Run:
        run = Run(id=new_id(), function_id=fn.id, event_id=event.id, status=RunStatus.QUEUED,
                  created_at=self.clock.now_ms(), function_version=fn.version, mode=fn.mode,
                  parent_run_id=parent[0].id if parent else None, parent_step=parent[1] if parent else None)
        await tx.insert_run(run)
        t.queued.append(await tx.enqueue(self.item(run.id, QueueKind.INVOKE, reason="triggered")))
        t.changes.append(Change("run", run.id, run.id, run.status, {"function_id": fn.id}))
        await self.arm_cancel_rules(tx, fn, run, event, t)
        return run

    # ---- cancel ------------------------------------------------------------------------

    async def cancel(self, run_id: str) -> bool:
        """Ask for a run to stop at its next step boundary; durable once this returns.
        Returns False when the run had already finished."""
        run = await self._require_run(run_id)
        if run.finished:
            return False
        t = Transition()
        async with self.store.tx() as tx:
            await self.request_cancel(tx, run_id, t)
        self.apply(t)
        return True

    def cancel_requested(self, run_id: str) -> bool:
        return run_id in self._cancelling

    # ---- reads the invocation and executor need ------------------------------------------

    def inflight(self, run_id: str) -> set[str]:
        return self._inflight.get(run_id, set())

    def live_steps(self, run_id: str) -> dict[str, StepState]:
        return dict(self._live.get(run_id, {}))

    async def _require_run(self, run_id: str) -> Run:
        run = await self.store.get_run(run_id)
        if run is None:
            raise KeyError(f"no run with id {run_id!r}")
        return run

    def _require_function(self, function_id: str) -> Function:
        fn = self._functions.get(function_id)
        if fn is None:
            raise KeyError(f"no function with id {function_id!r} is loaded")
        return fn

    async def hot_run(self, run: Run) -> HotRun:
        hot = self._hot.get(run.id)
        if hot is None:
            event = await self.store.get_event(run.event_id) if run.event_id else None
            if event is None:
                event = Event(id="", name="", data={}, ts=run.created_at)
            memo = {s.hashed_id: s for s in await self.store.steps_from_writer(run.id)}
            hot = HotRun(event=event, memo=memo, state_bytes=run.state_bytes)
            self._hot[run.id] = hot
        return hot

    # ---- queue items -------------------------------------------------------------------

    def item(self, run_id: str, kind: str, due_at: int | None = None, **payload: Any) -> QueueItem:
        return QueueItem(id=new_id(), run_id=run_id, due_at=self.clock.now_ms() if due_at is None else due_at,
                         kind=kind, payload=payload)

    async def _handle(self, item: QueueItem) -> None:
        run = await self.store.get_run(item.run_id)
        if run is None or run.finished:
            async with self.store.tx() as tx:
                await tx.dequeue(item.id)
            self.scheduler.discard([item.id])
            return
        if item.kind == QueueKind.CANCEL:
            t = Transition(dropped=[item.id])
            async with self.store.tx() as tx:
                await self.close_run(tx, run, {"status": RunStatus.CANCELLED}, t)
            self.apply(t)
            return
        if item.kind in (QueueKind.SLEEP, QueueKind.TIMEOUT, QueueKind.EXPIRE):
            await self.time_out(item)
            return
        fn = self._functions.get(run.function_id)
        if fn is None:
            self._parked.setdefault(run.function_id, []).append(item)
            log.warning("run %s waits for function %r, which is not loaded", run.id, run.function_id)
            self.feed.publish([Change("run", run.id, run.id, run.status, {"missing_function": run.function_id})])
            return
        await self._invoke(run, fn, item)

    # ---- invocations -------------------------------------------------------------------

    async def _invoke(self, run: Run, fn: Function, item: QueueItem) -> None:
        hot = await self.hot_run(run)
        inv = Invocation(self, run, fn, hot.event, dict(hot.memo), set(item.payload.get("hide", [])))
        ctx = Context(event=hot.event, events=[hot.event], run_id=run.id, attempt=run.attempt, step=Step(inv),
                      logger=ReplayAwareLogger(inv, function_log.getChild(fn.id)), function_id=fn.id)
        task = asyncio.create_task(fn.handler(ctx), name=f"run {run.id}")
        try:
            await inv.settle(task)
        finally:
            finished = task.done()
            if not finished:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        result: Any = None
        exc: BaseException | None = None
        if finished:
            exc = task.exception() if not task.cancelled() else asyncio.CancelledError("the function cancelled itself")
            result = None if exc is not None else task.result()
        await self._finish_invocation(run, fn, inv, item, finished, result, exc)

    async def _finish_invocation(self, run: Run, fn: Function, inv: Invocation, item: QueueItem,
                                 finished: bool, result: Any, exc: BaseException | None) -> None:
        now = self.clock.now_ms()
        c = inv.collected
        fields: dict[str, Any] = {"invocations": run.invocations + 1}
        if run.status == RunStatus.QUEUED:
            fields.update(status=RunStatus.RUNNING, started_at=run.started_at or now)
        t = Transition(dropped=[item.id])
        terminal: str | None = None
        warnings = list(c.warnings)
        if c.cancelled:
            terminal = RunStatus.CANCELLED
        elif c.fatal is not None:
            terminal, fields["error"] = RunStatus.FAILED, c.fatal.to_dict()
        elif finished:
            terminal = self._judge_result(run, fn, inv, result, exc, fields, t, warnings)
        planned: list[StepState] = []
        if terminal is None and not finished and inv.strict:
            group = c.planned[0].state.hashed_id if len(c.planned) > 1 else None
            for p in c.planned:
                p.state.group = group or p.state.hashed_id
                planned.append(p.state)
        if warnings:
            known = {w["message"] for w in run.nondeterminism}
            fresh = [w for w in warnings if w["message"] not in known]
            if fresh:
                fields["nondeterminism"] = run.nondeterminism + fresh
                log.warning("non-determinism in %s: %s", inv.where(), "; ".join(w["message"] for w in fresh))
        hot = await self.hot_run(run)
        new_rows = sum(1 for s in planned if s.hashed_id not in hot.memo)
        async with self.store.tx() as tx:
            await tx.dequeue(item.id)
            for s in planned:
                await tx.save_step(s)
                t.steps.append(s)
            if planned:
                await tx.add_run_usage(run.id, new_rows, 0, planned[-1].step_id, now)
            for q in t.queued:
                await tx.enqueue(q)
            if terminal is not None:
                fields["status"] = terminal
                await self.close_run(tx, run, fields, t, version=fn.version)
            else:
                await tx.update_run(run.id, **fields)
                t.changes.append(Change("run", run.id, run.id, fields.get("status", run.status),
                                        {"function_id": run.function_id}))
        if terminal is None and not planned and not c.planned and not finished:
            self._hot.pop(run.id, None)   # parked on a wait: reload the memo when it resumes
        self.apply(t)
        if terminal is None and planned:
            self._spawn_planned(run, fn, c.planned)

    def _judge_result(self, run: Run, fn: Function, inv: Invocation, result: Any, exc: BaseException | None,
                      fields: dict[str, Any], t: Transition, warnings: list[dict[str, Any]]) -> str | None:
        """The run's fate once the function body returned or raised."""
        if exc is None:
            unreached = [s.step_id for h, s in inv.memo.items() if s.has_memo and h not in inv.reached]
            if unreached:
                warnings.append({"message": f"memoized step(s) {', '.join(unreached)} were never reached on replay",
                                 "steps": unreached})
            try:
                value, size = jsonvalues.roundtrip(result)
            except jsonvalues.NotJSONError as err:
                fields["error"] = {"name": "FunctionOutputNotSerializable",
                                   "message": f"{inv.where()}: the function returned a {err}", "stack": ""}
                return RunStatus.FAILED
            if size > self.limits.max_step_output_bytes:
                fields["error"] = {"name": "OutputTooLarge", "stack": "",
                                   "message": f"{inv.where()}: the return value is {size:,} bytes; the limit is "
                                              f"{self.limits.max_step_output_bytes:,} bytes"}
                return RunStatus.FAILED
            fields["output"] = value
            return RunStatus.COMPLETED
        if isinstance(exc, StepError):
            fields["error"] = {"code": "step_errored", "step": exc.step_id, **exc.to_dict()}
            return RunStatus.FAILED
        if isinstance(exc, NonRetriableError) or not isinstance(exc, Exception):
            fields["error"] = error_dict(exc)
            return RunStatus.FAILED
        attempt = run.attempt + 1
        if attempt > fn.retries:
            fields["error"] = error_dict(exc)
            return RunStatus.FAILED
        now = self.clock.now_ms()
        due = now + int(self.backoff(attempt) * 1000)
        if isinstance(exc, RetryAfterError):
            try:
                due = duration_or_instant_to_due(exc.retry_after, now)
            except ValueError:
                pass
        fields.update(attempt=attempt, error=error_dict(exc))
        t.queued.append(self.item(run.id, QueueKind.RETRY, due, reason="function error"))
        return None

    def forget(self, run_id: str) -> None:
        self._hot.pop(run_id, None)
        self._cancelling.discard(run_id)
        self._live.pop(run_id, None)

    def apply(self, t: Transition) -> None:
        """After a commit: update in-memory mirrors, then tell subscribers."""
        for s in t.steps:
            hot = self._hot.get(s.run_id)
            if hot is not None:
                hot.memo[s.hashed_id] = s
        for wait_id in t.waits_removed:
            self.waits.remove(wait_id)
        for wait_id in t.waits_deactivated:
            self.waits.deactivate(wait_id)
        for wait in t.waits_added:
            self.waits.add(wait)
        self._cancelling.update(t.cancelling)
        for run_id in t.finished:
            self.forget(run_id)
        self.scheduler.discard(t.dropped)
        self.scheduler.push(t.queued)
        self.feed.publish(t.changes)

    # ---- executing steps ---------------------------------------------------------------

    async def execute_step(self, inv: Invocation, state: StepState, handler: Callable[..., Any],
                           args: tuple[Any, ...]) -> tuple[Outcome, StepState]:
        """Run one attempt of a step inline (checkpointing mode) and commit its outcome."""
        outcome = await self._attempt(inv.run, inv.fn, state, handler, args)
        return outcome, await self.commit_step(inv.run, state, outcome)

    async def _attempt(self, run: Run, fn: Function, state: StepState, handler: Callable[..., Any],
                       args: tuple[Any, ...]) -> Outcome:
        now = self.clock.now_ms()
        where = f"function {fn.id!r}, run {run.id}, step {state.step_id!r}"
        state.started_at = state.started_at or now
        running = state.copy(status=StepStatus.RUNNING)
        self._live.setdefault(run.id, {})[state.hashed_id] = running
        self.feed.publish([Change("step", f"{run.id}/{state.hashed_id}", run.id, StepStatus.RUNNING)])
        outcome = await run_attempt(state, handler, args, retries=fn.retries, backoff=self.backoff,
                                    now_ms=self.clock.now_ms, limits=self.limits, where=where)
        hot = self._hot.get(run.id)
        used = hot.state_bytes if hot else run.state_bytes
        if outcome.kind == Outcome.DONE and used + outcome.size > self.limits.max_run_state_bytes:
            outcome = Outcome(Outcome.FATAL, error={
                "name": "StateLimitExceeded", "stack": "",
                "message": f"{where}: the run's state would reach {used + outcome.size:,} bytes; the limit is "
                           f"{self.limits.max_run_state_bytes:,} bytes per run"})
        return outcome

    async def commit_step(self, run: Run, state: StepState, outcome: Outcome,
                          extra: Sequence[QueueItem] = ()) -> StepState:
        now = self.clock.now_ms()
        if outcome.kind == Outcome.DONE:
            new = state.copy(status=StepStatus.COMPLETED, memo={"data": outcome.value}, error=None, due_at=None,
                             attempts=state.attempts + 1, ended_at=now)
        elif outcome.kind == Outcome.RETRY:
            new = state.copy(status=StepStatus.RETRYING, error=outcome.error, due_at=outcome.due_at,
                             attempts=state.attempts + 1)
        else:
            err = dict(outcome.error or {})
            if outcome.kind == Outcome.FATAL:
                err["fatal"] = True
            new = state.copy(status=StepStatus.FAILED, memo={"error": err}, error=err, due_at=None,
                             attempts=state.attempts + 1, ended_at=now)
        t = Transition(queued=list(extra), steps=[new])
        if new.status == StepStatus.RETRYING:
            t.queued.append(self.item(run.id, QueueKind.RETRY, new.due_at, step=new.hashed_id))
        hot = self._hot.get(run.id)
        is_new = hot is not None and state.hashed_id not in hot.memo
        size = outcome.size if outcome.kind == Outcome.DONE else 0
        async with self.store.tx() as tx:
            await tx.save_step(new)
            await tx.add_run_usage(run.id, 1 if is_new else 0, size, new.step_id, now)
            for q in t.queued:
                await tx.enqueue(q)
        if hot is not None:
            hot.state_bytes += size
        self._live.get(run.id, {}).pop(new.hashed_id, None)
        self.inflight(run.id).discard(new.hashed_id)
        t.changes.append(Change("step", f"{run.id}/{new.hashed_id}", run.id, new.status))
        t.changes.append(Change("run", run.id, run.id, RunStatus.RUNNING, {"function_id": run.function_id}))
        self.apply(t)
        return new

    def _spawn_planned(self, run: Run, fn: Function, planned: list[Planned]) -> None:
        """Strict replay: execute the steps one invocation discovered, concurrently, then
        re-invoke — after each step, or once per group with ``optimize_parallelism``."""
        hashes = [p.state.hashed_id for p in planned]
        self._inflight.setdefault(run.id, set()).update(hashes)
        remaining = set(hashes)

        async def execute(p: Planned) -> None:
            async with self.scheduler.slots:     # the executor's concurrency bound covers these too
                outcome = await self._attempt(run, fn, p.state, p.handler, p.args)
            remaining.discard(p.state.hashed_id)
            extra: list[QueueItem] = []
            wants_invoke = outcome.kind != Outcome.RETRY and (not fn.optimize_parallelism or not remaining)
            if wants_invoke:
                hide = sorted(remaining) if not fn.optimize_parallelism else []
                extra.append(self.item(run.id, QueueKind.INVOKE, reason="step finished", hide=hide))
            await self.commit_step(run, p.state, outcome, extra)

        for p in planned:
            task = asyncio.create_task(execute(p), name=f"step {p.state.step_id} of run {run.id}")
            self._background.add(task)
            task.add_done_callback(self._background.discard)
