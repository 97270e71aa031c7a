"""The Log view: executor logging, load errors, reload notices, what functions print, and the
console's own reports (what was sent, what failed). Lines are appended, never re-rendered."""

from __future__ import annotations

import itertools
from collections import deque
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
    numbered in arrival order so a view can ask for what is new since it last looked."""

    def __init__(self, keep: int = KEEP) -> None:
        self._lines: deque[LogLine] = deque(maxlen=keep)
        self._seq = itertools.count(1)

    def add(self, ts: int, level: str, source: str, message: str) -> None:
        self._lines.append(LogLine(next(self._seq), ts, level, source, message))

    def add_line(self, line: LogLine) -> None:
        """A backend's line, renumbered into the console's order."""
        self.add(line.ts, line.level, line.source, line.message)

    def since(self, seq: int) -> list[LogLine]:
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
    HELP = "↑/↓ page up/down scroll; new lines are appended at the bottom as they happen"

    def __init__(self) -> None:
        super().__init__()
        self._last_seq = 0

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
        for line in self.console_app.logbook.since(self._last_seq):
            log.write(log_text(line, now), width=width)
            self._last_seq = line.seq
