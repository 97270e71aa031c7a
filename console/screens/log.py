"""The Log view: executor logging, load errors, reload notices, what functions print, how runs
ended and the console's own reports (what was sent, what failed), each line tagged with the run
and step it is about. `/` filters (``level:warning run:ID fn:FUNCTION step:STEP`` and words) as
you type; `f` stops following new lines (to read back) and starts again.

Lines are appended as they come; a filter change draws the lines that pass it again.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.widgets import RichLog, Static

from ..backend import LogLine
from ..logbook import KEEP, LogFilter, log_text
from ..messages import Dirty
from .base import ViewScreen
from .filter_line import FilterLine

#: Lines drawn again when the filter changes (the newest that pass it).
REDRAW = 2000


class LogScreen(FilterLine, ViewScreen):
    VIEW = "log"
    READS_BACKEND = False   # the console's own log book: it goes on while disconnected
    HELP = ("↑/↓ page up/down scroll; new lines are added at the bottom as they happen\n"
            "/ filters as you type: level:warning (and above), run:ID (the short id works), fn:FUNCTION,\n"
            "step:STEP and words; enter keeps it, esc in it clears it\n"
            "f stops following new lines (read back in peace) and starts again\n"
            "[run/step] says which run and step a line is about; a run's own log is l in its view")
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="list.filter", priority=True,
                tooltip="Filter the log as you type: level:warning run:ID fn:FUNCTION step:STEP words"),
        Binding("f", "follow", "Follow", id="log.follow", tooltip="Follow new lines, or stop to read back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._last_seq = 0
        self._rewrites = 0
        self.filter = LogFilter()
        self.following = True
        self.log_widget = RichLog(id="log", max_lines=KEEP, wrap=True, markup=False, highlight=False,
                                  auto_scroll=True, min_width=20)
        self.status_line = Static(id="log-status")

    def compose_body(self) -> Iterable:
        yield from self.filter_widgets("level:warning run:ID fn:FUNCTION step:STEP words (enter keeps it, esc clears it)")
        yield self.log_widget
        yield self.status_line

    def on_mount(self) -> None:
        super().on_mount()
        self.log_widget.focus()
        self._show_status()

    async def refresh_view(self, dirty: Dirty) -> None:
        book = self.console_app.logbook
        if book.rewrites != self._rewrites:
            self._rewrites = book.rewrites
            self._redraw()
            return
        fresh = book.since(self._last_seq)
        if fresh:
            self._last_seq = max(line.seq for line in fresh)
            self._write([line for line in fresh if self.filter.matches(line)])

    def _write(self, lines: list[LogLine]) -> None:
        now = self.backend.now_ms()
        # Wrap to the pane: left to itself RichLog measures against the whole console's width.
        width = self.log_widget.scrollable_content_region.width or None
        for line in lines:
            self.log_widget.write(log_text(line, now), width=width, scroll_end=self.following)

    def _redraw(self) -> None:
        self.log_widget.clear()
        lines = self.console_app.logbook.since(0)
        self._last_seq = max((line.seq for line in lines), default=0)
        self._write([line for line in lines if self.filter.matches(line)][-REDRAW:])
        self._show_status()

    # ---- the filter and following ---------------------------------------------------------

    def parse_filter(self, text: str) -> LogFilter:
        return LogFilter.parse(text)

    @property
    def active_filter(self) -> LogFilter:
        return self.filter

    def use_filter(self, wanted: LogFilter) -> None:
        self.filter = wanted
        self._redraw()

    def filter_done(self) -> None:
        self.log_widget.focus()

    def action_follow(self) -> None:
        self.following = not self.following
        self.log_widget.auto_scroll = self.following
        if self.following:
            self.log_widget.scroll_end(animate=False)
        self._show_status()

    def _show_status(self) -> None:
        follow = "● following new lines (f stops)" if self.following else "‖ not following (f follows again)"
        shown = f"  ·  filter: {self.filter.describe()}" if self.filter.active else "  ·  / filters"
        self.status_line.update(Text(follow + shown, style="dim", no_wrap=True, overflow="ellipsis"))
