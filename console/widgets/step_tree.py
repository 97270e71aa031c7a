"""``StepTree``: a run's steps in the order reached, parallel steps gathered under one node.

Nodes are keyed by the step's hashed id and relabelled in place; the tree is rebuilt only when
its shape changes (a new step, a new parallel group), and the cursor stays on the same step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from executor import Run, StepState

from .format import RUN_STATUS, STEP_STATUS, clock_time, countdown, duration, printable, short_id, step_kind

PENDING = frozenset({"Sleeping", "Waiting", "Retrying"})


@dataclass(frozen=True)
class GroupNode:
    """Data of a parallel group's node: the hashed ids of its steps."""

    key: str
    members: tuple[str, ...]


NodeData = Run | StepState | GroupNode


def step_timing(step: StepState, now_ms: int) -> str:
    """What the step's time means in its state: how long it took, or until when it waits."""
    if step.status in PENDING and step.due_at is not None:
        verb = "retry" if step.status == "Retrying" else "until"
        return f"{verb} {clock_time(step.due_at, now_ms)} ({countdown(step.due_at, now_ms)})"
    if step.status == "Running" and step.started_at is not None:
        return f"running {duration(now_ms - step.started_at)}"
    if step.started_at is not None and step.ended_at is not None:
        return duration(step.ended_at - step.started_at)
    return ""


def step_label(step: StepState, now_ms: int) -> Text:
    glyph, colour = STEP_STATUS.get(step.status, ("?", ""))
    label = Text(no_wrap=True, overflow="ellipsis", end="")
    label.append(f"{glyph} {step.status:<9} ", style=colour)
    label.append(printable(step.step_id), style="bold")
    label.append(f"  {step_kind(step.op)}", style="dim")
    if step.attempts > 1:
        label.append(f"  ×{step.attempts}")
    timing = step_timing(step, now_ms)
    if timing:
        label.append(f"  {timing}")
    return label


def group_label(steps: list[StepState]) -> Text:
    done = sum(1 for s in steps if s.status == "Completed")
    label = Text(no_wrap=True, end="")
    label.append("⇉ parallel", style="bold")
    label.append(f"  {len(steps)} steps, {done} done", style="dim")
    return label


def run_label(run: Run) -> Text:
    glyph, colour = RUN_STATUS.get(run.status, ("?", ""))
    label = Text(no_wrap=True, end="")
    label.append(f"{glyph} {run.status} ", style=colour)
    label.append(printable(run.function_id), style="bold")
    label.append(f"  run {short_id(run.id)}", style="dim")
    return label


def shape_of(steps: list[StepState]) -> list[tuple[str, tuple[str, ...]]]:
    """Top-level entries in order: a lone step is (its id, ()); a parallel group (≥ 2 steps
    sharing ``group``) is (group key, member ids), placed where its first member was reached."""
    members: dict[str, list[str]] = {}
    for step in steps:
        members.setdefault(step.group or step.hashed_id, []).append(step.hashed_id)
    shape, seen = [], set()
    for step in steps:
        key = step.group or step.hashed_id
        if key in seen:
            continue
        seen.add(key)
        ids = members[key]
        shape.append((ids[0], ()) if len(ids) == 1 else (f"group:{key}", tuple(ids)))
    return shape


class StepTree(Tree[NodeData]):
    """The run as the root node, its steps (and parallel groups) below."""

    # The same vim keys as the tables, so moving works the same in every view.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="tree.down"),
        Binding("k", "cursor_up", "Up", show=False, id="tree.up"),
        Binding("g", "scroll_home", "First", show=False, id="tree.first"),
        Binding("G", "scroll_end", "Last", show=False, id="tree.last"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("run", id=id)
        self.auto_expand = False
        self._shape: list[tuple[str, tuple[str, ...]]] = []
        self._step_nodes: dict[str, TreeNode[NodeData]] = {}
        self._steps: dict[str, StepState] = {}

    def sync(self, run: Run, steps: list[StepState], now_ms: int) -> None:
        self.root.data = run
        self.root.set_label(run_label(run))
        self._steps = {s.hashed_id: s for s in steps}
        shape = shape_of(steps)
        if shape != self._shape:
            self._rebuild(shape)
        self.tick(now_ms, all_steps=True)

    def _rebuild(self, shape: list[tuple[str, tuple[str, ...]]]) -> None:
        keep = self._node_key(self.cursor_node)
        self.root.remove_children()
        self._step_nodes = {}
        for key, members in shape:
            if not members:
                self._step_nodes[key] = self.root.add_leaf("", self._steps[key])
                continue
            group = self.root.add("", GroupNode(key, members), expand=True)
            self._step_nodes[key] = group
            for member in members:
                self._step_nodes[member] = group.add_leaf("", self._steps[member])
        self.root.expand()
        self._shape = shape
        node = self._step_nodes.get(keep or "")
        self.move_cursor(node if node is not None else self.root)

    def tick(self, now_ms: int, all_steps: bool = False) -> None:
        """Relabel steps (all of them after a sync, only the pending ones for a countdown)."""
        for key, node in self._step_nodes.items():
            data = node.data
            if isinstance(data, GroupNode):
                node.set_label(group_label([self._steps[m] for m in data.members]))
            elif isinstance(data, StepState):
                step = self._steps[key]
                node.data = step
                if all_steps or step.status in PENDING or step.status == "Running":
                    node.set_label(step_label(step, now_ms))

    @staticmethod
    def _node_key(node: TreeNode[NodeData] | None) -> str | None:
        data = node.data if node is not None else None
        if isinstance(data, StepState):
            return data.hashed_id
        if isinstance(data, GroupNode):
            return data.key
        return None

    @property
    def selected(self) -> NodeData | None:
        node = self.cursor_node
        return node.data if node is not None else None
