"""The strip under the top bar: runs per status, and sparklines of runs started and failed per
second over the last minute. It follows the app's ``stats`` (every view has its own strip, all
showing the same numbers) and fits 80 columns by shortening the counts to glyph and number."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.events import Resize
from textual.widgets import Sparkline, Static

from ..stats import Stats
from .format import RUN_STATUS

#: Below this many columns the counts drop their words (the glyphs stay, and `?` explains them).
WORDS_FROM = 110


def counts_text(stats: Stats, words: bool) -> Text:
    text = Text(no_wrap=True, end="")
    text.append("runs ", style="bold")
    if not stats.counted:
        text.append("counting…", style="dim")
        return text
    for status, (glyph, colour) in RUN_STATUS.items():
        count = stats.counts.get(status, 0)
        if status == "Skipped" and not count:
            continue        # only functions with flow control skip runs: no room taken otherwise
        text.append(f"{glyph} {count}" if words else f"{glyph}{count}", style=colour if count else "dim")
        text.append(f" {status.lower()}  " if words else " ", style="" if count else "dim")
    return text


class StatusStrip(Horizontal):
    """Counts on the left; "started" and "failed" sparklines, each with its last second's value.

    Only the strip on screen is redrawn (a hidden view's catches up when shown), and a part is
    updated only when what it says changed: a text of a new width costs the screen a layout."""

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="counts")
        yield Static("started/s", classes="spark-label")
        yield Sparkline([0, 0], id="started-spark")
        yield Static("0", id="started-now", classes="spark-now")
        yield Static("failed/s", classes="spark-label")
        yield Sparkline([0, 0], id="failed-spark")
        yield Static("0", id="failed-now", classes="spark-now")

    def on_mount(self) -> None:
        self.watch(self.app, "stats", self.sync)

    def on_resize(self, event: Resize) -> None:
        self._shown.pop("counts", None)
        self.sync()

    def sync(self, stats: Stats | None = None) -> None:
        """Show the app's stats, if this strip is on screen."""
        if getattr(self.app, "visible_view", None) is not self.screen:
            return
        stats = stats if stats is not None else getattr(self.app, "stats", Stats())
        self._set("counts", counts_text(stats, self.app.size.width >= WORDS_FROM), Static)
        for name, series in (("started", stats.started), ("failed", stats.failed)):
            # Two points at least: a single one draws as a full bar whatever its value.
            self._set(f"{name}-spark", list(series) if len(series) > 1 else [0, *series, 0], Sparkline)
            # The last full second: the current one is still filling.
            self._set(f"{name}-now", str(series[-2]) if len(series) > 1 else "0", Static)

    def _set(self, part: str, value: object, kind: type) -> None:
        before = self._shown.get(part)
        if before == value:
            return
        self._shown[part] = value
        widget = self.query_one(f"#{part}", kind)
        if isinstance(widget, Sparkline):
            widget.data = value    # type: ignore[assignment]
        else:
            # A layout only when the width changed (the values' cells are fixed width).
            widget.update(value, layout=part == "counts" and _cells(before) != _cells(value))  # type: ignore[arg-type]


def _cells(value: object) -> int:
    return value.cell_len if isinstance(value, Text) else len(str(value or ""))
