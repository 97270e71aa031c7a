"""Engine throughput and latency on a file-backed database, in both execution modes.

    python benchmarks/bench_engine.py [--quick] [--only a|b|c] [--a-steps N]

Prints one JSON object per line: machine info first, then one line per (scenario, mode):

  a  one run of many trivial steps: wall time, steps/s, invocations recorded on the run
  b  many runs x 10 steps started by one send: time until all complete, runs/s, steps/s
  c  event-to-completion latency of a 3-step run, one event at a time: median and p99 in ms

Modes are ``checkpointing`` (steps run back to back in one invocation) and ``replay``
(strict replay, ``checkpointing=False``: one new step per invocation, the body re-run from the
top each time, so scenario a costs O(n^2) step lookups there by design).

Completion is observed on the executor's change feed, which is published right after each
commit, so the timings include the commit and no polling delay. Absolute numbers depend on the
machine and its disk; compare modes and revisions on the same machine (quote ratios).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from executor import Executor, Function, RealClock, Run, RunStatus, Subscription, create_function

MODES = {"checkpointing": True, "replay": False}
FULL = {"a_steps": 1000, "b_runs": 500, "b_steps": 10, "c_samples": 200}
QUICK = {"a_steps": 200, "b_runs": 100, "b_steps": 10, "c_samples": 50}
C_STEPS = 3
#: No benchmark run should take this long; hitting it means the engine stalled.
STALL_S = 900


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def steps_function(fn_id: str, steps: int, checkpointing: bool) -> Function:
    """A function of ``steps`` trivial sync steps: the cost measured is the engine's, not the work's.
    Sync handlers are the common case (and run in a worker thread), so that is what is timed."""

    @create_function(id=fn_id, trigger=f"bench/{fn_id}", checkpointing=checkpointing)
    async def handler(ctx: Any) -> int:
        total = 0
        for k in range(steps):
            total += await ctx.step.run(f"step-{k}", lambda k=k: k)
        return total

    return handler


def open_executor(workdir: Path, name: str, fn: Function) -> Executor:
    """A fresh executor on its own database file, as a user would run it (RealClock, no backoff)."""
    return Executor(db=str(workdir / f"{name}.db"), functions=[fn], clock=RealClock(), backoff=lambda attempt: 0)


async def until_finished(sub: Subscription, run_ids: Iterable[str]) -> dict[str, float]:
    """Wait on the change feed until every run in ``run_ids`` is finished; returns when each
    finished (``time.perf_counter``). Raises if one did not complete or the feed overflowed."""
    pending = set(run_ids)
    finished: dict[str, float] = {}
    async with asyncio.timeout(STALL_S):
        while pending:
            for change in await sub.get_batch():
                if change.kind == "run" and change.run_id in pending and RunStatus(change.status).finished:
                    if change.status != RunStatus.COMPLETED:
                        raise RuntimeError(f"run {change.run_id} ended {change.status}")
                    pending.discard(change.run_id)
                    finished[change.run_id] = time.perf_counter()
            if sub.overflowed:
                raise RuntimeError("the change feed overflowed; completions may have been dropped")
    return finished


async def send_runs(ex: Executor, name: str, count: int) -> list[str]:
    """Send ``count`` events in one call; returns the id of the one run each started."""
    started = await ex.send_and_route([{"name": name, "data": {"i": i}} for i in range(count)])
    return [run_id for run_ids in started.values() for run_id in run_ids]


async def finished_run(ex: Executor, run_id: str) -> Run:
    """The run as stored once finished. Re-reads briefly: the listing connection may serve a
    snapshot from just before the final commit that the feed already announced."""
    for _ in range(100):
        run = await ex.run(run_id)
        if run is not None and run.finished:
            return run
        await asyncio.sleep(0.01)
    raise RuntimeError(f"run {run_id} is not finished in the database")


async def bench_a(workdir: Path, mode: str, steps: int) -> dict[str, Any]:
    """One run of ``steps`` trivial steps: per-step engine overhead, and the replay cost."""
    fn = steps_function("a", steps, MODES[mode])
    async with open_executor(workdir, f"a-{mode}-{steps}", fn) as ex:
        with ex.subscribe(maxsize=10_000_000) as sub:
            t0 = time.perf_counter()
            run_ids = await send_runs(ex, "bench/a", 1)
            await until_finished(sub, run_ids)
            wall = time.perf_counter() - t0
        run = await finished_run(ex, run_ids[0])
    return {"bench": "a", "mode": mode, "steps": steps, "wall_s": round(wall, 3),
            "steps_per_s": round(steps / wall, 1), "invocations": run.invocations}


async def bench_b(workdir: Path, mode: str, runs: int, steps: int) -> dict[str, Any]:
    """``runs`` runs of ``steps`` steps all started by one send: throughput under concurrency."""
    fn = steps_function("b", steps, MODES[mode])
    async with open_executor(workdir, f"b-{mode}", fn) as ex:
        with ex.subscribe(maxsize=10_000_000) as sub:
            t0 = time.perf_counter()
            run_ids = await send_runs(ex, "bench/b", runs)
            await until_finished(sub, run_ids)
            wall = time.perf_counter() - t0
    return {"bench": "b", "mode": mode, "runs": runs, "steps_per_run": steps, "wall_s": round(wall, 3),
            "runs_per_s": round(runs / wall, 1), "steps_per_s": round(runs * steps / wall, 1)}


async def bench_c(workdir: Path, mode: str, samples: int) -> dict[str, Any]:
    """Send one event, wait for its 3-step run to complete, repeat: latency with an idle engine."""
    fn = steps_function("c", C_STEPS, MODES[mode])
    latencies_ms = []
    async with open_executor(workdir, f"c-{mode}", fn) as ex:
        for _ in range(samples):
            with ex.subscribe() as sub:
                t0 = time.perf_counter()
                run_ids = await send_runs(ex, "bench/c", 1)
                done = await until_finished(sub, run_ids)
            latencies_ms.append((done[run_ids[0]] - t0) * 1000)
    latencies_ms.sort()
    p99 = latencies_ms[min(len(latencies_ms) - 1, round(0.99 * (len(latencies_ms) - 1)))]
    return {"bench": "c", "mode": mode, "steps_per_run": C_STEPS, "samples": samples,
            "median_ms": round(statistics.median(latencies_ms), 2), "p99_ms": round(p99, 2),
            "max_ms": round(latencies_ms[-1], 2)}


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", choices=["a", "b", "c"], help="run one scenario")
    parser.add_argument("--a-steps", type=int, metavar="N",
                        help="steps in scenario a (replay mode is quadratic in it)")
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    if args.a_steps:
        sizes["a_steps"] = args.a_steps

    emit({"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                      "implementation": platform.python_implementation(), "platform": platform.platform(),
                      "sqlite": sqlite3.sqlite_version}, "sizes": sizes})
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        workdir = Path(tmp)
        for mode in MODES:
            if args.only in (None, "a"):
                emit(await bench_a(workdir, mode, sizes["a_steps"]))
            if args.only in (None, "b"):
                emit(await bench_b(workdir, mode, sizes["b_runs"], sizes["b_steps"]))
            if args.only in (None, "c"):
                emit(await bench_c(workdir, mode, sizes["c_samples"]))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
