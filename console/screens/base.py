"""``ViewScreen``: what every view shares — the top bar and footer, live refresh, a selection.

Live refresh is pull-based: the app hands each view a ``Dirty`` (what changed), the view folds
it into its own and, only while it is the visible screen, runs one refresh at a time until
nothing is pending. A hidden view therefore costs nothing, a slow refresh never overlaps the
next one, and a view shown again catches up in one go.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from executor import Event, PendingWait, Run

from ..backend import Backend
from ..messages import Dirty, Link
from ..widgets.format import clock_time
from ..widgets.live_table import LiveTable
from ..widgets.status_strip import StatusStrip
from ..widgets.top_bar import TopBar

if TYPE_CHECKING:
    from ..app import DurableConsole

#: Below this many columns, views collapse: fewer table columns, panes stacked not side by side.
WIDE_FROM = 100


@dataclass(frozen=True)
class Selection:
    """What the cursor is on, for the app-wide actions (cancel, rerun, fire, copy, pre-fill)."""

    run_id: str | None = None
    run_finished: bool = True
    function_id: str | None = None
    wait: PendingWait | None = None
    event: Event | None = None
    copy: tuple[str, str] | None = None      # (what it is, the id) for `y`
    marked: tuple[Run, ...] = ()             # runs marked with `space`: `c` and `r` act on them instead


class ViewScreen(Screen[None]):
    """A view: subclasses compose their body, refresh from a ``Dirty`` and report a selection."""

    VIEW: ClassVar[str] = ""
    #: What a screen opened on top of a view shows ("Run", "Event"…), for the help's title; "" for a view.
    KIND: ClassVar[str] = ""
    #: The app's cursor actions (``CURSOR_ACTIONS``) that make sense in this view.
    ACTIONS: ClassVar[frozenset[str]] = frozenset()
    #: Extra lines for the `?` help of this view (filter syntax and the like).
    HELP: ClassVar[str] = ""
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE_FROM, "-wide")]
    #: Refreshing reads the backend, so it waits while the executor cannot be reached.
    READS_BACKEND: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self._pending = Dirty(reload=True)
        self._busy = False
        #: A refresh has succeeded: what is on screen is data, not a blank waiting for some.
        self.has_loaded = False
        self._empty_message: str | None = ""

    @property
    def console_app(self) -> "DurableConsole":
        return cast("DurableConsole", self.app)

    @property
    def backend(self) -> Backend:
        return self.console_app.backend

    @property
    def wide(self) -> bool:
        return self.size.width >= WIDE_FROM

    def compose(self) -> ComposeResult:
        yield TopBar(self.VIEW, self.backend.title)
        yield StatusStrip()
        yield Static(id="stale", classes="-hidden")
        yield from self.compose_body()
        yield Footer(compact=True, show_command_palette=True)

    def compose_body(self) -> Iterable:
        return ()

    # ---- live refresh -------------------------------------------------------------------

    def on_mount(self) -> None:
        self.console_app.views.add(self)
        self.watch(self.app, "link", self._follow_link)

    def on_unmount(self) -> None:
        self.console_app.views.discard(self)

    def on_screen_resume(self) -> None:
        # Running rows and countdowns stood still while hidden: move them before anything else.
        if self.is_mounted and self.console_app.link.connected and not self.console_app.paused:
            self.tick(self.backend.now_ms())
        self.query_one(StatusStrip).sync()
        self.kick()
        # After the switch has settled: during it the app still sees the previous stack.
        self.call_after_refresh(self.app.refresh_bindings)

    def _follow_link(self, link: Link) -> None:
        """While the executor cannot be reached, say so above the data and show the data as stale."""
        banner = self.query_one("#stale", Static)
        self.set_class(not link.connected, "-stale")
        banner.set_class(link.connected, "-hidden")
        if link.connected:
            return
        since = clock_time(link.since_ms, self.backend.now_ms())
        retry = f"retrying in {link.retry_in()}s" if link.retry_in() else "retrying now"
        banner.update(Text(f"⚠ stale: disconnected since {since}, {retry}; showing the data as it was then",
                           no_wrap=True, overflow="ellipsis"))
        if not self.has_loaded:
            self.show_unloaded("Not loaded: the executor does not answer. This list loads when the connection is "
                               "back (why: 5 Log).")

    @property
    def on_top(self) -> bool:
        """The top non-modal screen of the active stack: what the operator is looking at."""
        for screen in reversed(self.app.screen_stack):
            if not isinstance(screen, ModalScreen):
                return screen is self
        return False

    def absorb(self, dirty: Dirty) -> None:
        self._pending.merge(dirty)
        if self.on_top:
            self.kick()

    def reload(self) -> None:
        self.absorb(Dirty(reload=True))

    def kick(self) -> None:
        if self._busy or not self._pending or not self.is_mounted:
            return
        if self.READS_BACKEND and not self.console_app.link.connected:
            return
        self._busy = True
        self.run_worker(self._drain(), group="refresh", exit_on_error=False)

    async def _drain(self) -> None:
        try:
            while self._pending and self.on_top:
                dirty = self._pending.take()
                try:
                    await self.refresh_view(dirty)
                    self.has_loaded = True
                except Exception as exc:  # a failed read must not end the console; say it and go on
                    if self.console_app.is_disconnect(exc):
                        # Read again once the connection is back; the top bar already says why.
                        self._pending.merge(dirty)
                        return
                    self.console_app.report_failure(f"refreshing {self.VIEW or 'the view'}", exc)
        finally:
            self._busy = False

    async def refresh_view(self, dirty: Dirty) -> None:
        """Bring the view up to date with what ``dirty`` says changed."""

    def tick(self, now_ms: int) -> None:
        """Once a second while visible: move countdowns and running durations along."""

    def functions_changed(self) -> None:
        """The set of loaded functions changed (``app.functions``): redraw what depends on it."""

    def show_empty(self, message: str | None) -> None:
        """An empty table shrinks to its header and the view says what to do instead."""
        if message == self._empty_message:
            return                      # every refresh asks; a redraw costs the screen a layout
        self._empty_message = message
        empty = self.query_one("#empty", Static)
        empty.display = message is not None
        empty.update(message or "")
        for table in self.query(LiveTable):
            table.set_class(message is not None, "-empty")

    def show_unloaded(self, message: str) -> None:
        """Say why the view has nothing to show yet (a view without an empty state has its banner)."""
        if self.query("#empty"):
            self.show_empty(message)

    # ---- selection ----------------------------------------------------------------------

    def selection(self) -> Selection:
        return Selection()

    def clear_marks(self) -> None:
        """Forget rows marked for a bulk action (after it ran)."""
