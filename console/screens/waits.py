"""The Waits view: every pending sleep, event wait and signal wait, soonest deadline first.

The list is re-read (one call) when runs or steps changed, and diffed into the table by wait
id; the time-left column counts down once a second.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from executor import PendingWait

from ..messages import Dirty
from ..run_state import error_text
from ..widgets.details import wait_details
from ..widgets.format import clock_time, countdown, short_id, wait_kind_text
from ..widgets.live_table import Cell, Column, Flex, LiveTable, lay_out
from .base import WIDE_FROM, Selection
from .table_view import TableView

#: More pending waits than this are counted but not listed (the soonest are).
SHOWN = 2000
NO_DEADLINE = 2**62


def wait_target(wait: PendingWait) -> Cell:
    if wait.kind == "sleep":
        return "—"
    if wait.kind == "retry":
        return Text(f"attempt {(wait.attempt or 0) + 1}: {error_text(wait.error) or 'failed'}", style="yellow")
    if wait.kind == "invoke":
        return f"run {short_id(wait.child_run_id)}" if wait.child_run_id else ""
    if wait.superseded:
        return Text(f"{wait.signal} (superseded)", style="dim")
    return wait.event or wait.signal or ""


class WaitsScreen(TableView[PendingWait]):
    VIEW = "waits"
    NOUN = "waits"
    FILTER_HINT = "filter as you type: function, step, event, signal or run words (enter keeps it, esc clears it)"
    ACTIONS = frozenset({"fire", "cancel_run", "copy_id"})
    TABLE_ID = "waits-table"
    PANE_ID = "wait-detail"
    HELP = ("enter opens the waiting run; f fires the selected wait now (a sleep ends, a wait times out,\n"
            "a retry backoff ends and the next attempt starts)\n"
            "e on an event wait opens the send dialog pre-filled to satisfy it; s on a signal wait sends the signal\n"
            "a signal wait marked superseded lost its signal to another run (on_conflict=\"replace\"): it ends\n"
            "at its timeout, or with f")

    def columns(self, width: int) -> list[Column]:
        if width >= WIDE_FROM:
            return lay_out(width, [Column("kind", "kind", 8), Flex("function", "function", 2), Column("run", "run", 8),
                                   Flex("step", "step", 3), Flex("on", "event / signal", 4),
                                   Flex("expression", "match / if", 3), Column("deadline", "deadline", 12),
                                   Column("left", "time left", 12)])
        return lay_out(width, [Column("kind", "kind", 8), Flex("step", "step", 2), Flex("on", "event / signal", 2),
                               Column("left", "time left", 12)])

    def key_of(self, wait: PendingWait) -> str:
        return wait.id

    def order(self, key: str) -> tuple[int, str]:
        deadline = self.rows[key].deadline
        return (deadline if deadline is not None else NO_DEADLINE, key)

    def cells(self, wait: PendingWait) -> dict[str, Cell]:
        now = self.backend.now_ms()
        return {
            "kind": wait_kind_text(wait.kind),
            "function": wait.function_id,
            "run": short_id(wait.run_id),
            "step": wait.step_id or "",
            "on": wait_target(wait),
            "expression": wait.expression or "",
            "deadline": clock_time(wait.deadline, now),
            "left": countdown(wait.deadline, now),
        }

    def details(self, wait: PendingWait) -> RenderableType:
        return wait_details(wait, self.backend.now_ms())

    def search_text(self, wait: PendingWait) -> str:
        return " ".join(filter(None, (wait.kind, wait.function_id, wait.run_id, wait.step_id, wait.event,
                                      wait.signal, wait.expression, error_text(wait.error),
                                      "superseded" if wait.superseded else "")))

    def empty_hint(self) -> str:
        return ("Nothing is sleeping, waiting or retrying. Runs that call step.sleep, wait_for_event or "
                "wait_for_signal, and steps waiting to be retried, show up here with their deadlines.")

    async def refresh_view(self, dirty: Dirty) -> None:
        if not (dirty.reload or dirty.waits):
            return
        waits = await self.backend.waits()
        waits.sort(key=lambda w: (w.deadline if w.deadline is not None else NO_DEADLINE, w.id))
        self.replace(waits[:SHOWN])
        self.update_empty()
        self.show_detail()

    def tick(self, now_ms: int) -> None:
        self.show(list(self.rows.values()))
        self.show_detail()

    def on_live_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        event.stop()
        wait = self.rows.get(event.key)
        if wait is not None:
            self.console_app.open_run(wait.run_id)

    def selection(self) -> Selection:
        wait = self.current
        if wait is None:
            return Selection()
        return Selection(run_id=wait.run_id, run_finished=False, function_id=wait.function_id, wait=wait,
                         copy=("run id", wait.run_id))
