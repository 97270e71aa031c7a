"""The Run view: the step tree beside a detail pane, the run's timeline, and its own log.

Opened with `enter` from Runs, Waits or Events (and from another run: its invoked child, its
parent); `esc` goes back the way it came. It refreshes only on changes to its own run (or its
invoked children), reading the run and its steps and, while a step is pending, the run's waits
so `f` and the pre-filled `e`/`s` know what to act on. The tree and the timeline share one
selection; on a wide, tall terminal both show, otherwise `t` swaps the timeline in for the tree.
`enter` opens the inspector on what is selected; `l` swaps the detail pane for the run's log.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group
from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Static, Tree

from executor import Event, PendingWait, Run, StepState

from ..messages import Dirty
from ..run_state import RunContext, pick_wait, run_state
from ..widgets.details import DetailPane, run_details, step_details
from ..widgets.format import RUN_STATUS, duration, printable, short_id, status_text
from ..widgets.live_table import LiveTable
from ..widgets.run_log import RunLog
from ..widgets.step_tree import PENDING, AttemptNode, GroupNode, StepTree
from ..widgets.timeline import CHILD, Timeline, timeline_key, tree_key
from .base import Selection, ViewScreen


def summary_line(run: Run, event: Event | None, state: Text, app: str | None, now_ms: int) -> Group:
    """The run in two lines (three with a non-determinism warning), each cut to the width."""
    text = Text.assemble(status_text(run.status, RUN_STATUS), "  ", (printable(run.function_id), "bold"),
                         f"  run {short_id(run.id)}", no_wrap=True, overflow="ellipsis")
    took = (run.ended_at or now_ms) - run.started_at if run.started_at else None
    text.append(f"  took {duration(took)}  {run.invocations} invocation{'s' if run.invocations != 1 else ''}")
    if app:
        text.append(f"  app {printable(app)}", style="dim")
    if event is not None:
        text.append(f"  ← {printable(event.name)}", style="dim")
    state = state.copy()
    state.no_wrap, state.overflow = True, "ellipsis"
    lines = [text, state]
    if run.nondeterminism:
        warning = printable(str(run.nondeterminism[-1].get("message", "")))
        lines.append(Text(f"⚠ non-determinism: {warning}", style="bold yellow", no_wrap=True, overflow="ellipsis"))
    return Group(*lines)


class RunDetailScreen(ViewScreen):
    KIND = "Run"
    ACTIONS = frozenset({"cancel_run", "rerun", "fire", "copy_id"})
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [
        Binding("escape", "app.back", "Back", id="back", tooltip="Go back to the list"),
        Binding("t", "timeline", "Timeline", id="run.timeline",
                tooltip="The run's timeline: steps, attempts, waits and backoffs on one time axis"),
        Binding("l", "run_log", "Log", id="run.log", tooltip="Show this run's log lines instead of the details"),
        Binding("greater_than_sign", "child", "Child run", show=False, id="run.child",
                tooltip="Open the run the invoke step under the cursor started"),
        Binding("less_than_sign", "parent", "Parent run", show=False, id="run.parent",
                tooltip="Open the run that invoked this one"),
        Binding("E", "trigger_event", "Trigger event", show=False, id="run.event",
                tooltip="Open the event that started this run (and the other runs it started)"),
        Binding("R", "rerun_from", "Rerun from step", show=False, id="run.rerun_from",
                tooltip="Rerun from the step under the cursor: a new run that keeps the results before it"),
    ]
    HELP = ("↑/↓ move through the steps (and their attempts); the pane shows the selected one or, on the top\n"
            "line, the run; enter opens the inspector (input, output, error, every attempt)\n"
            "t shows the timeline (beside the tree on a big terminal: t moves between them); l the run's log\n"
            "> opens the child run of an invoke step; < the parent run; E the trigger event; esc goes back\n"
            "R reruns from the selected step (a new run keeps the results of the steps before it)\n"
            "f on a sleeping, waiting or retrying step fires it now; e / s on an event / signal wait pre-fill the send")

    def __init__(self, run_id: str, tab: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.VIEW = tab
        self._run: Run | None = None
        self._event: Event | None = None
        self._steps: list[StepState] = []
        self._waits: dict[str, PendingWait] = {}
        self._children: dict[str, Run] = {}
        # Held, not queried: a timer may tick while the screen is being taken down.
        self.headline = Static(f"loading run {run_id}…", id="run-summary")
        self.step_tree = StepTree(id="step-tree")
        self.timeline = Timeline(id="timeline")
        self.pane = DetailPane(id="step-detail")
        self.run_log = RunLog(run_id, id="run-log")

    def compose_body(self) -> Iterable:
        yield self.headline
        with Horizontal(id="run-body"):
            yield self.timeline
            yield self.step_tree
            yield self.pane
            yield self.run_log

    def on_mount(self) -> None:
        super().on_mount()
        self.step_tree.focus()

    # ---- refresh ------------------------------------------------------------------------

    async def refresh_view(self, dirty: Dirty) -> None:
        pending_before = any(s.status in PENDING for s in self._steps)
        related = {self.run_id, *(child.id for child in self._children.values())}
        mine = bool(related & (dirty.runs | dirty.step_runs))
        if dirty.logs:
            self.run_log.catch_up(self.console_app.logbook, self.backend.now_ms())
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
        waits: dict[str, PendingWait] = {}
        if any(s.status in PENDING for s in steps) or not run.finished:
            waits = {w.step_id or "": w for w in await self.backend.waits() if w.run_id == self.run_id}
        children = {s.hashed_id: s.detail["child_run_id"] for s in steps
                    if s.op == "invoke" and isinstance((s.detail or {}).get("child_run_id"), str)}
        found = {r.id: r for r in await self.backend.runs_by_id(children.values())} if children else {}
        self._run, self._steps, self._waits = run, steps, waits
        self._children = {step: found[child] for step, child in children.items() if child in found}
        now = self.backend.now_ms()
        self.step_tree.sync(run, steps, now)
        self.timeline.sync(run, steps, self._children, now)
        self.timeline.move_to(timeline_key(self.step_tree.selected_key, self._step_map()))
        self.run_log.catch_up(self.console_app.logbook, now)
        self._show(now)

    def tick(self, now_ms: int) -> None:
        if self._run is None:
            return
        self.step_tree.tick(now_ms)
        if not self._run.finished:
            self.timeline.sync(self._run, self._steps, self._children, now_ms)
            self._show(now_ms)

    def _step_map(self) -> dict[str, StepState]:
        return {s.hashed_id: s for s in self._steps}

    def _state(self, now_ms: int) -> Text:
        assert self._run is not None
        function = self.console_app.functions.get(self._run.function_id)
        wait = pick_wait(list(self._waits.values())) if not self._run.finished else None
        return run_state(self._run, RunContext(wait, function, self.console_app.functions_known, self._event), now_ms)

    def _show(self, now_ms: int) -> None:
        assert self._run is not None
        function = self.console_app.functions.get(self._run.function_id)
        self.headline.update(summary_line(self._run, self._event, self._state(now_ms),
                                          function.app if function is not None else None, now_ms))
        selected = self.step_tree.selected
        pane = self.pane
        if isinstance(selected, AttemptNode):
            selected = self._step_map().get(selected.step)
        if isinstance(selected, StepState):
            pane.show(step_details(selected, now_ms, self._waits.get(selected.step_id)))
        elif isinstance(selected, GroupNode):
            pane.show(Text(f"{len(selected.members)} steps run in parallel", style="bold"))
        else:
            pane.show(run_details(self._run, self._event, now_ms))

    # ---- one selection for the tree and the timeline ------------------------------------

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        event.stop()
        if self._run is None:
            return
        current = self.timeline.cursor_key
        wanted = timeline_key(self.step_tree.selected_key, self._step_map())
        if tree_key(current) != tree_key(wanted) or current is None:
            self.timeline.move_to(wanted)
        self._show(self.backend.now_ms())

    def on_live_table_row_highlighted(self, event: LiveTable.RowHighlighted) -> None:
        event.stop()
        # Only the operator's own moves in the timeline move the tree (the tree moving it back
        # would turn a parallel group's row into its first step's).
        if event.table is self.timeline and event.key is not None and self.timeline.has_focus:
            self.step_tree.select_key(tree_key(event.key))

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        self._inspect(self.step_tree.selected_key)

    def on_live_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        event.stop()
        if event.key.endswith(CHILD):
            self.action_child()
        else:
            self._inspect(tree_key(event.key))

    def _inspect(self, key: str | None) -> None:
        if self._run is None or (key or "").startswith("group:"):
            return
        self.console_app.open_inspector(self.run_id, key)

    # ---- keys ---------------------------------------------------------------------------

    def action_timeline(self) -> None:
        """Beside the tree (big terminal): move between them; otherwise swap it in for the tree."""
        both = self.has_class("-wide") and self.has_class("-tall")
        if both:
            (self.step_tree if self.timeline.has_focus else self.timeline).focus()
            return
        showing = not self.has_class("-timeline")
        self.set_class(showing, "-timeline")
        (self.timeline if showing else self.step_tree).focus()

    def action_run_log(self) -> None:
        showing = not self.has_class("-log")
        self.set_class(showing, "-log")
        if showing:
            self.run_log.catch_up(self.console_app.logbook, self.backend.now_ms())

    def _selected_step(self) -> StepState | None:
        key = tree_key(self.timeline.cursor_key) if self.timeline.has_focus else self.step_tree.selected_key
        step_key = (key or "").partition("#")[0]
        return self._step_map().get(step_key)

    def action_child(self) -> None:
        step = self._selected_step()
        child = self._children.get(step.hashed_id) if step is not None else None
        if child is None:
            self.notify("Put the cursor on an invoke step whose child run has started (> opens it).",
                        severity="warning", timeout=4)
            return
        self.console_app.open_run(child.id)

    def action_parent(self) -> None:
        if self._run is None or not self._run.parent_run_id:
            self.notify("This run was not invoked by another run; it has no parent.", severity="warning", timeout=4)
            return
        self.console_app.open_run(self._run.parent_run_id)

    def action_trigger_event(self) -> None:
        if self._run is None or not self._run.event_id:
            self.notify("This run has no trigger event.", severity="warning", timeout=4)
            return
        self.console_app.open_event(self._run.event_id)

    def action_rerun_from(self) -> None:
        step = self._selected_step()
        if self._run is None or step is None:
            self.notify("Put the cursor on a step first: R reruns from it.", severity="warning", timeout=4)
            return
        self.console_app.rerun_from(self._run, step.step_id)

    def selection(self) -> Selection:
        run = self._run
        if run is None:
            return Selection()
        step = self._selected_step()
        wait = self._waits.get(step.step_id) if step is not None else None
        return Selection(run_id=run.id, run_finished=run.finished, function_id=run.function_id, wait=wait,
                         event=self._event, copy=("run id", run.id))
