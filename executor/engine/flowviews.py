"""What flow control looks like from outside: why a run is not moving, and a function's settings
with their current use — for the runs list, the run view, the function view and the API.

Collecting runs are described from their rows (a debounce's end, a batch's size); runs held back
in the gate or started late on purpose, from the engine's memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from executor.engine.core import Core
from executor.engine.gate import clock
from executor.records import Run
from executor.specs import FunctionSpec


async def describe_runs(core: Core, runs: Sequence[Run]) -> None:
    """Set ``waiting_for`` on the unfinished runs among ``runs``."""
    waiting = [run.id for run in runs if not run.finished and run.started_at is None and _collects(core, run)]
    collecting = await core.store.flow.pending_for(waiting) if waiting else {}
    now = core.now()
    for run in runs:
        if run.finished:
            continue
        pending = collecting.get(run.id)
        if pending is not None and pending.kind == "debounce":
            run.waiting_for = f"debouncing until {clock(pending.due_at)}"
        elif pending is not None:
            spec = core.registry.get(run.function_id)
            size = spec.flow.batch.max_size if spec is not None and spec.flow.batch is not None else "?"
            run.waiting_for = f"batching {pending.size}/{size} until {clock(pending.due_at)}"
        else:
            run.waiting_for = core.flow.why(run.id, now)


async def usage(core: Core, spec: FunctionSpec) -> dict[str, Any]:
    """The function's flow-control settings and what is in use now: slots per key and who waits
    for them, throttled starts, runs collecting events, singleton keys held."""
    flow = spec.flow
    gate = core.flow.gate.usage(spec.id, shares_env=any(c.scope != "fn" for c in flow.concurrency))
    out: dict[str, Any] = {"settings": flow.to_dict(), **gate}
    if flow.debounce is not None or flow.batch is not None:
        out["collecting"] = [{"kind": p.kind, "key": p.key, "run_id": p.run_id, "events": p.size, "due_at": p.due_at}
                             for p in await core.store.flow.pending_of(spec.id)]
    if flow.singleton is not None:
        out["singletons"] = await core.store.flow.singletons_of(spec.id)
    out["queued"] = sum(c["waiting"] for c in gate["concurrency"]) + sum(t["waiting"] for t in gate["throttle"])
    return out


def _collects(core: Core, run: Run) -> bool:
    spec = core.registry.get(run.function_id)
    return spec is not None and (spec.flow.debounce is not None or spec.flow.batch is not None)
