"""LiveTable's caches against what the terminal is sent: lines are reused by what they show, patched
rows are redrawn once per batch, and the terminal must never keep a row's old text (issue 12's
first bug was stale rows from a cache like these). The terminal here is a character grid that
applies every update the app would write, so a line the table forgot to redraw stays wrong in it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from rich.segment import ControlType, Segment
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from console.widgets import live_table
from console.widgets.live_table import Column, LiveTable

WIDTH, HEIGHT = 40, 12      # the table's header and 11 rows fill the screen


class Terminal:
    """The screen as the app's updates leave it (text only)."""

    def __init__(self, app: App[Any]) -> None:
        self.lines = [[" "] * WIDTH for _ in range(HEIGHT)]
        display = app._display

        def capture(screen: Any, renderable: Any) -> None:
            if renderable is not None and hasattr(renderable, "render_segments"):
                self.apply(renderable.__rich_console__(app.console, app.console.options))
            display(screen, renderable)

        app._display = capture  # type: ignore[method-assign]

    def apply(self, segments: Any) -> None:
        x = y = 0
        for segment in segments:
            assert isinstance(segment, Segment)
            if segment.control:
                for control in segment.control:
                    if control[0] == ControlType.CURSOR_MOVE_TO:
                        x, y = control[1], control[2]
                continue
            if segment.text == "\n":
                continue
            for char in segment.text:
                if 0 <= y < HEIGHT and 0 <= x < WIDTH:
                    self.lines[y][x] = char
                x += 1

    def line(self, y: int) -> str:
        return "".join(self.lines[y])


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.table = LiveTable()
        self.values: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield self.table

    def on_mount(self) -> None:
        self.table.set_columns([Column("id", "id", 6), Column("value", "value", 12)])
        self.table.focus()

    def put(self, key: str, value: str) -> None:
        self.values[key] = value
        if self.table.upsert(key, {"id": key, "value": value}):
            self.table.order_by(lambda k: k, reverse=True)      # newest (highest) first

    def drop(self, *keys: str) -> None:
        for key in keys:
            self.values.pop(key, None)
        self.table.discard_many(keys)


async def shown(pilot: Pilot, terminal: Terminal) -> None:
    """Every visible row's line, on the terminal, says that row's current value."""
    await pilot.pause()
    await pilot.pause()
    app: TableApp = pilot.app  # type: ignore[assignment]
    table = app.table
    top = table.scroll_offset.y
    for y in range(1, HEIGHT):
        index = top + y - 1
        line = terminal.line(y)
        if index >= table.row_count:
            assert line.strip() == "", f"line {y} should be blank: {line!r}"
            continue
        key = table.keys()[index]
        assert line.split()[:2] == [key, app.values[key]], f"line {y} shows {line!r}, not {key} {app.values[key]}"


@contextlib.asynccontextmanager
async def table_of(rows: int) -> AsyncIterator[tuple[TableApp, Pilot, Callable[[], Awaitable[None]]]]:
    """A running table with rows r00, r01, … all "first", checked on screen; yields the app, its
    pilot and the check (``shown``) to run after each change."""
    app = TableApp()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        terminal = Terminal(app)

        async def check() -> None:
            await shown(pilot, terminal)

        for n in range(rows):
            app.put(f"r{n:02}", "first")
        await check()
        yield app, pilot, check


async def test_rows_patched_while_others_move_are_redrawn_where_they_now_are() -> None:
    async with table_of(20) as (app, pilot, check):
        app.put("r20", "new")                   # every row moves down a line
        await check()
        app.put("r17", "patched")               # a row that moved, patched on its own
        await check()
        app.put("r10", "bottom")                # the last line on screen
        await check()
        app.put("r15", "again")                 # patched, and moved in the same batch
        app.put("r21", "newer")
        app.drop("r16")
        await check()
        for n in range(22, 30):                 # the top rows pushed below the screen and back
            app.put(f"r{n:02}", "pushing")
        await check()
        app.drop(*(f"r{n:02}" for n in range(22, 30)))
        app.put("r17", "returned")
        await check()


async def test_a_row_patched_off_screen_is_right_when_scrolled_to() -> None:
    async with table_of(30) as (app, pilot, check):
        app.put("r02", "patchedlow")         # far down the list, not on screen
        await pilot.press("end")
        await check()
        app.put("r25", "patchedhigh")
        await pilot.press("home")
        await check()


async def test_rows_taken_out_and_put_back_with_new_text_are_drawn_new() -> None:
    """What a filter change does: every row out, the matching ones back, some with new cells."""
    async with table_of(15) as (app, pilot, check):
        keys = [f"r{n:02}" for n in range(15)]
        app.drop(*keys)
        for key in keys[::2]:
            app.put(key, "second")
        await check()
        app.drop(*keys[::2])
        for key in keys:
            app.put(key, "first")               # the very text of their earlier life
        await check()


async def test_lines_stay_right_across_a_dimmed_spell() -> None:
    """Dimmed (a stale view) the table is drawn Textual's way, line by line; undimmed, by what
    each line shows: neither may keep a line the other drew."""
    async with table_of(15) as (app, pilot, check):
        app.table.styles.opacity = 0.6
        app.put("r15", "dimmed")
        app.put("r10", "dimpatch")
        await check()
        app.table.styles.opacity = 1.0
        app.put("r16", "bright")
        app.put("r12", "brightpatch")
        await check()
        app.put("r13", "after")
        await check()


async def test_lines_are_drawn_right_when_the_line_cache_is_smaller_than_the_screen(monkeypatch) -> None:
    monkeypatch.setattr(live_table, "CACHE_LINES", 5)       # emptied by every frame
    async with table_of(20) as (app, pilot, check):
        app.put("r20", "new")
        app.put("r15", "patched")
        await check()
