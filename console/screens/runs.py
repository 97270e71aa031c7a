"""The Runs view: a live table of the newest runs, filterable and sortable, cursor kept on its run.

It holds a window of the newest ``WINDOW`` runs that pass the filter. A change to a run fetches
that run alone and patches its row; a new run is added and the oldest beyond the window
dropped. Only a filter change or a lost-changes reload reads the window again.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from textual.binding import Binding
from textual.widgets import Input

from executor import Run

from ..messages import Dirty
from ..widgets.format import RUN_STATUS, clock_time, duration, short_id, status_text
from ..widgets.live_table import Cell, Column, Flex, LiveTable, lay_out
from .base import WIDE_FROM, Selection
from .run_query import RunQuery
from .table_view import TableView

WINDOW = 1000


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
    if width >= WIDE_FROM:
        return lay_out(width, [Column("status", "status", 11), Flex("function", "function", 4),
                               Column("run", "run", 8), Flex("event", "event", 4), Column("started", "started", 12),
                               Column("duration", "took", 7), Flex("step", "current step", 3)])
    return lay_out(width, [Column("status", "status", 11), Flex("function", "function"), Column("run", "run", 8),
                           Column("started", "started", 12), Column("duration", "took", 7)])


class FilterInput(Input):
    """The `/` filter line; `esc` clears it."""

    BINDINGS = [Binding("escape", "clear", "Clear filter", id="runs.filter.clear")]

    async def action_clear(self) -> None:
        self.value = ""
        await self.action_submit()


class RunsScreen(TableView[Run]):
    VIEW = "runs"
    ACTIONS = frozenset({"cancel_run", "rerun", "copy_id"})
    TABLE_ID = "runs-table"
    HELP = ("/ filter: free text, status:failed, fn:FUNCTION_ID (esc in the filter clears it)\n"
            "o sort: newest first → status → function → longest first\n"
            "enter opens the run; the cursor stays on its run while rows update")
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="runs.filter"),
        Binding("o", "sort", "Sort", id="runs.sort"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[str, str] = {}
        self._query = RunQuery()
        self._sort = 0

    def compose_above(self) -> Iterable:
        yield FilterInput(placeholder="filter: text  status:failed  fn:FUNCTION_ID   (enter applies, esc clears)",
                          id="filter", classes="-hidden")

    def columns(self, width: int) -> list[Column]:
        return run_columns(width)

    def columns_changed(self) -> None:
        self.table.mark_column(SORTS[self._sort].column)

    def on_mount(self) -> None:
        super().on_mount()
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
            "step": run.current_step or "",
        }

    # ---- refresh ------------------------------------------------------------------------

    async def refresh_view(self, dirty: Dirty) -> None:
        if dirty.reload:
            runs = await self.backend.runs(status=self._query.status, function_id=self._query.function_id,
                                           limit=WINDOW)
            await self._learn_names(runs)
            self.replace([r for r in runs if self._matches(r)])
        elif dirty.runs:
            runs = await self.backend.runs_by_id(dirty.runs)
            await self._learn_names(runs)
            with self.table.cursor_kept():
                self.drop(r.id for r in runs if not self._matches(r))
                if self.show([r for r in runs if self._matches(r)]):
                    self.drop(heapq.nsmallest(max(len(self.rows) - WINDOW, 0), self.rows))
        self._update_empty()

    async def _learn_names(self, runs: list[Run]) -> None:
        unknown = {r.event_id for r in runs if r.event_id and r.event_id not in self._names}
        if unknown:
            self._names.update(await self.backend.event_names(unknown))

    def _matches(self, run: Run) -> bool:
        return self._query.matches(run, self._names.get(run.event_id or ""))

    def tick(self, now_ms: int) -> None:
        self.show([run for run in self.rows.values() if run.started_at is not None and run.ended_at is None])

    def _update_empty(self) -> None:
        if self.rows:
            self.show_empty(None)
        elif self._query.active:
            self.show_empty(f"No runs match the filter “{self._query.describe()}”. Press / and esc to clear it.")
        elif not self.console_app.function_count:
            self.show_empty(self.console_app.no_functions_hint())
        else:
            self.show_empty(self.console_app.first_steps_hint())

    # ---- actions ------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", FilterInput)
        box.remove_class("-hidden")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.set_filter(event.value)

    def set_filter(self, text: str) -> None:
        try:
            query = RunQuery.parse(text)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        box = self.query_one("#filter", FilterInput)
        box.value = text
        box.set_class(not query.active, "-hidden")
        self.table.focus()
        if query != self._query:
            self._query = query
            self.reload()

    def action_sort(self) -> None:
        self._sort = (self._sort + 1) % len(SORTS)
        self.columns_changed()
        with self.table.cursor_kept():
            self.reorder()
        self.notify(f"sorted by {SORTS[self._sort].label}", timeout=2)

    def on_live_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        event.stop()
        self.console_app.open_run(event.key)

    def selection(self) -> Selection:
        run = self.current
        if run is None:
            return Selection()
        return Selection(run_id=run.id, run_finished=run.finished, function_id=run.function_id,
                         copy=("run id", run.id))
