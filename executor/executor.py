"""``Executor``: the composition root — a store, the engine, the drivers and the change feed — and
the reads the console, the API and embedding code use.

The engine only knows function specs; the local driver holds our SDK's handlers. ``set_functions``
gives the driver the handlers and the engine their specs in one step, so both always agree.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from executor.apps import Apps
from executor.drivers.inngest.driver import InngestDriver
from executor.drivers.inngest.gateway import call_gateway
from executor.drivers.inngest.sync import DRIVER
from executor.drivers.local.driver import LocalDriver
from executor.drivers.local.function import LOCAL, Function
from executor.engine.engine import Engine
from executor.feed import ChangeFeed, Subscription
from executor.ops import Op
from executor.errors import NotFoundError
from executor.records import ChangeKind, Event, Limits, Run, RunStatus, StepState
from executor.specs import FunctionSpec
from executor.store import Durability, Store
from executor.util.backoff import Backoff, default_backoff
from executor.util.clock import Clock, RealClock

log = logging.getLogger("durable_tui.executor")


class Executor:
    """Run durable functions against a SQLite database.

    ``db`` is a file path or ``":memory:"``; ``backoff`` maps a retry number (1 = first retry)
    to seconds; ``clock`` is injectable (``VirtualClock`` in tests); ``limits`` overrides the
    documented limits; ``concurrency`` bounds how many runs execute at once; ``durability``
    is ``"normal"`` (survives a killed process) or ``"full"`` (an fsync per commit: survives
    power loss too). ``signing_key`` signs requests to apps served by an Inngest SDK (and checks
    theirs); a dev setup needs none.
    """

    def __init__(self, db: str = ":memory:", functions: Iterable[Function] = (), *,
                 clock: Clock | None = None, backoff: Backoff | None = None,
                 limits: Limits | None = None, concurrency: int = 64, durability: Durability = "normal",
                 signing_key: str | None = None) -> None:
        self.clock: Clock = clock or RealClock()
        self.limits = limits or Limits()
        self.feed = ChangeFeed()
        self.store = Store(db, durability)
        self._local = LocalDriver(self.clock.now_ms)
        self._inngest = InngestDriver(self.clock.now_ms, signing_key=signing_key)
        self._engine = Engine(self.store, self.clock, self.feed, self.limits, backoff or default_backoff,
                              {LOCAL: self._local, DRIVER: self._inngest}, concurrency=concurrency,
                              gateway=self._ai_gateway)
        #: Apps served by an Inngest SDK (sync, resync, remove).
        self.apps = Apps(self.store, self._engine, self._inngest, self.clock, self.feed)
        self._initial = list(functions)
        self._started = False

    async def _ai_gateway(self, step: str, opts: Mapping[str, Any]) -> Op:
        return await call_gateway(self._inngest.client, step, opts, now_ms=self.clock.now_ms())

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> "Executor":
        await self.store.open()
        try:
            self.set_functions(self._initial)
            await self.apps.load()
            await self._engine.start()
        except BaseException:
            await self.store.close()
            raise
        self._started = True
        return self

    async def close(self) -> None:
        """Stop executing; what was committed stays, and a later start resumes it."""
        if not self._started:
            return
        self._started = False
        await self._engine.stop()
        await self._inngest.aclose()
        await self.store.close()

    async def __aenter__(self) -> "Executor":
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # ---- functions ---------------------------------------------------------------------

    @property
    def functions(self) -> dict[str, Function]:
        """The functions of our SDK this executor runs (with their ``on_failure`` handlers)."""
        return self._local.functions

    def specs(self) -> dict[str, FunctionSpec]:
        """Every function the engine knows, whichever driver runs it."""
        return self._engine.core.registry.all()

    def set_functions(self, functions: Iterable[Function]) -> None:
        """Swap the whole set of local functions at once (hot reload); in-flight runs continue on
        the new code. Raises ``FunctionDefinitionError`` (and changes nothing) for a clash of ids."""
        functions = list(functions)
        specs = [member.spec() for fn in functions for member in fn.members()]
        self._engine.core.registry.check(LOCAL, specs)
        self._engine.set_functions(LOCAL, self._local.set_functions(functions))

    # ---- events and runs in ------------------------------------------------------------

    async def send(self, events: dict[str, Any] | Event | list[dict[str, Any] | Event]) -> list[str]:
        """Validate, persist and route one event or a list; returns their ids in order.

        Raises ``EventValidationError`` (nothing stored) for a malformed event. An event whose
        ``id`` was seen before is stored again but starts no second run of a function that
        already ran for it (within a day).
        """
        events_, _ = self._engine.validate(events)
        await self._engine.send(events_)
        return [ev.key for ev in events_]

    async def send_and_route(self, events: Any) -> dict[str, list[str]]:
        """Like ``send`` but returns, per event id, the ids of the runs it started or resumed."""
        events_, _ = self._engine.validate(events)
        return await self._engine.send(events_)

    async def receive(self, events: Any, *, seed: str | None = None) -> tuple[dict[str, list[str]], str | None]:
        """Inngest's event API: the events before the first bad one are stored and routed; returns
        event id -> runs started or resumed, and the bad event's error (None if all were good).
        ``seed`` is the ``x-inngest-event-id-seed`` header, so a client's retry reuses the ids."""
        events_, error = self._engine.validate(events, seed=seed, prefix=True)
        routed = await self._engine.send(events_) if events_ else {}
        return routed, str(error) if error is not None else None

    async def send_signal(self, signal: str, data: Any = None) -> str:
        """Deliver ``signal`` to the run waiting for it and return that run's id.

        Raises ``SignalNotFoundError`` when no run waits for it (nothing is stored then).
        """
        return await self._engine.send_signal(signal, data)

    async def waits(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Pending sleeps, event waits, signal waits and invokes (of one run, or all), soonest
        deadline first: each ``{"id", "run_id", "function_id", "step_id", "kind", "event",
        "expression", "signal", "child_run_id", "active", "deadline", "created_at"}``."""
        return await self._engine.list_waits(run_id)

    async def fire(self, wait_id: str) -> None:
        """End a sleep now, or time a wait out now (the operator's skip). KeyError if not pending."""
        await self._engine.fire(wait_id)

    async def invoke(self, function_id: str, data: dict[str, Any] | None = None) -> Run:
        """Start ``function_id`` now with ``data``, whatever its triggers."""
        return await self._engine.start_run(function_id, data or {})

    async def rerun(self, run_id: str, *, from_step: str | None = None) -> Run:
        """Start a fresh run of the same function with the same event. With ``from_step`` (a step
        id as shown, or its hashed id) the new run keeps the results of every step the old one
        reached before it, and runs that step and the rest again (Inngest's "rerun from step")."""
        return await self._engine.rerun(run_id, from_step=from_step)

    async def cancel(self, run_id: str) -> bool:
        """Cancel a run at its next step boundary. False if it had already finished."""
        return await self._engine.cancel(run_id)

    async def checkpoint(self, run_id: str, ops: list[Op]) -> dict[str, StepState]:
        """Steps an Inngest SDK ran inline during its request (``POST /v1/checkpoint/{run}/async``),
        committed before this returns. ``CheckpointRefused`` when no request of the run is in flight."""
        return await self._inngest.checkpoint(run_id, ops)

    async def run_events(self, run_id: str) -> list[dict[str, Any]]:
        """A run's events as an SDK receives them (``GET /v0/runs/{id}/batch``): all of a batch."""
        run = await self.store.get_run(run_id)
        event = await self.store.get_event(run.event_id) if run is not None and run.event_id else None
        if run is None or event is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        events = await self.store.run_events(run_id) or [event]
        return [{**e.to_dict(), "user": e.user or {}} for e in events]

    async def run_memo(self, run_id: str) -> dict[str, Any]:
        """A run's step results by hashed id (``GET /v0/runs/{id}/actions``)."""
        if await self.run(run_id) is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        return {s.hashed_id: s.memo for s in await self.store.steps(run_id) if s.has_memo}

    # ---- reads -------------------------------------------------------------------------

    async def run(self, run_id: str) -> Run | None:
        """The run, with ``waiting_for`` saying why it is not moving when flow control holds it."""
        run = await self.store.get_run(run_id)
        if run is not None and not run.finished:
            await self._engine.describe_runs([run])
        return run

    async def runs(self, *, event_id: str | None = None, function_id: str | None = None,
                   status: str | None = None, parent_run_id: str | None = None,
                   limit: int = 100, before: str | None = None) -> list[Run]:
        """Runs newest first; ``before`` (a run id) pages backwards. Skipped runs (flow control
        decided they never run) say why in ``skip_reason``, unfinished ones in ``waiting_for``."""
        if status is not None and status not in set(RunStatus):
            raise ValueError(f"unknown run status {status!r}; use one of {', '.join(RunStatus)}")
        runs = await self.store.list_runs(status=status, function_id=function_id, event_id=event_id,
                                          parent_run_id=parent_run_id, limit=limit, before=before)
        await self._engine.describe_runs(runs)
        return runs

    async def flow(self, function_id: str) -> dict[str, Any]:
        """A function's flow-control settings and current use: concurrency slots in use and
        waiting per key, throttled starts, runs collecting events (debounce, batch), singleton
        keys held, and ``queued`` (runs held back). ``NotFoundError`` for an unknown function."""
        return await self._engine.flow_usage(function_id)

    async def steps(self, run_id: str) -> list[StepState]:
        """A run's steps in the order first reached, including ones executing right now."""
        stored = {s.hashed_id: s for s in await self.store.steps(run_id)}
        for hashed, live in self._engine.live_steps(run_id).items():
            if hashed not in stored or not stored[hashed].has_memo:
                stored[hashed] = live
        return sorted(stored.values(), key=lambda s: s.seq)

    async def event(self, event_id: str) -> Event | None:
        return await self.store.get_event(event_id)

    async def events(self, *, name: str | None = None, limit: int = 100, before: str | None = None) -> list[Event]:
        return await self.store.list_events(name=name, limit=limit, before=before)

    async def wait_for_run(self, run_id: str, timeout: float | None = None) -> Run:
        """Return the run once it has finished; ``timeout`` is in real seconds."""
        with self.feed.subscribe() as sub:
            async with asyncio.timeout(timeout):
                while True:
                    run = await self.store.get_run(run_id)
                    if run is None:
                        raise NotFoundError(f"no run with id {run_id!r}")
                    if run.finished:
                        return run
                    while True:     # until this run ends (or changes were lost: then read it again)
                        batch = await sub.get_batch()
                        if sub.overflowed:
                            sub.overflowed = False
                            break
                        if any(c.run_id == run_id and c.kind == ChangeKind.RUN and c.status is not None
                               and RunStatus(c.status).finished for c in batch):
                            break

    def subscribe(self, maxsize: int = 100_000) -> Subscription:
        """A live stream of ``Change`` records (run, step, event, function) in commit order."""
        return self.feed.subscribe(maxsize)

    def pending(self) -> list[dict[str, Any]]:
        """Scheduled work: sleeps, retries and queued invocations with their due times."""
        return self._engine.pending()

    def next_due(self) -> int | None:
        """When the next scheduled item or cron tick is due (ms), so a virtual clock can jump there."""
        return self._engine.next_due()

    def parked_functions(self) -> dict[str, int]:
        """Function ids that runs wait for because they are not loaded, with run counts."""
        return self._engine.core.registry.parked_counts()
