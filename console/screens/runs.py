"""The Runs view: a live table of the newest runs, filterable and sortable, cursor kept on its run,
rows marked for bulk cancel and rerun.

It holds a window of the newest ``WINDOW`` runs that pass the status and fn parts of the filter
(read from the backend); its words filter those on screen. A change to a run fetches that run
alone and patches its row; a new run is added and the oldest beyond the window dropped. Only a
change of status or fn, or a lost-changes reload, reads the window again.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static

from executor import Event, PendingWait, Run, RunStatus

from ..backend import FunctionInfo
from ..messages import Dirty
from ..run_state import RunContext, pick_wait, run_state
from ..widgets.format import RUN_STATUS, clock_time, duration, short_id, status_text
from ..widgets.live_table import Cell, Column, Flex, LiveTable, lay_out
from .base import WIDE_FROM, Selection
from .run_query import RunQuery, TextQuery, json_text
from .table_view import TableView

WINDOW = 1000
#: Compared as strings: ``Run.finished`` builds a ``RunStatus`` each call, and a refresh asks it
#: of every loaded run.
FINISHED = frozenset(status.value for status in RunStatus if status.finished)
#: Characters of an event's data the search looks at.
SEARCH_CHARS = 65536


@dataclass(frozen=True)
class SortOrder:
    column: str
    label: str
    key: Callable[[Run], Any]
    reverse: bool


SORTS: tuple[SortOrder, ...] = (
    SortOrder("started", "newest first", lambda r: r.id, True),
    SortOrder("status", "status", lambda r: (list(RUN_STATUS).index(r.status) if r.status in RUN_STATUS else 9, r.id),
              False),
    SortOrder("function", "function", lambda r: (r.function_id, r.id), False),
    SortOrder("duration", "longest first", lambda r: _took(r), True),
)


def _took(run: Run) -> int:
    """How long a finished run took; unfinished ones sort as zero (their time is still moving)."""
    return run.ended_at - run.started_at if run.ended_at and run.started_at else 0


def _elapsed(run: Run, now_ms: int) -> int | None:
    if run.started_at is None:
        return None
    return (run.ended_at or now_ms) - run.started_at


def run_columns(width: int) -> list[Column]:
    # The state column also says when flow control holds a run back ("debouncing until 10:42:07",
    # "batching 3/100 until …").
    if width >= WIDE_FROM:
        return lay_out(width, [Column("status", "status", 11), Flex("function", "function", 3, 14),
                               Column("run", "run", 8), Flex("event", "event", 2), Column("started", "started", 12),
                               Column("duration", "took", 7), Flex("state", "state", 7)])
    return lay_out(width, [Column("status", "status", 11), Flex("function", "function", 2),
                           Column("started", "started", 12), Column("duration", "took", 7), Flex("state", "state", 3)])


def function_cell(run: Run, function: FunctionInfo | None) -> Cell:
    """The function, and the SDK app serving it when it is one (its runs look like any other)."""
    if function is None or not function.app:
        return run.function_id
    return Text.assemble(run.function_id, (f" · {function.app}", "dim"))


class RunsScreen(TableView[Run]):
    VIEW = "runs"
    NOUN = "runs"
    ACTIONS = frozenset({"cancel_run", "rerun", "copy_id"})
    TABLE_ID = "runs-table"
    FILTER_HINT = "filter as you type: words  status:failed  fn:FUNCTION_ID   (enter keeps it, esc clears it)"
    HELP = ("/ filters as you type: status:failed, fn:FUNCTION_ID and words, which are found in the run's id,\n"
            "function, step, event name and data, output and error (among the newest 1000 runs that match\n"
            "status and fn)\n"
            "state: why a run is not moving (sleeping until, waiting for an event with its condition bound to\n"
            "the run's values, retry n/max and the error, parked), or how it ended\n"
            "o sorts: newest first → status → function → longest first\n"
            "space marks a run (a marks every listed run); c and r then act on the marked runs;\n"
            "C and R act on every listed run (what the filter matches); all of them ask first\n"
            "runs: the counts of every run by status; started/s and failed/s: the last minute, per second")
    BINDINGS = [
        Binding("o", "sort", "Sort", id="runs.sort", tooltip="Sort the runs by the next column"),
        Binding("space", "mark", "Mark", id="runs.mark", tooltip="Mark or unmark the run under the cursor"),
        Binding("a", "mark_all", "Mark all", show=False, id="runs.mark_all",
                tooltip="Mark every listed run (again: unmark them)"),
        Binding("C", "cancel_matching", "Cancel all", show=False, id="runs.cancel_matching",
                tooltip="Cancel every listed run, all that match the filter (asks first, says how many)"),
        Binding("R", "rerun_matching", "Rerun all", show=False, id="runs.rerun_matching",
                tooltip="Rerun every listed run, all that match the filter (asks first, says how many)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[str, str] = {}
        #: Event name and data of the listed runs, as searched text, read only while a search is on.
        self._event_text: dict[str, str] = {}
        self._sort = 0
        self.marks_line = Static(id="marks", classes="-hidden")
        self._marks_shown = 0
        #: What each unfinished run is parked on, and the trigger events its event waits bind.
        self._waits: dict[str, PendingWait] = {}
        self._triggers: dict[str, Event] = {}

    @property
    def run_query(self) -> RunQuery:
        return cast(RunQuery, self.query_now)

    def parse_query(self, text: str) -> RunQuery:
        return RunQuery.parse(text)

    def compose_body(self) -> Iterable:
        yield from super().compose_body()
        yield self.marks_line

    def columns(self, width: int) -> list[Column]:
        return run_columns(width)

    def columns_changed(self) -> None:
        self.table.mark_column(SORTS[self._sort].column)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.markable = True
        self.columns_changed()

    def key_of(self, run: Run) -> str:
        return run.id

    def reorder(self) -> None:
        sort = SORTS[self._sort]
        self.table.order_by(lambda key: sort.key(self.rows[key]), reverse=sort.reverse)

    def cells(self, run: Run) -> dict[str, Cell]:
        now = self.backend.now_ms()
        function = self.console_app.functions.get(run.function_id)
        return {
            "status": status_text(run.status, RUN_STATUS),
            "function": function_cell(run, function),
            "run": short_id(run.id),
            "event": self._names.get(run.event_id or "", ""),
            "started": clock_time(run.started_at or run.created_at, now),
            "duration": duration(_elapsed(run, now)),
            "state": run_state(run, self.context_of(run), now),
        }

    def context_of(self, run: Run) -> RunContext:
        wait = self._waits.get(run.id) if not run.finished else None
        trigger = self._triggers.get(run.event_id or "") if wait is not None and wait.kind == "event" else None
        return RunContext(wait, self.console_app.functions.get(run.function_id), self.console_app.functions_known,
                          trigger)

    def passes(self, run: Run) -> bool:
        event = run.event_id or ""
        return self.run_query.matches(run, self._names.get(event, ""), self._event_text.get(event, ""))

    def empty_hint(self) -> str:
        if not self.console_app.function_count:
            return self.console_app.no_functions_hint()
        return self.console_app.first_steps_hint()

    # ---- refresh ------------------------------------------------------------------------

    def _in_window(self, run: Run) -> bool:
        """Whether the run belongs among those read (the status and fn parts of the filter)."""
        query = self.run_query
        return ((query.status is None or run.status == query.status)
                and (query.function_id is None or run.function_id == query.function_id))

    async def refresh_view(self, dirty: Dirty) -> None:
        if dirty.reload:
            query = self.run_query
            runs = await self.backend.runs(status=query.status, function_id=query.function_id, limit=WINDOW)
            await self._learn(runs)
            self.replace(runs)
        elif dirty.runs:
            runs = await self.backend.runs_by_id(dirty.runs)
            await self._learn(runs)
            with self.table.cursor_kept():
                self.drop(r.id for r in runs if not self._in_window(r))
                self.show([r for r in runs if self._in_window(r)])
                self.drop(heapq.nsmallest(max(len(self.loaded) - WINDOW, 0), self.loaded))
        if dirty.reload or dirty.waits:
            await self._read_waits()
        self.update_empty()
        self._show_marks()

    async def _read_waits(self) -> None:
        """What the listed unfinished runs are parked on (one read of every wait), and the
        trigger events their event waits bind; rows whose state changed are patched."""
        going = {run.id for run in self.loaded.values() if run.status not in FINISHED}
        if not going and not self._waits:
            return
        by_run: dict[str, list[PendingWait]] = {}
        for wait in await self.backend.waits() if going else []:
            if wait.run_id in going:
                by_run.setdefault(wait.run_id, []).append(wait)
        waits = {run_id: wait for run_id, found in by_run.items() if (wait := pick_wait(found)) is not None}
        needed = {self.loaded[r].event_id for r, w in waits.items() if w.kind == "event" and self.loaded[r].event_id}
        missing = {e for e in needed if e and e not in self._triggers}
        if missing:
            self._triggers.update({event.id: event for event in await self.backend.events_by_id(missing)})
        self._triggers = {k: v for k, v in self._triggers.items() if k in needed}
        changed = {r for r in waits.keys() | self._waits.keys() if waits.get(r) != self._waits.get(r)}
        self._waits = waits
        with self.table.cursor_kept():
            self.show([self.loaded[r] for r in changed if r in self.loaded])

    async def _learn(self, runs: list[Run]) -> None:
        """Event names for the rows; while a search is on, the events' data too."""
        unknown = {r.event_id for r in runs if r.event_id and r.event_id not in self._names}
        if unknown:
            self._names.update(await self.backend.event_names(unknown))
        if self.run_query.text:
            missing = {r.event_id for r in runs if r.event_id and r.event_id not in self._event_text}
            if missing:
                for event in await self.backend.events_by_id(missing):
                    self._event_text[event.id] = f"{event.name} {json_text(event.data)[:SEARCH_CHARS]}"

    def filter_changed(self, old: TextQuery) -> None:
        query = self.run_query
        if not isinstance(old, RunQuery) or (old.status, old.function_id) != (query.status, query.function_id):
            self.reload()
            return
        if not query.text:
            self._event_text.clear()
        self.refilter()
        if query.text:
            self.run_worker(self._search_events(), group="search", exclusive=True, exit_on_error=False)

    async def _search_events(self) -> None:
        """Read the listed runs' events so the search finds words in their data, then filter again."""
        runs = list(self.loaded.values())
        try:
            await self._learn(runs)
        except Exception as exc:
            if not self.console_app.is_disconnect(exc):
                self.console_app.report_failure("reading events for the search", exc)
            return
        self.refilter()

    def tick(self, now_ms: int) -> None:
        self.show([run for run in self.rows.values() if run.started_at is not None and run.ended_at is None])

    def functions_changed(self) -> None:
        with self.table.cursor_kept():
            self.show([run for run in self.loaded.values() if run.status not in FINISHED])

    # ---- actions ------------------------------------------------------------------------

    def action_sort(self) -> None:
        self._sort = (self._sort + 1) % len(SORTS)
        self.columns_changed()
        with self.table.cursor_kept():
            self.reorder()
        self.notify(f"sorted by {SORTS[self._sort].label}", timeout=2)

    def action_mark(self) -> None:
        key = self.table.cursor_key
        if key is None:
            return
        self.table.toggle_mark(key)
        self.table.action_move(1)
        self._show_marks()

    def action_mark_all(self) -> None:
        listed = set(self.rows)
        self.table.set_marks(set() if listed and listed <= self.table.marks else listed)
        self._show_marks()

    def clear_marks(self) -> None:
        self.table.set_marks(set())
        self._show_marks()

    def _show_marks(self) -> None:
        count = len(self.table.marks)
        if count == self._marks_shown:
            return
        self._marks_shown = count
        self.marks_line.set_class(not count, "-hidden")
        self.marks_line.update(f"■ {count} marked: c cancels them, r reruns them; space unmarks, a toggles all")

    def _listed(self) -> tuple[list[Run], str, str]:
        """Every listed run, how to call them, and a warning when the window may leave some out."""
        runs = list(self.rows.values())
        which = f"matching “{self.query_now.describe()}”" if self.query_now.active else "all listed"
        note = (f"Only the newest {WINDOW} runs are loaded; older ones that match are left alone."
                if len(self.loaded) >= WINDOW else "")
        return runs, which, note

    def action_cancel_matching(self) -> None:
        runs, which, note = self._listed()
        if runs:
            self.console_app.cancel_many(runs, which, note)

    def action_rerun_matching(self) -> None:
        runs, which, note = self._listed()
        if runs:
            self.console_app.rerun_many(runs, which, note)

    def on_live_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        event.stop()
        self.console_app.open_run(event.key)

    def selection(self) -> Selection:
        marked = tuple(self.rows[key] for key in self.table.keys() if key in self.table.marks)
        run = self.current
        if run is None:
            return Selection(marked=marked)
        return Selection(run_id=run.id, run_finished=run.finished, function_id=run.function_id,
                         copy=("run id", run.id), marked=marked)
