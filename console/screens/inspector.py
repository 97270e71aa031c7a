"""The inspector: one step (or the run itself) on the whole screen.

Its input (the handler's arguments), its output or error, the traceback trimmed to the operator's
own frames first, every attempt with its outcome, time and HTTP request, and what its kind of step
records (the event and condition waited for, the child run…), as foldable JSON (``JsonTree``):
`/` searches all of it, `n`/`N` step through the matches, `y` copies the value under the cursor.
Opened with `enter` on a step in the run view (or its timeline); `esc` goes back. It follows the
run live: a new attempt shows up as it happens, the folds and the cursor staying where they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Input, Label, Static

from executor import Event, Run, StepState

from ..messages import Dirty
from ..tracebacks import relative, trim
from ..widgets.details import OWN_SECTIONS
from ..widgets.format import clock_time, duration, printable, short_id, status_text, step_kind
from ..widgets.json_tree import JsonTree
from ..widgets.step_tree import attempts_of
from .base import Selection, ViewScreen


def attempt_record(attempt: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """An attempt as the inspector lists it: readable times, the HTTP request in one line."""
    started, ended = attempt.get("started_at"), attempt.get("ended_at")
    out: dict[str, Any] = {"attempt": attempt.get("n"), "outcome": attempt.get("outcome"),
                           "started": clock_time(started, now_ms) if isinstance(started, int) else None,
                           "took": duration(ended - started) if isinstance(started, int) and isinstance(ended, int)
                           else None}
    if attempt.get("error"):
        out["error"] = attempt["error"]
    request = attempt.get("request")
    if isinstance(request, dict):
        out["http"] = {k: v for k, v in request.items() if v is not None}
    return {k: v for k, v in out.items() if v is not None}


class InspectorScreen(ViewScreen):
    KIND = "Inspector"
    ACTIONS = frozenset({"cancel_run", "rerun"})
    BINDINGS = [
        Binding("escape", "back_or_clear", "Back", id="back", tooltip="Go back to the run (or clear the search)"),
        Binding("slash", "search", "Search", id="inspect.search", priority=True,
                tooltip="Search the input, output, error and attempts (found even where folded)"),
        Binding("n", "next_match", "Next", id="inspect.next", tooltip="Go to the next match of the search"),
        Binding("N", "next_match(-1)", "Previous", show=False, id="inspect.previous",
                tooltip="Go to the previous match of the search"),
        Binding("y", "copy_value", "Copy", id="inspect.copy",
                tooltip="Copy the value under the cursor (JSON), a line, or a whole section"),
    ]
    HELP = ("↑/↓ move; enter or space folds and unfolds (long lists and strings start folded)\n"
            "/ searches everything (folded or not); n and N go to the next and previous match\n"
            "y copies the value under the cursor as JSON (a section, an object, a line of a traceback)\n"
            "traceback: the frames of your code first; the executor's and libraries' frames are folded")

    def __init__(self, run_id: str, key: str | None, tab: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.step_key, _, attempt = (key or "").partition("#")
        self.attempt = int(attempt) if attempt.isdigit() else None
        self.VIEW = tab
        self._shown: tuple[Any, ...] | None = None
        self._run: Run | None = None
        self.head = Static(f"loading run {run_id}…", id="inspect-head")
        self.json_tree = JsonTree(id="inspect-tree")
        self.status_line = Static(id="inspect-status")

    def compose_body(self) -> Iterable:
        yield self.head
        yield self.json_tree
        with Horizontal(id="filter-row", classes="-hidden"):
            yield Label("/", id="filter-label")
            yield Input(placeholder="search (enter finds, esc clears)", id="search")
        yield self.status_line

    def on_mount(self) -> None:
        super().on_mount()
        self.json_tree.focus()

    # ---- content ------------------------------------------------------------------------

    async def refresh_view(self, dirty: Dirty) -> None:
        if not (dirty.reload or self.run_id in dirty.runs or self.run_id in dirty.step_runs):
            return
        run = await self.backend.run(self.run_id)
        if run is None:
            self.head.update(f"no run with id {self.run_id}")
            return
        self._run = run
        step = None
        if self.step_key:
            step = next((s for s in await self.backend.steps(self.run_id) if s.hashed_id == self.step_key), None)
            if step is None:
                self.head.update(f"run {self.run_id} has no step {self.step_key}")
                return
        event = None
        if step is None and run.event_id:
            info = await self.backend.event(run.event_id)
            event = info.event if info is not None else None
        now = self.backend.now_ms()
        shown = (run.status, run.ended_at, None if step is None else (step.status, step.attempts, step.ended_at,
                                                                         len(attempts_of(step))))
        if shown == self._shown:
            return
        first = self._shown is None
        self._shown = shown
        self.head.update(self._headline(run, step, now))
        self._build(run, step, event, now)
        if first and self.attempt is not None and step is not None:
            index = next((i for i, a in enumerate(attempts_of(step)) if a.get("n") == self.attempt), None)
            node = self.json_tree.reveal("attempts", (index,)) if index is not None else None
            if node is not None:
                self.json_tree.move_cursor(node)
        self._say()

    def _headline(self, run: Run, step: StepState | None, now_ms: int) -> Text:
        if step is None:
            text = Text.assemble(status_text(run.status), "  run ", (short_id(run.id), "bold"), f" of {run.function_id}")
            took = (run.ended_at or now_ms) - run.started_at if run.started_at else None
            text.append(f"  ·  created {clock_time(run.created_at, now_ms)}  took {duration(took)}", style="dim")
            return text
        text = Text.assemble(status_text(step.status), "  step ", (printable(step.step_id), "bold"),
                             f"  ·  {step_kind(step.op)} step  ·  {step.attempts} attempt{'s' if step.attempts != 1 else ''}")
        text.append(f"  ·  run {short_id(run.id)} of {printable(run.function_id)}", style="dim")
        return text

    def _build(self, run: Run, step: StepState | None, event: Event | None, now_ms: int) -> None:
        tree = self.json_tree
        cursor = tree.cursor_line
        tree.clear_sections()
        if step is None:
            tree.add_section("input (event data)", event.data if event is not None else None)
            if run.status == "Completed":
                tree.add_section("output", run.output)
            self._error(run.error)
            tree.add_section("run", {k: v for k, v in run.to_dict().items() if k not in ("output", "error")},
                             open_depth=1)
        else:
            detail = step.detail or {}
            tree.add_section("input (the handler's arguments)", detail.get("input", "none recorded (no arguments)"))
            if step.status == "Completed":
                tree.add_section("matched event" if step.op == "wait_for_event" else "output", step.output)
            self._error(step.error)
            history = attempts_of(step)
            if history:
                tree.add_section("attempts", [attempt_record(a, now_ms) for a in history], open_depth=3)
            extra = {k: v for k, v in detail.items() if k not in OWN_SECTIONS and v is not None}
            if extra:
                tree.add_section(step_kind(step.op), extra, open_depth=2)
        tree.cursor_line = min(max(cursor, 0), max(tree.last_line, 0))
        if tree.query_text:
            tree.search(tree.query_text)

    def _error(self, error: dict[str, Any] | None) -> None:
        if not error:
            return
        self.json_tree.add_section("error", error, open_depth=1)
        stack = error.get("stack")
        if not isinstance(stack, str) or not stack.strip():
            return
        trimmed = trim(stack)
        tree = self.json_tree
        section = tree.add_heading("traceback")
        tree.add_lines(section, "raised", trimmed.headline or [f"{error.get('name')}: {error.get('message')}"],
                       section="traceback", style="red")
        if trimmed.user:
            frames = len(trimmed.user)
            tree.add_lines(section, f"your code ({frames} frame{'s' if frames != 1 else ''})",
                           [relative(line) for frame in trimmed.user for line in frame.lines], section="traceback")
        if trimmed.library:
            tree.add_lines(section, f"executor and library frames ({len(trimmed.library)})",
                           [line for frame in trimmed.library for line in frame.lines], section="traceback",
                           expand=False, style="dim")
        tree.add_lines(section, f"as sent ({len(trimmed.lines)} lines)", trimmed.lines, section="traceback",
                       expand=False, style="dim")

    # ---- search, copy -------------------------------------------------------------------

    def action_search(self) -> None:
        self.query_one("#filter-row").remove_class("-hidden")
        self.set_focus(self.query_one("#search", Input))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        found = self.json_tree.search(event.value)
        self.query_one("#filter-row").set_class(not event.value.strip(), "-hidden")
        self.json_tree.focus()
        if found:
            self.json_tree.step_match(1)
        self._say()

    def action_next_match(self, direction: int = 1) -> None:
        if not self.json_tree.matches:
            self.notify("Nothing to go to: / searches first." if not self.json_tree.query_text
                        else f"No match for “{self.json_tree.query_text}”.", severity="warning", timeout=3)
            return
        self.json_tree.step_match(direction)
        self._say()

    async def action_back_or_clear(self) -> None:
        search = self.query_one("#search", Input)
        if search.has_focus or self.json_tree.query_text:
            search.value = ""
            self.json_tree.search("")
            self.query_one("#filter-row").add_class("-hidden")
            self.json_tree.focus()
            self._say()
            return
        await self.console_app.action_back()

    def action_copy_value(self) -> None:
        picked = self.json_tree.selected_text()
        if picked is None:
            self.notify("Put the cursor on a value first.", severity="warning", timeout=3)
            return
        what, value = picked
        self.app.copy_to_clipboard(value)
        self.notify(f"copied {printable(what)} ({len(value):,} characters)", timeout=3)

    def _say(self) -> None:
        tree = self.json_tree
        if tree.query_text:
            where = f"match {tree.match_index + 1}/{len(tree.matches)}" if tree.matches else "no match"
            text = f"“{tree.query_text}”: {where}  ·  n next, N previous, esc clears"
        else:
            text = "/ search  ·  n N next/previous match  ·  y copy  ·  enter/space fold  ·  esc back"
        self.status_line.update(Text(text, style="dim", no_wrap=True, overflow="ellipsis"))

    def selection(self) -> Selection:
        run = self._run
        if run is None:
            return Selection()
        return Selection(run_id=run.id, run_finished=run.finished, function_id=run.function_id,
                         copy=("run id", run.id))
