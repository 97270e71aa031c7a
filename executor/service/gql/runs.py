"""Runs as the dev server's GraphQL shows them: the run, its trace, span outputs and its trigger.

The trace is Inngest's shape built from what durable-tui records: a root span for the run whose
children are the run's steps in the order first reached, each named with the step id as written,
so a repeated id gives several spans of one name, in order (tools find "the n-th 'foo'" that way).
durable-tui keeps no per-attempt history, so step spans have no children.

A span's ``outputID`` is ``"<run id>:<hashed step id>"`` for a step and ``"<run id>:"`` for the
run itself; the part after the last colon is the step (hashed ids never hold a colon).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from executor.records import Run, RunStatus, StepOp, StepState, StepStatus, WaitKind
from executor.service.gql.catalog import FunctionNode
from executor.service.gql.reads import BadRequest, NotFound, Reads, to_json
from executor.service.gql.schema import SCHEMA

RUN_STATUSES = frozenset(SCHEMA.type_map["FunctionRunStatus"].values)  # type: ignore[attr-defined]
LISTED_RUN_STATUSES = {status.upper(): status for status in RunStatus}

_STEP_SPAN_STATUS = {
    StepStatus.PLANNED: "QUEUED",
    StepStatus.RUNNING: "RUNNING",
    StepStatus.RETRYING: "QUEUED",     # waiting for its next attempt at ``scheduledAt``
    StepStatus.SLEEPING: "WAITING",
    StepStatus.WAITING: "WAITING",
    StepStatus.COMPLETED: "COMPLETED",
    StepStatus.FAILED: "FAILED",
}
_STEP_OPS = {
    StepOp.RUN: "RUN",
    StepOp.SEND_EVENT: "RUN",         # Inngest has no op of its own for sending events from a step
    StepOp.SLEEP: "SLEEP",
    StepOp.WAIT_FOR_EVENT: "WAIT_FOR_EVENT",
    StepOp.WAIT_FOR_SIGNAL: "WAIT_FOR_SIGNAL",
    StepOp.INVOKE: "INVOKE",
}
#: Step statuses whose span has something behind its outputID: a value, or the (last) error.
_WITH_OUTPUT = frozenset({StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.RETRYING})


def run_status(run: Run) -> str:
    status = run.status.upper()
    if status not in RUN_STATUSES:
        raise GraphQLError(f"run {run.id} has status {run.status!r}, which the GraphQL API has no value for; "
                           "read it from GET /v1/runs/{id} instead")
    return status


def run_output(run: Run) -> str | None:
    """What Inngest puts in a run's ``output``: the return value, or the error the run failed with."""
    if run.status == RunStatus.COMPLETED:
        return to_json(run.output)
    if run.status == RunStatus.FAILED and run.error is not None:
        return to_json(run.error)
    return None


def output_id(run_id: str, hashed_id: str = "") -> str:
    return f"{run_id}:{hashed_id}"


class RunNode:
    """``FunctionRunV2``."""

    isBatch = False
    hasAI = False

    def __init__(self, reads: Reads, run: Run) -> None:
        self._reads = reads
        self._run = run
        self.id = self.traceID = run.id
        self.functionID = run.function_id
        self.queuedAt = run.created_at
        self.startedAt = run.started_at
        self.endedAt = run.ended_at
        self.status = run_status(run)
        self.output = run_output(run)
        self.triggerIDs = [run.event_id] if run.event_id else []

    def function(self, info: GraphQLResolveInfo) -> FunctionNode | None:
        return self._reads.catalog.functions.get(self._run.function_id)

    def appID(self, info: GraphQLResolveInfo) -> str | None:
        fn = self.function(info)
        return fn.appID if fn else None

    def app(self, info: GraphQLResolveInfo) -> Any:
        fn = self.function(info)
        return fn.app(info) if fn else None

    async def eventName(self, info: GraphQLResolveInfo) -> str | None:
        event = await self._reads.event(self._run.event_id) if self._run.event_id else None
        return event.name if event else None

    async def trace(self, info: GraphQLResolveInfo) -> dict[str, Any]:
        return await run_trace(self._reads, self._run)


async def run_trace(reads: Reads, run: Run) -> dict[str, Any]:
    fn = reads.catalog.functions.get(run.function_id)
    steps = await reads.ex.steps(run.id)
    status = run_status(run)
    return {
        **_span_times(run.created_at, None, run.started_at, run.ended_at),
        "functionID": run.function_id, "runID": run.id, "spanID": run.id, "traceID": run.id,
        "name": fn.name if fn else run.function_id, "status": status, "attempts": None,
        "outputID": output_id(run.id) if run.status in (RunStatus.COMPLETED, RunStatus.FAILED) else None,
        "childrenSpans": [_step_span(run, s) for s in steps],
        "stepOp": None, "stepID": None, "stepType": None, "isRoot": True, "parentSpanID": None, "isUserland": False,
    }


def _step_span(run: Run, step: StepState) -> dict[str, Any]:
    status = _STEP_SPAN_STATUS.get(step.status)
    if status is None:
        raise GraphQLError(f"run {run.id}, step {step.step_id!r} has status {step.status!r}, which the GraphQL "
                           "API has no span status for; read it from GET /v1/runs/{id} instead")
    if run.status == RunStatus.CANCELLED and not step.has_memo:
        status = "CANCELLED"
    return {
        **_span_times(step.started_at, step.due_at, step.started_at, step.ended_at),
        "functionID": run.function_id, "runID": run.id, "spanID": output_id(run.id, step.hashed_id),
        "traceID": run.id, "name": step.name, "status": status, "attempts": step.attempts,
        "outputID": output_id(run.id, step.hashed_id) if step.status in _WITH_OUTPUT else None,
        "childrenSpans": [], "stepOp": _STEP_OPS.get(step.op), "stepID": step.hashed_id, "stepType": step.op,
        "isRoot": False, "parentSpanID": run.id, "isUserland": False,
    }


def _span_times(queued: int | None, scheduled: int | None, started: int | None,
                ended: int | None) -> dict[str, Any]:
    duration = ended - started if started is not None and ended is not None else None
    return {"queuedAt": queued, "scheduledAt": scheduled, "startedAt": started, "endedAt": ended,
            "duration": duration}


async def span_output(reads: Reads, outputID: str) -> dict[str, Any]:
    """``runTraceSpanOutputByID``: a step's unwrapped value (memo ``{"data": x}`` gives ``x``), a
    step's error, or the run's own output or error for the root span."""
    run_id, colon, hashed_id = outputID.rpartition(":")
    if not colon or not run_id:
        raise BadRequest(f"{outputID!r} is not an outputID: pass a span's outputID from run(runID) {{ trace }} as is")
    run = await reads.require_run(run_id)
    if not hashed_id:
        if run.status == RunStatus.COMPLETED:
            return {"data": to_json(run.output), "error": None}
        if run.status == RunStatus.FAILED:
            return {"data": None, "error": _step_error(run.error or {})}
        raise NotFound(f"run {run.id} has no output yet: it is {run.status}; ask again once it has ended")
    step = next((s for s in await reads.ex.steps(run.id) if s.hashed_id == hashed_id), None)
    if step is None:
        raise NotFound(f"run {run.id} has no step with hashed id {hashed_id!r}")
    if step.status == StepStatus.COMPLETED:
        return {"data": to_json(step.output), "error": None}
    if step.error is not None:
        return {"data": None, "error": _step_error(step.error)}
    raise NotFound(f"run {run.id}, step {step.step_id!r} has no output yet: it is {step.status}; "
                   "ask again once it has ended")


def _step_error(err: dict[str, Any]) -> dict[str, Any]:
    return {"message": err.get("message") or "", "name": err.get("name"), "stack": err.get("stack"),
            "cause": err.get("cause")}


async def run_trigger(reads: Reads, run: Run) -> dict[str, Any]:
    """``runTrigger``: the event that started the run, as the SDK's Event model reads it back."""
    event = await reads.event(run.event_id) if run.event_id else None
    if event is None:
        return {"eventName": None, "IDs": [], "payloads": [], "timestamp": run.created_at, "isBatch": False}
    return {"eventName": event.name, "IDs": [event.id], "payloads": [to_json(event.to_dict())],
            "timestamp": event.ts, "isBatch": False}


class FunctionRunNode:
    """``FunctionRun``: a run as an event's run list shows it."""

    def __init__(self, reads: Reads, run: Run) -> None:
        self._reads = reads
        self._run = run
        self.id = run.id
        self.functionID = run.function_id
        self.eventID = run.event_id
        self.status = run_status(run)
        self.startedAt = run.started_at
        self.finishedAt = run.ended_at
        self.output = run_output(run)

    def function(self, info: GraphQLResolveInfo) -> FunctionNode | None:
        return self._reads.catalog.functions.get(self._run.function_id)

    async def waitingFor(self, info: GraphQLResolveInfo) -> dict[str, Any] | None:
        for wait in await self._reads.ex.waits(run_id=self._run.id):
            if wait["kind"] == WaitKind.EVENT:
                return {"eventName": wait["event"], "expression": wait["expression"], "expiryTime": wait["deadline"]}
        return None
