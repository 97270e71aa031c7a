"""Our Python SDK as a driver: runs function files' handlers in this process and answers in ops.

Two modes, one set of ops. Checkpointing (the default) runs steps back to back in one invocation,
handing each to the engine before the next starts. Strict replay reports one new ``step.run`` per
invocation — run at once when it is alone, or as ``StepPlanned`` ops when several were reached in
parallel, each then run by a targeted invocation. The handlers of planned steps are kept in memory,
so a targeted invocation runs the handler without replaying the body; after a restart, when that
memory is gone, the body is replayed up to the targeted step instead.

Served over Inngest's HTTP protocol (``serving``: ``executor.service.inngest_app``), both modes
discover first, as Inngest's SDKs do: a lone new ``step.run`` runs inline — and a checkpointing
function goes on when the request's control commits it (the server's checkpoint endpoint), else the
request ends with it — while steps reached together with others, or while the server has planned
steps in flight (``disable_immediate_execution``), are planned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from executor.drivers.local.attempt import step_op
from executor.drivers.local.context import Context, ReplayAwareLogger, Step
from executor.drivers.local.function import LOCAL, Function
from executor.drivers.local.invocation import Found, Invocation, Serving
from executor.errors import ErrorInfo, FunctionDefinitionError, NonRetriableError, RetryAfterError, StepError
from executor.ops import RACE, InvocationRequest, InvocationResult, Op, Opcode, RunStopped
from executor.specs import FunctionSpec
from executor.util import jsonvalues
from executor.util.durations import duration_or_instant_to_due

function_log = logging.getLogger("durable_tui.functions")
#: Planned steps whose handlers are kept for their targeted invocation; past this, the oldest are
#: forgotten (their runs were cancelled or crashed) and a targeted invocation replays the body.
MAX_REMEMBERED = 10_000


class LocalDriver:
    name = LOCAL

    def __init__(self, now_ms: Callable[[], int], *, serving: Serving | None = None) -> None:
        self._now_ms = now_ms
        self._serving = serving
        self._functions: dict[str, Function] = {}
        self._planned: dict[tuple[str, str], Found] = {}

    @property
    def functions(self) -> dict[str, Function]:
        return dict(self._functions)

    def set_functions(self, functions: Iterable[Function]) -> list[FunctionSpec]:
        """Swap the handlers at once (hot reload); returns the specs the engine registers. An
        ``on_failure`` handler is registered alongside its function."""
        registry: dict[str, Function] = {}
        for fn in functions:
            for member in fn.members():
                known = registry.get(member.id)
                if known is not None and known is not member:
                    raise FunctionDefinitionError(
                        f"function id {member.id!r} is defined twice ({known.source_file} and {member.source_file})")
                registry[member.id] = member
        self._functions = registry
        return [fn.spec() for fn in registry.values()]

    async def invoke(self, request: InvocationRequest) -> InvocationResult:
        fn = self._functions.get(request.function_id)
        if fn is None:
            return InvocationResult(error=ErrorInfo(
                "FunctionNotFound", f"function {request.function_id!r} is not loaded in this process; it was "
                "removed or failed to load (its runs continue once it is back)", ""))
        if request.target is not None:
            key = (request.run.id, request.target)
            found = self._planned.get(key)
            if found is not None:
                op = await Invocation(request, fn, self._now_ms, self._serving).attempt(
                    found.state, found.handler, found.args)
                if op.op != Opcode.STEP_ERROR or op.fatal:
                    del self._planned[key]      # kept while the step may still be retried
                return InvocationResult(ops=[op])
        return await self._run_body(request, fn)

    async def _run_body(self, request: InvocationRequest, fn: Function) -> InvocationResult:
        inv = Invocation(request, fn, self._now_ms, self._serving)
        run, event = request.run, request.event
        ctx = Context(event=event, events=list(request.events), run_id=run.id, attempt=run.attempt, step=Step(inv),
                      logger=ReplayAwareLogger(inv, function_log.getChild(fn.id)), function_id=fn.id)
        task = asyncio.create_task(fn.handler(ctx), name=f"run {run.id}")
        try:
            await inv.settle(task)
            while self._serving is not None and await self._go_on_inline(inv, task):
                await inv.settle(task)
        finally:
            finished = task.done()
            if not finished:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            elif not task.cancelled():
                task.exception()     # retrieved here (a finished task needs no waiting: a loop turn less)
        result = InvocationResult(warnings=inv.warnings, stopped=inv.stopped)
        if inv.fatal is not None:
            result.error, result.retriable = inv.fatal, False
        elif finished:
            exc = task.exception() if not task.cancelled() else asyncio.CancelledError("the function cancelled itself")
            self._judge(inv, task.result() if exc is None else None, exc, result)
        elif inv.ops:
            result.ops = inv.ops
        elif inv.skipped and self._serving is not None:
            # Inngest's SDKs cannot recover from this either: the request is retried, and fails again
            # if the function really reaches other steps than the one the server asked for.
            message = f'found step "{inv.skipped[0]}" when targeting a different step'
            result.error = ErrorInfo("StepUnexpectedError", message, None, raw={
                "code": "step_unexpected", "message": message, "name": "StepUnexpectedError", "stack": None})
        elif inv.deferred and not inv.stopped:
            result.ops = inv.deferred
        elif inv.found and inv.strict and not inv.stopped:
            result.ops = await self._found_ops(inv, request)
        # A step held back from its checkpoint commits with the invocation's end.
        result.ops = [*inv.take_held(), *result.ops]
        return result

    def _lone(self, inv: Invocation) -> bool:
        """May the one new step found run inline? Served over HTTP, only when nothing else was
        reported with it and the server has no planned step in flight (its SDK cannot see those)."""
        if len(inv.found) != 1:
            return False
        return self._serving is None or not (inv.parked or inv.deferred or inv.request.disable_immediate_execution)

    async def _go_on_inline(self, inv: Invocation, task: asyncio.Task[Any]) -> bool:
        """Served over HTTP, a checkpointing function runs a lone new step inline and, once the
        request's control has committed it, goes on in the same request. False when the request
        ends here (the step, run or not, is then reported as an op)."""
        if task.done() or not inv.fn.checkpointing or inv.request.target is not None or not self._lone(inv):
            return False
        found = inv.found[0]
        found.state.group = found.state.hashed_id
        op = await inv.attempt(found.state, found.handler, found.args)
        if op.op == Opcode.STEP_RUN:
            try:
                committed = (await inv.control.checkpoint([op])).get(op.id)
            except RunStopped:
                inv.stopped, committed = True, None
            if committed is not None and committed.has_memo:
                inv.resume(found, committed)
                return True
        inv.found.clear()
        inv.ops.append(op)
        return False

    async def _found_ops(self, inv: Invocation, request: InvocationRequest) -> list[Op]:
        """Strict replay: a lone new step runs now; several reached together are planned."""
        if self._lone(inv):
            found = inv.found[0]
            found.state.group = found.state.hashed_id
            inv.control.step_started(step_op(found.state, Opcode.STEP_RUN))
            return [await inv.attempt(found.state, found.handler, found.args)]
        group = inv.found[0].state.hashed_id
        # A step planned alone (other steps in flight) races nothing: inngest-py names no mode for it.
        opts = {} if inv.fn.optimize_parallelism or len(inv.found) == 1 else {"parallelMode": RACE}
        ops = []
        while len(self._planned) + len(inv.found) > MAX_REMEMBERED:
            del self._planned[next(iter(self._planned))]     # the oldest: a replay finds it again
        for found in inv.found:
            found.state.group = group
            self._planned[(request.run.id, found.state.hashed_id)] = found
            ops.append(step_op(found.state, Opcode.STEP_PLANNED, opts=opts))
        return ops

    def _judge(self, inv: Invocation, value: Any, exc: BaseException | None, result: InvocationResult) -> None:
        """The function body returned or raised: Inngest's 200 or 500, as a result."""
        if exc is None:
            unreached = [s.step_id for h, s in inv.known.items() if s.has_memo and h not in inv.reached]
            if unreached:
                inv.warnings.append({"message": f"memoized step(s) {', '.join(unreached)} were never reached "
                                                "on replay", "steps": unreached})
            try:
                output, size = jsonvalues.roundtrip(value)
            except jsonvalues.NotJSONError as err:
                result.error, result.retriable = ErrorInfo(
                    "FunctionOutputNotSerializable", f"{inv.where()}: the function returned a {err}", ""), False
                return
            limit = inv.request.limits.max_step_output_bytes
            if size > limit:
                result.error, result.retriable = ErrorInfo(
                    "OutputTooLarge", f"{inv.where()}: the return value is {size:,} bytes; the limit is "
                    f"{limit:,} bytes", ""), False
                return
            result.complete, result.output = True, output
            return
        if isinstance(exc, StepError):
            result.error = ErrorInfo(exc.name, exc.message, exc.stack,
                                     raw={"code": "step_errored", "step": exc.step_id, **exc.to_dict()})
            result.retriable = False
            return
        result.error = ErrorInfo.from_exception(exc)
        if isinstance(exc, NonRetriableError) or not isinstance(exc, Exception):
            result.retriable = False
        elif isinstance(exc, RetryAfterError):
            try:
                result.retry_at = duration_or_instant_to_due(exc.retry_after, self._now_ms())
            except ValueError:
                result.retry_at = None
