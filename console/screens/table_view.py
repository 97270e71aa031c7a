"""``TableView``: a view whose body is a ``LiveTable`` of records keyed by id, filtered as you
type (`/`), with an optional detail pane under it showing the record at the cursor.

It owns the record maps and the table side of every refresh (upsert by key, drop what left,
re-order only when rows were added, relayout on resize, re-filter when the filter changes), so
each view only says how to fetch its records, how one looks and what text finds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Generic, TypeVar

from rich.console import RenderableType
from textual.binding import Binding
from textual.events import Resize
from textual.widgets import Static

from ..widgets.details import DetailPane
from ..widgets.live_table import Cell, Column, LiveTable
from .base import ViewScreen
from .filter_line import FilterLine
from .run_query import TextQuery

R = TypeVar("R")


class TableView(FilterLine, ViewScreen, Generic[R]):
    TABLE_ID: ClassVar[str] = "table"
    #: The detail pane's id, or None for a view without one.
    PANE_ID: ClassVar[str | None] = None
    #: What the filter line says before anything is typed.
    FILTER_HINT: ClassVar[str] = "filter: words to find (enter keeps it, esc clears it)"
    #: What the rows are, for "No … match".
    NOUN: ClassVar[str] = "rows"
    # Priority: the filter line takes focus as `/` arrives, so the keys typed right after it are the
    # filter even in a burst (a paste, a fast typist over SSH); in the line itself `/` is text.
    BINDINGS = [Binding("slash", "filter", "Filter", id="list.filter", priority=True,
                        tooltip="Filter the list as you type (esc in the filter clears it)")]
    # The rows, never the (hidden) filter line: keys typed while the view opens must not land in it.
    AUTO_FOCUS = "LiveTable"

    def __init__(self) -> None:
        super().__init__()
        #: Everything read from the backend, and the part of it that passes the filter (shown).
        self.loaded: dict[str, R] = {}
        self.rows: dict[str, R] = {}
        self.query_now: TextQuery = self.parse_query("")
        # Held, not queried: a timer may tick while the screen is being taken down.
        self.table = LiveTable(id=self.TABLE_ID)
        self.pane = DetailPane(id=self.PANE_ID) if self.PANE_ID else None

    # ---- what a view says -------------------------------------------------------------

    def columns(self, width: int) -> list[Column]:
        raise NotImplementedError

    def key_of(self, record: R) -> str:
        raise NotImplementedError

    def cells(self, record: R) -> dict[str, Cell]:
        raise NotImplementedError

    def search_text(self, record: R) -> str:
        """What free text in the filter finds this record by."""
        raise NotImplementedError

    def order(self, key: str) -> Any:
        """Where a row goes (ascending unless ``reverse_order``)."""
        return key

    reverse_order = False

    def details(self, record: R) -> RenderableType:
        raise NotImplementedError

    def empty_hint(self) -> str:
        """What to do when there is nothing to list at all."""
        return f"No {self.NOUN} yet."

    # ---- layout -------------------------------------------------------------------------

    def compose_body(self) -> Iterable:
        yield from self.filter_widgets(self.FILTER_HINT)
        yield self.table
        yield Static(id="empty", classes="empty")
        if self.pane is not None:
            yield self.pane

    def on_mount(self) -> None:
        super().on_mount()
        self.table.set_columns(self.columns(self.size.width or 80))
        self.table.focus()

    def on_resize(self, event: Resize) -> None:
        if self.table.set_columns(self.columns(event.size.width)):
            self.columns_changed()
            with self.table.cursor_kept():
                self.show(list(self.loaded.values()))

    def columns_changed(self) -> None:
        """The columns were laid out anew (a sort marker to put back, say)."""

    # ---- rows ---------------------------------------------------------------------------

    def passes(self, record: R) -> bool:
        return not self.query_now.active or self.query_now.matches_text(self.search_text(record))

    def show(self, records: Iterable[R]) -> bool:
        """Take these records in: add or patch the rows that pass the filter, take out those that
        no longer do; re-order once if any was added. True when rows were added."""
        added = False
        for record in records:
            key = self.key_of(record)
            self.loaded[key] = record
            if self.passes(record):
                self.rows[key] = record
                added |= self.table.upsert(key, self.cells(record))
            elif self.rows.pop(key, None) is not None:
                self.table.discard(key)
        if added:
            self.reorder()
        return added

    def drop(self, keys: Iterable[str]) -> None:
        shown = []
        for key in list(keys):
            self.loaded.pop(key, None)
            if self.rows.pop(key, None) is not None:
                shown.append(key)
        self.table.discard_many(shown)

    def replace(self, records: list[R]) -> None:
        """Hold exactly ``records``: the rest go, the cursor stays where it was if it can."""
        keep = {self.key_of(r) for r in records}
        with self.table.cursor_kept():
            self.drop(k for k in self.loaded if k not in keep)
            self.show(records)

    def refilter(self) -> None:
        with self.table.cursor_kept():
            self.show(list(self.loaded.values()))
        self.update_empty()
        self.show_detail()

    def reorder(self) -> None:
        self.table.order_by(self.order, reverse=self.reverse_order)

    @property
    def current(self) -> R | None:
        return self.rows.get(self.table.cursor_key or "")

    def update_empty(self) -> None:
        if self.rows:
            self.show_empty(None)
        elif self.query_now.active:
            self.show_empty(f"No {self.NOUN} match “{self.query_now.describe()}”. Press / and esc to clear the filter.")
        else:
            self.show_empty(self.empty_hint())

    # ---- the filter ---------------------------------------------------------------------

    def parse_query(self, text: str) -> TextQuery:
        """The filter as typed; a ``ValueError`` says what is wrong with it."""
        return TextQuery.parse(text)

    def parse_filter(self, text: str) -> TextQuery:
        return self.parse_query(text)

    @property
    def active_filter(self) -> TextQuery:
        return self.query_now

    def use_filter(self, wanted: TextQuery) -> None:
        old, self.query_now = self.query_now, wanted
        self.filter_changed(old)

    def filter_done(self) -> None:
        self.table.focus()

    def filter_changed(self, old: TextQuery) -> None:
        """The filter is now ``query_now``: show the loaded records that pass it."""
        self.refilter()

    # ---- detail pane --------------------------------------------------------------------

    def show_detail(self) -> None:
        if self.pane is None:
            return
        record = self.current
        self.pane.display = record is not None
        if record is not None:
            self.pane.show(self.details(record))

    def on_live_table_row_highlighted(self, event: LiveTable.RowHighlighted) -> None:
        event.stop()
        self.show_detail()
