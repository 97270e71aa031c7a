"""The records the engine stores and every layer reads: runs, steps, waits, queue items, events,
the limits, and the closed sets of values they use (statuses and kinds, as ``StrEnum`` so they
compare equal to the strings stored in SQLite and sent over HTTP).

A step's memo (what a replay returns instead of running the handler again) is ``StepState.memo``,
in Inngest's shapes: ``{"data": value}`` for a finished ``run``, ``{"error": {...}}`` for a step that
failed for good, ``None`` for a finished sleep, the raw event for a matched wait. Only a step whose
status ``has_memo`` carries one; the other statuses describe work still pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    QUEUED = "Queued"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    SKIPPED = "Skipped"      # flow control decided it never runs (rate limit, singleton); see ``skip_reason``

    @property
    def finished(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED})


class StepStatus(StrEnum):
    PLANNED = "Planned"      # discovered with others in parallel; a targeted invocation runs it
    RUNNING = "Running"      # handler executing now (kept in memory, not in the database)
    RETRYING = "Retrying"    # an attempt failed; the next one is due at ``due_at``
    SLEEPING = "Sleeping"    # a sleep that ends at ``due_at``
    WAITING = "Waiting"      # waiting for an event/signal/child run until ``due_at``
    COMPLETED = "Completed"
    FAILED = "Failed"        # failed for good; the function saw a StepError

    @property
    def has_memo(self) -> bool:
        return self in (StepStatus.COMPLETED, StepStatus.FAILED)


class StepOp(StrEnum):
    """What kind of step a record is, as the console and the API label it (Inngest's opcodes are
    ``ops.Opcode``; several opcodes describe one kind of step over its life)."""

    RUN = "run"
    SLEEP = "sleep"
    WAIT_FOR_EVENT = "wait_for_event"
    WAIT_FOR_SIGNAL = "wait_for_signal"
    INVOKE = "invoke"
    SEND_EVENT = "send_event"
    AI = "ai_infer"


@dataclass
class StepState:
    run_id: str
    hashed_id: str
    step_id: str             # the ID as reached, with the repeat counter: "fetch-page:2"
    name: str                # the ID the author wrote: "fetch-page"
    op: str
    seq: int                 # order in which the run first reached this step
    status: str = StepStatus.PLANNED
    attempts: int = 0        # attempts made so far
    memo: Any = None
    error: dict[str, Any] | None = None   # last error, also while retrying
    started_at: int | None = None
    ended_at: int | None = None
    due_at: int | None = None             # sleep end, retry time or wait deadline
    detail: dict[str, Any] = field(default_factory=dict)   # op-specific: duration, waited-on event…
    group: str | None = None              # hashed id of the first step of a parallel batch

    @property
    def has_memo(self) -> bool:
        return self.status in _MEMO_STATUSES

    @property
    def output(self) -> Any:
        """What the step gave the function: a waited-for event is stored raw (Inngest's shape),
        everything else as ``{"data": value}``."""
        if self.status != StepStatus.COMPLETED or not isinstance(self.memo, dict):
            return None
        if self.op == StepOp.WAIT_FOR_EVENT:
            return self.memo
        return self.memo.get("data")

    def copy(self, **changes: Any) -> "StepState":
        """The step with ``changes``. Not ``dataclasses.replace``: that re-runs ``__init__`` with
        every field, which costs more than the rest of a step's bookkeeping on the hot path."""
        unknown = changes.keys() - _STEP_FIELDS
        if unknown:
            raise TypeError(f"StepState has no field(s) {', '.join(sorted(unknown))}")
        new = object.__new__(StepState)
        new.__dict__ = {**self.__dict__, **changes}
        return new

    @classmethod
    def from_dict(cls, run_id: str, raw: dict[str, Any]) -> "StepState":
        """The step from ``to_dict``'s shape (a server's ``GET /v1/runs/{id}``). The memo is not
        sent, only what it gives the function: it is put back the way the engine stores it, so
        ``output`` reads the same on both sides."""
        status, op = raw["status"], raw["op"]
        memo: Any = None
        if status == StepStatus.COMPLETED:
            memo = raw.get("output") if op == StepOp.WAIT_FOR_EVENT else {"data": raw.get("output")}
        elif status == StepStatus.FAILED:
            memo = {"error": raw.get("error")}
        return cls(run_id=run_id, hashed_id=raw.get("hashed_id") or raw["id"], step_id=raw["id"],
                   name=raw.get("name") or raw["id"], op=op, seq=raw.get("seq", 0), status=status,
                   attempts=raw.get("attempts", 0), memo=memo, error=raw.get("error"),
                   started_at=raw.get("started_at"), ended_at=raw.get("ended_at"), due_at=raw.get("due_at"),
                   detail=raw.get("detail") or {}, group=raw.get("group"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.step_id, "name": self.name, "hashed_id": self.hashed_id, "op": self.op,
            "status": self.status, "attempts": self.attempts, "output": self.output,
            "error": self.error, "started_at": self.started_at, "ended_at": self.ended_at,
            "due_at": self.due_at, "detail": {k: v for k, v in self.detail.items() if not k.startswith("_")},
            "group": self.group, "seq": self.seq,
        }


@dataclass
class Run:
    id: str
    function_id: str
    event_id: str | None
    status: str
    created_at: int
    started_at: int | None = None
    ended_at: int | None = None
    output: Any = None
    error: dict[str, Any] | None = None
    invocations: int = 0
    attempt: int = 0                      # function-level retries so far
    step_count: int = 0
    state_bytes: int = 0
    function_version: str | None = None
    finished_version: str | None = None
    nondeterminism: list[dict[str, Any]] = field(default_factory=list)
    current_step: str | None = None
    parent_run_id: str | None = None
    parent_step: str | None = None        # hashed id of the parent's invoke step
    mode: str = "checkpointing"
    skip_reason: str | None = None        # why a Skipped run never ran ("rate limited", "singleton")
    #: Why an unfinished run is not moving ("queued: concurrency 1/1 for userId=u-42", "debouncing
    #: until …"): the engine's flow control says it when a run is read, it is not stored.
    waiting_for: str | None = None

    @property
    def finished(self) -> bool:
        return RunStatus(self.status).finished

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "function_id": self.function_id, "event_id": self.event_id,
            "status": self.status, "created_at": self.created_at, "started_at": self.started_at,
            "ended_at": self.ended_at, "output": self.output, "error": self.error,
            "invocations": self.invocations, "attempt": self.attempt, "step_count": self.step_count,
            "state_bytes": self.state_bytes, "function_version": self.function_version,
            "finished_version": self.finished_version, "nondeterminism": self.nondeterminism,
            "current_step": self.current_step, "parent_run_id": self.parent_run_id,
            "parent_step": self.parent_step, "mode": self.mode, "skip_reason": self.skip_reason,
            "waiting_for": self.waiting_for,
        }

    def copy(self) -> "Run":
        """A shallow copy (``StepState.copy``'s reasoning: ``dataclasses.replace`` costs far more)."""
        new = object.__new__(Run)
        new.__dict__ = self.__dict__.copy()
        return new


@dataclass(frozen=True)
class QueueItem:
    """A durable piece of due work for one run: invoke it, end a sleep, retry, cancel."""

    id: str
    run_id: str
    due_at: int
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


class QueueKind(StrEnum):
    INVOKE = "invoke"    # call the function: discover what is next, or (payload ``target``) run one planned step
    SLEEP = "sleep"      # a sleep ended: memoize it, then invoke
    TIMEOUT = "timeout"  # a wait for an event, signal or child run timed out: memoize, then invoke
    EXPIRE = "expire"    # a cancel-on rule's time is up: forget it
    RETRY = "retry"      # a step's or the function's backoff ended: invoke again
    CANCEL = "cancel"    # an operator (or a cancel-on event) asked to cancel
    DEADLINE = "deadline"  # a flow-control timeout (``timeouts.start``/``finish``, payload ``timeout``) is up


class WaitKind(StrEnum):
    SLEEP = "sleep"
    EVENT = "event"
    SIGNAL = "signal"
    INVOKE = "invoke"
    CANCEL = "cancel"    # a function's cancel-on rule, armed for one run


#: The waits that stand for a step of the run (a cancel rule does not).
STEP_WAITS = (WaitKind.SLEEP, WaitKind.EVENT, WaitKind.SIGNAL, WaitKind.INVOKE)


class ChangeKind(StrEnum):
    """What a change-feed record is about."""

    RUN = "run"
    STEP = "step"
    EVENT = "event"
    WAIT = "wait"
    FUNCTION = "function"
    APP = "app"
    LOG = "log"


@dataclass
class Wait:
    """Something a run is parked on, persisted so routing and timeouts survive a restart.

    ``expression`` is already bound (``event.*`` replaced by the trigger event's values), so
    only ``async`` — the candidate event — is left to evaluate.
    """

    id: str
    run_id: str
    function_id: str
    kind: str
    created_at: int
    hashed_id: str | None = None
    step_id: str | None = None
    event_name: str | None = None
    expression: str | None = None
    source: str | None = None            # the match/if text as the author wrote it
    signal: str | None = None
    child_run_id: str | None = None
    active: bool = True                  # a signal wait another run took over is inactive
    deadline: int | None = None
    index_key: dict[str, Any] | None = None   # {"key": …} from WaitIndex.key_for, so a restart skips parsing

    def pending(self) -> "PendingWait":
        """How the waits listing shows it (the author's expression, not the bound one)."""
        return PendingWait(id=self.id, run_id=self.run_id, function_id=self.function_id, kind=self.kind,
                           step_id=self.step_id, event=self.event_name, expression=self.source, signal=self.signal,
                           deadline=self.deadline, created_at=self.created_at, active=self.active,
                           child_run_id=self.child_run_id)


@dataclass(frozen=True)
class PendingWait:
    """One line of the waits listing (``Executor.waits``, ``GET /v1/waits``, the console's Waits
    view): a sleep, an event or signal wait, an invoke waiting for its child run, or a retry
    backoff (``kind`` "retry", with the attempts made so far and the last attempt's error)."""

    id: str
    run_id: str
    function_id: str
    kind: str
    step_id: str | None = None
    event: str | None = None
    expression: str | None = None
    signal: str | None = None
    deadline: int | None = None
    created_at: int | None = None
    #: False for a signal wait another run took over (``on_conflict="replace"``): the signal now
    #: goes to that run; this one ends at its timeout, or when fired.
    active: bool = True
    child_run_id: str | None = None
    attempt: int | None = None
    error: dict[str, Any] | None = None

    @property
    def superseded(self) -> bool:
        return self.kind == "signal" and not self.active

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "run_id": self.run_id, "function_id": self.function_id, "step_id": self.step_id,
                "kind": self.kind, "event": self.event, "expression": self.expression, "signal": self.signal,
                "child_run_id": self.child_run_id, "active": self.active, "deadline": self.deadline,
                "created_at": self.created_at, "attempt": self.attempt, "error": self.error}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "PendingWait":
        """From ``to_dict``'s shape as a server sent it (keys it lacks take their defaults)."""
        return cls(id=raw["id"], run_id=raw["run_id"], function_id=raw.get("function_id") or "",
                   kind=raw["kind"], step_id=raw.get("step_id"), event=raw.get("event"),
                   expression=raw.get("expression"), signal=raw.get("signal"), deadline=raw.get("deadline"),
                   created_at=raw.get("created_at"), active=raw.get("active", True) is not False,
                   child_run_id=raw.get("child_run_id"), attempt=raw.get("attempt"), error=raw.get("error"))


@dataclass
class AppInfo:
    """An app served by an Inngest SDK as ``GET /v1/apps`` and the console's Apps view show it.
    ``sdk`` is the SDK's ``language:version`` as it registered."""

    name: str
    url: str | None
    sdk: str | None = None
    framework: str | None = None
    app_version: str | None = None
    functions: list[str] = field(default_factory=list)
    synced_at: int | None = None
    error: str | None = None

    @property
    def sdk_language(self) -> str | None:
        return (self.sdk or "").partition(":")[0] or None

    @property
    def sdk_version(self) -> str | None:
        return (self.sdk or "").partition(":")[2] or None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "sdk": self.sdk, "sdk_language": self.sdk_language,
                "sdk_version": self.sdk_version, "framework": self.framework, "app_version": self.app_version,
                "functions": self.functions, "function_count": len(self.functions), "synced_at": self.synced_at,
                "error": self.error}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "AppInfo":
        return cls(name=raw["name"], url=raw.get("url"), sdk=raw.get("sdk"), framework=raw.get("framework"),
                   app_version=raw.get("app_version"), functions=list(raw.get("functions") or ()),
                   synced_at=raw.get("synced_at"), error=raw.get("error"))

#: Event names only the executor sends (lifecycle events, invocations): senders are refused them.
RESERVED_PREFIX = "inngest/"


@dataclass(frozen=True)
class Event:
    """An event as stored: ``ts`` is epoch milliseconds, ``id`` is its idempotency key (a repeat
    starts no second run of a function), ``internal_id`` the key it is stored under (the id the
    event API answers with; equal to ``id`` when the sender gave none)."""

    id: str
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    ts: int = 0
    user: dict[str, Any] | None = None
    v: str | None = None
    internal_id: str = ""
    received_at: int | None = None
    #: Why routing could not evaluate an expression against this event; not part of the event
    #: itself (``to_dict`` leaves it out, so functions and expressions never see it).
    notes: list[str] | None = None

    @property
    def key(self) -> str:
        return self.internal_id or self.id

    @property
    def custom_id(self) -> bool:
        """The sender chose the id (so it deduplicates runs), rather than durable-tui."""
        return bool(self.internal_id) and self.id != self.internal_id

    def to_record(self) -> dict[str, Any]:
        """The event with where it is stored, as the API lists it."""
        out = {**self.to_dict(), "internal_id": self.key, "received_at": self.received_at}
        if self.notes:
            out["notes"] = self.notes
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "data": self.data, "ts": self.ts}
        if self.user is not None:
            out["user"] = self.user
        if self.v is not None:
            out["v"] = self.v
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Event":
        return cls(id=raw["id"], name=raw["name"], data=raw.get("data") or {}, ts=raw.get("ts", 0),
                   user=raw.get("user"), v=raw.get("v"), internal_id=raw.get("internal_id", ""))

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_steps: int = 1000                   # steps per run
    max_step_output_bytes: int = 4 * MiB    # one step's JSON output
    max_run_state_bytes: int = 32 * MiB     # all step outputs of a run plus its event
    max_event_bytes: int = 3 * MiB          # one event, as the open-source Inngest server allows
    max_events_per_send: int = 5000         # events in one send/request


#: Statuses whose step has a memo (``StepStatus.has_memo``), as plain strings for a quick test.
_MEMO_STATUSES = frozenset({StepStatus.COMPLETED, StepStatus.FAILED})
_STEP_FIELDS = frozenset(f.name for f in fields(StepState))
