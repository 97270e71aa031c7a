"""What the console talks to instead of SQLite: the ``Backend`` protocol and its records.

The console never opens the database. Everything it shows or does goes through a ``Backend``:
``console.backends.embedded.EmbeddedBackend`` runs an ``Executor`` in its own thread with its own event
loop, so a slow query or a busy engine never freezes the UI and a busy UI never delays a step;
``console.backends.remote.RemoteBackend`` speaks the HTTP API of a ``durable-tui serve``. Both
hand the UI the executor's own record types (``Run``, ``StepState``, ``Event``) plus the few
console-side summaries defined here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from executor import AppInfo, Change, Event, PendingWait, Run, StepState


class Kind:
    """Change kinds beyond the executor's run, step, event, wait and function changes."""

    #: Log lines (data ``ts``, ``level``, ``source``, ``message``): the executor's feed carries hot
    #: reload's under this kind, and the backends add their own, so one stream carries everything.
    LOG = "log"
    #: Some changes were lost (the subscription overflowed): every view must reload.
    RELOAD = "reload"
    #: The backend lost or regained its executor (data ``connected``, and while disconnected
    #: ``retry_in`` seconds and ``error``). Only a backend that can lose it (remote) sends it;
    #: without one the console counts as connected.
    CONNECTION = "connection"


def connection_change(connected: bool, retry_in: float | None = None, error: str = "") -> Change:
    """A ``Kind.CONNECTION`` change, for a backend's feed."""
    return Change(Kind.CONNECTION, "connection", data={"connected": connected, "retry_in": retry_in, "error": error})


@dataclass(frozen=True)
class FunctionInfo:
    """One row of the Functions view: a loaded function, or a file that failed to load."""

    id: str
    name: str
    triggers: tuple[str, ...] = ()          # as shown: "app/x", "app/y if <expr>", "cron */5 * * * *"
    events: tuple[str, ...] = ()            # the event names among them, for the send dialog
    file: str | None = None
    mode: str = ""
    retries: int | None = None
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    app: str | None = None                  # the SDK app serving it (None: a function file of ours)
    url: str | None = None                  # where that app is reached
    flow: dict[str, Any] = field(default_factory=dict)   # flow-control settings and current use, if any

    @property
    def loaded(self) -> bool:
        return bool(self.mode)

    @property
    def key(self) -> str:
        """Unique among rows: a file that failed to load may share its name with a function id."""
        return self.id if self.loaded else f"file:{self.file}"


def trigger_text(trigger: dict[str, Any]) -> str:
    """A trigger (as ``TriggerEvent.to_dict``/``TriggerCron.to_dict`` give it) for the Functions view."""
    if "cron" in trigger:
        return f"cron {trigger['cron']}"
    expression = trigger.get("expression")
    return f"{trigger.get('event')} if {expression}" if expression else str(trigger.get("event"))


@dataclass(frozen=True)
class EventInfo:
    """An event and the runs it started (triggers) or resumed (waits it satisfied)."""

    event: Event
    started: tuple[str, ...] = ()
    resumed: tuple[str, ...] = ()


@dataclass(frozen=True)
class SendResult:
    """What one sent event did, for the notification after sending."""

    event_id: str
    name: str
    started: tuple[str, ...] = ()
    resumed: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogLine:
    """One line of the Log view: executor logging, load errors, reload notices, prints, finished
    runs. A line about a run carries its ids (what ``ctx.logger`` and the engine tag records with),
    so the Log filters by run and a run's view shows its own lines."""

    seq: int
    ts: int
    level: str
    source: str
    message: str
    run_id: str | None = None
    function_id: str | None = None
    step_id: str | None = None

    def to_change(self) -> Change:
        return Change(Kind.LOG, str(self.seq), self.run_id, data={
            "ts": self.ts, "level": self.level, "source": self.source, "message": self.message,
            "run_id": self.run_id, "function_id": self.function_id, "step_id": self.step_id})

    @classmethod
    def from_change(cls, change: Change) -> "LogLine":
        d = change.data
        seq = int(change.id) if change.id.isdigit() else 0     # the console numbers lines again anyway
        return cls(seq, d["ts"], d["level"], d["source"], d["message"], d.get("run_id") or change.run_id,
                   d.get("function_id"), d.get("step_id"))


class Backend(Protocol):
    """Everything the console reads and does. Each method may be slow; none blocks the UI."""

    #: What the console is connected to, for the top bar.
    title: str
    #: Something the operator must be told at start (e.g. "attached instead of a second writer").
    announcement: str
    #: What quitting the console stops, asked about before `q` quits: "" when quitting stops
    #: nothing (attached to a server), so `q` quits at once.
    quit_warning: str

    def now_ms(self) -> int:
        """The executor's clock (virtual in tests), for countdowns and durations."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    async def functions(self) -> list[FunctionInfo]: ...
    async def runs(self, *, status: str | None = None, function_id: str | None = None,
                   limit: int = 500, before: str | None = None) -> list[Run]: ...
    async def runs_by_id(self, run_ids: Iterable[str]) -> list[Run]: ...
    async def run(self, run_id: str) -> Run | None: ...
    async def steps(self, run_id: str) -> list[StepState]: ...
    async def run_counts(self) -> dict[str, int]:
        """How many runs there are in each status (all of them, not a window), for the header."""
    async def event_names(self, event_ids: Iterable[str]) -> dict[str, str]: ...
    async def events_by_id(self, event_ids: Iterable[str]) -> list[Event]:
        """The events with these ids (those that exist), read fresh: the `/` search of the Runs
        view looks into their data, which is not worth caching for every row."""
    async def events(self, *, limit: int = 200, before: str | None = None) -> list[EventInfo]: ...
    async def event(self, event_id: str) -> EventInfo | None: ...
    async def waits(self) -> list[PendingWait]: ...

    async def send(self, events: Sequence[dict[str, Any]]) -> list[SendResult]: ...
    async def send_signal(self, signal: str, data: dict[str, Any]) -> str: ...
    async def invoke(self, function_id: str, data: dict[str, Any]) -> Run: ...
    async def cancel(self, run_id: str) -> bool: ...
    async def rerun(self, run_id: str, from_step: str | None = None) -> Run:
        """A new run on the same event; with ``from_step`` it keeps the results of the steps
        reached before that one (Inngest's "rerun from step")."""
    async def fire(self, wait_id: str) -> None: ...

    async def apps(self) -> list[AppInfo]: ...
    async def add_app(self, url: str) -> AppInfo:
        """Remember the app at ``url`` and sync it; a failed sync is on the app, not raised."""
    async def sync_app(self, name: str) -> AppInfo: ...
    async def remove_app(self, name: str) -> None: ...

    def subscribe(self) -> AsyncIterator[list[Change]]:
        """Batches of changes in commit order, delivered on the caller's loop. The first batch
        carries the recent log lines (``Kind.LOG``); a batch holding a ``Kind.RELOAD`` change
        means some changes were lost and views must reload."""


