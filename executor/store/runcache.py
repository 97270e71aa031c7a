"""The runs the engine is working on, as its transactions last wrote them.

Every transition of a run starts by reading the run on the writer (an indexed SELECT and a row
turned into a ``Run``: ~25 µs, a tenth of a trivial step's whole cost). Only the writer's ``Tx``
writes the ``runs`` table, so it can keep what it wrote instead: ``insert_run``, ``update_run``
and ``add_run_usage`` apply their change here too, and ``get_run`` answers from here when it can.
A rolled-back transaction may have changed entries it no longer stands for, so a rollback empties
the cache (rollbacks are rare; the next reads go to the database). A run that ends leaves it.
"""

from __future__ import annotations

from typing import Any

from executor.records import Run, RunStatus

#: Runs kept at most; past it the longest-kept goes (a backlog of queued runs need not all stay).
MAX_RUNS = 10_000


class RunCache:
    def __init__(self, limit: int = MAX_RUNS) -> None:
        self._runs: dict[str, Run] = {}
        self._limit = limit

    def __len__(self) -> int:
        return len(self._runs)

    def get(self, run_id: str) -> Run | None:
        """A copy of the run as last written or read, or None when it is not kept: callers change
        their ``Run`` as they decide, and only a statement may change what is kept."""
        run = self._runs.get(run_id)
        return run.copy() if run is not None else None

    def put(self, run: Run) -> None:
        if run.finished:
            self._runs.pop(run.id, None)
            return
        kept = run.copy()
        kept.waiting_for = None       # said of a run when it is listed; never stored
        self._runs[run.id] = kept
        if len(self._runs) > self._limit:
            del self._runs[next(iter(self._runs))]

    def update(self, run_id: str, fields: dict[str, Any]) -> None:
        run = self._runs.get(run_id)
        if run is None:
            return
        run.__dict__.update(fields)

    def add_usage(self, run_id: str, steps: int, state_bytes: int, current_step: str | None,
                  now: int | None) -> None:
        """What ``Tx.add_run_usage``'s statement does to the row, done to the kept run."""
        run = self._runs.get(run_id)
        if run is None:
            return
        run.step_count += steps
        run.state_bytes += state_bytes
        if current_step is not None:
            run.current_step = current_step
        if now is not None:
            if run.status == RunStatus.QUEUED:
                run.status = RunStatus.RUNNING
            if run.started_at is None:
                run.started_at = now

    def discard(self, run_id: str) -> None:
        self._runs.pop(run_id, None)

    def clear(self) -> None:
        self._runs.clear()
