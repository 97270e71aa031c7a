"""One event: the runs it started or resumed above, its data below.

Reached from a run (`E`: its trigger event) or from the Events view (`enter` on an event that
touched several runs); `enter` on a run opens it, so `esc` leads back along the way taken. `r`
replays the event; `y` copies its id.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.widgets import Static

from executor import Run

from ..backend import EventInfo
from ..messages import Dirty
from ..widgets.details import DetailPane, event_details
from ..widgets.format import RUN_STATUS, clock_time, duration, short_id, status_text
from ..widgets.live_table import Column, Flex, LiveTable, lay_out
from .base import Selection, ViewScreen


def runs_touched(info: EventInfo) -> str:
    """"started 2 runs, resumed 1 run", "started 1 run", "started and resumed no run"."""
    def runs(n: int) -> str:
        return f"{n} run{'s' if n != 1 else ''}"
    parts = [f"started {runs(len(info.started))}"] if info.started else []
    parts += [f"resumed {runs(len(info.resumed))}"] if info.resumed else []
    return ", ".join(parts) or "started and resumed no run"


class EventDetailScreen(ViewScreen):
    KIND = "Event"
    ACTIONS = frozenset({"copy_id"})
    BINDINGS = [
        Binding("escape", "app.back", "Back", id="back", tooltip="Go back"),
        Binding("r", "replay", "Replay", id="event.replay",
                tooltip="Replay the event: send it again as a new event (asks first)"),
    ]
    HELP = ("the runs this event started (its trigger) or resumed (a wait it satisfied); enter opens one\n"
            "r replays the event (the same name and data, as a new event); y copies its id; esc goes back")

    def __init__(self, event_id: str, tab: str) -> None:
        super().__init__()
        self.event_id = event_id
        self.VIEW = tab
        self.info: EventInfo | None = None
        self._runs: dict[str, Run] = {}
        self.headline = Static(f"loading event {event_id}…", id="run-summary")
        self.table = LiveTable(id="event-runs")
        self.pane = DetailPane(id="event-pane")

    def compose_body(self) -> Iterable:
        yield self.headline
        yield self.table
        yield self.pane

    def on_mount(self) -> None:
        super().on_mount()
        self.table.set_columns(self._columns(self.size.width or 80))
        self.table.focus()

    def on_resize(self) -> None:
        if self.table.set_columns(self._columns(self.size.width)):
            self._show_rows()

    @staticmethod
    def _columns(width: int) -> list[Column]:
        return lay_out(width, [Column("status", "status", 11), Flex("function", "function", 2),
                               Column("run", "run", 8), Column("how", "how", 8), Column("took", "took", 7)])

    async def refresh_view(self, dirty: Dirty) -> None:
        if not (dirty.reload or dirty.runs & self._runs.keys() or self.info is None or dirty.events):
            return
        info = await self.backend.event(self.event_id)
        if info is None:
            self.headline.update(f"no event with id {self.event_id}")
            return
        self.info = info
        self._runs = {run.id: run for run in await self.backend.runs_by_id((*info.started, *info.resumed))}
        now = self.backend.now_ms()
        self.headline.update(f"event {info.event.name}  {short_id(info.event.id)}  at "
                             f"{clock_time(info.event.ts, now)}  ·  {runs_touched(info)}")
        self._show_rows()
        self.pane.show(event_details(info, now))

    def _show_rows(self) -> None:
        if self.info is None:
            return
        now = self.backend.now_ms()
        how = {**{r: "resumed" for r in self.info.resumed}, **{r: "started" for r in self.info.started}}
        with self.table.cursor_kept():
            for run_id, verb in how.items():
                run = self._runs.get(run_id)
                if run is None:
                    continue
                took = (run.ended_at or now) - run.started_at if run.started_at else None
                self.table.upsert(run_id, {"status": status_text(run.status, RUN_STATUS), "function": run.function_id,
                                           "run": short_id(run_id), "how": verb, "took": duration(took)})
            self.table.order_by(lambda key: list(how).index(key) if key in how else len(how))

    def on_live_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        event.stop()
        self.console_app.open_run(event.key)

    def action_replay(self) -> None:
        if self.info is not None:
            self.console_app.replay(self.info.event)

    def selection(self) -> Selection:
        if self.info is None:
            return Selection()
        return Selection(run_id=self.table.cursor_key, event=self.info.event, copy=("event id", self.info.event.id))
