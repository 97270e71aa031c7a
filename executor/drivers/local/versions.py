"""Which file each loaded function came from, and the "last good version" rule of hot reload.

A file that fails to load keeps the functions of its last clean load live (with its error shown),
so a half-saved edit never takes a working function away; these are the pure parts of that rule,
kept apart from the watcher that applies them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType

from executor.drivers.local.function import Function
from executor.drivers.local.loader import (MODULE_PREFIX, LoadError, LoadResult, definition_line, functions_in,
                                           load_paths)


@dataclass
class Loaded:
    """A load attributed to files: each imported file's functions as loaded."""

    result: LoadResult
    fresh: dict[str, list[Function]] = field(default_factory=dict)
    imported: set[str] = field(default_factory=set)
    unattributed: list[Function] = field(default_factory=list)


@dataclass
class Merged:
    functions: list[Function]
    errors: list[LoadError]
    stale: dict[str, list[Function]]
    last_good: dict[str, list[Function]]


def dedupe(functions: Iterable[Function]) -> Iterable[Function]:
    """Top-level functions of a registry (on_failure handlers ride along with their function)."""
    handlers = {id(fn.on_failure) for fn in functions if fn.on_failure is not None}
    return [fn for fn in functions if id(fn) not in handlers]


def load_attributed(paths: Sequence[str]) -> Loaded:
    """``load_paths``, then which file each function came from.

    ``load_paths`` leaves each imported file's module in ``sys.modules`` under the loader's
    prefix (and drops a file's module when its import fails), so the modules whose ``__file__``
    is one of the files loaded tell which functions each file defined. Runs right after the
    load, in the same worker thread."""
    result = load_paths(paths)
    loaded = Loaded(result)
    files = set(result.files)
    modules: dict[str, ModuleType] = {}
    for name, module in list(sys.modules.items()):
        location = getattr(module, "__file__", None)
        if name.startswith(MODULE_PREFIX + ".") and location in files:
            modules[location] = module
    claimed: set[int] = set()
    by_identity = {id(fn): fn for fn in result.functions}
    for file in result.files:
        module = modules.get(file)
        if module is None:
            continue
        loaded.imported.add(file)
        mine = [by_identity[id(fn)] for fn in functions_in(module) if id(fn) in by_identity and id(fn) not in claimed]
        claimed.update(id(fn) for fn in mine)
        loaded.fresh[file] = mine
    for fn in result.functions:          # not found in any module (another load raced this one)
        if id(fn) not in claimed:
            owner = fn.source_file if fn.source_file in files else None
            if owner is not None:
                loaded.fresh.setdefault(owner, []).append(fn)
                loaded.imported.add(owner)
            else:
                loaded.unattributed.append(fn)
    return loaded


def merge(loaded: Loaded, last_good: dict[str, list[Function]]) -> Merged:
    """The registry to make live: each file's fresh functions, or its last good ones when it
    has a load error; ids unique, the first in file order kept (as ``load_paths`` does).

    A file is "good" when it imported and no error names it. A file with an error and a last
    good version contributes that version; one that never loaded cleanly contributes whatever
    the loader could take from it (as a fresh start would). A fresh file that reuses an id a
    failing file keeps live gets a duplicate-id error and falls back too."""
    result = loaded.result
    errors = list(result.errors)
    erring = {e.file for e in errors}
    taken: dict[str, str] = {}
    functions: list[Function] = []
    stale: dict[str, list[Function]] = {}
    new_last_good: dict[str, list[Function]] = {}

    def add(fns: Iterable[Function], file: str) -> list[Function]:
        kept = []
        for fn in fns:
            if any(member.id in taken for member in fn.members()):
                continue
            kept.append(fn)
            for member in fn.members():
                taken[member.id] = file
        functions.extend(kept)
        return kept

    for file in result.files:
        fresh = loaded.fresh.get(file, [])
        failed = file in erring or file not in loaded.imported
        if not failed:
            clashes = [(fn, member) for fn in fresh for member in fn.members() if member.id in taken]
            for fn, member in clashes:
                what = f"function id {member.id!r}" + (f" (the on_failure handler of {fn.id!r})" if member is not fn else "")
                errors.append(LoadError(file, definition_line(fn, file),
                                        f"duplicate {what}: already defined in {taken[member.id]}"))
            failed = bool(clashes)
        if not failed:
            new_last_good[file] = add(fresh, file)
        elif file in last_good:
            new_last_good[file] = last_good[file]
            stale[file] = add(last_good[file], file)
        else:
            add(fresh, file)
    add(loaded.unattributed, "")
    return Merged(functions, errors, stale, new_last_good)
