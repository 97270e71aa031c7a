"""How values read on screen: status glyphs, short ids, times, durations, countdowns.

Status is always glyph + word with colour on top, never colour alone, so it survives
``NO_COLOR``, 16-colour terminals and colour-blind operators. Plain ANSI colour names are
used because a 16-colour terminal maps them exactly.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from rich.console import Group, RenderableType
from rich.text import Text

from executor import format_ms
from executor.service.printable import printable

ELLIPSIS = "…"

RUN_STATUS: dict[str, tuple[str, str]] = {
    "Queued": ("◌", "bright_black"),
    "Running": ("▶", "cyan"),
    "Completed": ("✔", "green"),
    "Failed": ("✘", "red"),
    "Cancelled": ("⊘", "yellow"),
    "Skipped": ("⤼", "bright_black"),
}


def flow_note(run: Any) -> str:
    """Flow control's word on a run: why it waits, or why it never ran."""
    if getattr(run, "skip_reason", None):
        return f"skipped: {run.skip_reason}"
    return getattr(run, "waiting_for", None) or ""


STEP_STATUS: dict[str, tuple[str, str]] = {
    **RUN_STATUS,
    "Planned": ("·", "bright_black"),
    "Retrying": ("↻", "yellow"),
    "Sleeping": ("◷", "blue"),
    "Waiting": ("⋯", "magenta"),
}

STEP_KINDS: dict[str, str] = {
    "run": "run",
    "sleep": "sleep",
    "wait_for_event": "wait event",
    "wait_for_signal": "wait signal",
    "invoke": "invoke",
    "send_event": "send",
}

WAIT_KINDS: dict[str, tuple[str, str]] = {
    "sleep": ("◷", "sleep"),
    "event": ("⋯", "event"),
    "signal": ("⚑", "signal"),
    "invoke": ("↳", "invoke"),
    "retry": ("↻", "retry"),
}

LOG_LEVELS: dict[str, str] = {"DEBUG": "bright_black", "INFO": "", "WARNING": "yellow", "ERROR": "red",
                              "CRITICAL": "red"}


def status_text(status: str, table: dict[str, tuple[str, str]] = STEP_STATUS) -> Text:
    glyph, colour = table.get(status, ("?", ""))
    return Text(f"{glyph} {status}", style=colour, no_wrap=True)


def wait_kind_text(kind: str) -> Text:
    glyph, word = WAIT_KINDS.get(kind, ("?", kind))
    return Text(f"{glyph} {word}", no_wrap=True)


def short_id(value: str | None) -> str:
    """The random tail of a ULID: runs created in the same millisecond share the head."""
    return value[-8:] if value else "—"


def printable_renderable(renderable: RenderableType) -> RenderableType:
    """The same, through a ``Group`` of ``Text`` lines (the detail panes), styles kept."""
    if isinstance(renderable, Text):
        renderable.plain = printable(renderable.plain, multiline=True)
    elif isinstance(renderable, Group):
        for part in renderable.renderables:
            printable_renderable(part)
    elif isinstance(renderable, str):
        return printable(renderable, multiline=True)
    return renderable


def fit(text: str, width: int) -> str:
    """Cut to ``width`` cells with an ellipsis, so a clipped value never looks complete."""
    text = printable(" ".join(text.split()))
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS


def clock_time(ms: int | None, now_ms: int | None = None) -> str:
    """Local wall time; the date is added when it is not the same day as ``now_ms``."""
    if ms is None:
        return "—"
    moment = time.localtime(ms / 1000)
    if now_ms is not None and time.localtime(now_ms / 1000)[:3] != moment[:3]:
        return time.strftime("%b %d %H:%M", moment)
    return time.strftime("%H:%M:%S", moment)


def duration(ms: int | None) -> str:
    """``format_ms`` (850ms, 4.2s, 3m05s…), and a dash for what has no duration yet."""
    return "—" if ms is None else format_ms(ms, columns=True)


def countdown(due_ms: int | None, now_ms: int) -> str:
    if due_ms is None:
        return "no deadline"
    left = due_ms - now_ms
    return f"in {duration(left)}" if left >= 0 else f"{duration(-left)} overdue"


def step_kind(op: str) -> str:
    return STEP_KINDS.get(op, op)


def display_path(path: str | None) -> str:
    """A file path as the operator typed it: relative to where the console runs, when it is below."""
    if not path:
        return "—"
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def compact_json(value: Any, width: int = 200) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return fit(text, width)


def pretty_json(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except TypeError:
        return repr(value)
