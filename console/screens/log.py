"""The Log view: executor logging, load errors, reload notices, what functions print, and the
console's own reports (what was sent, what failed). Lines are appended, never re-rendered."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable

from rich.text import Text
from textual.widgets import RichLog

from ..backend import LogLine
from ..messages import Dirty
from ..widgets.format import LOG_LEVELS, clock_time, printable
from .base import ViewScreen

KEEP = 5000


class LogBook:
    """The console's log: the backend's lines, the console's own reports and captured prints,
    kept in time order. Lines reach the console by different roads (prints at once, executor
    logging in the next feed batch), so one may arrive after a later one: it is put in its place
    and ``rewrites`` tells a view that has drawn past it to draw again."""

    def __init__(self, keep: int = KEEP) -> None:
        self._lines: list[LogLine] = []
        self._keep = keep
        self._seq = itertools.count(1)
        self.rewrites = 0

    def add(self, ts: int, level: str, source: str, message: str) -> None:
        line = LogLine(next(self._seq), ts, level, source, message)
        if self._lines and ts < self._lines[-1].ts:
            bisect.insort_right(self._lines, line, key=lambda known: known.ts)
            self.rewrites += 1
        else:
            self._lines.append(line)
        if len(self._lines) > self._keep:
            del self._lines[: len(self._lines) - self._keep]

    def add_line(self, line: LogLine) -> None:
        """A backend's line, renumbered into the console's order."""
        self.add(line.ts, line.level, line.source, line.message)

    def since(self, seq: int) -> list[LogLine]:
        """The lines numbered after ``seq`` (added since), in time order."""
        return [line for line in self._lines if line.seq > seq]


def log_text(line: LogLine, now_ms: int) -> Text:
    text = Text(no_wrap=False, end="")
    text.append(f"{clock_time(line.ts, now_ms)} ", style="dim")
    text.append(f"{line.level:<7} ", style=LOG_LEVELS.get(line.level, ""))
    text.append(f"{printable(line.source):<10} ", style="dim")
    text.append(printable(line.message, multiline=True), style=LOG_LEVELS.get(line.level, ""))
    return text


class LogScreen(ViewScreen):
    VIEW = "log"
    READS_BACKEND = False   # the console's own log book: it goes on while disconnected
    HELP = "↑/↓ page up/down scroll; new lines are appended at the bottom as they happen"

    def __init__(self) -> None:
        super().__init__()
        self._last_seq = 0
        self._rewrites = 0

    def compose_body(self) -> Iterable:
        yield RichLog(id="log", max_lines=KEEP, wrap=True, markup=False, highlight=False, auto_scroll=True,
                      min_width=20)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(RichLog).focus()

    async def refresh_view(self, dirty: Dirty) -> None:
        log = self.query_one(RichLog)
        now = self.backend.now_ms()
        # Wrap to the pane: left to itself RichLog measures against the whole console's width.
        width = log.scrollable_content_region.width or None
        book = self.console_app.logbook
        if book.rewrites != self._rewrites:
            self._rewrites, self._last_seq = book.rewrites, 0
            log.clear()
        for line in book.since(self._last_seq):
            log.write(log_text(line, now), width=width)
            self._last_seq = max(self._last_seq, line.seq)
