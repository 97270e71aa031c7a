"""``EmbeddedBackend``: the executor in this process, on its own thread and event loop.

Calls are marshalled with ``run_coroutine_threadsafe`` and awaited with ``wrap_future``, so the
UI's loop only ever waits, never works, for the executor. The change feed is subscribed from
the UI's loop (``Subscription`` remembers the loop that created it and delivers there thread-
safely). With ``paths`` the executor's functions come from a hot-reload ``FunctionWatcher``
running beside it; its load errors are shared with the HTTP API the console serves.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from console.backend import EventInfo, FunctionInfo, Kind, LogLine, SendResult, trigger_text
from executor import (AppInfo, Backoff, Change, Clock, Durability, Event, Executor, Function, FunctionWatcher,
                      LoadError, LoadStatus, PendingWait, RealClock, Run, StepState, Subscription)

T = TypeVar("T")

#: The backend's own log lines ride the executor subscription under this kind; the executor's
#: own ``"log"`` changes (hot reload's) are dropped there, since its logger already reached us.
_CONSOLE_LOG = "console-log"


class _LogBook(logging.Handler):
    """Keeps recent log lines and pushes each new one into the console's subscriptions.

    Executor logging happens on the executor thread (and step worker threads); a subscription
    delivers to its own loop thread-safely, so emitting from anywhere is fine.
    """

    def __init__(self, now_ms: Callable[[], int], keep: int = 2000) -> None:
        super().__init__(logging.INFO)
        self._now_ms = now_ms
        self._lines: deque[LogLine] = deque(maxlen=keep)
        self._seq = itertools.count(1)
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        self.add(record.levelname, record.name.removeprefix("durable_tui."), message,
                 run_id=getattr(record, "run_id", None), function_id=getattr(record, "function_id", None),
                 step_id=getattr(record, "step_id", None))

    def add(self, level: str, source: str, message: str, *, run_id: str | None = None,
            function_id: str | None = None, step_id: str | None = None) -> None:
        with self._lock:
            line = LogLine(next(self._seq), self._now_ms(), level, source, message, run_id, function_id, step_id)
            self._lines.append(line)
            subs = list(self._subs)
        for sub in subs:
            sub.deliver([_as_console_log(line)])

    def attach(self, sub: Subscription) -> list[LogLine]:
        """Start delivering to ``sub`` and return the lines it missed, with no gap or repeat."""
        with self._lock:
            self._subs.add(sub)
            return list(self._lines)

    def detach(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)


def _as_console_log(line: LogLine) -> Change:
    change = line.to_change()
    return Change(_CONSOLE_LOG, change.id, data=change.data)


class EmbeddedBackend:
    """The executor on its own thread: ``functions`` given directly, or loaded and hot-reloaded
    from ``paths``."""

    def __init__(self, db: str, functions: Iterable[Function] = (), *, paths: Sequence[str] = (),
                 load_errors: Iterable[LoadError] = (), clock: Clock | None = None,
                 backoff: Backoff | None = None, on_close: Callable[[], None] | None = None,
                 durability: Durability = "normal") -> None:
        self.db = db
        self.title = f"embedded · {Path(db).name if db != ':memory:' else 'in memory'}"
        self.announcement = ""
        self.quit_warning = ("This console runs the executor: runs stop with it, and the database is in memory, "
                             "so every run and event is lost." if db == ":memory:" else
                             f"This console runs the executor: sleeping, waiting and running runs pause until "
                             f"durable-tui starts again on {db}.")
        #: The current load errors, shared with the HTTP API this backend serves.
        self.load_status = LoadStatus(list(load_errors))
        #: Run on the executor's loop beside it until close (the HTTP API); set before start().
        self.serve: Callable[[Executor], Awaitable[None]] | None = None
        self._functions = list(functions)
        self._paths = list(paths)
        self._clock = clock
        self._backoff = backoff
        self._durability = durability
        self._on_close = on_close
        self._executor: Executor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._event_names: dict[str, str] = {}
        self._resumed: dict[str, tuple[str, ...]] = {}
        self._log = _LogBook(self.now_ms)
        for error in self.load_status.errors:
            self._log.add("ERROR", "loader", error.describe())

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the executor thread and return once the executor is open (or raise why not)."""
        ui_loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = ui_loop.create_future()

        def report(exc: BaseException | None) -> None:
            def settle() -> None:
                if not ready.done():
                    ready.set_exception(exc) if exc is not None else ready.set_result(None)
            ui_loop.call_soon_threadsafe(settle)

        logging.getLogger("durable_tui").addHandler(self._log)
        logging.getLogger("durable_tui").setLevel(logging.INFO)
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(report),),
                                        name="durable-tui executor", daemon=True)
        self._thread.start()
        try:
            await ready
        except BaseException:
            logging.getLogger("durable_tui").removeHandler(self._log)
            raise

    async def _main(self, report: Callable[[BaseException | None], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        watcher: FunctionWatcher | None = None
        try:
            ex = Executor(self.db, self._functions, clock=self._clock, backoff=self._backoff,
                          durability=self._durability)
            await ex.start()
        except BaseException as exc:
            report(exc)
            return
        try:
            if self._paths:
                watcher = FunctionWatcher(ex, self._paths, on_reload=self.load_status.update)
                self.load_status.update(await watcher.start())
        except BaseException as exc:
            await ex.close()
            report(exc)
            return
        self._executor = ex
        self._clock = ex.clock
        server = asyncio.create_task(self.serve(ex)) if self.serve is not None else None
        report(None)
        try:
            await self._stop.wait()
        finally:
            if server is not None:
                server.cancel()
                await asyncio.gather(server, return_exceptions=True)
            if watcher is not None:
                await watcher.stop()
            await ex.close()

    async def close(self) -> None:
        logging.getLogger("durable_tui").removeHandler(self._log)
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join, 10)
        self._thread = None
        if self._on_close is not None:
            self._on_close()

    # ---- marshalling --------------------------------------------------------------------

    async def on_executor(self, fn: Callable[[Executor], Awaitable[T] | T]) -> T:
        """Run ``fn(executor)`` on the executor's loop and return its result here.

        Anything that touches the executor's loop (moving a ``VirtualClock``, reading the
        scheduler) must go through this, since asyncio objects are not thread-safe."""
        assert self._loop is not None and self._executor is not None, "start() the backend first"
        ex = self._executor

        async def call() -> T:
            result = fn(ex)
            return await result if asyncio.iscoroutine(result) else result  # type: ignore[return-value]

        coro = call()
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        except RuntimeError:            # the executor's loop has stopped: the console is closing
            coro.close()
            raise
        try:
            return await asyncio.wrap_future(future)
        finally:
            # Given up before the executor's loop started it (the console quitting, say): it never
            # will, so close it rather than leave a coroutine nobody awaits.
            if future.cancel():
                coro.close()

    def now_ms(self) -> int:
        """The executor's clock; the wall clock until the executor (and its clock) is up."""
        return self._clock.now_ms() if self._clock is not None else RealClock().now_ms()

    def notice(self, level: str, source: str, message: str) -> None:
        """Add a line to the Log view."""
        self._log.add(level, source, message)

    # ---- reads --------------------------------------------------------------------------

    async def functions(self) -> list[FunctionInfo]:
        loaded, specs, counts, flows = await self.on_executor(_functions_and_counts)
        # Keyed by the real path: every function of a broken file is flagged, not only the first.
        errors = {os.path.realpath(e.file): (e.file, e.describe()) for e in self.load_status.errors}
        out, flagged = [], set()
        for fn in loaded.values():
            file = str(Path(fn.source_file)) if fn.source_file else None
            real = os.path.realpath(file) if file else None
            error = errors.get(real) if real else None
            if error is not None:
                flagged.add(real)
            out.append(FunctionInfo(
                id=fn.id, name=fn.display_name, file=file, mode=fn.mode, retries=fn.retries,
                triggers=tuple(trigger_text(t.to_dict()) for t in fn.triggers),
                events=tuple(t.event for t in fn.spec().event_triggers),
                error=error[1] if error else None, counts=dict(counts.get(fn.id, {})),
                flow=flows.get(fn.id, {})))
        out.extend(FunctionInfo(id=Path(file).name, name=Path(file).name, file=file, error=message)
                   for real, (file, message) in errors.items() if real not in flagged)
        # Functions of apps served by an Inngest SDK: the engine's specs are all there is of them.
        out.extend(FunctionInfo(
            id=spec.id, name=spec.display_name, mode=spec.mode, retries=spec.retries, app=spec.app, url=spec.source,
            triggers=tuple(trigger_text(t.to_dict()) for t in spec.triggers),
            events=tuple(t.event for t in spec.event_triggers), counts=dict(counts.get(spec.id, {})),
            flow=flows.get(spec.id, {})) for spec in specs if spec.app is not None)
        return out

    async def runs(self, *, status: str | None = None, function_id: str | None = None,
                   limit: int = 500, before: str | None = None) -> list[Run]:
        return await self.on_executor(lambda ex: ex.runs(status=status, function_id=function_id,
                                                         limit=limit, before=before))

    async def runs_by_id(self, run_ids: Iterable[str]) -> list[Run]:
        ids = list(run_ids)

        async def fetch(ex: Executor) -> list[Run]:
            found = [await ex.run(run_id) for run_id in ids]
            return [run for run in found if run is not None]

        return await self.on_executor(fetch)

    async def run(self, run_id: str) -> Run | None:
        return await self.on_executor(lambda ex: ex.run(run_id))

    async def steps(self, run_id: str) -> list[StepState]:
        return await self.on_executor(lambda ex: ex.steps(run_id))

    async def run_counts(self) -> dict[str, int]:
        """One ``GROUP BY`` in the store, not a pass over the runs."""
        return await self.on_executor(lambda ex: ex.store.count_runs())

    async def events_by_id(self, event_ids: Iterable[str]) -> list[Event]:
        wanted = list(dict.fromkeys(i for i in event_ids if i))

        async def fetch(ex: Executor) -> list[Event]:
            found = [await ex.event(event_id) for event_id in wanted]
            return [event for event in found if event is not None]

        return await self.on_executor(fetch)

    async def event_names(self, event_ids: Iterable[str]) -> dict[str, str]:
        """Event names by id, cached: events never change once stored."""
        wanted = {i for i in event_ids if i}
        missing = [i for i in wanted if i not in self._event_names]
        if missing:
            async def fetch(ex: Executor) -> dict[str, str]:
                found = {}
                for event_id in missing:
                    event = await ex.event(event_id)
                    if event is not None:
                        found[event_id] = event.name
                return found
            self._event_names.update(await self.on_executor(fetch))
        return {i: self._event_names[i] for i in wanted if i in self._event_names}

    async def events(self, *, limit: int = 200, before: str | None = None) -> list[EventInfo]:
        async def fetch(ex: Executor) -> list[tuple[Event, list[str]]]:
            return [(event, [r.id for r in await ex.runs(event_id=event.id, limit=1000)])
                    for event in await ex.events(limit=limit, before=before)]

        return [self._event_info(event, started) for event, started in await self.on_executor(fetch)]

    async def event(self, event_id: str) -> EventInfo | None:
        async def fetch(ex: Executor) -> tuple[Event, list[str]] | None:
            event = await ex.event(event_id)
            if event is None:
                return None
            return event, [r.id for r in await ex.runs(event_id=event_id, limit=1000)]

        found = await self.on_executor(fetch)
        return self._event_info(*found) if found is not None else None

    def _event_info(self, event: Event, started: list[str]) -> EventInfo:
        self._event_names[event.id] = event.name
        return EventInfo(event, tuple(reversed(started)), self._resumed.get(event.id, ()))

    async def waits(self) -> list[PendingWait]:
        return [PendingWait.from_dict(w) for w in await self.on_executor(lambda ex: ex.waits())]

    # ---- actions ------------------------------------------------------------------------

    async def send(self, events: Sequence[dict[str, Any]]) -> list[SendResult]:
        """Send events; report per event the runs it started and the waiting runs it resumed.

        The executor answers both in one list; a run the event started is one whose trigger
        event it is, so the rest were resumed."""
        async def send(ex: Executor) -> list[tuple[Event, list[str], set[str]]]:
            routed = await ex.send_and_route(list(events))
            out = []
            for event_id, run_ids in routed.items():
                event = await ex.event(event_id)
                if event is not None:
                    started = {r.id for r in await ex.runs(event_id=event_id, limit=1000)}
                    out.append((event, run_ids, started))
            return out

        results = []
        for event, run_ids, started in await self.on_executor(send):
            resumed = tuple(r for r in run_ids if r not in started)
            self._resumed[event.id] = resumed
            results.append(SendResult(event.id, event.name, tuple(r for r in run_ids if r in started), resumed))
        return results

    async def send_signal(self, signal: str, data: dict[str, Any]) -> str:
        return await self.on_executor(lambda ex: ex.send_signal(signal, data))

    async def invoke(self, function_id: str, data: dict[str, Any]) -> Run:
        return await self.on_executor(lambda ex: ex.invoke(function_id, data))

    async def cancel(self, run_id: str) -> bool:
        return await self.on_executor(lambda ex: ex.cancel(run_id))

    async def rerun(self, run_id: str, from_step: str | None = None) -> Run:
        return await self.on_executor(lambda ex: ex.rerun(run_id, from_step=from_step))

    async def fire(self, wait_id: str) -> None:
        await self.on_executor(lambda ex: ex.fire(wait_id))

    # ---- apps served by an Inngest SDK ----------------------------------------------------

    async def apps(self) -> list[AppInfo]:
        return [AppInfo.from_dict(a.to_dict()) for a in await self.on_executor(lambda ex: ex.apps.list())]

    async def add_app(self, url: str) -> AppInfo:
        return AppInfo.from_dict((await self.on_executor(lambda ex: ex.apps.add_url(url))).to_dict())

    async def sync_app(self, name: str) -> AppInfo:
        async def sync(ex: Executor) -> dict[str, Any]:
            await ex.apps.resync(name)
            return ex.apps.get(name).to_dict()

        return AppInfo.from_dict(await self.on_executor(sync))

    async def remove_app(self, name: str) -> None:
        await self.on_executor(lambda ex: ex.apps.remove(name))

    # ---- live ---------------------------------------------------------------------------

    async def subscribe(self) -> AsyncIterator[list[Change]]:
        assert self._executor is not None, "start() the backend first"
        # Created here, on the caller's loop, so the feed delivers to this loop by itself.
        sub = self._executor.subscribe()
        backlog = self._log.attach(sub)
        try:
            yield [line.to_change() for line in backlog]
            while True:
                batch = await sub.get_batch()
                if sub.overflowed:
                    sub.overflowed = False
                    yield [Change(Kind.RELOAD, "*")]
                    continue
                yield [_from_feed(change) for change in batch if change.kind != Kind.LOG]
        finally:
            self._log.detach(sub)
            sub.close()


def _from_feed(change: Change) -> Change:
    if change.kind == _CONSOLE_LOG:
        return Change(Kind.LOG, change.id, data=change.data)
    return change


async def _functions_and_counts(ex: Executor) -> tuple[dict[str, Function], list[Any], dict[str, Counter[str]],
                                                      dict[str, dict[str, Any]]]:
    """Our functions, every function spec, run counts per function and status (one ``GROUP BY``
    in the store), and the flow control of the functions that have some."""
    counts = {function_id: Counter(by_status) for function_id, by_status in
              (await ex.store.count_runs_by_function()).items()}
    specs = list(ex.specs().values())
    flows = {spec.id: await ex.flow(spec.id) for spec in specs if spec.flow.active}
    return ex.functions, specs, counts, flows
