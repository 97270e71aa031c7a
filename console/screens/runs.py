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

from textual.binding import Binding
from textual.widgets import Static

from executor import Run

from ..messages import Dirty
from ..widgets.format import RUN_STATUS, clock_time, duration, flow_note, short_id, status_text
from ..widgets.live_table import Cell, Column, Flex, LiveTable, lay_out
from .base import WIDE_FROM, Selection
from .run_query import RunQuery, TextQuery, json_text
from .table_view import TableView

WINDOW = 1000
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
    # The last column also says why a run is not moving ("debouncing until 10:42:07", "batching
    # 3/100 until …"): at 120 columns the flexible ones get 17, 20 and the 29 cells that takes.
    if width >= WIDE_FROM:
        return lay_out(width, [Column("status", "status", 11), Flex("function", "function", 17),
                               Column("run", "run", 8), Flex("event", "event", 20), Column("started", "started", 12),
                               Column("duration", "took", 7), Flex("step", "current step", 29)])
    return lay_out(width, [Column("status", "status", 11), Flex("function", "function"), Column("run", "run", 8),
                           Column("started", "started", 12), Column("duration", "took", 7)])


class RunsScreen(TableView[Run]):
    VIEW = "runs"
    NOUN = "runs"
    ACTIONS = frozenset({"cancel_run", "rerun", "copy_id"})
    TABLE_ID = "runs-table"
    FILTER_HINT = "filter as you type: words  status:failed  fn:FUNCTION_ID   (enter keeps it, esc clears it)"
    HELP = ("/ filters as you type: status:failed, fn:FUNCTION_ID and words, which are found in the run's id,\n"
            "function, step, event name and data, output and error (among the newest 1000 runs that match\n"
            "status and fn)\n"
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
        return {
            "status": status_text(run.status, RUN_STATUS),
            "function": run.function_id,
            "run": short_id(run.id),
            "event": self._names.get(run.event_id or "", ""),
            "started": clock_time(run.started_at or run.created_at, now),
            "duration": duration(_elapsed(run, now)),
            "step": run.current_step or flow_note(run),
        }

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
        self.update_empty()
        self._show_marks()

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
