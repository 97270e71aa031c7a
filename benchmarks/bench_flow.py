"""Flow control at scale: runs queued behind ``concurrency=1`` per key.

    python benchmarks/bench_flow.py [--runs 1000 10000] [--keys 100] [--gate-depths 100 1000 10000 100000]

``engine``: send N events to a function with ``Concurrency(limit=1, key="event.data.k")`` over
``--keys`` keys (N/keys runs queue behind each key; each run's one step waits 20 ms, as a call to
a slow upstream would), on a file database with the real clock, until every run has completed.
The same function without the limit, on an executor that runs ``--keys`` runs at once (the same
parallelism the limit leaves), is the baseline. Compare CPU time per run (the process's, SQLite's
threads included): scheduling behind the limit costs one heap push per parked item and one wake
per freed slot, so it should neither grow with N nor add much to the baseline. Wall time is shown
too. While the runs are queued it times what the console asks for: a page of runs (each saying why
it waits) and the function's flow usage.

``gate``: the gate alone (``engine.gate.Gate``), release and admit one item at a time against a
queue of D waiters on one key, for each D.

Prints one JSON object per line. Quote ratios from one run, not single absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Benchmark this checkout, not whatever copy of the package happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from executor import Concurrency, Executor, RealClock, create_function  # noqa: E402
from executor.engine.gate import Claim, Gate  # noqa: E402
from executor.records import QueueItem  # noqa: E402

FUNCTION = "per-key"
#: How long each run's one step waits (I/O), so that runs of one key overlap and queue.
STEP_S = 0.02


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def make_function(limited: bool) -> Any:
    @create_function(id=FUNCTION, trigger="bench/job",
                     concurrency=[Concurrency(limit=1, key="event.data.k")] if limited else None)
    async def per_key(ctx):
        async def call_upstream() -> int:
            await asyncio.sleep(STEP_S)      # the per-key work the limit exists for
            return ctx.event.data["i"]

        return await ctx.step.run("work", call_upstream)

    return per_key


async def _sample_reads(ex: Executor, pages: list[float], flows: list[float], queued: list[int],
                        stop: asyncio.Event) -> None:
    """What the console does meanwhile: a page of runs and the function's flow usage, timed; also
    how many runs the gate held at each sample."""
    while not stop.is_set():
        began = time.perf_counter()
        await ex.runs(limit=200)
        pages.append(time.perf_counter() - began)
        began = time.perf_counter()
        queued.append((await ex.flow(FUNCTION))["queued"])
        flows.append(time.perf_counter() - began)
        await asyncio.sleep(0.05)


async def engine_case(runs: int, keys: int, limited: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        # Limited: room for every key's slot at once, so the per-key limit holds runs back.
        # Baseline: the executor itself runs as many at once as the limit lets through.
        async with Executor(db=str(Path(tmp) / "bench.db"), functions=[make_function(limited)], clock=RealClock(),
                            concurrency=2 * keys if limited else keys) as ex:
            events = [{"name": "bench/job", "data": {"k": f"key-{i % keys}", "i": i}} for i in range(runs)]
            pages: list[float] = []
            flows: list[float] = []
            queued: list[int] = []
            stop = asyncio.Event()
            reader = asyncio.create_task(_sample_reads(ex, pages, flows, queued, stop))
            began, cpu = time.perf_counter(), time.process_time()
            for chunk in range(0, runs, 1000):
                await ex.send(events[chunk:chunk + 1000])
            send = time.perf_counter() - began
            while (await ex.store.count_runs()).get("Completed", 0) < runs:
                await asyncio.sleep(0.05)
            wall, cpu = time.perf_counter() - began, time.process_time() - cpu
            stop.set()
            await reader
    return {"case": "engine", "limit": "concurrency=1 per key" if limited else "none (baseline)", "runs": runs,
            "keys": keys, "queued_max": max(queued, default=0), "send_s": round(send, 2),
            "wall_s": round(wall, 2), "cpu_per_run_us": round(cpu / runs * 1e6),
            "wall_per_run_us": round(wall / runs * 1e6),
            "runs_page_ms_p50": round(statistics.median(pages) * 1000, 2),
            "runs_page_ms_max": round(max(pages) * 1000, 2),
            "flow_usage_ms_p50": round(statistics.median(flows) * 1000, 2)}


def gate_case(depth: int, cycles: int) -> dict[str, object]:
    """Steady state: one slot, ``depth`` waiters; each cycle releases the holder (waking the next)
    and parks a newcomer, so the queue stays ``depth`` long."""
    gate = Gate()
    claim = (Claim(("fn", FUNCTION, "k"), 1, "k=1"),)
    items = iter(QueueItem(f"i{n}", f"r{n}", 0, "invoke") for n in range(depth + cycles + 2))
    holder = next(items)
    assert gate.admit(holder, 0, claim, None, 0).admitted
    for n in range(depth):
        gate.admit(next(items), n, claim, None, 0)
    began = time.perf_counter()
    for n in range(cycles):
        [woken] = gate.release(holder.id)
        assert gate.admit(woken, 0, claim, None, 0).admitted
        gate.admit(next(items), depth + n, claim, None, 0)
        holder = woken
    elapsed = time.perf_counter() - began
    return {"case": "gate", "depth": depth, "cycles": cycles, "per_cycle_us": round(elapsed / cycles * 1e6, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10_000], help="runs per engine case")
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--gate-depths", type=int, nargs="+", default=[100, 1000, 10_000, 100_000])
    parser.add_argument("--cycles", type=int, default=20_000, help="release/admit cycles per gate case")
    args = parser.parse_args()
    gates = [gate_case(depth, args.cycles) for depth in args.gate_depths]
    for result in gates:
        emit(**result)
    limited, baseline = [], []
    for n in args.runs:
        limited.append(asyncio.run(engine_case(n, args.keys, limited=True)))
        emit(**limited[-1])
        baseline.append(asyncio.run(engine_case(n, args.keys, limited=False)))
        emit(**baseline[-1])
    ratios: dict[str, float] = {}
    if len(gates) > 1:
        ratios["gate_deepest_over_shallowest"] = gates[-1]["per_cycle_us"] / gates[0]["per_cycle_us"]  # type: ignore[operator]
    if len(limited) > 1:
        ratios["limited_cpu_per_run_largest_over_smallest"] = (
            limited[-1]["cpu_per_run_us"] / limited[0]["cpu_per_run_us"])  # type: ignore[operator]
    for lim, base in zip(limited, baseline, strict=True):
        ratios[f"limited_over_baseline_cpu_per_run_at_{lim['runs']}"] = (
            lim["cpu_per_run_us"] / base["cpu_per_run_us"])  # type: ignore[operator]
        ratios[f"limited_over_baseline_wall_at_{lim['runs']}"] = lim["wall_s"] / base["wall_s"]  # type: ignore[operator]
    emit(case="ratios", **{k: round(v, 2) for k, v in ratios.items()})


if __name__ == "__main__":
    main()
