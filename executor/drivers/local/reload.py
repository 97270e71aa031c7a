"""Hot reload of function files: ``FunctionWatcher(executor, ["functions/"])``.

The watcher loads the paths, registers the functions, then watches every path with
``watchfiles.awatch`` (folders recursively, so new files and helper modules are seen; a single
file through its folder, so an editor's rename-over save is seen too). On a change it loads
everything again (``load_paths`` in a worker thread, so a slow import never blocks the
executor) and swaps the registry at once with ``executor.set_functions``:

- a file that fails to import or validate (syntax error, exception at import, a bad trigger,
  cancel expression or cron string, a duplicate id) keeps the **last good** version of its
  functions live; its error (file, line, message) is in ``watcher.errors`` until it is fixed;
- a deleted file takes its functions with it; their in-flight runs are parked by the executor
  ("waiting for a missing function") and resume when the function comes back;
- any change, to a function file or to a helper module it imports, reloads every file (a full
  reload is a few milliseconds per file and is what a restart would load, so nothing stale can
  survive); versions tell which functions actually changed.

One save is one reload: watchfiles groups the events of a burst (temp file, rename, several
writes) until ``debounce_ms`` pass without a new one, and a change that lands while a reload
runs triggers exactly one more. Reloads are counted (``watcher.generation``); await
``watcher.wait_for_reload(after=..., path=...)`` instead of sleeping.

What it says goes three ways: the ``durable_tui.reload`` logger; ``"log"`` changes on the
executor's feed (data ``ts``, ``level``, ``source="reload"``, ``message``, plus ``file`` and
``line`` for a load error — the shape of the console's log lines); and ``"function"`` changes
(``status`` ``"load_error"`` with the error, ``"load_ok"`` when a file loads again, ``"removed"``
for a function that went away; ``set_functions`` itself announces the live ones).

The watcher must run on the executor's event loop (``set_functions`` is not thread-safe), and
be started after the executor (``Executor.start`` registers its initial functions).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from watchfiles import Change as FileChange
from watchfiles import DefaultFilter, awatch

from executor.drivers.local.function import Function
from executor.drivers.local.loader import LoadError
from executor.drivers.local.versions import dedupe, load_attributed, merge
from executor.feed import Change, ChangeFeed
from executor.records import ChangeKind
from executor.util.clock import Clock


class FunctionHost(Protocol):
    """What the watcher keeps up to date: an ``Executor``, or anything that takes our SDK's
    functions and has a feed to announce reloads on."""

    feed: ChangeFeed
    clock: Clock

    def set_functions(self, functions: Iterable[Function]) -> None: ...

log = logging.getLogger("durable_tui.reload")

#: Default quiet period: a burst of file events is one change once this long passes without a new one.
DEFAULT_DEBOUNCE_MS = 50
#: A burst that never goes quiet is still reloaded after this long.
DEFAULT_MAX_BATCH_MS = 1_000
#: How many recent reloads ``wait_for_reload`` can still find.
HISTORY = 256


@dataclass(frozen=True)
class ReloadResult:
    """What one reload did. ``changes`` are the file events that caused it, as
    ``(kind, path)`` with kind ``added``/``modified``/``deleted`` (empty for the first load and a
    manual one); ``stale`` maps each file that failed to its function ids still live from its
    last good version. Times are ``time.perf_counter()`` seconds: ``started_at`` when the reload
    began, ``live_at`` when the new registry was in place."""

    generation: int
    reason: str
    changes: frozenset[tuple[str, str]]
    functions: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    errors: tuple[LoadError, ...]
    stale: dict[str, tuple[str, ...]]
    files: tuple[str, ...]
    load_ms: float
    started_at: float
    live_at: float

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(path for _, path in self.changes)

    def touches(self, path: str | os.PathLike[str]) -> bool:
        """True if a change to ``path`` caused this reload."""
        return _norm(path) in self.paths

    def to_dict(self) -> dict[str, Any]:
        return {"generation": self.generation, "reason": self.reason,
                "changes": sorted([kind, path] for kind, path in self.changes),
                "functions": list(self.functions), "added": list(self.added), "removed": list(self.removed),
                "changed": list(self.changed), "errors": [e.to_dict() for e in self.errors],
                "stale": {f: list(ids) for f, ids in self.stale.items()}, "load_ms": round(self.load_ms, 3)}


class FunctionWatcher:
    """Keep ``executor``'s functions in step with the files under ``paths``.

    ``debounce_ms`` is the quiet time that ends a burst of file events (watchfiles' ``step``);
    ``max_batch_ms`` caps how long a burst that never goes quiet is held (watchfiles'
    ``debounce``). ``on_reload`` callbacks get each ``ReloadResult`` (on the executor's loop),
    e.g. to refresh the API's load errors. ``force_polling`` is passed to watchfiles (None: its
    own default, which polls on WSL only).
    """

    def __init__(self, executor: FunctionHost, paths: Iterable[str | os.PathLike[str]], *,
                 debounce_ms: int = DEFAULT_DEBOUNCE_MS, max_batch_ms: int = DEFAULT_MAX_BATCH_MS,
                 on_reload: Callable[[ReloadResult], Any] | Iterable[Callable[[ReloadResult], Any]] | None = None,
                 force_polling: bool | None = None) -> None:
        self.executor = executor
        self.paths: list[str] = [os.path.abspath(p) for p in paths]
        if not self.paths:
            raise ValueError("FunctionWatcher needs at least one path to watch")
        if debounce_ms < 1 or max_batch_ms < debounce_ms:
            raise ValueError("debounce_ms must be >= 1 and max_batch_ms >= debounce_ms")
        self.debounce_ms = int(debounce_ms)
        self.max_batch_ms = int(max_batch_ms)
        self.force_polling = force_polling
        if on_reload is None:
            self._listeners: list[Callable[[ReloadResult], Any]] = []
        elif callable(on_reload):
            self._listeners = [on_reload]
        else:
            self._listeners = list(on_reload)

        self.generation = 0
        self.last: ReloadResult | None = None
        self.watch_error: str | None = None
        self._errors: list[LoadError] = []
        self._registry: dict[str, Function] = {}          # every id live (on_failure handlers too)
        self._last_good: dict[str, list[Function]] = {}   # file -> its functions at its last clean load
        self._files: list[str] = []
        self._history: deque[ReloadResult] = deque(maxlen=HISTORY)
        self._log_seq = itertools.count(1)
        self._filter = DefaultFilter()

        self._lock = asyncio.Lock()                      # one reload at a time
        self._cond = asyncio.Condition()
        self._pending: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._roots: list[tuple[str, bool]] = []
        self._missing: list[str] = []
        self._watch_tasks: list[asyncio.Task[None]] = []
        self._watch_stop: asyncio.Event | None = None
        self._rewatch = False
        self._worker: asyncio.Task[None] | None = None
        self._started = False

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> ReloadResult:
        """Start watching, then load and register the functions; returns that first load.

        Watching starts first, so an edit saved while the first load runs is not missed."""
        if self._started:
            raise RuntimeError("this FunctionWatcher is already started")
        self._started = True
        await self._start_watching()
        try:
            async with self._lock:
                result = await self._reload_locked("start", frozenset())
        except BaseException:
            self._started = False
            await self._stop_watching()
            raise
        self._worker = asyncio.create_task(self._work(), name="durable-reload")
        return result

    async def stop(self) -> None:
        """Stop watching; the registered functions stay as they are."""
        if not self._started:
            return
        self._started = False
        await self._stop_watching()
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    async def __aenter__(self) -> "FunctionWatcher":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    # ---- state -------------------------------------------------------------------------

    @property
    def errors(self) -> list[LoadError]:
        """The load errors as of the latest reload (a fixed file's error is gone)."""
        return list(self._errors)

    @property
    def functions(self) -> dict[str, Function]:
        """What the watcher registered, by id (``on_failure`` handlers included)."""
        return dict(self._registry)

    @property
    def stale_files(self) -> dict[str, tuple[str, ...]]:
        """Files that currently fail, with the ids still live from their last good version."""
        return dict(self.last.stale) if self.last is not None else {}

    @property
    def files(self) -> list[str]:
        """The function files found by the latest load."""
        return list(self._files)

    @property
    def watched(self) -> list[tuple[str, bool]]:
        """The folders watched, each with whether it is watched recursively."""
        return list(self._roots)

    def add_listener(self, callback: Callable[[ReloadResult], Any]) -> None:
        self._listeners.append(callback)

    async def reload(self, reason: str = "manual") -> ReloadResult:
        """Reload now, whatever the watcher saw (the console's "reload" key, say)."""
        async with self._lock:
            changes, self._pending = frozenset(self._pending), set()
            return await self._reload_locked(reason, changes)

    async def wait_for_reload(self, after: int | None = None, *, path: str | os.PathLike[str] | None = None,
                              where: Callable[[ReloadResult], bool] | None = None,
                              timeout: float | None = 10.0) -> ReloadResult:
        """The first reload with a generation above ``after`` (default: the current one) —
        with ``path``, one that a change to that file caused; with ``where``, one it accepts.
        Raises ``TimeoutError`` after ``timeout`` real seconds.

        To wait for a save: ``gen = w.generation; write(); await w.wait_for_reload(gen, path=file)``.
        """
        if after is None:
            after = self.generation
        async with asyncio.timeout(timeout):
            async with self._cond:
                while True:
                    for result in self._history:
                        if (result.generation > after and (path is None or result.touches(path))
                                and (where is None or where(result))):
                            return result
                    await self._cond.wait()

    # ---- the reload --------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                async with self._lock:
                    if self._pending:
                        changes, self._pending = frozenset(self._pending), set()
                        await self._reload_locked("change", changes)
                if self._rewatch or self._roots != self._compute_roots()[0]:
                    # A watched folder appeared, vanished or was replaced: watch what is there now,
                    # then load once more for whatever was written before the new watch began.
                    self._rewatch = False
                    await self._stop_watching()
                    await self._start_watching()
                    async with self._lock:
                        await self._reload_locked("rescan", frozenset())
            except asyncio.CancelledError:
                raise
            except Exception:   # never let one bad reload end hot reload for the session
                log.exception("hot reload failed unexpectedly")
                await asyncio.sleep(0.5)

    async def _reload_locked(self, reason: str, changes: frozenset[tuple[str, str]]) -> ReloadResult:
        started = time.perf_counter()
        loaded = await asyncio.to_thread(load_attributed, self.paths)
        load_ms = (time.perf_counter() - started) * 1000
        merged = merge(loaded, self._last_good)
        previous_registry = self._registry
        previous_errors = self._errors
        new_functions = merged.functions
        try:
            self.executor.set_functions(new_functions)
        except Exception as exc:      # the merge resolves duplicates, so this should not happen
            log.exception("the executor refused the reloaded functions; the previous ones stay live")
            new_functions = list(dedupe(previous_registry.values()))
            merged.errors.append(LoadError(self.paths[0], None, f"registry refused the reload: {exc}"))
            merged.last_good = self._last_good
        live_at = time.perf_counter()

        registry = {member.id: member for fn in new_functions for member in fn.members()}
        self._registry = registry
        self._last_good = merged.last_good
        self._errors = merged.errors
        self._files = list(loaded.result.files)
        self.generation += 1
        result = ReloadResult(
            generation=self.generation, reason=reason, changes=frozenset((k, _norm(p)) for k, p in changes),
            functions=tuple(sorted(registry)),
            added=tuple(sorted(set(registry) - set(previous_registry))),
            removed=tuple(sorted(set(previous_registry) - set(registry))),
            changed=tuple(sorted(i for i in set(registry) & set(previous_registry)
                                 if registry[i].version != previous_registry[i].version
                                 or registry[i].source_file != previous_registry[i].source_file)),
            errors=tuple(merged.errors),
            stale={f: tuple(m.id for fn in fns for m in fn.members()) for f, fns in merged.stale.items()},
            files=tuple(loaded.result.files), load_ms=load_ms, started_at=started, live_at=live_at)
        self.last = result
        self._announce(result, previous_registry, previous_errors)
        async with self._cond:
            self._history.append(result)
            self._cond.notify_all()
        for callback in list(self._listeners):
            try:
                outcome = callback(result)
                if asyncio.iscoroutine(outcome):
                    await outcome
            except Exception:
                log.exception("a hot-reload listener failed")
        return result

    # ---- telling the world -------------------------------------------------------------

    def _announce(self, result: ReloadResult, previous: dict[str, Function],
                  previous_errors: list[LoadError]) -> None:
        changes: list[Change] = []
        changed_paths = result.paths
        before = {(e.file, e.line, e.message) for e in previous_errors}
        for error in result.errors:
            if (error.file, error.line, error.message) in before and _norm(error.file) not in changed_paths:
                continue   # still broken, and not touched: said already
            kept = result.stale.get(error.file, ())
            tail = (f"; its last good version stays live ({', '.join(kept)})" if kept else "")
            message = f"{error.describe()}{tail}"
            log.error("%s", message)
            changes.append(self._log_change("ERROR", message, file=error.file, line=error.line))
            changes.append(Change(ChangeKind.FUNCTION, error.file, status="load_error",
                                  data={**error.to_dict(), "stale": list(kept)}))
        failing = {e.file for e in result.errors}
        for file in sorted({e.file for e in previous_errors} - failing):
            message = f"{file} loads again" if Path(file).exists() else f"{file} is gone; its error is cleared"
            log.info("%s", message)
            changes.append(self._log_change("INFO", message, file=file))
            changes.append(Change(ChangeKind.FUNCTION, file, status="load_ok", data={"file": file}))
        for fn_id in result.removed:
            changes.append(Change(ChangeKind.FUNCTION, fn_id, status="removed",
                                  data={"source_file": previous[fn_id].source_file}))
        message = self._summary(result)
        log.info("%s", message)
        changes.append(self._log_change("INFO", message))
        self.executor.feed.publish(changes)

    def _summary(self, result: ReloadResult) -> str:
        if result.reason == "start":
            head = f"loaded {len(result.functions)} function(s) from {len(result.files)} file(s)"
        else:
            names = sorted({Path(p).name for p in result.paths})
            cause = (f" after changes to {', '.join(names[:3])}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")
                     if names else f" ({result.reason})")
            head = f"reloaded{cause}"
        parts = [f"{head} in {result.load_ms:.0f} ms (generation {result.generation})"]
        for label, ids in (("changed", result.changed), ("added", result.added), ("removed", result.removed)):
            if ids and result.reason != "start":
                parts.append(f"{label}: {', '.join(ids)}")
        if result.errors:
            parts.append(f"{len(result.errors)} load error(s)")
        return "; ".join(parts)

    def _log_change(self, level: str, message: str, **extra: Any) -> Change:
        """A ``"log"`` change shaped like the console's log lines (``id`` a sequence number)."""
        data = {"ts": self.executor.clock.now_ms(), "level": level, "source": "reload", "message": message,
                "generation": self.generation, **extra}
        return Change(ChangeKind.LOG, str(next(self._log_seq)), data=data)

    # ---- watching ----------------------------------------------------------------------

    def _compute_roots(self) -> tuple[list[tuple[str, bool]], list[str]]:
        """Folders to watch: each folder path recursively; a file's folder, and the nearest
        existing folder above a missing path, on their own (so its creation is seen)."""
        recursive: list[str] = []
        flat: list[str] = []
        missing: list[str] = []
        for raw in self.paths:
            path = Path(os.path.realpath(raw))
            if path.is_dir():
                recursive.append(str(path))
            elif path.exists():
                flat.append(str(path.parent))
            else:
                missing.append(str(path))
                ancestor = path.parent
                while not ancestor.is_dir() and ancestor != ancestor.parent:
                    ancestor = ancestor.parent
                flat.append(str(ancestor))
        recursive = sorted({r for r in recursive
                            if not any(r != o and Path(r).is_relative_to(o) for o in recursive)})
        flat = sorted({f for f in flat if not any(Path(f).is_relative_to(r) for r in recursive)})
        return [(r, True) for r in recursive] + [(f, False) for f in flat], missing

    def _relevant(self, change: FileChange, path: str) -> bool:
        """Python files, folders (a whole package added, moved or removed) and the paths on
        the way to a watched path that does not exist yet; not temp files, caches or swap files."""
        if not self._filter(change, path):
            return False
        if path.endswith(".py"):
            return True
        if any(m == path or m.startswith(path + os.sep) for m in self._missing):
            return True
        if change != FileChange.deleted:
            return os.path.isdir(path)
        return any(f.startswith(path + os.sep) for f in self._files) or "." not in os.path.basename(path)

    async def _start_watching(self) -> None:
        roots, self._missing = self._compute_roots()
        self._watch_stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        ready: list[asyncio.Future[None]] = []
        for recursive in (True, False):
            group = [root for root, rec in roots if rec is recursive]
            if group:
                fut: asyncio.Future[None] = loop.create_future()
                ready.append(fut)
                self._watch_tasks.append(asyncio.create_task(
                    self._watch(group, recursive, self._watch_stop, fut), name="durable-reload-watch"))
        problems = [r for r in await asyncio.gather(*ready, return_exceptions=True) if isinstance(r, BaseException)]
        self._roots = roots          # in place now (or failed, and said so below)
        self.watch_error = "; ".join(str(p) for p in problems) or None
        if self.watch_error:
            message = f"hot reload cannot watch {', '.join(r for r, _ in roots)}: {self.watch_error}"
            log.error("%s", message)
            self.executor.feed.publish([self._log_change("ERROR", message)])
        else:
            log.debug("watching %s", ", ".join(f"{r}{' (recursive)' if rec else ''}" for r, rec in self._roots))

    async def _stop_watching(self) -> None:
        if self._watch_stop is not None:
            self._watch_stop.set()      # the watch thread sees it within one step
        tasks, self._watch_tasks = self._watch_tasks, []
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch(self, roots: list[str], recursive: bool, stop: asyncio.Event,
                     ready: asyncio.Future[None]) -> None:
        loop = asyncio.get_running_loop()
        changes_iter = awatch(*roots, watch_filter=self._relevant, debounce=self.max_batch_ms,
                              step=self.debounce_ms, stop_event=stop, recursive=recursive,
                              force_polling=self.force_polling, ignore_permission_denied=True)
        try:
            # The first __anext__ creates the OS watches before its first real suspension, so a
            # callback queued now runs once they are in place: start() can then return "ready".
            loop.call_soon(_resolve, ready)
            async for batch in changes_iter:
                self._pending.update((change.raw_str(), path) for change, path in batch)
                self._wake.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            elif not stop.is_set():
                log.warning("watching %s stopped: %s; watching again", ", ".join(roots), exc)
                self._rewatch = True
                self._wake.set()
        finally:
            await changes_iter.aclose()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _norm(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(path)


