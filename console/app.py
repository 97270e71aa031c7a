"""``DurableConsole``: the keyboard-driven operations console, and ``run_console`` to launch it.

The app owns the views (Textual modes, switched with number keys), the app-wide actions (send
an event or a signal, invoke, cancel, rerun, fire, copy, pause) and the live pump: it folds
the backend's change batches into a ``Dirty`` and hands it to the views at most every
``live_interval`` seconds. Actions read what they act on from the visible view's selection.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, ClassVar
from weakref import WeakSet

import orjson
from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.timer import Timer

from executor import Durability, Event, Run

from .backend import Backend, Kind, LogLine, SendResult
from .launch import LaunchError, demo_events_for, open_backend
from .messages import Dirty
from .screens.base import Selection, ViewScreen
from .screens.dialogs import ConfirmScreen, HelpScreen
from .screens.events import EventsScreen
from .screens.form import FormSpec, JsonFormScreen
from .screens.functions import FunctionsScreen
from .screens.log import LogBook, LogScreen
from .screens.prefill import data_for_expression
from .screens.run_detail import RunDetailScreen
from .screens.runs import RunsScreen
from .screens.waits import WaitsScreen
from .widgets.format import printable, short_id
from .widgets.top_bar import VIEWS

RESERVED_PREFIX = "inngest/"

#: Actions on what the cursor is on. Each view lists those that make sense there (its footer
#: shows them); the footer does not follow the cursor, since redrawing it on every move costs
#: tens of milliseconds while rows stream in, so an action without its target says so instead.
CURSOR_ACTIONS = frozenset({"cancel_run", "rerun", "fire", "copy_id"})


class DurableConsole(App[int]):
    """The console over any ``Backend`` (embedded executor or a remote server)."""

    CSS_PATH = "console.tcss"
    TITLE = "durable-tui"
    ENABLE_COMMAND_PALETTE = False
    MODES: ClassVar[dict[str, Any]] = {"functions": FunctionsScreen, "runs": RunsScreen, "waits": WaitsScreen,
                                       "events": EventsScreen, "log": LogScreen}
    BINDINGS = [
        *[Binding(key, f"view('{mode}')", f"{label} view", show=False, id=f"view.{mode}") for key, mode, label in VIEWS],
        Binding("escape", "back", "Back", id="back"),
        Binding("question_mark", "help", "Keys", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("e", "send_event", "Event", id="send.event"),
        Binding("s", "send_signal", "Signal", id="send.signal"),
        Binding("i", "invoke", "Invoke", id="run.invoke"),
        Binding("c", "cancel_run", "Cancel", id="run.cancel"),
        Binding("r", "rerun", "Rerun", id="run.rerun"),
        Binding("f", "fire", "Fire", id="wait.fire"),
        Binding("y", "copy_id", "Copy", id="copy"),
        Binding("p", "toggle_pause", "Pause", id="pause"),
        Binding("d", "demo", "Demo", id="demo"),
    ]

    paused: reactive[bool] = reactive(False, init=False)
    held_back: reactive[int] = reactive(0, init=False)

    def notify(self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every notification quotes something stored (names, errors): never an escape sequence."""
        super().notify(printable(message, multiline=True), title=printable(title), severity=severity,
                       timeout=timeout, markup=markup)

    def __init__(self, backend: Backend, *, demo_events: Sequence[dict[str, Any]] = (), send_demo: bool = False,
                 start_view: str = "runs", live_interval: float = 0.25, tick_seconds: float = 1.0) -> None:
        super().__init__()
        self.backend = backend
        self.demo_events = list(demo_events)
        self.views: WeakSet[ViewScreen] = WeakSet()
        self.logbook = LogBook()
        self.function_count = 0
        self.live_interval = live_interval
        self._send_demo = send_demo
        self._start_view = start_view
        self._tick_seconds = tick_seconds
        self._dirty = Dirty()
        self._flush_timer: Timer | None = None
        self._last_flush = 0.0
        self._history: list[str] = []
        self._printed = ""

    # ---- lifecycle ----------------------------------------------------------------------

    async def on_mount(self) -> None:
        self.begin_capture_print(self)
        try:
            await self.backend.start()
        except Exception as exc:
            self.exit(None, return_code=2, message=f"durable-tui: cannot start: {exc}")
            return
        if self.backend.announcement:
            self.notify(self.backend.announcement, title="Attached", timeout=15)
        self.function_count = sum(1 for f in await self.backend.functions() if f.loaded)
        await self.switch_mode(self._start_view)
        self._pump()
        if self._tick_seconds:
            self.set_interval(self._tick_seconds, self._tick)
        if not self.function_count:
            self.notify(self.no_functions_hint(), title="No functions", timeout=15)
        if self._send_demo:
            self.action_demo()

    async def on_unmount(self) -> None:
        await self.backend.close()

    # ---- live updates -------------------------------------------------------------------

    @work(group="live", exit_on_error=False)
    async def _pump(self) -> None:
        try:
            async for batch in self.backend.subscribe():
                for change in batch:
                    if change.kind == Kind.LOG:
                        self.logbook.add_line(LogLine.from_change(change))
                self._dirty.add(batch)
                if self.paused:
                    self.held_back += len(batch)
                else:
                    self._schedule_flush()
        except Exception as exc:
            self.report_failure("the live feed stopped", exc)

    def _schedule_flush(self) -> None:
        """Coalesce: at most one flush per ``live_interval``, however many batches arrive."""
        if self._flush_timer is not None:
            return
        delay = max(0.01, self._last_flush + self.live_interval - time.monotonic())  # a 0 s timer divides by zero
        self._flush_timer = self.set_timer(delay, self._deliver)

    def _deliver(self) -> None:
        self._flush_timer = None
        if self.paused or not self._dirty:
            return
        self._last_flush = time.monotonic()
        dirty = self._dirty.take()
        if dirty.functions:
            self._count_functions()
        for view in list(self.views):
            view.absorb(dirty)

    @work(group="functions", exclusive=True, exit_on_error=False)
    async def _count_functions(self) -> None:
        self.function_count = sum(1 for f in await self.backend.functions() if f.loaded)

    def _tick(self) -> None:
        view = self.visible_view
        if view is not None and view.is_mounted and not self.paused:
            view.tick(self.backend.now_ms())

    def on_print(self, event: events.Print) -> None:
        """What functions print lands in the Log view instead of on top of the screen."""
        self._printed += event.text
        *lines, self._printed = self._printed.split("\n")
        for line in lines:
            if line.strip():
                self.logbook.add(self.backend.now_ms(), "PRINT", "stderr" if event.stderr else "stdout", line)
        if lines:
            self._dirty.logs = True
            self._schedule_flush()

    # ---- what the operator is looking at ------------------------------------------------

    @property
    def visible_view(self) -> ViewScreen | None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ViewScreen):
                return screen
        return None

    def selection(self) -> Selection:
        view = self.screen if isinstance(self.screen, ViewScreen) else None
        return view.selection() if view is not None else Selection()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in CURSOR_ACTIONS:
            return isinstance(self.screen, ViewScreen) and action in self.screen.ACTIONS
        if action == "back":
            return len(self.screen_stack) > 1 or bool(self._history)
        if action == "demo":
            return bool(self.demo_events)
        return True

    def no_functions_hint(self) -> str:
        return ("No functions loaded. Write a Python file with @create_function(id=\"hello\", "
                "trigger=\"app/hello\") and start durable-tui with it: durable-tui path/to/functions/ "
                "(./sample_functions is loaded by default). See the Log view (5) for load errors.")

    def first_steps_hint(self) -> str:
        demo = ", d to send the demo events" if self.demo_events else ""
        return f"No runs yet. Press e to send an event{demo}, or i to invoke a function."

    def report_failure(self, what: str, exc: BaseException) -> None:
        message = f"{what}: {exc or type(exc).__name__}"
        self.logbook.add(self.backend.now_ms(), "ERROR", "console", message)
        self.notify(message, severity="error", timeout=8)

    def note(self, message: str, headline: str | None = None) -> None:
        """Tell the operator (``headline``, or the first lines) and keep all of it in the Log view."""
        lines = message.splitlines()
        for line in lines:
            self.logbook.add(self.backend.now_ms(), "INFO", "console", line)
        self._dirty.logs = True
        self._schedule_flush()
        if headline is None:
            headline = "\n".join(lines if len(lines) <= 4 else [*lines[:3], f"… and {len(lines) - 3} more (5 Log)"])
        self.notify(headline, timeout=6)

    # ---- navigation ---------------------------------------------------------------------

    async def action_view(self, mode: str) -> None:
        if mode == self.current_mode:
            while len(self.screen_stack) > 1:
                self.pop_screen()
            return
        self._history = [*self._history[-20:], self.current_mode]
        await self.switch_mode(mode)

    async def action_back(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()
        elif self._history:
            await self.switch_mode(self._history.pop())

    def open_run(self, run_id: str) -> None:
        self.push_screen(RunDetailScreen(run_id, self.current_mode))

    async def show_runs_of(self, function_id: str) -> None:
        await self.action_view("runs")
        runs = self.screen_stack[0]
        if isinstance(runs, RunsScreen):
            runs.set_filter(f"fn:{function_id}")

    def action_help(self) -> None:
        view = self.screen
        keys = [(self.get_key_display(active.binding), active.binding.description)
                for active in view.active_bindings.values() if active.binding.description]
        title = view.VIEW if isinstance(view, ViewScreen) else ""
        notes = view.HELP if isinstance(view, ViewScreen) else ""
        self.push_screen(HelpScreen(title.title() or "console", keys, notes))

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self.held_back = 0
            self._schedule_flush()

    def action_copy_id(self) -> None:
        copy = self.selection().copy
        if copy is None:
            self._needs("a row")
            return
        what, value = copy
        self.copy_to_clipboard(value)
        self.notify(f"copied {what} {value}", timeout=3)

    def _needs(self, what: str) -> None:
        self.notify(f"Put the cursor on {what} first.", severity="warning", timeout=3)

    # ---- sending ------------------------------------------------------------------------

    @work(exclusive=True, group="dialog", exit_on_error=False)
    async def action_send_event(self) -> None:
        selection = self.selection()
        functions, waits, recent = await asyncio.gather(self.backend.functions(), self.backend.waits(),
                                                        self.backend.events(limit=100))
        names = sorted({name for f in functions for name in f.events}
                       | {w.event for w in waits if w.kind == "event" and w.event})
        history = _distinct_events((info.event.name, info.event.data) for info in recent)
        spec = FormSpec(title="Send an event", name_label="name", placeholder="event name, e.g. app/user.created",
                        submit=self._send_one, suggestions=names, history=history)
        wait = selection.wait
        if wait is not None and wait.kind == "event" and wait.event:
            spec.name = wait.event
            spec.data = data_for_expression(wait.expression, await self._trigger_event(wait.run_id))
            spec.hint = f"pre-filled to satisfy the wait of run {short_id(wait.run_id)}: {wait.expression or 'any'}"
        elif selection.event is not None and not selection.event.name.startswith(RESERVED_PREFIX):
            spec.name, spec.data = selection.event.name, dict(selection.event.data)
        self.push_screen(JsonFormScreen(spec), self._after_send)

    async def _trigger_event(self, run_id: str) -> Event | None:
        run = await self.backend.run(run_id)
        info = await self.backend.event(run.event_id) if run is not None and run.event_id else None
        return info.event if info is not None else None

    async def _send_one(self, name: str, data: dict[str, Any]) -> str:
        results = await self.backend.send([{"name": name, "data": data}])
        return await self._describe_sent(results)

    async def _describe_sent(self, results: list[SendResult]) -> str:
        """One line per event: which runs it started (function and short id) and resumed."""
        run_ids = [r for result in results for r in result.started + result.resumed]
        functions = {run.id: run.function_id for run in await self.backend.runs_by_id(run_ids)}

        def runs(ids: Sequence[str]) -> str:
            return ", ".join(f"{functions.get(r, '?')} {short_id(r)}" for r in ids)

        lines = []
        for result in results:
            parts = []
            if result.started:
                parts.append(f"started {runs(result.started)}")
            if result.resumed:
                parts.append(f"resumed {runs(result.resumed)}")
            lines.append(f"sent {result.name}: " + ("; ".join(parts) or "no function is triggered by it "
                                                                           "and no run was waiting for it"))
        return "\n".join(lines)

    def _after_send(self, summary: str | None) -> None:
        if summary:
            self.note(summary)

    @work(exclusive=True, group="dialog", exit_on_error=False)
    async def action_send_signal(self) -> None:
        wait = self.selection().wait
        waits = await self.backend.waits()
        signals = sorted({w.signal for w in waits if w.kind == "signal" and w.signal})
        spec = FormSpec(title="Send a signal", name_label="signal", placeholder="signal name",
                        submit=self._signal, suggestions=signals)
        if wait is not None and wait.kind == "signal" and wait.signal:
            spec.name = wait.signal
        self.push_screen(JsonFormScreen(spec), self._after_send)

    async def _signal(self, signal: str, data: dict[str, Any]) -> str:
        run_id = await self.backend.send_signal(signal, data)
        run = await self.backend.run(run_id)
        return f"signal {signal} resumed {run.function_id if run else 'run'} {short_id(run_id)}"

    @work(exclusive=True, group="dialog", exit_on_error=False)
    async def action_invoke(self) -> None:
        function_id = self.selection().function_id or ""
        functions = [f.id for f in await self.backend.functions() if f.loaded]
        spec = FormSpec(title="Invoke a function", name_label="function", placeholder="function id",
                        submit=self._invoke, suggestions=functions, name=function_id)
        self.push_screen(JsonFormScreen(spec), self._after_send)

    async def _invoke(self, function_id: str, data: dict[str, Any]) -> str:
        run = await self.backend.invoke(function_id, data)
        return f"invoked {function_id}: started run {short_id(run.id)}"

    @work(exclusive=True, group="dialog", exit_on_error=False)
    async def action_demo(self) -> None:
        try:
            results = await self.backend.send(self.demo_events)
            details = await self._describe_sent(results)
        except Exception as exc:
            self.report_failure("sending the demo events", exc)
            return
        started = sum(len(r.started) for r in results)
        self.note(details, headline=f"sent {len(results)} demo events: started {started} runs (details: 5 Log)")

    # ---- acting on runs and waits -------------------------------------------------------

    def action_cancel_run(self) -> None:
        selection = self.selection()
        run_id = selection.run_id
        if run_id is None:
            self._needs("a run")
            return
        if selection.run_finished:
            self.notify(f"run {short_id(run_id)} has finished; there is nothing to cancel", timeout=3)
            return

        async def answered(yes: bool | None) -> None:
            if yes:
                await self._act(f"cancel run {short_id(run_id)}", self._cancel(run_id))

        self.push_screen(ConfirmScreen(f"Cancel run {short_id(run_id)} of {selection.function_id}?",
                                       "It stops at its next step boundary; finished steps stay as they are."),
                         answered)

    async def _cancel(self, run_id: str) -> str:
        cancelled = await self.backend.cancel(run_id)
        return f"run {short_id(run_id)} cancelled" if cancelled else f"run {short_id(run_id)} had already finished"

    async def action_rerun(self) -> None:
        run_id = self.selection().run_id
        if run_id is None:
            self._needs("a run")
            return
        await self._act(f"rerun run {short_id(run_id)}", self._rerun(run_id))

    async def _rerun(self, run_id: str) -> str:
        run: Run = await self.backend.rerun(run_id)
        return f"rerun of {short_id(run_id)}: started {run.function_id} {short_id(run.id)}"

    def action_fire(self) -> None:
        wait = self.selection().wait
        if wait is None:
            self._needs("a sleeping or waiting step")
            return
        what = "end the sleep" if wait.kind == "sleep" else "time out the wait"
        outcome = ("the run continues now" if wait.kind == "sleep"
                   else "the step returns None (as at its timeout) and the run continues")

        async def answered(yes: bool | None) -> None:
            if yes:
                await self._act(f"fire {wait.step_id}", self._fire(wait.id, wait.step_id or wait.kind))

        self.push_screen(ConfirmScreen(f"Fire now: {what} {wait.step_id or ''} of run {short_id(wait.run_id)}?",
                                       outcome), answered)

    async def _fire(self, wait_id: str, step: str) -> str:
        await self.backend.fire(wait_id)
        return f"fired {step}"

    async def _act(self, what: str, action: Awaitable[str]) -> None:
        try:
            self.note(await action)
        except Exception as exc:
            self.report_failure(f"could not {what}", exc)


def _distinct_events(pairs: Iterable[tuple[str, dict[str, Any]]], keep: int = 10) -> list[tuple[str, dict[str, Any]]]:
    """Recent (name, data) pairs, newest first, without repeats or the executor's own events."""
    seen, out = set(), []
    for name, data in pairs:
        key = (name, orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
        if name.startswith(RESERVED_PREFIX) or key in seen:
            continue
        seen.add(key)
        out.append((name, data))
        if len(out) == keep:
            break
    return out


def run_console(paths: list[str], db: str, port: int, demo: bool, attach_url: str | None = None,
                key: str | None = None, durability: Durability = "normal") -> int:
    """Open the console and return the exit status: the embedded executor on ``db`` (serving
    the HTTP API on ``port``; 0 for none), or attached to ``attach_url`` — or to the server that
    already owns ``db``. 2 when it cannot start, with the reason on stderr."""
    try:
        backend = open_backend(paths, db, port, attach_url, key, durability)
    except LaunchError as exc:
        print(f"durable-tui: {exc}", file=sys.stderr)
        return 2
    app = DurableConsole(backend, demo_events=demo_events_for(paths), send_demo=demo)
    app.run()
    return app.return_code or 0
