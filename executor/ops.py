"""The boundary between the engine and the drivers that run function code: Inngest's opcodes.

An invocation is a request (the run's event, what it knows of each step, which step to run, if one)
and a result (ops, or a return value, or an error). Our in-process SDK and an Inngest SDK app over
HTTP both answer in these terms, so the engine has one way to apply what a function did, whoever
ran it. Field names follow Inngest's ``GeneratorOpcode`` so ``to_wire`` and the Inngest driver's
``op_from_wire`` are plain renames, and the memo shapes are Inngest's (``{"data": v}``,
``{"error": e}``, a raw event, ``null``).

Beyond Inngest's wire: a ``StepError`` op carries whether it may be retried and when (Inngest passes
both as response headers), ``fatal`` marks a ``NonRetriableError`` raised inside a step (which
fails the run at once), ``events`` carries ``step.send_event``'s events so they commit with the
step's memo in one transaction, and an in-process driver may say in what order the function reached
its steps and which of them ran as one parallel batch (``seq``, ``group``), which HTTP cannot tell.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from executor.errors import ErrorInfo
from executor.records import Event, Limits, Run, StepOp, StepState, StepStatus

#: ``stepId`` when no step is targeted (a discovery request).
NO_TARGET = "step"


class Opcode(StrEnum):
    NONE = "None"
    STEP = "Step"
    STEP_RUN = "StepRun"
    STEP_ERROR = "StepError"
    STEP_FAILED = "StepFailed"
    STEP_PLANNED = "StepPlanned"
    SLEEP = "Sleep"
    WAIT_FOR_EVENT = "WaitForEvent"
    WAIT_FOR_SIGNAL = "WaitForSignal"
    INVOKE_FUNCTION = "InvokeFunction"
    AI_GATEWAY = "AIGateway"
    GATEWAY = "Gateway"
    RUN_COMPLETE = "RunComplete"
    SYNC_RUN_COMPLETE = "SyncRunComplete"
    DISCOVERY_REQUEST = "DiscoveryRequest"
    DEFER_ADD = "DeferAdd"
    DEFER_ABORT = "DeferAbort"


#: What kind of step each opcode describes (for the step record and the console).
STEP_KINDS: Mapping[Opcode, StepOp] = {
    Opcode.STEP_RUN: StepOp.RUN, Opcode.STEP_ERROR: StepOp.RUN, Opcode.STEP_FAILED: StepOp.RUN,
    Opcode.STEP_PLANNED: StepOp.RUN, Opcode.STEP: StepOp.RUN, Opcode.SLEEP: StepOp.SLEEP,
    Opcode.WAIT_FOR_EVENT: StepOp.WAIT_FOR_EVENT, Opcode.WAIT_FOR_SIGNAL: StepOp.WAIT_FOR_SIGNAL,
    Opcode.INVOKE_FUNCTION: StepOp.INVOKE, Opcode.AI_GATEWAY: StepOp.AI, Opcode.GATEWAY: StepOp.AI,
}
SEND_EVENT_TYPE = "step.sendEvent"
RACE = "race"


def hash_step_id(step_id: str, occurrence: int = 0) -> str:
    """Inngest's step hash: sha1 of the ID the first time, of "ID:n" for the n-th repeat."""
    return hashlib.sha1(display_step_id(step_id, occurrence).encode()).hexdigest()


def display_step_id(step_id: str, occurrence: int) -> str:
    return step_id if occurrence == 0 else f"{step_id}:{occurrence}"


@dataclass(frozen=True)
class Op:
    """One thing a function did or asks for, about one step (``id`` is the hashed step id)."""

    op: Opcode
    id: str
    name: str = ""                      # Inngest's op-specific name (step id, wake time, event name…)
    display_name: str = ""              # the step id as the author wrote it
    index: int | None = None            # the repeat counter of a reused step id (``userland.index``)
    opts: Mapping[str, Any] = field(default_factory=dict)
    data: Any = None
    error: ErrorInfo | None = None
    retriable: bool = True
    retry_at: int | None = None         # epoch ms of the next attempt (RetryAfterError, retry-after)
    fatal: bool = False
    events: Sequence[Any] | None = None
    started_at: int | None = None       # when the step's handler started and ended, epoch ms
    ended_at: int | None = None
    size: int | None = None             # bytes of ``data`` as JSON, when the driver already knows it
    seq: int | None = None              # the order the function reached the step in (else: arrival order)
    group: str | None = None            # hashed id of the first step of a parallel batch this one is in

    @property
    def step_id(self) -> str:
        """The display id with the repeat counter, as the console and the API show it."""
        base = self.display_name or self.name or self.id
        return display_step_id(base, self.index or 0)

    @property
    def kind(self) -> StepOp:
        if self.opts.get("type") == SEND_EVENT_TYPE:
            return StepOp.SEND_EVENT
        return STEP_KINDS.get(self.op, StepOp.RUN)

    @property
    def race(self) -> bool:
        return self.opts.get("parallelMode") == RACE

    def to_wire(self) -> dict[str, Any]:
        """The op as an SDK sends it: every key present (``data`` null when there is none,
        ``opts`` null when empty) as inngest-py does; ``error`` and ``timing`` only when known."""
        out: dict[str, Any] = {"op": str(self.op), "id": self.id, "name": self.name,
                               "displayName": self.display_name,
                               "userland": {"id": self.display_name, "index": self.index},
                               "opts": dict(self.opts) if self.opts else None, "data": self.data}
        if self.error is not None:
            out["error"] = self.error.to_dict()
        if self.started_at is not None and self.ended_at is not None:
            # Go's interval: start in epoch nanoseconds, then the duration in nanoseconds.
            out["timing"] = {"a": self.started_at * 1_000_000, "b": (self.ended_at - self.started_at) * 1_000_000}
        return out


@dataclass
class InvocationRequest:
    """What a driver needs to call a function once.

    ``steps`` holds every step the engine knows, already prepared for this request: a step whose
    memo this request must not see yet (a sibling that finished after the moment this request
    stands for) is presented as still pending. ``target`` is the hashed id of the one planned step
    to run, or None for a discovery request. ``control`` is how a driver that runs steps inline
    commits each one before going on (our SDK, and the TypeScript SDK's checkpoint endpoint).
    """

    run: Run
    function_id: str
    event: Event
    events: list[Event]
    steps: dict[str, StepState]
    now_ms: int
    attempt: int
    max_attempts: int
    limits: Limits
    control: "RunControl"
    target: str | None = None
    disable_immediate_execution: bool = False
    request_id: str = ""

    @property
    def stack(self) -> list[str]:
        """Hashed ids of the steps with a memo, in the order they finished (Inngest's ``ctx.stack``)."""
        done = [s for s in self.steps.values() if s.has_memo]
        done.sort(key=lambda s: (s.ended_at or 0, s.seq))
        return [s.hashed_id for s in done]

    def memos(self) -> dict[str, Any]:
        return {h: self.steps[h].memo for h in self.stack}

    def pending(self, state: StepState) -> bool:
        """A step the engine is still finishing: a planned step, a sleep or wait, a retry not yet due."""
        if state.has_memo:
            return False
        if state.status == StepStatus.RETRYING:
            return (state.due_at or 0) > self.now_ms
        return state.status in (StepStatus.PLANNED, StepStatus.SLEEPING, StepStatus.WAITING, StepStatus.RUNNING)


@dataclass
class InvocationResult:
    """What came back: ops (Inngest's 206), a return value (200 or ``RunComplete``) or a
    function-level error (500: ``retriable`` and ``retry_at`` from ``x-inngest-no-retry`` and
    ``retry-after``). ``stopped`` says the driver stopped because the run is being cancelled."""

    ops: list[Op] = field(default_factory=list)
    complete: bool = False
    output: Any = None
    error: ErrorInfo | None = None
    retriable: bool = True
    retry_at: int | None = None
    stopped: bool = False
    warnings: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)   # how the request went (HTTP status, duration…)


class RunStopped(Exception):
    """Raised by ``RunControl.checkpoint`` when the run was cancelled or has ended: stop at once."""


class RunControl(Protocol):
    """The engine's side of one invocation, handed to the driver in the request."""

    async def checkpoint(self, ops: Sequence[Op]) -> dict[str, StepState]:
        """Commit ``ops`` now (each durable before this returns) and give back each op's step as it
        now stands: a memo to deliver, or a pending state to block on."""

    def stopping(self) -> bool:
        """A cancel was asked for: stop at the next step boundary."""

    def may_wait_in_place(self, due_ms: int | None = None) -> bool:
        """Whether ``wait_in_place`` could wait for a park (a sleep: one due at ``due_ms``); when it
        could not, a sleep is better handed over with the invocation's end."""

    async def wait_in_place(self, state: StepState) -> StepState | None:
        """The park ``state`` is committed: wait a short while for it to end, with the invocation
        still live. The step once finished (the function goes on), or None: end the invocation."""

    def step_started(self, op: Op) -> None:
        """A step's handler starts executing now (the console shows it running)."""


class Driver(Protocol):
    """Runs function code: the engine hands it a request and applies the result."""

    async def invoke(self, request: InvocationRequest) -> InvocationResult: ...
