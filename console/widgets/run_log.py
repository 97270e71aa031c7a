"""``RunLog``: one run's lines of the console's log, in the run view (`l`).

It appends what the log book gained since it last looked and starts over when the book put a
late line in its place, like the Log view, but only lines tagged with this run.
"""

from __future__ import annotations

from textual.widgets import RichLog

from ..logbook import KEEP, LogBook, LogFilter, log_text


class RunLog(RichLog):
    def __init__(self, run_id: str, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=KEEP, wrap=True, markup=False, highlight=False, auto_scroll=True,
                         min_width=20)
        self.filter = LogFilter(run=run_id)
        self._last_seq = 0
        self._rewrites = 0
        self._placeholder = False
        self.shown = 0

    def catch_up(self, book: LogBook, now_ms: int) -> None:
        if book.rewrites != self._rewrites:
            self._rewrites, self._last_seq, self.shown = book.rewrites, 0, 0
            self.clear()
            self._placeholder = False
        fresh = book.since(self._last_seq)
        if fresh:
            self._last_seq = max(line.seq for line in fresh)
        mine = [line for line in fresh if self.filter.matches(line)]
        width = self.scrollable_content_region.width or None
        if mine and self._placeholder:
            self.clear()
            self._placeholder = False
        for line in mine:
            self.write(log_text(line, now_ms, tags=False), width=width)
        self.shown += len(mine)
        if not self.shown and not self._placeholder:
            self._placeholder = True
            self.write("No log lines for this run yet: what its function logs (ctx.logger), what the executor "
                       "says about it, and how it ended appear here.", width=width)
