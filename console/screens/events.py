"""The Events view: the event stream, newest first, with the runs each event started or resumed.

New events are read as a short newest-first page (they are the newest by definition) and added
by id; the pane shows the selected event's data.
"""

from __future__ import annotations

from rich.console import RenderableType
from textual.binding import Binding

from executor import RESERVED_PREFIX

from ..backend import EventInfo
from ..messages import Dirty
from ..widgets.details import event_details
from ..widgets.format import clock_time, short_id
from ..widgets.live_table import Cell, Column, Flex, LiveTable, lay_out
from .base import WIDE_FROM, Selection
from .run_query import json_text
from .table_view import TableView

#: Events listed (each costs a lookup of the runs it started).
WINDOW = 200


def runs_text(info: EventInfo) -> str:
    parts = []
    if info.started:
        parts.append(f"▶ {len(info.started)} started: " + " ".join(short_id(r) for r in info.started[:3]))
    if info.resumed:
        parts.append(f"↻ {len(info.resumed)} resumed: " + " ".join(short_id(r) for r in info.resumed[:3]))
    return "; ".join(parts) or "—"


class EventsScreen(TableView[EventInfo]):
    VIEW = "events"
    NOUN = "events"
    FILTER_HINT = "filter as you type: name, id, data or run words (enter keeps it, esc clears it)"
    ACTIONS = frozenset({"copy_id"})
    TABLE_ID = "events-table"
    PANE_ID = "event-detail"
    HELP = ("enter opens the run the event started or resumed (the event with all its runs, if several)\n"
            "r replays the selected event (asks first); e sends an edited copy; y copies its id")
    BINDINGS = [Binding("r", "replay", "Replay", id="event.replay",
                        tooltip="Replay the event under the cursor: send it again as a new event (asks first)")]
    reverse_order = True

    def columns(self, width: int) -> list[Column]:
        if width >= WIDE_FROM:
            return lay_out(width, [Column("time", "time", 12), Flex("name", "name", 2), Column("id", "id", 8),
                                   Flex("runs", "runs started / resumed", 2)])
        return lay_out(width, [Column("time", "time", 12), Flex("name", "name", 3), Flex("runs", "runs", 1)])

    def key_of(self, info: EventInfo) -> str:
        return info.event.id

    def order(self, key: str) -> tuple[int, str]:
        return (self.loaded[key].event.ts, key)

    def cells(self, info: EventInfo) -> dict[str, Cell]:
        return {"time": clock_time(info.event.ts, self.backend.now_ms()), "name": info.event.name,
                "id": short_id(info.event.id), "runs": runs_text(info)}

    def details(self, info: EventInfo) -> RenderableType:
        return event_details(info, self.backend.now_ms())

    def search_text(self, info: EventInfo) -> str:
        return " ".join((info.event.name, info.event.id, json_text(info.event.data), *info.started, *info.resumed))

    def empty_hint(self) -> str:
        return "No events yet. Press e to send one."

    async def refresh_view(self, dirty: Dirty) -> None:
        if dirty.reload:
            infos = await self.backend.events(limit=WINDOW)
        elif dirty.events:
            infos = await self.backend.events(limit=min(len(dirty.events) + 20, WINDOW))
        else:
            return
        with self.table.cursor_kept():
            self.show(infos)
            self.drop(sorted(self.loaded, key=self.order)[: max(len(self.loaded) - WINDOW, 0)])
        self.update_empty()
        self.show_detail()

    def on_live_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        event.stop()
        info = self.rows.get(event.key)
        runs = (info.started + info.resumed) if info is not None else ()
        if len(runs) == 1:
            self.console_app.open_run(runs[0])
        elif runs:
            self.console_app.open_event(event.key)
        else:
            self.notify("this event started and resumed no runs", timeout=3)

    def action_replay(self) -> None:
        info = self.current
        if info is None:
            self.notify("Put the cursor on an event first.", severity="warning", timeout=3)
        elif info.event.name.startswith(RESERVED_PREFIX):
            self.notify(f"{info.event.name} is the executor's own event; it cannot be sent again.",
                        severity="warning", timeout=4)
        else:
            self.console_app.replay(info.event)

    def selection(self) -> Selection:
        info = self.current
        if info is None:
            return Selection()
        runs = info.started + info.resumed
        return Selection(run_id=runs[0] if len(runs) == 1 else None, event=info.event,
                         copy=("event id", info.event.id))
