"""What the detail panes show for a run, a step, an event or a function.

Plain key/value lines plus indented JSON, so the content reads the same in 16 colours, with
``NO_COLOR`` and when copied out of the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from executor import Event, PendingWait, Run, StepState

from ..backend import EventInfo, FunctionInfo
from ..run_state import error_text
from .format import (
    RUN_STATUS,
    clock_time,
    compact_json,
    countdown,
    display_path,
    duration,
    flow_note,
    pretty_json,
    printable_renderable,
    short_id,
    status_text,
    step_kind,
)
from .step_tree import attempt_label, attempts_of, step_timing


def _field(name: str, value: Any, style: str = "") -> Text:
    """A fixed-width label and its value, so a pane reads as an aligned list; a label as long as
    the column ("child run id") still keeps a space before its value."""
    text = Text()
    text.append(f"{name:<12} ", style="bold")
    text.append(str(value), style=style)
    return text


def _block(title: str, value: Any, style: str = "") -> list[RenderableType]:
    return [Text(""), Text(title, style="bold underline"), Text(pretty_json(value), style=style)]


def _error(error: dict[str, Any] | None) -> list[RenderableType]:
    if not error:
        return []
    out: list[RenderableType] = [Text(""), Text("error", style="bold underline"),
                                 Text(f"{error.get('name', 'Error')}: {error.get('message', '')}", style="red")]
    extra = {k: v for k, v in error.items() if k not in ("name", "message", "stack")}
    if extra:
        out.append(Text(pretty_json(extra), style="dim"))
    if error.get("stack"):
        out.append(Text(str(error["stack"]).rstrip(), style="dim"))
    return out


def detail_item(key: str, value: Any, now_ms: int) -> tuple[str, str]:
    """One entry of a step's op-specific detail (event waited on, expression, timeout…), readable."""
    if key.endswith("_ms") and isinstance(value, int):
        return key.removesuffix("_ms").replace("_", " "), duration(value)
    if key in ("until", "deadline") and isinstance(value, int):
        return key, clock_time(value, now_ms)
    return key.replace("_", " "), value if isinstance(value, (str, int, float)) else compact_json(value, 400)


def run_details(run: Run, event: Event | None, now_ms: int) -> RenderableType:
    took = None
    if run.started_at is not None:
        took = (run.ended_at or now_ms) - run.started_at
    lines: list[RenderableType] = [
        Text.assemble(status_text(run.status, RUN_STATUS), "  ", (run.function_id, "bold")),
        *([Text(flow_note(run), style="yellow")] if flow_note(run) else []),
        _field("run", run.id),
        _field("event", f"{event.name}  {event.id}" if event else (run.event_id or "—")),
        _field("created", clock_time(run.created_at, now_ms)),
        _field("started", clock_time(run.started_at, now_ms)),
        _field("ended", clock_time(run.ended_at, now_ms)),
        _field("took", duration(took)),
        _field("invocations", run.invocations),
        _field("attempt", run.attempt),
        _field("mode", run.mode),
    ]
    if run.parent_run_id:
        lines.append(_field("parent run", run.parent_run_id))
    for warning in run.nondeterminism:
        lines.append(Text(f"⚠ non-determinism: {warning.get('message', warning)}", style="bold yellow"))
    if event is not None:
        lines += _block("input (event data)", event.data)
    if run.status == "Completed":
        lines += _block("output", run.output, "green")
    lines += _error(run.error)
    return Group(*lines)


def step_details(step: StepState, now_ms: int, wait: PendingWait | None = None) -> RenderableType:
    lines: list[RenderableType] = [
        Text.assemble(status_text(step.status), "  ", (step.step_id, "bold")),
        _field("kind", step_kind(step.op)),
        _field("attempts", step.attempts),
        _field("started", clock_time(step.started_at, now_ms)),
        _field("ended", clock_time(step.ended_at, now_ms)),
    ]
    timing = step_timing(step, now_ms)
    if timing:
        lines.append(_field("time", timing))
    if step.group and step.group != step.hashed_id:
        lines.append(_field("parallel", "yes, with the other steps of its group"))
    detail = step.detail or {}
    lines += [_field(*detail_item(key, value, now_ms)) for key, value in detail.items()
              if value is not None and key not in OWN_SECTIONS]
    if detail.get("rerun_of"):
        lines.append(_field("kept from", f"run {detail['rerun_of']} (this run was rerun from a later step)"))
    if wait is not None:
        lines.append(Text("f fires it now (ends the sleep / times the wait out)", style="dim"))
        if wait.kind == "event":
            lines.append(Text("e sends an event pre-filled to satisfy this wait", style="dim"))
        elif wait.kind == "signal":
            lines.append(Text("s sends the signal", style="dim"))
    if "input" in detail:
        lines += _block("input (the handler's arguments)", detail["input"])
    if step.status == "Completed" and step.output is not None:
        title = "matched" if step.op in ("wait_for_event", "wait_for_signal") else "output"
        lines += _block(title, step.output, "green")
    lines += _error(step.error)
    history = attempts_of(step)
    if history:
        lines += [Text(""), Text("attempts", style="bold underline"), *(attempt_label(a) for a in history)]
    lines.append(Text("enter opens the inspector (input, output, error, every attempt)", style="dim"))
    return Group(*lines)


#: Detail keys shown in sections of their own rather than as a field line.
OWN_SECTIONS = frozenset({"attempts", "input", "rerun_of"})


def event_details(info: EventInfo, now_ms: int) -> RenderableType:
    event = info.event
    lines: list[RenderableType] = [
        Text(event.name, style="bold"),
        _field("id", event.id),
        _field("time", clock_time(event.ts, now_ms)),
        _field("started", ", ".join(short_id(r) for r in info.started) or "no runs"),
        _field("resumed", ", ".join(short_id(r) for r in info.resumed) or "none seen"),
    ]
    lines += _block("data", event.data)
    return Group(*lines)


def function_details(info: FunctionInfo) -> RenderableType:
    lines: list[RenderableType] = [Text(info.id, style="bold")]
    if info.loaded:
        lines += [
            _field("name", info.name),
            _field("triggers", "\n             ".join(info.triggers) or "none (invoke only)"),
            _field("mode", info.mode),
            _field("retries", info.retries),
            *([_field("app", info.app), _field("url", info.url or "—")] if info.app else
              [_field("file", display_path(info.file))]),
            _field("runs", counts_text(info.counts, long=True)),
        ]
        lines += _block("flow control", info.flow) if info.flow else []
    else:
        lines.append(_field("file", display_path(info.file)))
    if info.error:
        lines += [Text(""), Text("load error", style="bold underline"), Text(info.error, style="red")]
        if info.loaded:
            lines.append(Text("Its file failed to load, so this function runs the last version that loaded; "
                              "fix the file and save to load it again.", style="yellow"))
    return Group(*lines)


def counts_text(counts: dict[str, int], long: bool = False) -> str:
    total = sum(counts.values())
    parts = [f"{total} total"] if long else [str(total)]
    for status in ("Running", "Queued", "Failed"):
        if counts.get(status):
            glyph = RUN_STATUS[status][0]
            parts.append(f"{glyph} {counts[status]} {status.lower()}" if long else f"{glyph}{counts[status]}")
    return " · ".join(parts) if long else " ".join(parts)


def wait_details(wait: PendingWait, now_ms: int) -> RenderableType:
    title = "retry backoff" if wait.kind == "retry" else f"{wait.kind} wait"
    lines = [
        Text(title + ("  (superseded)" if wait.superseded else ""), style="bold"),
        _field("run", wait.run_id),
        _field("function", wait.function_id),
        _field("step", wait.step_id or "— (the function itself)"),
    ]
    lines += [_field(k, v) for k, v in (("event", wait.event), ("signal", wait.signal),
                                         ("expression", wait.expression), ("child run", wait.child_run_id)) if v]
    if wait.kind == "retry":
        lines.append(_field("attempts", f"{wait.attempt or 0} made; the next starts at the deadline"))
        if wait.error:
            lines.append(_field("last error", error_text(wait.error), "red"))
    when = "next attempt" if wait.kind == "retry" else "deadline"
    lines.append(_field(when, f"{clock_time(wait.deadline, now_ms)} ({countdown(wait.deadline, now_ms)})"))
    if wait.superseded:
        lines.append(Text("Another run now waits for this signal (on_conflict=\"replace\"), so sending it resumes "
                          "that run. This wait ends at its timeout, or now with f.", style="yellow"))
    else:
        lines.append(Text("f retries now" if wait.kind == "retry" else "f fires it now", style="dim"))
    return Group(*lines)


class DetailPane(VerticalScroll):
    """A scrolling pane showing one renderable; it keeps its scroll position across updates."""

    can_focus = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.body = Static("", classes="detail-body")

    def compose(self) -> Iterable[Static]:
        yield self.body

    def show(self, renderable: RenderableType) -> None:
        self.body.update(printable_renderable(renderable))
