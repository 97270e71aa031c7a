"""``StepTree``: a run's steps in the order reached, parallel steps gathered under one node.

Nodes are keyed by the step's hashed id and relabelled in place; the tree is rebuilt only when
its shape changes (a new step, a new parallel group), and the cursor stays on the same step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.widgets.tree import TreeNode

from executor import Run, StepState

from .vim_tree import VimTree
from .format import RUN_STATUS, STEP_STATUS, clock_time, countdown, duration, printable, short_id, step_kind

PENDING = frozenset({"Sleeping", "Waiting", "Retrying"})


@dataclass(frozen=True)
class GroupNode:
    """Data of a parallel group's node: the hashed ids of its steps."""

    key: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class AttemptNode:
    """Data of an attempt's node under its step: the step's hashed id and the attempt's number."""

    step: str
    n: int


NodeData = Run | StepState | GroupNode | AttemptNode

ATTEMPT_GLYPHS = {"completed": "✔", "error": "↻", "failed": "✘"}


def attempts_of(step: StepState) -> list[dict[str, Any]]:
    """The step's attempt history (the latest ones the engine keeps)."""
    history = (step.detail or {}).get("attempts")
    return [a for a in history if isinstance(a, dict)] if isinstance(history, list) else []


def shown_attempts(step: StepState) -> list[dict[str, Any]]:
    """The attempts worth a line under the step: every one when there were several or any went
    over HTTP (an SDK app: each is a request, with its status and time), none otherwise."""
    history = attempts_of(step)
    if len(history) > 1 or any("request" in a for a in history):
        return history
    return []


def attempt_label(attempt: dict[str, Any]) -> Text:
    glyph = ATTEMPT_GLYPHS.get(str(attempt.get("outcome")), "?")
    label = Text(no_wrap=True, overflow="ellipsis", end="")
    label.append(f"{glyph} attempt {attempt.get('n', '?')}")
    started, ended = attempt.get("started_at"), attempt.get("ended_at")
    request = attempt.get("request")
    if isinstance(started, int) and isinstance(ended, int) and not isinstance(request, dict):
        label.append(f"  {duration(ended - started)}", style="dim")   # an SDK's attempt is its request's time
    if isinstance(request, dict):
        status = request.get("status")
        took = request.get("duration_ms")
        label.append(f"  HTTP {status if status is not None else '—'}")
        if isinstance(took, (int, float)):
            label.append(f" · {duration(took)}")
        if request.get("error"):
            label.append(f"  {printable(str(request['error']))}", style="red")
    error = attempt.get("error")
    if isinstance(error, dict):
        label.append(f"  {printable(str(error.get('name', 'Error')))}: {printable(str(error.get('message', '')))}",
                     style="red")
    return label


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
    sharing ``group``) is (group key, member ids), placed where its first member was reached.
    A step's attempt lines are its own children, kept up to date without a rebuild."""
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


def node_key(data: NodeData | None) -> str | None:
    """A node's key: a step's hashed id, a group's key, ``step#n`` for an attempt; None for the run."""
    if isinstance(data, StepState):
        return data.hashed_id
    if isinstance(data, GroupNode):
        return data.key
    if isinstance(data, AttemptNode):
        return f"{data.step}#{data.n}"
    return None


class StepTree(VimTree[NodeData]):
    """The run as the root node, its steps (and parallel groups) below."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("run", id=id)
        self.auto_expand = False
        self._shape: list[tuple[str, tuple[str, ...]]] = []
        self._step_nodes: dict[str, TreeNode[NodeData]] = {}
        self._steps: dict[str, StepState] = {}
        self._attempt_counts: dict[str, int] = {}

    def sync(self, run: Run, steps: list[StepState], now_ms: int) -> None:
        self.root.data = run
        self.root.set_label(run_label(run))
        self._steps = {s.hashed_id: s for s in steps}
        shape = shape_of(steps)
        if shape != self._shape:
            self._rebuild(shape)
        else:
            self._sync_attempts()
        self.tick(now_ms, all_steps=True)

    def _rebuild(self, shape: list[tuple[str, tuple[str, ...]]]) -> None:
        keep = self._node_key(self.cursor_node)
        self.root.remove_children()
        self._step_nodes = {}
        self._attempt_counts = {}
        for key, members in shape:
            if not members:
                self._step_nodes[key] = self.root.add("", self._steps[key], expand=True, allow_expand=False)
                continue
            group = self.root.add("", GroupNode(key, members), expand=True)
            self._step_nodes[key] = group
            for member in members:
                self._step_nodes[member] = group.add("", self._steps[member], expand=True, allow_expand=False)
        self.root.expand()
        self._shape = shape
        self._sync_attempts()
        self.select_key(keep)

    def _sync_attempts(self) -> None:
        """Each step's attempt lines (HTTP requests of an SDK app, retries), added as they happen."""
        for key, node in self._step_nodes.items():
            step = self._steps.get(key)
            if step is None or isinstance(node.data, GroupNode):
                continue
            attempts = shown_attempts(step)
            if self._attempt_counts.get(key) == len(attempts) and len(node.children) == len(attempts):
                for child, attempt in zip(node.children, attempts):
                    child.set_label(attempt_label(attempt))
                continue
            node.remove_children()
            for attempt in attempts:
                node.add_leaf(attempt_label(attempt), AttemptNode(key, int(attempt.get("n") or 0)))
            self._attempt_counts[key] = len(attempts)

    def select_key(self, key: str | None) -> None:
        """Put the cursor on a step (hashed id), a group, or an attempt (``step#n``); else the run."""
        step, _, n = (key or "").partition("#")
        node = self._step_nodes.get(step)
        if node is not None and n:
            node = next((c for c in node.children if isinstance(c.data, AttemptNode) and str(c.data.n) == n), node)
        target = node if node is not None else self.root
        _ = self.last_line      # lay the lines out now: a node just made has no line to move to yet
        if self.cursor_node is not target:
            self.move_cursor(target)

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
        return node_key(node.data if node is not None else None)

    @property
    def selected_key(self) -> str | None:
        """What the cursor is on, as the timeline keys it (None: the run)."""
        return self._node_key(self.cursor_node)

    @property
    def selected(self) -> NodeData | None:
        node = self.cursor_node
        return node.data if node is not None else None
