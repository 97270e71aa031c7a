"""The `/` filter line that every list and the Log view share: the view follows as you type (after
a short pause), `enter` keeps the filter and goes back to the list, `esc` in the line clears it.
A filter that cannot be read changes nothing and says why: under the line while typing, in a
notification on `enter`.

``FilterLine`` is a mixin for a view screen: the view says how a filter is read
(``parse_filter``), which one is on (``active_filter``), what taking a new one does
(``use_filter``) and where the focus goes back to (``filter_done``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Label, Static

#: Typing pauses this long before the view is filtered again.
FILTER_DELAY = 0.12


class FilterInput(Input):
    """The `/` filter line: the view follows as you type; `enter` keeps it, `esc` clears it."""

    BINDINGS = [Binding("escape", "clear", "Clear filter", id="list.filter.clear")]

    async def action_clear(self) -> None:
        self.value = ""
        await self.action_submit()


class FilterLine:
    """Mixin for a ``Screen`` with a `/` filter line (yield ``filter_widgets`` in its body)."""

    _filter_timer: Timer | None = None

    # ---- what the view says -----------------------------------------------------------

    def parse_filter(self, text: str) -> Any:
        """The filter as typed; a ``ValueError`` says what is wrong with it."""
        raise NotImplementedError

    @property
    def active_filter(self) -> Any:
        """The filter in force (it has an ``active`` flag: false for the empty filter)."""
        raise NotImplementedError

    def use_filter(self, wanted: Any) -> None:
        """Make ``wanted`` the filter in force and show what passes it."""
        raise NotImplementedError

    def filter_done(self) -> None:
        """Give the focus back to what the filter filters."""
        raise NotImplementedError

    # ---- the line ---------------------------------------------------------------------

    def filter_widgets(self, placeholder: str) -> Iterable[Widget]:
        yield Horizontal(Label("/", id="filter-label"), FilterInput(placeholder=placeholder, id="filter"),
                         id="filter-row", classes="-hidden")
        yield Static(id="filter-error", classes="-hidden")

    def action_filter(self) -> None:
        self.query_one("#filter-row").remove_class("-hidden")
        # At once, not after the keys already queued (``focus()`` waits its turn): what is typed
        # right after `/` is the filter, not commands for the view.
        self.set_focus(self.query_one("#filter", FilterInput))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "filter":
            return
        event.stop()
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY, lambda: self.apply_filter(event.value, final=False))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "filter":
            return
        event.stop()
        self.set_filter(event.value)

    def set_filter(self, text: str) -> None:
        """Filter by ``text`` and go back to the view (the line stays while a filter is on)."""
        if self._filter_timer is not None:
            self._filter_timer.stop()
        if not self.apply_filter(text, final=True):
            return
        self.query_one("#filter", FilterInput).value = text
        self.query_one("#filter-row").set_class(not self.active_filter.active, "-hidden")
        self.filter_done()

    def apply_filter(self, text: str, *, final: bool) -> bool:
        """Filter by ``text``; False (and why, under the line or in a notification on `enter`)
        when it cannot be read."""
        error = self.query_one("#filter-error", Static)
        try:
            wanted = self.parse_filter(text)
        except ValueError as exc:
            error.update(f"✗ {exc}")
            error.remove_class("-hidden")
            if final:
                self.notify(str(exc), severity="error")
            return False
        error.add_class("-hidden")
        if wanted != self.active_filter:
            self.use_filter(wanted)
        return True
