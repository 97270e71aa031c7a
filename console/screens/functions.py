"""The Functions view: loaded functions (id, triggers, file, run counts) and files that failed
to load, with the selected one's details below.

Run counts need one pass over the runs, so while runs stream in they are re-read at most every
``COUNTS_EVERY`` seconds; a change to the function registry (a reload) refreshes at once.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import RenderableType
from rich.text import Text
from textual.timer import Timer

from ..backend import FunctionInfo
from ..messages import Dirty
from ..widgets.details import counts_text, function_details
from ..widgets.live_table import Cell, Column, Flex, LiveTable, lay_out
from .base import WIDE_FROM, Selection
from .table_view import TableView

COUNTS_EVERY = 2.0


class FunctionsScreen(TableView[FunctionInfo]):
    VIEW = "functions"
    NOUN = "functions"
    FILTER_HINT = "filter as you type: id, trigger, file or error words (enter keeps it, esc clears it)"
    ACTIONS = frozenset({"copy_id"})
    TABLE_ID = "functions-table"
    PANE_ID = "function-detail"
    HELP = ("enter shows the function's runs; i invokes it with data you type (whatever its triggers)\n"
            "runs: total, then ▶ running ◌ queued ✘ failed; ⚠ marks a file that failed to load and every\n"
            "function of it (they run their last good version until the file loads again); they are listed first")

    def __init__(self) -> None:
        super().__init__()
        self._counted_at = 0.0
        self._later = Dirty()
        self._later_timer: Timer | None = None

    def columns(self, width: int) -> list[Column]:
        if width >= WIDE_FROM:
            return lay_out(width, [Flex("id", "function", 3), Flex("triggers", "triggers", 3),
                                   Column("runs", "runs", 14), Flex("file", "file / app", 2)])
        return lay_out(width, [Flex("id", "function", 3), Flex("triggers", "triggers", 2),
                               Column("runs", "runs", 14)])

    def key_of(self, info: FunctionInfo) -> str:
        return info.key

    def order(self, key: str) -> tuple[bool, bool, str]:
        """Whatever needs attention first: files that failed to load, then the functions of broken
        files (still running their last good version), then the healthy ones."""
        info = self.rows[key]
        return (info.error is None, info.loaded, key)

    def cells(self, info: FunctionInfo) -> dict[str, Cell]:
        name: Cell = Text(f"⚠ {info.id}", style="yellow") if info.error else info.id
        return {
            "id": name,
            "triggers": (", ".join(info.triggers) or "invoke only") if info.loaded else "load error",
            "runs": counts_text(info.counts) if info.loaded else "—",
            "file": Path(info.file).name if info.file else f"app {info.app}" if info.app else "",
        }

    def details(self, info: FunctionInfo) -> RenderableType:
        return function_details(info)

    def search_text(self, info: FunctionInfo) -> str:
        return " ".join(filter(None, (info.id, info.name, *info.triggers, info.file, info.error, info.app, info.url)))

    def empty_hint(self) -> str:
        return self.console_app.no_functions_hint()

    async def refresh_view(self, dirty: Dirty) -> None:
        if not (dirty.reload or dirty.functions or dirty.runs or dirty.apps):
            return
        wait = self._counted_at + COUNTS_EVERY - time.monotonic()
        if not (dirty.reload or dirty.functions or dirty.apps) and wait > 0:
            self._later.merge(dirty)
            if self._later_timer is None:
                self._later_timer = self.set_timer(wait, self._count_later)
            return
        infos = await self.backend.functions()
        self._counted_at = time.monotonic()
        self.console_app.learn_functions(infos)
        self.replace(infos)
        self.update_empty()
        self.show_detail()

    def _count_later(self) -> None:
        self._later_timer = None
        self.absorb(self._later.take())

    async def on_live_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        event.stop()
        info = self.rows.get(event.key)
        if info is not None and info.loaded:
            await self.console_app.show_runs_of(info.id)

    def selection(self) -> Selection:
        info = self.current
        if info is None or not info.loaded:
            return Selection()
        return Selection(function_id=info.id, copy=("function id", info.id))
