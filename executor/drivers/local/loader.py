"""Load durable functions from user files: ``load_paths(["functions/"])``.

Each file is executed as a fresh module on every call, so the same call re-imports edited
files (hot reload calls it again after a change). A broken file never stops the others: it
becomes a ``LoadError`` with the line to look at, and the rest still load.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from executor.drivers.local.function import Function

#: Parent name of the synthetic modules user files are executed as.
MODULE_PREFIX = "durable_user_functions"

# load_paths edits sys.path and sys.modules, which are process-wide; a watcher thread and the
# main thread must not interleave two loads.
_load_lock = threading.Lock()


@dataclass
class LoadError:
    """A file that could not be loaded, or a function that was refused (duplicate id)."""

    file: str
    line: int | None
    message: str

    @property
    def where(self) -> str:
        """``file:line``, or the file alone when no line is known."""
        return f"{self.file}:{self.line}" if self.line else self.file

    def describe(self) -> str:
        return f"{self.where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message, "where": self.where}


@dataclass
class LoadResult:
    """The functions found, the errors met, and every file that was read (for a watcher)."""

    functions: list[Function] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


class _FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """Always compile from the source text. The bytecode cache is keyed on the source's mtime
    in whole seconds and its size, so an edit saved within the same second as the previous
    load could otherwise run the old code."""

    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


def _fresh_finder(folder: str) -> importlib.machinery.FileFinder:
    return importlib.machinery.FileFinder(folder, (_FreshSourceLoader, importlib.machinery.SOURCE_SUFFIXES))


class _HelperFinder(importlib.abc.MetaPathFinder):
    """Finds the helper modules (and helper packages' submodules) a function file imports from
    under its root folder, loading them with ``_FreshSourceLoader`` too, so an edited helper
    is never replaced by its stale cached bytecode either."""

    def __init__(self, folders: list[str], root: Path) -> None:
        self._top = [_fresh_finder(folder) for folder in folders]
        self._root = root

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if path is None:
            finders = self._top
        elif path and all(Path(entry).is_relative_to(self._root) for entry in path):
            finders = [_fresh_finder(entry) for entry in path]
        else:
            return None
        for finder in finders:
            spec = finder.find_spec(fullname, target)
            # A folder without __init__.py (namespace package) is left to the normal path search.
            if spec is not None and spec.loader is not None:
                return spec
        return None


def load_paths(paths: Iterable[str | Path]) -> LoadResult:
    """Import every function file under ``paths`` (files, or folders searched recursively for
    ``*.py`` not starting with ``_`` or ``.``) and collect the ``Function`` objects each defines
    at module level, directly or inside a module-level list or tuple.

    A function file can import helpers from its own folder and from the folder it was found
    from; name them (or their folder) with a leading ``_`` to keep them out of the function
    scan. Calling it again re-executes every file from scratch, along with those helpers, so
    edits are picked up. A function id defined in two files is an error naming both; the first
    one (in file order) is kept.
    """
    result = LoadResult()
    roots: dict[Path, Path] = {}
    for raw in paths:
        found, error = _expand(Path(raw))
        for file, root in found:
            roots.setdefault(file, root)
        if error is not None:
            result.errors.append(error)
    result.files = [str(f) for f in roots]
    seen: dict[str, tuple[Function, Path]] = {}
    with _load_lock:
        for file, root in roots.items():
            try:
                module = _execute(file, root)
            except (Exception, SystemExit) as exc:
                result.errors.append(_describe_failure(file, root, exc))
                continue
            for fn in functions_in(module):
                first = seen.get(fn.id)
                if first is None:
                    seen[fn.id] = (fn, file)
                    result.functions.append(fn)
                elif not _same_definition(first[0], fn):
                    result.errors.append(LoadError(
                        str(file), definition_line(fn, file),
                        f"duplicate function id {fn.id!r}: already defined in {first[1]}; this one is ignored"))
    return result


def _expand(path: Path) -> tuple[list[tuple[Path, Path]], LoadError | None]:
    """The function files a path stands for, each with the folder it was found from (its
    root), sorted so loads (and "first wins") are repeatable."""
    if not path.exists():
        return [], LoadError(str(path), None, "no such file or folder")
    path = path.resolve()
    if path.is_file():
        if path.suffix != ".py":
            return [], LoadError(str(path), None, "not a Python file (expected a .py file or a folder)")
        return [(path, path.parent)], None
    return [(file, path) for file in sorted(_walk(path))], None


def _walk(folder: Path) -> Iterator[Path]:
    """``*.py`` files below ``folder``; names starting with ``_`` or ``.`` (``__init__.py``,
    ``__pycache__``, ``.venv``, a ``_helpers`` folder) are left out."""
    for entry in folder.iterdir():
        if entry.name.startswith(("_", ".")):
            continue
        if entry.is_dir():
            yield from _walk(entry)
        elif entry.suffix == ".py" and entry.is_file():
            yield entry


def _module_name(file: Path) -> str:
    """A module name unique to this file and stable across reloads, so a reload replaces the
    previous module rather than adding another, and two ``tasks.py`` in different folders
    never collide."""
    stem = re.sub(r"\W", "_", file.stem)
    digest = hashlib.sha1(str(file).encode()).hexdigest()[:10]
    return f"{MODULE_PREFIX}.{stem}_{digest}"


def _execute(file: Path, root: Path) -> ModuleType:
    """Run ``file`` as a new module, with its own folder and its root folder importable, so
    it can import sibling helpers and shared ones at the top of the loaded tree.

    The file's own module stays in ``sys.modules`` under its synthetic name (dataclasses,
    typing and inspect look modules up there) until the next load replaces it. Helper modules
    imported from under ``root`` are dropped from ``sys.modules`` afterwards: the functions keep
    them alive through their globals, and the next load imports them again, fresh, instead of
    reusing a stale cached copy. The folders also go on ``sys.path`` for the duration, which
    the normal import search needs for namespace packages (helper folders without
    ``__init__.py``).
    """
    name = _module_name(file)
    spec = importlib.util.spec_from_file_location(name, file, loader=_FreshSourceLoader(name, str(file)))
    assert spec is not None and spec.loader is not None  # a .py path always yields a spec
    module = importlib.util.module_from_spec(spec)
    folders = list(dict.fromkeys([str(file.parent), str(root)]))
    finder = _HelperFinder(folders, root)
    before = set(sys.modules)
    sys.modules[name] = module
    sys.path[:0] = folders
    sys.meta_path.insert(0, finder)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        sys.meta_path.remove(finder)
        for folder in folders:
            if folder in sys.path:
                sys.path.remove(folder)
        for added in set(sys.modules) - before - {name}:
            if _is_under(sys.modules[added], root):
                del sys.modules[added]
    return module


def _is_under(module: ModuleType, folder: Path) -> bool:
    location = getattr(module, "__file__", None)
    return location is not None and Path(location).resolve().is_relative_to(folder)


def functions_in(module: ModuleType) -> list[Function]:
    """Module-level ``Function`` objects, and those inside module-level lists and tuples,
    once each, in definition order."""
    found: list[Function] = []
    for value in list(vars(module).values()):
        items = value if isinstance(value, (list, tuple)) else (value,)
        for item in items:
            if isinstance(item, Function) and not any(item is f for f in found):
                found.append(item)
    return found


def _same_definition(a: Function, b: Function) -> bool:
    """One function reached from two files (one file imports the other's function, say to
    invoke it) is the same definition executed twice, not a duplicate id."""
    return (a.source_file == b.source_file and a.handler.__qualname__ == b.handler.__qualname__
            and a.handler.__code__.co_firstlineno == b.handler.__code__.co_firstlineno)


def definition_line(fn: Function, file: str | Path) -> int | None:
    """The ``@create_function`` line, when the function is defined in ``file`` itself."""
    if fn.source_file is None or os.path.realpath(fn.source_file) != os.path.realpath(file):
        return None
    return fn.handler.__code__.co_firstlineno


def _describe_failure(file: Path, root: Path, exc: BaseException) -> LoadError:
    """Point at the line in ``file`` to fix: the syntax error itself, or the deepest frame of
    the traceback inside ``file`` (the failing import line when the error is in a helper under
    ``root``, whose own file and line are then added to the message)."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename) == file:
        return LoadError(str(file), exc.lineno, f"{type(exc).__name__}: {exc.msg}")
    frames = traceback.extract_tb(exc.__traceback__)
    lines = [f.lineno for f in frames if f.filename == str(file)]
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    origin = frames[-1] if frames else None
    if (origin is not None and origin.filename != str(file) and not isinstance(exc, SyntaxError)
            and Path(origin.filename).is_relative_to(root)):
        message += f" (raised in {origin.filename}, line {origin.lineno})"
    return LoadError(str(file), lines[-1] if lines else None, message)


@dataclass
class LoadStatus:
    """The errors of the most recent load of the function files.

    A server keeps one and hot reload replaces its errors after each reload, so what it shows
    (``GET /v1/functions``, the console) is always the load errors that are current now.
    """

    errors: list[LoadError] = field(default_factory=list)

    def update(self, result: Any) -> None:
        """Take the errors of a ``LoadResult`` or a hot reload's ``ReloadResult``."""
        self.errors = list(result.errors)

    def error_for(self, source_file: str | None) -> dict[str, Any] | None:
        if source_file is None:
            return None
        for err in self.errors:
            if os.path.realpath(err.file) == os.path.realpath(source_file):
                return err.to_dict()
        return None
