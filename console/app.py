"""``DurableConsole``: the keyboard-driven operations console, and ``run_console`` to launch it.

The app owns the views (Textual modes, switched with number keys), the app-wide actions (send:
``sending.py``; act on runs: ``run_actions.py``), the command palette and `?` help (both built
from the bindings, which carry ids so ``keys.toml`` can remap them), and the live pump: it folds
the backend's change batches into a ``Dirty`` and hands it to the views at most every
``live_interval`` seconds, keeps the header's counts and trend, and follows the connection.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar
from weakref import WeakSet

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.reactive import var
from textual.timer import Timer

from executor import Change, Durability
from executor.service.client import ServerUnavailableError

from . import keymap
from .backend import Backend, FunctionInfo, Kind, LogLine
from .commands import ConsoleCommands
from .launch import LaunchError, demo_events_for, open_backend
from .messages import Dirty, Link
from .run_actions import RunActionsMixin
from .screens.base import Selection, ViewScreen
from .screens.dialogs import ConfirmScreen, HelpScreen, help_sections
from .screens.events import EventsScreen
from .screens.form import JsonFormScreen
from .screens.functions import FunctionsScreen
from .logbook import LogBook, finished_line
from .navigation import NavigationMixin
from .screens.apps import AppsScreen
from .screens.event_detail import EventDetailScreen
from .screens.inspector import InspectorScreen
from .screens.log import LogScreen
from .screens.run_detail import RunDetailScreen
from .screens.runs import RunsScreen
from .screens.filter_line import FilterInput
from .screens.table_view import TableView
from .screens.waits import WaitsScreen
from .sending import SendingMixin
from .stats import Recount, Stats, Trend
from .widgets.live_table import LiveTable
from .widgets.step_tree import StepTree
from .widgets.format import printable
from .widgets.top_bar import VIEWS

#: Actions on what the cursor is on. Each view lists those that make sense there (its footer
#: shows them); the footer does not follow the cursor, since redrawing it on every move costs
#: tens of milliseconds while rows stream in, so an action without its target says so instead.
CURSOR_ACTIONS = frozenset({"cancel_run", "rerun", "fire", "copy_id"})
BACK = "Go back: out of a run, or to the previous view"
#: What `/` and `o` do where they do something, for saying so where they do not.
LIST_KEYS = {"filter": "filters the list", "sort": "sorts the Runs list"}


class DurableConsole(SendingMixin, RunActionsMixin, NavigationMixin, App[int]):
    """The console over any ``Backend`` (embedded executor or a remote server)."""

    CSS_PATH = "console.tcss"
    TITLE = "durable-tui"
    COMMANDS: ClassVar[set[Any]] = {ConsoleCommands}
    COMMAND_PALETTE_DISPLAY = "^p"
    MODES: ClassVar[dict[str, Any]] = {"functions": FunctionsScreen, "runs": RunsScreen, "waits": WaitsScreen,
                                       "events": EventsScreen, "log": LogScreen, "apps": AppsScreen}
    # Footer order: the view's own keys come first (they are nearer the focus), then these in
    # this order; at 80 columns everything shown fits, the rest is in `?` and the palette.
    BINDINGS = [
        # Shown in the footer by the run view (its own copy); between lists it is a quiet extra.
        Binding("escape", "back", "Back", show=False, id="back", tooltip=BACK),
        Binding("c", "cancel_run", "Cancel", id="run.cancel",
                tooltip="Cancel the run under the cursor, or the marked runs (asks first)"),
        Binding("r", "rerun", "Rerun", id="run.rerun",
                tooltip="Rerun the run under the cursor, or the marked runs, on its event (asks first)"),
        Binding("f", "fire", "Fire", id="wait.fire",
                tooltip="Fire now: end the sleep or time out the wait under the cursor (asks first)"),
        Binding("e", "send_event", "Event", id="send.event",
                tooltip="Send an event (pre-filled to satisfy the event wait under the cursor)"),
        Binding("s", "send_signal", "Signal", show=False, id="send.signal",
                tooltip="Send a signal (pre-filled from the signal wait under the cursor)"),
        Binding("i", "invoke", "Invoke", show=False, id="run.invoke",
                tooltip="Invoke a function with JSON data, whatever its triggers"),
        Binding("y", "copy_id", "Copy id", show=False, id="copy", tooltip="Copy the id under the cursor"),
        Binding("p", "toggle_pause", "Pause", show=False, id="pause",
                tooltip="Pause or resume live updates"),
        Binding("d", "demo", "Demo", show=False, id="demo", tooltip="Send the demo events (asks first)"),
        Binding("question_mark", "help", "Keys", id="help", tooltip="Show the keys of this view"),
        Binding("ctrl+p,colon", "command_palette", "Commands", show=False, id="palette"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit the console"),
        # Priority: handled as the key arrives, so the keys typed right after it reach the view
        # it shows (not the one it leaves); a focused input still takes digits as text.
        *[Binding(key, f"view('{mode}')", f"{label} view", show=False, id=f"view.{mode}", priority=True,
                  tooltip=f"Show the {label} list") for key, mode, label in VIEWS],
        # Where `/` or `o` does nothing, they say so instead of letting the next keys act.
        Binding("slash", "unavailable('filter')", show=False, id="list.filter"),
        Binding("o", "unavailable('sort')", show=False, id="runs.sort"),
    ]

    # ``var``, not ``reactive``: the widgets showing these watch them, and a reactive on the app
    # repaints the whole screen on every change (the stats change every second).
    paused: var[bool] = var(False, init=False)
    held_back: var[int] = var(0, init=False)
    stats: var[Stats] = var(Stats, init=False)
    link: var[Link] = var(Link, init=False, always_update=True)

    def notify(self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every notification quotes something stored (names, errors): never an escape sequence."""
        super().notify(printable(message, multiline=True), title=printable(title), severity=severity,
                       timeout=timeout, markup=markup)

    def __init__(self, backend: Backend, *, demo_events: Sequence[dict[str, Any]] = (), send_demo: bool = False,
                 start_view: str = "runs", live_interval: float = 0.25, tick_seconds: float = 1.0,
                 keys_file: Path | None = None) -> None:
        super().__init__()
        self.backend = backend
        self.demo_events = list(demo_events)
        #: The views mounted now, in every mode (each adds itself on mount).
        self.views: WeakSet[ViewScreen] = WeakSet()
        self.logbook = LogBook()
        self.function_count = 0
        #: The loaded functions by id (a run of any other is parked), once read.
        self.functions: dict[str, FunctionInfo] = {}
        self.functions_known = False
        self.live_interval = live_interval
        self.keys_file = keys_file
        self._send_demo = send_demo
        self._start_view = start_view
        self._tick_seconds = tick_seconds
        self._dirty = Dirty()
        self._flush_timer: Timer | None = None
        self._last_flush = 0.0
        self._history: list[str] = []
        self._printed = ""
        self._trend = Trend()
        self._counts: dict[str, int] | None = None
        self._recount = Recount()
        self._recount_timer: Timer | None = None
        self._counting = self._count_again = False
        self._clashes: set[str] = set()

    # ---- lifecycle ----------------------------------------------------------------------

    async def on_mount(self) -> None:
        self.begin_capture_print(self)
        self._load_keys()
        try:
            await self.backend.start()
        except Exception as exc:
            self.exit(None, return_code=2, message=f"durable-tui: cannot start: {exc}")
            return
        if self.backend.announcement:
            self.notify(self.backend.announcement, title="Attached", timeout=15)
        self.learn_functions(await self.backend.functions())
        await self.switch_mode(self._start_view)
        self._pump()
        self._count_runs()
        if self._tick_seconds:
            self.set_interval(self._tick_seconds, self._tick)
        if not self.function_count:
            self.notify(self.no_functions_hint(), title="No functions", timeout=15)
        if self._send_demo:
            self.send_demo()

    async def on_unmount(self) -> None:
        if self._recount_timer is not None:
            self._recount_timer.stop()
        await self.backend.close()

    def _load_keys(self) -> None:
        if self.keys_file is None:
            return
        owners = [DurableConsole, RunsScreen, TableView, FilterInput, LiveTable, StepTree, ConfirmScreen,
                  HelpScreen, JsonFormScreen, RunDetailScreen, InspectorScreen, EventDetailScreen, EventsScreen,
                  LogScreen, AppsScreen]
        mapping, problems = keymap.load(self.keys_file, keymap.binding_ids(owners))
        if mapping:
            self.set_keymap(mapping)
            self.logbook.add(self.backend.now_ms(), "INFO", "console",
                             f"keys from {self.keys_file}: " + ", ".join(f"{k} = {v}" for k, v in mapping.items()))
        for problem in problems:
            self.report_failure("keys", problem)

    def handle_bindings_clash(self, clashed_bindings: set[Binding], node: Any) -> None:
        """A remapped key taken from another binding: said once, in the Log view."""
        for binding in clashed_bindings:
            if binding.id not in self._clashes:
                self._clashes.add(binding.id or binding.key)
                self.logbook.add(self.backend.now_ms(), "WARNING", "console",
                                 f"keys: {binding.key} now does something else, so {binding.id} lost it")

    # ---- live updates -------------------------------------------------------------------

    @work(group="live", exit_on_error=False)
    async def _pump(self) -> None:
        try:
            async for batch in self.backend.subscribe():
                now = self.backend.now_ms()
                for change in batch:
                    if change.kind == Kind.LOG:
                        self.logbook.add_line(LogLine.from_change(change))
                    elif change.kind == Kind.CONNECTION:
                        self._follow_connection(change)
                    elif change.kind == "run" and (line := finished_line(change, now)) is not None:
                        self.logbook.add_line(line)
                        self._dirty.logs = True
                self._trend.observe(batch, now)
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
        if dirty.runs or dirty.reload:
            self._count_runs_soon()
        for view in list(self.views):
            view.absorb(dirty)

    @work(group="functions", exclusive=True, exit_on_error=False)
    async def _count_functions(self) -> None:
        self.learn_functions(await self.backend.functions())

    def learn_functions(self, infos: Sequence[FunctionInfo]) -> None:
        """Remember which functions are loaded; the views that say "not loaded" redraw if that changed."""
        loaded = {f.id: f for f in infos if f.loaded}
        changed = self.functions_known and loaded != self.functions
        self.functions, self.functions_known, self.function_count = loaded, True, len(loaded)
        if changed:
            for view in list(self.views):
                view.functions_changed()

    def _count_runs_soon(self) -> None:
        if self._recount_timer is None:
            self._recount_timer = self.set_timer(max(0.01, self._recount.wait()), self._count_runs)

    @work(group="counts", exit_on_error=False)
    async def _count_runs(self) -> None:
        """Re-read the counts; one read at a time (a read asked for meanwhile follows it), none
        cancelled half-way (the executor would be left holding a call nobody awaits)."""
        self._recount_timer = None
        if self._counting:
            self._count_again = True
            return
        if not self.link.connected:
            return
        self._counting, self._count_again = True, False
        self._recount.begin()
        try:
            self._counts = await self.backend.run_counts()
        except Exception as exc:
            if not self.is_disconnect(exc):
                self.report_failure("counting runs", exc)
            return
        finally:
            self._recount.end()
            self._counting = False
            if self._count_again:
                self._count_runs_soon()
        self._update_stats()

    def _update_stats(self) -> None:
        started, failed = self._trend.series(self.backend.now_ms())
        self.stats = Stats(dict(self._counts or {}), started, failed, counted=self._counts is not None)

    def _tick(self) -> None:
        self._update_stats()
        if not self.link.connected:
            self.link = self.link   # the countdown to the next attempt moves on
            return
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

    # ---- the connection -----------------------------------------------------------------

    def _follow_connection(self, change: Change) -> None:
        data = change.data
        was = self.link
        if data.get("connected"):
            if not was.connected:
                self.notify(f"Reconnected to {self.backend.title.removeprefix('attached · ')}; the views reload.",
                            title="Live again", timeout=6)
            self.link = Link()
            self._count_runs_soon()
            return
        retry_at = time.monotonic() + float(data.get("retry_in") or 0)
        since = was.since_ms if not was.connected else self.backend.now_ms()
        self.link = Link(False, since, retry_at, str(data.get("error") or ""))
        if was.connected:
            self.notify(f"Lost the connection to {self.backend.title.removeprefix('attached · ')}. The views keep "
                        "the last data, marked stale, and the console reconnects by itself (why: 5 Log).",
                        title="Disconnected", severity="warning", timeout=10)

    def is_disconnect(self, exc: BaseException) -> bool:
        """A failure that only means the executor cannot be reached now (no toast: the top bar says it)."""
        return not self.link.connected or isinstance(exc, ServerUnavailableError)

    # ---- what the operator is looking at ------------------------------------------------

    @property
    def visible_view(self) -> ViewScreen | None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ViewScreen):
                return screen
        return None

    def selection(self) -> Selection:
        view = self.visible_view
        return view.selection() if view is not None else Selection()

    def clear_marks(self) -> None:
        for view in list(self.views):
            view.clear_marks()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The view under any dialog decides (the command palette asks while it is on top).
        if action in CURSOR_ACTIONS:
            view = self.visible_view
            return view is not None and action in view.ACTIONS
        if action == "back":   # out of a run opened on the list, or to the previous view
            view = self.visible_view
            return (view is not None and view is not self.screen_stack[0]) or bool(self._history)
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

    def report_failure(self, what: str, exc: BaseException | str) -> None:
        message = f"{what}: {exc or type(exc).__name__}"
        self.logbook.add(self.backend.now_ms(), "ERROR", "console", message)
        self.notify(message, severity="error", timeout=8)

    def note(self, message: str, headline: str | None = None, ts: int | None = None) -> None:
        """Tell the operator (``headline``, or the first lines) and keep all of it in the Log view,
        stamped ``ts`` (when the action began) or now."""
        lines = message.splitlines()
        stamp = self.backend.now_ms() if ts is None else ts
        for line in lines:
            self.logbook.add(stamp, "INFO", "console", line)
        self._dirty.logs = True
        self._schedule_flush()
        if headline is None:
            headline = "\n".join(lines if len(lines) <= 4 else [*lines[:3], f"… and {len(lines) - 3} more (5 Log)"])
        self.notify(headline, timeout=6)

    def _needs(self, what: str) -> None:
        self.notify(f"Put the cursor on {what} first.", severity="warning", timeout=3)

    # ---- navigation ---------------------------------------------------------------------

    async def action_view(self, mode: str) -> None:
        """Show that view's list, never a run opened there earlier (the keys typed next must reach
        the list): a view is left at its list, and the one shown is brought back to it."""
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        if mode != self.current_mode:
            self._history = [*self._history[-20:], self.current_mode]
            await self.switch_mode(mode)

    async def action_back(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()
        elif self._history:
            await self.switch_mode(self._history.pop())

    def action_unavailable(self, what: str) -> None:
        key = {"filter": "/", "sort": "o"}[what]
        opened = len(self.screen_stack) > 1
        kind = (self.screen.KIND if isinstance(self.screen, ViewScreen) else "").lower() or "run"
        here = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}" if opened else f"the {self.current_mode.title()} view"
        away = "esc goes back to the list" if opened else "2 shows the Runs list"
        self.notify(f"{key} {LIST_KEYS[what]}; there is none in {here} ({away}).", severity="warning", timeout=4)

    def action_help(self) -> None:
        view = self.screen
        title = (view.VIEW or "console").title() if isinstance(view, ViewScreen) else "console"
        if isinstance(view, ViewScreen) and view.KIND:
            title = view.KIND
        notes = view.HELP if isinstance(view, ViewScreen) else ""
        keys_file = f"Remap keys in {self.keys_file or keymap.default_path()}: id = \"key\" (ids in the last column)."
        self.push_screen(HelpScreen(title, help_sections(view, title), f"{notes}\n{keys_file}".strip()))

    async def action_quit(self) -> None:
        """`q` asks first when quitting stops the executor (this console runs it)."""
        warning = self.backend.quit_warning
        if not warning:
            self.exit()
            return
        going = sum(self.stats.counts.get(s, 0) for s in ("Queued", "Running"))
        if going:
            warning += f" {going} run{'s are' if going != 1 else ' is'} in progress now."

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(ConfirmScreen("Quit durable-tui?", warning), answered)

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


def run_console(paths: list[str], db: str, port: int, demo: bool, attach_url: str | None = None,
                key: str | None = None, durability: Durability = "normal", sdk_urls: Sequence[str] = (),
                poll: bool = True) -> int:
    """Open the console and return the exit status: the embedded executor on ``db`` (serving
    the HTTP API on ``port``; 0 for none), or attached to ``attach_url`` — or to the server that
    already owns ``db``. 2 when it cannot start, with the reason on stderr."""
    try:
        backend = open_backend(paths, db, port, attach_url, key, durability, sdk_urls=sdk_urls, poll=poll)
    except LaunchError as exc:
        print(f"durable-tui: {exc}", file=sys.stderr)
        return 2
    app = DurableConsole(backend, demo_events=demo_events_for(paths), send_demo=demo, keys_file=keymap.default_path())
    app.run()
    return app.return_code or 0
