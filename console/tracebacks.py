"""Tracebacks trimmed to the operator's own code: the frames of the function's file first, the
executor's, the standard library's and installed packages' frames folded away.

Reads Python tracebacks (``File "…", line N, in f`` and the lines under it) and JavaScript stacks
(``at f (file:line:col)``), which is what our SDK and Inngest's SDKs send as a step's ``stack``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import executor

_PY_FRAME = re.compile(r'^\s*File "(?P<path>.+)", line \d+')
_JS_FRAME = re.compile(r"^\s*at\s+(?P<where>.+)$")
#: A frame whose file path holds one of these is not the operator's code.
LIBRARY_MARKERS = ("site-packages", "dist-packages", "/lib/python3", "node_modules", "node:internal", "<frozen",
                   "(internal/", "/asyncio/", "/concurrent/futures/", "threading.py")
_EXECUTOR_ROOT = str(Path(executor.__file__).resolve().parent)


@dataclass(frozen=True)
class Frame:
    lines: tuple[str, ...]      # the frame's own line and what follows it (source, markers)
    user: bool                  # the operator's code, not a library's


@dataclass
class Trimmed:
    """A traceback taken apart: what was raised, the operator's frames, and the rest."""

    headline: list[str] = field(default_factory=list)     # the exception line(s), last first seen
    user: list[Frame] = field(default_factory=list)
    library: list[Frame] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)        # the traceback as sent


def relative(line: str) -> str:
    """A frame line with paths below the working directory made relative (as the operator's
    editor and shell know them)."""
    return line.replace(f"{Path.cwd()}/", "")


def is_library(location: str) -> bool:
    return location.startswith(_EXECUTOR_ROOT) or "/executor/drivers/" in location or \
        "/executor/engine/" in location or any(marker in location for marker in LIBRARY_MARKERS)


def trim(stack: str) -> Trimmed:
    lines = stack.rstrip("\n").splitlines()
    out = Trimmed(lines=lines)
    frame: list[str] = []
    frame_user = False
    python = any(_PY_FRAME.match(line) for line in lines)

    def close() -> None:
        if frame:
            (out.user if frame_user else out.library).append(Frame(tuple(frame), frame_user))
            frame.clear()

    for line in lines:
        py = _PY_FRAME.match(line) if python else None
        js = None if python else _JS_FRAME.match(line)
        if py is not None or js is not None:
            close()
            location = py.group("path") if py is not None else js.group("where")  # type: ignore[union-attr]
            frame_user = not is_library(location)
            frame.append(line)
        elif frame and python and line.startswith("    "):
            frame.append(line)        # the source line under a frame, and its ^^^ markers
        else:
            close()
            if line.strip() and not line.startswith("Traceback (most recent call last)"):
                out.headline.append(line.strip())
    close()
    return out
