"""Keys remapped from a config file: ``$XDG_CONFIG_HOME/durable-tui/keys.toml`` (``~/.config/…``).

The file maps binding ids (the `?` help lists them) to keys, comma-separated for several::

    "send.event" = "E"
    "runs.filter" = "slash,ctrl+f"
    run.rerun = "R"          # a dotted bare key means the same id

A file that cannot be read, an unknown id or a value that is not a key is reported (in the Log
view and a notification) and skipped; the rest of the file still applies.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from textual.binding import Binding

FILE_NAME = "keys.toml"
#: One key as Textual names it: a single character, or a name with modifiers (``ctrl+f``,
#: ``question_mark``, ``f5``, ``shift+space``).
_KEY = re.compile(r"^(?:\S|(?:(?:ctrl|shift|alt|meta|super|hyper)\+)*[a-z0-9_]+)$")


def default_path() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "durable-tui" / FILE_NAME


def binding_ids(owners: Iterable[type]) -> dict[str, Binding]:
    """Every binding with an id among these classes' ``BINDINGS`` (one per id)."""
    found: dict[str, Binding] = {}
    for owner in owners:
        for binding in getattr(owner, "BINDINGS", ()):
            if isinstance(binding, Binding) and binding.id:
                found.setdefault(binding.id, binding)
    return found


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for name, value in table.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def load(path: Path, known: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """The keymap in ``path`` (empty when there is no file) and what was wrong in it."""
    if not path.exists():
        return {}, []
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"{path}: {exc}; the default keys apply"]
    known = sorted(set(known))
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, value in _flatten(data):
        if binding_id not in known:
            close = difflib.get_close_matches(binding_id, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else "; press ? to see the ids"
            problems.append(f"{path}: no key has the id {binding_id!r}{hint}")
            continue
        keys = [k.strip() for k in value.split(",")] if isinstance(value, str) else []
        if not keys or not all(_KEY.match(k) for k in keys):
            problems.append(f"{path}: {binding_id} = {value!r} is not a key or a comma-separated list of keys "
                            "(e.g. \"E\", \"ctrl+f\", \"slash,f3\")")
            continue
        keymap[binding_id] = ",".join(keys)
    return keymap, problems

