"""The console's log: ``LogBook`` keeps every line in time order; ``LogFilter`` is what the Log
view's `/` and a run's own log select by; ``log_text`` is how a line reads.

Lines come from the backend (executor logging, each tagged with its run, function and step where
it has one), from finished runs (the feed's run changes), from the console's own reports and from
what functions print.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

from rich.text import Text

from executor import Change

from .backend import LogLine
from .widgets.format import LOG_LEVELS, clock_time, printable, short_id

KEEP = 5000
LEVELS = ("DEBUG", "INFO", "PRINT", "WARNING", "ERROR", "CRITICAL")
#: ``level:warning`` shows this level and the ones above it (prints rank with INFO).
RANK = {"DEBUG": 0, "INFO": 1, "PRINT": 1, "WARNING": 2, "ERROR": 3, "CRITICAL": 4}


class LogBook:
    """The console's log: the backend's lines, the console's own reports and captured prints,
    kept in time order. Lines reach the console by different roads (prints at once, executor
    logging in the next feed batch), so one may arrive after a later one: it is put in its place
    and ``rewrites`` tells a view that has drawn past it to draw again."""

    def __init__(self, keep: int = KEEP) -> None:
        self._lines: list[LogLine] = []
        self._keep = keep
        self._seq = itertools.count(1)
        self.rewrites = 0

    def add(self, ts: int, level: str, source: str, message: str, *, run_id: str | None = None,
            function_id: str | None = None, step_id: str | None = None) -> None:
        line = LogLine(next(self._seq), ts, level, source, message, run_id, function_id, step_id)
        if self._lines and ts < self._lines[-1].ts:
            bisect.insort_right(self._lines, line, key=lambda known: known.ts)
            self.rewrites += 1
        else:
            self._lines.append(line)
        if len(self._lines) > self._keep:
            del self._lines[: len(self._lines) - self._keep]

    def add_line(self, line: LogLine) -> None:
        """A backend's line, renumbered into the console's order."""
        self.add(line.ts, line.level, line.source, line.message, run_id=line.run_id, function_id=line.function_id,
                 step_id=line.step_id)

    def since(self, seq: int) -> list[LogLine]:
        """The lines numbered after ``seq`` (added since), in time order."""
        return [line for line in self._lines if line.seq > seq]


@dataclass(frozen=True)
class LogFilter:
    """``level:warning run:ID fn:FUNCTION step:STEP words``: each part narrows the lines shown.
    A run matches by its full id or the short id the views show."""

    level: str | None = None
    run: str | None = None
    function: str | None = None
    step: str | None = None
    text: str = ""

    @classmethod
    def parse(cls, raw: str) -> "LogFilter":
        level = run = function = step = None
        words = []
        for word in raw.split():
            key, sep, value = word.partition(":")
            key = key.lower()
            if sep and value and key == "level":
                found = [name for name in LEVELS if name.lower().startswith(value.lower())]
                if len(found) != 1:
                    raise ValueError(f"unknown level {value!r}; use one of {', '.join(n.lower() for n in LEVELS)}")
                level = found[0]
            elif sep and value and key == "run":
                run = value
            elif sep and value and key in ("fn", "function"):
                function = value
            elif sep and value and key == "step":
                step = value
            else:
                words.append(word.lower())
        return cls(level, run, function, step, " ".join(words))

    @property
    def active(self) -> bool:
        return bool(self.level or self.run or self.function or self.step or self.text)

    def matches(self, line: LogLine) -> bool:
        if self.level is not None and RANK.get(line.level, 1) < RANK[self.level]:
            return False
        if self.run is not None and not (line.run_id and (line.run_id == self.run or line.run_id.endswith(self.run))):
            return False
        if self.function is not None and line.function_id != self.function:
            return False
        if self.step is not None and line.step_id != self.step:
            return False
        if self.text:
            haystack = f"{line.level} {line.source} {line.message} {line.run_id or ''} {line.step_id or ''}".lower()
            return all(word in haystack for word in self.text.split())
        return True

    def describe(self) -> str:
        parts = [f"level:{self.level.lower()}"] if self.level else []
        parts += [f"{key}:{value}" for key, value in (("run", self.run), ("fn", self.function), ("step", self.step))
                  if value]
        if self.text:
            parts.append(self.text)
        return " ".join(parts)


#: How a finished run is logged: its status's level and verb.
FINISHED = {"Completed": ("INFO", "completed"), "Failed": ("ERROR", "failed"), "Cancelled": ("WARNING", "cancelled")}


def finished_line(change: Change, now_ms: int) -> LogLine | None:
    """The log line for a run change that finished a run (the change says why a run failed)."""
    if change.kind != "run" or change.status not in FINISHED:
        return None
    level, verb = FINISHED[change.status]
    function_id = change.data.get("function_id")
    message = f"{function_id or 'run'} {verb}"
    error = change.data.get("error")
    if isinstance(error, dict):
        message += f": {error.get('name', 'Error')}: {error.get('message', '')}"
    return LogLine(0, now_ms, level, "runs", message, change.id, function_id if isinstance(function_id, str) else None)


def log_text(line: LogLine, now_ms: int, *, tags: bool = True) -> Text:
    """A line as the Log view shows it: time, level, source, then the run and step it is about."""
    text = Text(no_wrap=False, end="")
    text.append(f"{clock_time(line.ts, now_ms)} ", style="dim")
    text.append(f"{line.level:<7} ", style=LOG_LEVELS.get(line.level, ""))
    text.append(f"{printable(line.source):<10} ", style="dim")
    if tags and line.run_id:
        text.append(f"[{short_id(line.run_id)}{'/' + printable(line.step_id) if line.step_id else ''}] ", style="bold")
    elif not tags and line.step_id:
        text.append(f"[{printable(line.step_id)}] ", style="bold")
    text.append(printable(line.message, multiline=True), style=LOG_LEVELS.get(line.level, ""))
    return text
