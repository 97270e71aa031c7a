"""The line at the top of every view: which view this is, the number keys of the others, what
the console is connected to, and whether live updates are flowing or paused."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static

from ..messages import Link

#: (number key, mode name, label) of the views reachable from anywhere.
VIEWS: tuple[tuple[str, str, str], ...] = (
    ("1", "functions", "Functions"),
    ("2", "runs", "Runs"),
    ("3", "waits", "Waits"),
    ("4", "events", "Events"),
    ("5", "log", "Log"),
    ("6", "apps", "Apps"),
)


def tabs_text(current: str) -> Text:
    text = Text(no_wrap=True, end="")
    for key, mode, label in VIEWS:
        if mode == current:
            text.append(f" {key} {label} ", style="reverse bold")
        else:
            text.append(f" {key} ", style="bold")
            text.append(f"{label} ", style="dim")
    return text


class TopBar(Horizontal):
    """Tabs on the left, connection and live state on the right."""

    paused: reactive[bool] = reactive(False, init=False)
    waiting: reactive[int] = reactive(0, init=False)
    link: reactive[Link] = reactive(Link, init=False, always_update=True)

    def __init__(self, current: str, connection: str) -> None:
        super().__init__()
        self._current = current
        self._connection = connection

    def compose(self) -> ComposeResult:
        yield Static(tabs_text(self._current), id="tabs")
        yield Static(self._connection, id="connection")
        yield Static(self._live_text(), id="live")

    def on_mount(self) -> None:
        # The app owns the pause and connection state; every view's bar follows it.
        self.watch(self.app, "paused", self._follow_paused)
        self.watch(self.app, "held_back", self._follow_waiting)
        self.watch(self.app, "link", self._follow_link)

    def _follow_paused(self, paused: bool) -> None:
        self.paused = paused

    def _follow_waiting(self, waiting: int) -> None:
        self.waiting = waiting

    def _follow_link(self, link: Link) -> None:
        self.link = link

    def _live_text(self) -> Text:
        if not self.link.connected:
            retry = self.link.retry_in()
            return Text(f"✕ disconnected, retrying in {retry}s" if retry else "✕ disconnected, retrying now",
                        style="red bold", no_wrap=True)
        if not self.paused:
            return Text("● live", style="green", no_wrap=True)
        waiting = f" ({self.waiting} waiting)" if self.waiting else ""
        return Text(f"‖ paused{waiting}", style="yellow bold", no_wrap=True)

    def _show_live(self) -> None:
        self.query_one("#live", Static).update(self._live_text())

    watch_paused = watch_waiting = watch_link = _show_live
