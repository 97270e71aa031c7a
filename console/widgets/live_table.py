"""``LiveTable``: a keyed table built for live data, drawn line by line.

Rows are inserted, patched and removed by key — never cleared and rebuilt — and each row's
rendered line is cached by (key, version), so a refresh that changes three runs re-renders
three lines however many rows move. (Textual's DataTable keys its cell cache on a table-wide
update counter, so any change re-renders every visible cell; at 50 runs a second that was
most of the UI's time.) The cursor is a row key: it stays on the same record while rows
are added above it, re-sorted or patched.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .format import fit, printable

Cell = str | Text
#: Rendered lines kept before the cache is emptied (a few screens' worth of every column set).
CACHE_LINES = 4000


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int


@dataclass(frozen=True)
class Flex:
    """A column that takes a share (``weight``) of the width the fixed columns leave."""

    key: str
    label: str
    weight: int = 1
    minimum: int = 6


def lay_out(total: int, columns: Iterable[Column | Flex]) -> list[Column]:
    """Concrete widths for ``total`` cells: fixed columns as declared, flex ones sharing the rest
    (each cell has one cell of padding either side, and one column is kept for the scrollbar);
    the last flex column takes what rounding leaves."""
    columns = list(columns)
    fixed = sum(c.width for c in columns if isinstance(c, Column))
    flexes = [c for c in columns if isinstance(c, Flex)]
    weights = sum(c.weight for c in flexes)
    room = max(total - 2 - 2 * len(columns) - fixed, 0)
    shares = {c.key: room * c.weight // weights for c in flexes}
    if flexes:
        shares[flexes[-1].key] += room - sum(shares.values())
    return [c if isinstance(c, Column) else Column(c.key, c.label, max(c.minimum, shares[c.key])) for c in columns]


def as_text(value: Cell, width: int) -> Text:
    """Cells are ``Text``, cut to the column with an ellipsis; a plain string is never parsed as
    markup, so event names and step ids typed by users show as written."""
    if isinstance(value, Text):
        text = value.copy()
        text.plain = printable(text.plain)
    else:
        text = Text(fit(value, width))
    text.no_wrap = True
    text.truncate(width, overflow="ellipsis", pad=True)
    return text


def _same(a: Cell, b: Cell) -> bool:
    """Whether two cells draw alike (``Text.__eq__`` ignores the text's own style)."""
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.spans == b.spans and a.style == b.style
    return type(a) is type(b) and a == b


class _RowMessage(Message):
    def __init__(self, table: "LiveTable", key: Any) -> None:
        super().__init__()
        self.table = table
        self.key = key

    @property
    def control(self) -> "LiveTable":
        return self.table


class LiveTable(ScrollView, can_focus=True):
    """A row-cursor table: a header line, then one line per row, in ``order_by`` order."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("enter", "select", "Open", show=False, id="table.open"),
        Binding("down,j", "move(1)", "Down", show=False, id="table.down"),
        Binding("up,k", "move(-1)", "Up", show=False, id="table.up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="table.page_down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="table.page_up"),
        Binding("home,g", "first", "First", show=False, id="table.first"),
        Binding("end,G", "last", "Last", show=False, id="table.last"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"live-table--header", "live-table--cursor"}
    DEFAULT_CSS = """
    LiveTable {
        background: $surface;
        & > .live-table--header { text-style: bold; background: $panel; }
        & > .live-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .live-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    class RowHighlighted(_RowMessage):
        """The cursor is on another row (``key`` None: the table is empty)."""

    class RowSelected(_RowMessage):
        """`enter` on a row."""

    cursor_row: reactive[int] = reactive(0, init=False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.specs: list[Column] = []
        self._frame_styles: tuple[Style, Style, Style] | None = None   # base, cursor, header while drawing
        self._labels: dict[str, str] = {}
        self._cells: dict[str, list[Text]] = {}
        #: The cells as given (before cutting to width), to tell a changed cell cheaply.
        self._raw: dict[str, list[Cell]] = {}
        self._versions: dict[str, int] = {}
        # Table-wide, never reused: a row removed and added again (a filter cleared) must not
        # be drawn from the cached line of its earlier life.
        self._next_version = itertools.count(1)
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._sort_key: Callable[[str], Any] = lambda key: 0
        self._reverse = False
        self._lines: dict[tuple[Any, ...], Strip] = {}
        #: Lines as Textual styled them, by the same keys, for ``_finish`` (see ``_finished_lines``).
        self._finished: dict[tuple[Any, ...], Strip] = {}
        self._finish: tuple[Any, ...] | None = None
        self._highlighted: str | None = None
        self._size_pending = False
        #: Rows patched since the last ``_settle``, and whether one is on its way.
        self._stale_rows: set[str] = set()
        self._settling = False
        #: Rows can be marked (a ■ in the gutter before the first cell), for bulk actions.
        self.markable = False
        self.marks: set[str] = set()

    # ---- columns ------------------------------------------------------------------------

    def set_columns(self, columns: Iterable[Column]) -> bool:
        """Declare the columns; returns True when they changed (the rows then need their cells
        again: call ``upsert`` for each)."""
        columns = list(columns)
        if columns == self.specs:
            return False
        self.specs = columns
        self._labels = {c.key: c.label for c in columns}
        self._cells = {key: [as_text("", c.width) for c in columns] for key in self._cells}
        self._raw = {key: ["" for _ in columns] for key in self._cells}
        self._changed_everything()
        return True

    def relabel(self, column_key: str, label: str) -> None:
        """Change one column's heading (the header line alone is drawn again)."""
        if column_key in self._labels and self._labels[column_key] != label:
            self._labels[column_key] = label
            self.refresh(Region(0, 0, self.size.width, 1))   # the header stays on top however far scrolled

    def mark_column(self, column_key: str | None, marker: str = " ▼") -> None:
        """Show which column the rows are sorted by."""
        self._labels = {c.key: c.label + (marker if c.key == column_key else "") for c in self.specs}
        self._changed_everything()

    # ---- rows ---------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._order)

    def has_row(self, key: str) -> bool:
        return key in self._cells

    def keys(self) -> list[str]:
        return list(self._order)

    def row_cells(self, key: str) -> dict[str, Text]:
        return dict(zip((c.key for c in self.specs), self._cells[key]))

    def upsert(self, key: str, cells: dict[str, Cell]) -> bool:
        """Add the row (at its sorted place once ``order_by`` runs), or re-render it only if a
        cell changed; True when added."""
        raw = [cells.get(c.key, "") for c in self.specs]
        current = self._cells.get(key)
        if current is None:
            self._raw[key] = raw
            self._cells[key] = [as_text(value, c.width) for value, c in zip(raw, self.specs)]
            self._versions[key] = next(self._next_version)
            self._order.append(key)
            self._index[key] = len(self._order) - 1
            self._resized()
            self.refresh()
            return True
        # Most cells of a patched row are as they were: only the changed ones are cut to width.
        before = self._raw[key]
        changed = [i for i, (a, b) in enumerate(zip(before, raw)) if not _same(a, b)]
        if changed:
            texts = list(current)
            for i in changed:
                texts[i] = as_text(raw[i], self.specs[i].width)
            self._raw[key] = raw
            self._cells[key] = texts
            self._versions[key] = next(self._next_version)
            self._refresh_row(key)
        return False

    def discard(self, key: str) -> None:
        self.discard_many((key,))

    def discard_many(self, keys: Iterable[str]) -> None:
        """Take these rows out in one pass (a live list drops its oldest rows as new ones come:
        one at a time, each would re-index every row)."""
        gone = {key for key in keys if key in self._cells}
        if not gone:
            return
        for key in gone:
            del self._cells[key]
            del self._raw[key]
            del self._versions[key]
        self.marks -= gone
        self._order = [key for key in self._order if key not in gone]
        self._reindex()
        self._resized()
        self.refresh()

    def toggle_mark(self, key: str) -> None:
        if key in self._cells:
            self.marks ^= {key}
            self._refresh_row(key)

    def set_marks(self, keys: set[str]) -> None:
        """Mark exactly these rows (those that are listed)."""
        changed = self.marks ^ keys
        self.marks = {key for key in keys if key in self._cells}
        for key in changed:
            self._refresh_row(key)

    def order_by(self, sort_key: Callable[[str], Any], reverse: bool = False) -> None:
        """Order rows by a function of their key (the model behind the row); kept for later adds
        only through the next ``order_by``, so a burst of adds is sorted once."""
        self._sort_key, self._reverse = sort_key, reverse
        self._order.sort(key=sort_key, reverse=reverse)
        self._reindex()
        self.refresh()

    def _reindex(self) -> None:
        self._index = {key: i for i, key in enumerate(self._order)}

    # ---- cursor -------------------------------------------------------------------------

    @property
    def cursor_key(self) -> str | None:
        if not self._order:
            return None
        return self._order[min(self.cursor_row, len(self._order) - 1)]

    def move_to(self, key: str | None) -> None:
        if key is not None and key in self._index:
            self.cursor_row = self._index[key]

    @contextmanager
    def cursor_kept(self) -> Iterator[None]:
        """Keep the cursor on the same row key across inserts, removals and sorts."""
        key, row = self.cursor_key, self.cursor_row
        yield
        if key is not None and key in self._index:
            self.cursor_row = self._index[key]
        else:
            self.cursor_row = min(row, max(len(self._order) - 1, 0))
        self._announce()

    def validate_cursor_row(self, row: int) -> int:
        return max(0, min(row, len(self._order) - 1))

    def watch_cursor_row(self, old: int, new: int) -> None:
        for row in (old, new):
            if 0 <= row < len(self._order):
                self.refresh_line(row + 1)
        self._scroll_to_cursor()
        self._announce()

    def _announce(self) -> None:
        key = self.cursor_key
        if key != self._highlighted:
            self._highlighted = key
            self.post_message(self.RowHighlighted(self, key))

    def _scroll_to_cursor(self) -> None:
        self._fit_size()
        visible = max(self.size.height - 1, 1)
        top = self.scroll_offset.y
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False, immediate=True)

    def action_move(self, step: int) -> None:
        self.cursor_row += step

    def action_page(self, direction: int) -> None:
        self.cursor_row += direction * max(self.size.height - 2, 1)

    def action_first(self) -> None:
        self.cursor_row = 0

    def action_last(self) -> None:
        self.cursor_row = len(self._order) - 1

    def action_select(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: events.Click) -> None:
        row = event.y - 1 + self.scroll_offset.y
        if event.y >= 1 and 0 <= row < len(self._order):
            self.focus()
            if row == self.cursor_row and event.chain > 1:
                self.action_select()
            self.cursor_row = row

    # ---- drawing ------------------------------------------------------------------------

    def _resized(self) -> None:
        """The rows or columns changed: size the scrollable area once the whole batch is in (a row
        added and the oldest dropped leaves it as it was: nothing to do), or before scrolling."""
        self._size_pending = True
        self._settle_later()

    def _refresh_row(self, key: str) -> None:
        """Draw this row again, with the others patched in the same batch (one refresh for all)."""
        self._stale_rows.add(key)
        self._settle_later()

    def _settle_later(self) -> None:
        if not self._settling:
            self._settling = True
            self.call_next(self._settle)

    def _settle(self) -> None:
        """After a batch of changes: size, and the patched rows on screen drawn again (where they
        are now, whatever moved meanwhile)."""
        self._settling = False
        self._fit_size()
        stale, self._stale_rows = self._stale_rows, set()
        top, height, width = self.scroll_offset.y, self.size.height - 1, max(self.virtual_size.width, self.size.width)
        regions = [Region(0, index + 1 - top, width, 1) for key in stale
                   if (index := self._index.get(key)) is not None and top <= index < top + height]
        if regions:
            self.refresh(*regions)

    def _fit_size(self) -> None:
        if not self._size_pending:
            return
        self._size_pending = False
        size = Size(sum(c.width + 2 for c in self.specs), len(self._order) + 1)
        before, room = self.virtual_size, self.container_size
        if size == before:
            return
        scrollbar_stays = (size.height > room.height) == (before.height > room.height)
        if self.is_mounted and size.width == before.width and scrollbar_stays:
            # More or fewer rows, the scrollbar staying as it is: move its thumb, without the
            # layout of the whole screen that setting ``virtual_size`` costs (a row added and the
            # oldest dropped, four times a second, each relaid every widget on screen).
            self.set_reactive(ScrollView.virtual_size, size)
            self._scroll_update(size)
        else:
            self.virtual_size = size

    def _changed_everything(self, *_: object) -> None:
        """Every line is drawn anew (new columns, labels or theme: the cached lines are wrong)."""
        self._lines.clear()
        self._finished.clear()
        self._resized()
        self.refresh()

    def on_mount(self) -> None:
        self.watch(self.app, "theme", self._changed_everything, init=False)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self._scroll_to_cursor()

    def render_lines(self, crop: Region) -> list[Strip]:
        # The styles once per frame, not once per line: each read walks the CSS of every
        # ancestor, and was most of what drawing a cached line cost.
        self._frame_styles = (self.rich_style, self.get_component_rich_style("live-table--cursor"),
                              self.get_component_rich_style("live-table--header"))
        try:
            finish = self._finish_key(crop)
            if finish is None:
                if self._finish is not None:
                    # Lines were styled here, outside Textual's cache by y: it no longer knows what each y shows.
                    self._finish = None
                    self._styles_cache.clear()
                return super().render_lines(crop)
            return self._finished_lines(crop, finish)
        finally:
            self._frame_styles = None

    def _finish_key(self, crop: Region) -> tuple[Any, ...] | None:
        """What Textual's styling of a content line depends on besides the line itself (colours
        under the table, line filters such as NO_COLOR, the columns asked for), or None when the
        table's CSS does more than that (a border, padding, tint…): then every line goes through
        Textual's own per-frame path."""
        styles = self.styles
        if (styles.gutter or any(edge for edge, _ in styles.outline) or styles.tint.a or styles.text_opacity != 1
                or styles.has_rule("hatch") or self.opacity != 1):
            return None
        return (crop.x, crop.width, self.size, self.background_colors, tuple(self.get_line_filters()))

    def _finished_lines(self, crop: Region, finish: tuple[Any, ...]) -> list[Strip]:
        """The lines as the screen gets them, reused by what each line shows rather than where it is.

        Textual caches a widget's styled lines by their y, so a row added at the top (which moves
        every row down one line) had each line styled and filtered again: most of a refresh under
        load. Here a styled line is kept under the key its content is cached by, and only lines
        never drawn before are styled."""
        if finish != self._finish:
            self._finish = finish
            self._finished.clear()
        keys = [self._content(y)[0] for y in crop.line_range]
        if len(self._finished) + len(keys) > CACHE_LINES:
            self._finished.clear()      # emptied before this frame's lines go in, never during
        missing = [y for y, key in zip(crop.line_range, keys) if key not in self._finished]
        # Textual styles (and filters) the lines not seen yet, a run of adjacent lines at a time.
        for first, last in _runs(missing):
            region = Region(crop.x, first, crop.width, last - first + 1)
            self._styles_cache.set_dirty(region)
            for y, strip in zip(region.line_range, self._styles_cache.render_widget(self, region)):
                self._finished[keys[y - crop.y]] = strip
        return [self._finished[key] for key in keys]

    def render_line(self, y: int) -> Strip:
        key, cells, style, marked = self._content(y)
        if cells is None:
            return Strip.blank(self.size.width, style)
        return self._line(key, cells, style, self.size.width, marked)

    def _content(self, y: int) -> tuple[tuple[Any, ...], list[Text] | None, Style, bool]:
        """What line ``y`` shows: its cache key (everything the drawn line depends on), its cells,
        style and mark; no cells for a blank line under the last row."""
        width = self.size.width
        base, cursor_style, header = self._frame_styles or (
            self.rich_style, self.get_component_rich_style("live-table--cursor"),
            self.get_component_rich_style("live-table--header"))
        if y == 0:
            return (("header", tuple(self._labels.items()), width),
                    [Text(label) for label in self._labels.values()], header, False)
        index = self.scroll_offset.y + y - 1
        if not 0 <= index < len(self._order):
            return ("blank", width), None, base, False
        key = self._order[index]
        cursor = index == self.cursor_row
        style = cursor_style if cursor else base
        marked = key in self.marks
        # Not the style itself: while the view is stale (dimmed by opacity), rows already drawn keep
        # their colours and Textual dims them once.
        return (key, self._versions[key], cursor, self.has_focus, width, marked), self._cells[key], style, marked

    def _line(self, cache_key: tuple[Any, ...], cells: list[Text], style: Style, width: int,
              marked: bool = False) -> Strip:
        cached = self._lines.get(cache_key)
        if cached is not None:
            return cached
        line = Text(style=style, no_wrap=True, end="")
        for index, (column, cell) in enumerate(zip(self.specs, cells)):
            line.append("■" if marked and index == 0 else " ")
            line.append_text(as_text(cell, column.width))
            line.append(" ")
        # Every segment needs a style: the NO_COLOR filter reads each one's colours.
        segments = [Segment(text, segment_style or style) for text, segment_style, _ in line.render(self.app.console)]
        strip = Strip(segments).extend_cell_length(width, style).crop(0, width)
        if len(self._lines) >= CACHE_LINES:
            self._lines.clear()
        self._lines[cache_key] = strip
        return strip


def _runs(values: list[int]) -> Iterator[tuple[int, int]]:
    """(first, last) of each run of consecutive integers in ascending ``values``."""
    for _, group in itertools.groupby(enumerate(values), lambda pair: pair[1] - pair[0]):
        run = [value for _, value in group]
        yield run[0], run[-1]
