"""What every transition shares: the store, the clock, the in-memory mirrors of the database, and
the rule that mirrors and subscribers learn of a change only after its transaction committed.

Transitions are plain functions over a ``Core`` (``runs``, ``pauses``, ``routing``, ``steps``), so
the path of an event or an op reads top to bottom through modules instead of bouncing between the
halves of one large class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from executor.feed import Change, ChangeFeed
from executor.engine.flowstate import FlowState
from executor.engine.registry import Registry
from executor.engine.scheduler import Scheduler
from executor.engine.waits import WaitRegistry
from executor.records import ChangeKind, Event, Limits, QueueItem, QueueKind, Run, StepState, Wait
from executor.store import Store, Tx
from executor.util.backoff import Backoff
from executor.util.clock import Clock
from executor.util.ids import new_id


#: Runs created are kept hot until they start only while fewer than this many are: a backlog of
#: queued runs should not hold every trigger event in memory.
HOT_CREATED_LIMIT = 10_000


@dataclass
class HotRun:
    """A run the engine is working on: its trigger and every step it knows, kept between invocations
    so a request is built without reading the run's history again."""

    event: Event
    steps: dict[str, StepState]
    state_bytes: int
    events: list[Event] = field(default_factory=list)   # a batched run's events (else just ``event``)


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
    after: list[Callable[[], object]] = field(default_factory=list)   # mirror updates of other modules
    #: Runs this transition created, with all a first request needs: no read when they start.
    created: dict[str, HotRun] = field(default_factory=dict)
    #: Invocations waiting in place (``inplace``) and the step that ends their wait: told once durable.
    resumed: list[tuple["asyncio.Future[StepState | None]", StepState]] = field(default_factory=list)

    def step_changed(self, state: StepState) -> None:
        self.steps.append(state)
        self.changes.append(Change(ChangeKind.STEP, f"{state.run_id}/{state.hashed_id}", state.run_id, state.status))

    def run_changed(self, run: Run, status: str, **data: Any) -> None:
        self.changes.append(Change(ChangeKind.RUN, run.id, run.id, status, {"function_id": run.function_id, **data}))


class TransitionScope:
    """``Core.transition``'s context: the store's transaction, then the mirrors and the feed.
    (A class, like ``store.Transaction``: every transition enters one.)"""

    __slots__ = ("_core", "_t", "_tx")

    def __init__(self, core: "Core", t: Transition) -> None:
        self._core = core
        self._t = t
        self._tx = core.store.tx(on_done=self._mirror)

    def _mirror(self) -> None:
        self._core.mirror(self._t)

    async def __aenter__(self) -> tuple[Tx, Transition]:
        return await self._tx.__aenter__(), self._t

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: object) -> bool:
        try:
            await self._tx.__aexit__(exc_type, exc, tb)
        except BaseException:
            self._release_resumed()
            raise
        if exc_type is not None:
            self._release_resumed()
            return False
        self._core.announce(self._t)
        return False

    def _release_resumed(self) -> None:
        """The transition did not commit: the waits it resolved still stand, and the invocations
        waiting in place for them end as usual."""
        for resumed, _ in self._t.resumed:
            if not resumed.done():
                resumed.set_result(None)


class Core:
    def __init__(self, store: Store, clock: Clock, feed: ChangeFeed, limits: Limits, backoff: Backoff,
                 scheduler: Scheduler) -> None:
        self.store = store
        self.clock = clock
        self.feed = feed
        self.limits = limits
        self.backoff = backoff
        self.scheduler = scheduler
        self.registry = Registry()
        self.waits = WaitRegistry()
        self.hot: dict[str, HotRun] = {}
        self.cancelling: set[str] = set()
        self.live: dict[str, dict[str, StepState]] = {}
        self.flow = FlowState()
        #: Waits (by id) a live invocation is waiting on in place, and how to hand it the finished step.
        self.in_place: dict[str, asyncio.Future[StepState | None]] = {}

    def now(self) -> int:
        return self.clock.now_ms()

    def item(self, run_id: str, kind: QueueKind, due_at: int | None = None, **payload: Any) -> QueueItem:
        return QueueItem(id=new_id(), run_id=run_id, due_at=self.now() if due_at is None else due_at,
                         kind=kind, payload={k: v for k, v in payload.items() if v is not None})

    def transition(self, t: Transition | None = None) -> "TransitionScope":
        """One transition (``async with core.transition() as (tx, t)``). The in-memory mirrors
        (waits, hot runs) learn of it as soon as its statements succeeded, so the next transition
        sees what the database holds; due work and subscribers only once it is durable (the group
        it shares a commit with has committed)."""
        return TransitionScope(self, t or Transition())

    def mirror(self, t: Transition) -> None:
        for s in t.steps:
            hot = self.hot.get(s.run_id)
            if hot is not None:
                hot.steps[s.hashed_id] = s
            running = self.live.get(s.run_id)
            if running is not None:
                running.pop(s.hashed_id, None)
        for wait_id in t.waits_removed:
            self.waits.remove(wait_id)
        for wait_id in t.waits_deactivated:
            self.waits.deactivate(wait_id)
        for wait in t.waits_added:
            self.waits.add(wait)
        if len(self.hot) < HOT_CREATED_LIMIT:
            self.hot.update(t.created)
        self.cancelling.update(t.cancelling)
        for run_id in t.finished:
            self.forget(run_id)
        self.scheduler.discard(t.dropped)
        self.scheduler.push(self.flow.gate.discard(t.dropped))     # parked items whose run ended
        for update in t.after:
            update()

    def announce(self, t: Transition) -> None:
        dropped = set(t.dropped)       # an item can be queued and replaced in one transition
        self.scheduler.push(item for item in t.queued if item.id not in dropped)
        self.feed.publish(t.changes)
        for resumed, state in t.resumed:
            if not resumed.done():
                resumed.set_result(state)

    def forget(self, run_id: str) -> None:
        self.hot.pop(run_id, None)
        self.cancelling.discard(run_id)
        self.live.pop(run_id, None)
        self.flow.forget(run_id)

    async def hot_run(self, run: Run) -> HotRun:
        hot = self.hot.get(run.id)
        if hot is None:
            event = self.store.writer_event(run.event_id) if run.event_id else None
            if event is None:
                event = Event(id="", name="", data={}, ts=run.created_at)
            steps = {s.hashed_id: s for s in self.store.writer_steps(run.id)}
            spec = self.registry.get(run.function_id)
            batched = spec is not None and spec.flow.batch is not None
            events = (self.store.writer_run_events(run.id) if batched else []) or [event]
            hot = HotRun(event=event, steps=steps, state_bytes=run.state_bytes, events=events)
            self.hot[run.id] = hot
        return hot
