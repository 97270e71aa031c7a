"""``Timeline``: a run as a waterfall on one time axis, like the trace view of Inngest's dev server.

One row for the run (its queue delay, then its span), one per step (its attempts executing, the
retry backoffs between them, or the time it slept or waited), one per attempt under a step that
had several (or made HTTP requests), and one for an invoke's child run. Bars are characters,
not colours, so the chart reads the same with ``NO_COLOR``: ``█`` executing, ``░`` sleeping or
waiting, ``┄`` retry backoff, ``▒`` queued, ``━`` the run itself. The axis runs from the run's
creation to its end (or now); what is still pending is drawn up to now and its time column says
until when.

Rows are keyed like the step tree's nodes (a step's hashed id, ``step#n`` for an attempt), so the
run view moves one cursor when the other moves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.events import Resize

from executor import Run, StepState

from .format import RUN_STATUS, STEP_STATUS, clock_time, countdown, duration, printable, short_id
from .live_table import Column, Flex, LiveTable, lay_out
from .step_tree import ATTEMPT_GLYPHS, PENDING, shown_attempts

EXEC, PARKED, BACKOFF, QUEUED, SPAN = "█", "░", "┄", "▒", "━"
LEGEND = f"{EXEC} run {PARKED} wait {BACKOFF} backoff {QUEUED} queued"
SHORT_LEGEND = f"{EXEC}run {PARKED}wait {BACKOFF}backoff {QUEUED}queued"
RUN_KEY = "run"
CHILD = ">child"
PARKING_OPS = frozenset({"sleep", "wait_for_event", "wait_for_signal", "invoke"})


@dataclass(frozen=True)
class Segment:
    start: int
    end: int
    char: str
    style: str = ""


@dataclass(frozen=True)
class Row:
    key: str
    label: Text
    segments: tuple[Segment, ...]
    took: str


def tree_key(timeline_key: str | None) -> str | None:
    """The step tree's key for a timeline row (the run row is the tree's root: None)."""
    if timeline_key is None or timeline_key == RUN_KEY:
        return None
    return timeline_key.removesuffix(CHILD)


def timeline_key(tree_key: str | None, steps: dict[str, StepState]) -> str:
    """The timeline row for a tree node; a parallel group's is its first member's."""
    if tree_key is None:
        return RUN_KEY
    if tree_key.startswith("group:"):
        group = tree_key.removeprefix("group:")
        first = min((s for s in steps.values() if s.group == group), key=lambda s: s.seq, default=None)
        return first.hashed_id if first is not None else RUN_KEY
    return tree_key


def rows_of(run: Run, steps: Iterable[StepState], children: dict[str, Run], now_ms: int) -> list[Row]:
    """Every row of the run's waterfall, in order."""
    end = run.ended_at or now_ms
    rows = [_run_row(run, end)]
    for step in steps:
        rows.append(_step_row(step, now_ms))
        for attempt in shown_attempts(step):
            rows.append(_attempt_row(step, attempt, now_ms))
        child = children.get(step.hashed_id)
        if child is not None:
            rows.append(_child_row(step, child, now_ms))
    return rows


def _run_row(run: Run, end: int) -> Row:
    glyph, colour = RUN_STATUS.get(run.status, ("?", ""))
    label = Text.assemble((f"{glyph} ", colour), ("run ", "bold"), printable(run.function_id))
    segments = []
    if run.started_at is not None:
        segments.append(Segment(run.created_at, run.started_at, QUEUED, "bright_black"))
        segments.append(Segment(run.started_at, end, SPAN, colour))
    else:
        segments.append(Segment(run.created_at, end, QUEUED, "bright_black"))
    # What the run view's header says it took (from its start); the queue delay before it is the
    # ``▒`` part of the bar, and said in words when it is long enough to matter.
    queued = (run.started_at or end) - run.created_at
    took = duration(end - (run.started_at or run.created_at)) + (f" (queued {duration(queued)})" if queued >= 1000 else "")
    return Row(RUN_KEY, label, tuple(segments), took)


def _step_row(step: StepState, now_ms: int) -> Row:
    glyph, colour = STEP_STATUS.get(step.status, ("?", ""))
    label = Text.assemble("  ", (f"{glyph} ", colour), printable(step.step_id))
    segments: list[Segment] = []
    attempts = [a for a in _attempts(step) if isinstance(a.get("started_at"), int)]
    if step.op in PARKING_OPS and step.started_at is not None:
        segments.append(Segment(step.started_at, step.ended_at or now_ms, PARKED, "blue"))
    elif attempts:
        for i, attempt in enumerate(attempts):
            segments.append(Segment(attempt["started_at"], attempt.get("ended_at") or now_ms, EXEC, _outcome(attempt)))
            resumed = attempts[i + 1]["started_at"] if i + 1 < len(attempts) else None
            if resumed is not None or step.status == "Retrying":
                segments.append(Segment(attempt.get("ended_at") or now_ms, resumed or now_ms, BACKOFF, "yellow"))
        if step.status == "Running":
            segments.append(Segment(attempts[-1].get("ended_at") or now_ms, now_ms, EXEC, "cyan"))
    elif step.started_at is not None:
        segments.append(Segment(step.started_at, step.ended_at or now_ms, EXEC, colour))
    return Row(step.hashed_id, label, tuple(segments), _step_took(step, now_ms))


def _step_took(step: StepState, now_ms: int) -> str:
    if step.status == "Retrying" and step.due_at is not None:
        return f"retry {countdown(step.due_at, now_ms)}"
    if step.status in PENDING and step.due_at is not None:
        return f"until {clock_time(step.due_at, now_ms)}"
    if step.started_at is not None:
        return duration((step.ended_at or now_ms) - step.started_at)
    return "planned" if step.status == "Planned" else ""


def _attempt_row(step: StepState, attempt: dict[str, Any], now_ms: int) -> Row:
    n = attempt.get("n", "?")
    label = Text.assemble("      ", (f"{ATTEMPT_GLYPHS.get(str(attempt.get('outcome')), '?')} ", _outcome(attempt)),
                          f"attempt {n}", style="")
    segments: list[Segment] = []
    started, ended = attempt.get("started_at"), attempt.get("ended_at")
    if isinstance(started, int):
        segments.append(Segment(started, ended or now_ms, EXEC, _outcome(attempt)))
        history = _attempts(step)
        later = [a for a in history if isinstance(a.get("n"), int) and a["n"] > (n if isinstance(n, int) else 0)]
        if later and isinstance(later[0].get("started_at"), int):
            segments.append(Segment(ended or now_ms, later[0]["started_at"], BACKOFF, "yellow"))
        elif not later and step.status == "Retrying":
            segments.append(Segment(ended or now_ms, now_ms, BACKOFF, "yellow"))
    took = duration(ended - started) if isinstance(started, int) and isinstance(ended, int) else ""
    request = attempt.get("request")
    if isinstance(request, dict) and request.get("status") is not None:
        took += f" · {request['status']}"
    return Row(f"{step.hashed_id}#{n}", label, tuple(segments), took)


def _child_row(step: StepState, child: Run, now_ms: int) -> Row:
    glyph, colour = RUN_STATUS.get(child.status, ("?", ""))
    label = Text.assemble("      ↳ ", (f"{glyph} ", colour), printable(child.function_id), f" {short_id(child.id)}")
    end = child.ended_at or now_ms
    segments = [Segment(child.created_at, child.started_at or end, QUEUED, "bright_black")]
    if child.started_at is not None:
        segments.append(Segment(child.started_at, end, SPAN, colour))
    return Row(step.hashed_id + CHILD, label, tuple(segments), duration(end - child.created_at))


def _attempts(step: StepState) -> list[dict[str, Any]]:
    history = (step.detail or {}).get("attempts")
    return [a for a in history if isinstance(a, dict)] if isinstance(history, list) else []


def _outcome(attempt: dict[str, Any]) -> str:
    return {"completed": "green", "error": "yellow", "failed": "red"}.get(str(attempt.get("outcome")), "")


def bar(segments: Iterable[Segment], start: int, end: int, width: int) -> Text:
    """The segments drawn on ``width`` cells for the axis ``start``–``end``: each at least one
    cell wide, later ones drawn over earlier ones where they meet, and execution over everything
    (an instant attempt still shows between the backoffs around it)."""
    cells: list[tuple[str, str]] = [(" ", "")] * width
    span = max(end - start, 1)
    for segment in sorted(segments, key=lambda s: s.char == EXEC):
        if segment.end < segment.start or width <= 0:
            continue
        first = min(max(int((segment.start - start) * width / span), 0), width - 1)
        last = min(max(-(-(segment.end - start) * width // span), first + 1), width)
        for cell in range(first, last):
            cells[cell] = (segment.char, segment.style)
    text = Text(no_wrap=True, end="")
    for char, style in cells:
        text.append(char, style=style)
    return text


class Timeline(LiveTable):
    """The waterfall of one run (``sync`` it with the run, its steps and its invoked children)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: list[Row] = []
        self._axis = (0, 1)

    def columns(self, width: int) -> list[Column]:
        label = 30 if width >= 100 else 22
        return lay_out(width, [Column("step", "step", label), Flex("bar", LEGEND, 1, 10),
                               Column("took", "took", 16 if width >= 100 else 11)])

    def sync(self, run: Run, steps: list[StepState], children: dict[str, Run], now_ms: int) -> None:
        self._rows = rows_of(run, steps, children, now_ms)
        self._axis = (run.created_at, max(run.ended_at or now_ms, run.created_at + 1))
        self._draw()

    def _draw(self) -> None:
        if not self.specs:
            self.set_columns(self.columns(self.size.width or 80))
        start, end = self._axis
        width = next((c.width for c in self.specs if c.key == "bar"), 10)
        axis = f"{clock_time(start)} +{duration(end - start)}"
        legend = LEGEND if width >= len(LEGEND) + len(axis) + 5 else SHORT_LEGEND
        self.relabel("bar", f"{legend}  ·  {axis}" if width >= len(legend) + len(axis) + 5 else legend)
        keys = [row.key for row in self._rows]
        with self.cursor_kept():
            for key in set(self.keys()) - set(keys):
                self.discard(key)
            for row in self._rows:
                self.upsert(row.key, {"step": row.label, "bar": bar(row.segments, start, end, width),
                                      "took": row.took})
            order = {key: i for i, key in enumerate(keys)}
            self.order_by(lambda key: order.get(key, len(order)))

    def on_resize(self, event: Resize) -> None:
        if self.set_columns(self.columns(event.size.width)):
            self._draw()
        super().on_resize()
