"""The Run detail view: the step tree beside a detail pane, with live countdowns.

Opened with `enter` from Runs, Waits or Events; `esc` goes back. It refreshes only on changes
to its own run, reading the run and its steps (and, while a step is pending, the run's waits so
`f` and the pre-filled `e`/`s` know what to act on).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Static, Tree

from executor import Event, Run, StepState

from ..backend import WaitInfo
from ..messages import Dirty
from ..widgets.details import DetailPane, run_details, step_details
from ..widgets.format import RUN_STATUS, duration, printable, short_id, status_text
from ..widgets.step_tree import PENDING, GroupNode, StepTree
from .base import Selection, ViewScreen


def summary_line(run: Run, event: Event | None, now_ms: int) -> Text:
    text = Text.assemble(status_text(run.status, RUN_STATUS), "  ", (printable(run.function_id), "bold"),
                         f"  run {short_id(run.id)}", no_wrap=True, overflow="ellipsis")
    if event is not None:
        text.append(f"  ← {printable(event.name)}", style="dim")
    took = (run.ended_at or now_ms) - run.started_at if run.started_at else None
    text.append(f"  {run.invocations} invocation{'s' if run.invocations != 1 else ''}  took {duration(took)}")
    if run.nondeterminism:
        warning = printable(str(run.nondeterminism[-1].get("message", "")))
        text.append(f"\n⚠ non-determinism: {warning}", style="bold yellow")
    return text


class RunDetailScreen(ViewScreen):
    ACTIONS = frozenset({"cancel_run", "rerun", "fire", "copy_id"})
    BINDINGS = [Binding("escape", "app.back", "Back", id="back", tooltip="Go back to the list")]
    HELP = ("↑/↓ move through the steps; the pane shows the selected step or, on the top line, the run\n"
            "f on a sleeping or waiting step fires it now; e / s on an event / signal wait pre-fill the send\n"
            "esc goes back")

    def __init__(self, run_id: str, tab: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.VIEW = tab
        self._run: Run | None = None
        self._event: Event | None = None
        self._steps: list[StepState] = []
        self._waits: dict[str, WaitInfo] = {}
        # Held, not queried: a timer may tick while the screen is being taken down.
        self.headline = Static(f"loading run {run_id}…", id="run-summary")
        self.step_tree = StepTree(id="step-tree")
        self.pane = DetailPane(id="step-detail")

    def compose_body(self) -> Iterable:
        yield self.headline
        with Horizontal(id="run-body"):
            yield self.step_tree
            yield self.pane

    def on_mount(self) -> None:
        super().on_mount()
        self.step_tree.focus()

    async def refresh_view(self, dirty: Dirty) -> None:
        pending_before = any(s.status in PENDING for s in self._steps)
        mine = self.run_id in dirty.runs or self.run_id in dirty.step_runs
        if not (dirty.reload or mine or (dirty.waits and pending_before)):
            return
        run = await self.backend.run(self.run_id)
        if run is None:
            self.headline.update(f"no run with id {self.run_id}")
            return
        steps = await self.backend.steps(self.run_id)
        if self._event is None and run.event_id:
            info = await self.backend.event(run.event_id)
            self._event = info.event if info is not None else None
        waits: dict[str, WaitInfo] = {}
        if any(s.status in PENDING for s in steps):
            waits = {w.step_id or "": w for w in await self.backend.waits() if w.run_id == self.run_id}
        self._run, self._steps, self._waits = run, steps, waits
        now = self.backend.now_ms()
        self.step_tree.sync(run, steps, now)
        self._show(now)

    def tick(self, now_ms: int) -> None:
        if self._run is None:
            return
        self.step_tree.tick(now_ms)
        if not self._run.finished:
            self._show(now_ms)

    def _show(self, now_ms: int) -> None:
        assert self._run is not None
        self.headline.update(summary_line(self._run, self._event, now_ms))
        selected = self.step_tree.selected
        pane = self.pane
        if isinstance(selected, StepState):
            pane.show(step_details(selected, now_ms, self._waits.get(selected.step_id)))
        elif isinstance(selected, GroupNode):
            pane.show(Text(f"{len(selected.members)} steps run in parallel", style="bold"))
        else:
            pane.show(run_details(self._run, self._event, now_ms))

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        event.stop()
        if self._run is not None:
            self._show(self.backend.now_ms())

    def selection(self) -> Selection:
        run = self._run
        if run is None:
            return Selection()
        selected = self.step_tree.selected
        wait = self._waits.get(selected.step_id) if isinstance(selected, StepState) else None
        return Selection(run_id=run.id, run_finished=run.finished, function_id=run.function_id, wait=wait,
                         event=self._event, copy=("run id", run.id))
