"""``TableView``: a view whose body is a ``LiveTable`` of records keyed by id, with an optional
detail pane under it showing the record at the cursor.

It owns the record map and the table side of every refresh (upsert by key, drop what left,
re-order only when rows were added, relayout on resize), so each view only says how to fetch
its records and how one looks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Generic, TypeVar

from rich.console import RenderableType
from textual.events import Resize
from textual.widgets import Static

from ..widgets.details import DetailPane
from ..widgets.live_table import Cell, Column, LiveTable
from .base import ViewScreen

R = TypeVar("R")


class TableView(ViewScreen, Generic[R]):
    TABLE_ID: ClassVar[str] = "table"
    #: The detail pane's id, or None for a view without one.
    PANE_ID: ClassVar[str | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, R] = {}
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

    def order(self, key: str) -> Any:
        """Where a row goes (ascending unless ``reverse_order``)."""
        return key

    reverse_order = False

    def details(self, record: R) -> RenderableType:
        raise NotImplementedError

    def compose_above(self) -> Iterable:
        return ()

    # ---- layout -------------------------------------------------------------------------

    def compose_body(self) -> Iterable:
        yield from self.compose_above()
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
                self.show(list(self.rows.values()))

    def columns_changed(self) -> None:
        """The columns were laid out anew (a sort marker to put back, say)."""

    # ---- rows ---------------------------------------------------------------------------

    def show(self, records: Iterable[R]) -> bool:
        """Add or patch rows; re-order once if any was added. True when rows were added."""
        added = False
        for record in records:
            key = self.key_of(record)
            self.rows[key] = record
            added |= self.table.upsert(key, self.cells(record))
        if added:
            self.reorder()
        return added

    def drop(self, keys: Iterable[str]) -> None:
        for key in list(keys):
            if self.rows.pop(key, None) is not None:
                self.table.discard(key)

    def replace(self, records: list[R]) -> None:
        """Show exactly ``records``: the rest go, the cursor stays where it was if it can."""
        keep = {self.key_of(r) for r in records}
        with self.table.cursor_kept():
            self.drop(k for k in self.rows if k not in keep)
            self.show(records)

    def reorder(self) -> None:
        self.table.order_by(self.order, reverse=self.reverse_order)

    @property
    def current(self) -> R | None:
        return self.rows.get(self.table.cursor_key or "")

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
