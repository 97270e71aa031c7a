"""Our side of ``vs_dbos.py``: one case on a fresh executor, printed as one JSON line.

    python benchmarks/vs_dbos_ours.py CASE --workdir DIR [--size full|quick] [--durability normal|full]

Only the public API (``Executor``, ``create_function``, ``send``, ``send_signal``, ``waits``,
``subscribe``), so the benchmark keeps measuring whatever engine sits behind it. Completion is
seen on the change feed, published right after the commit that finished the run: the times
include that commit and no polling. Steps are sync handlers (run in a worker thread), the
common case and what the DBOS side runs too.

To see where the time goes, run a case under a sampling profiler, e.g.
``py-spy record --nonblocking --threads --idle -o steps.svg -- python benchmarks/vs_dbos_ours.py steps
--workdir /tmp`` or ``pyinstrument benchmarks/vs_dbos_ours.py steps --workdir /tmp`` (both from PyPI).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vs_dbos_common import (LATENCY_STEPS, SLEEP_MS, STALL_S, arrival_delays, by_idle, emit,  # noqa: E402
                             latency_summary, runner_args)

from executor import Executor, Function, RealClock, RunStatus, Subscription, create_function  # noqa: E402


def trivial(k: int) -> int:
    return k


def steps_function(fn_id: str, steps: int) -> Function:
    @create_function(id=fn_id, trigger=f"bench/{fn_id}")
    async def handler(ctx: Any) -> int:
        total = 0
        for k in range(steps):
            total += await ctx.step.run(f"step-{k}", trivial, k)
        return total

    return handler


def sleeper(sleeps: int) -> Function:
    @create_function(id="sleep", trigger="bench/sleep")
    async def handler(ctx: Any) -> int:
        for _ in range(sleeps):
            await ctx.step.sleep("nap", SLEEP_MS)      # a reused id in a loop becomes nap:1, nap:2, …
        return sleeps

    return handler


@create_function(id="signal", trigger="bench/signal")
async def waiter(ctx: Any) -> Any:
    got = await ctx.step.wait_for_signal("wait", signal=ctx.event.data["signal"], timeout="1h", on_conflict="fail")
    return got.data


async def until_finished(sub: Subscription, run_ids: list[str]) -> None:
    """Until every run in ``run_ids`` has completed, as announced on the change feed."""
    pending = set(run_ids)
    while pending:
        for change in await sub.get_batch():
            if change.kind == "run" and change.run_id in pending and RunStatus(change.status).finished:
                if change.status != RunStatus.COMPLETED:
                    raise RuntimeError(f"run {change.run_id} ended {change.status}")
                pending.discard(change.run_id)
        if sub.overflowed:
            raise RuntimeError("the change feed overflowed; completions may have been dropped")


async def start(ex: Executor, name: str, data: list[dict[str, Any]]) -> list[str]:
    """Send one event per item in one call; the ids of the runs they started."""
    routed = await ex.send_and_route([{"name": name, "data": d} for d in data])
    return [run_id for run_ids in routed.values() for run_id in run_ids]


async def case_steps(ex: Executor, sub: Subscription, size: dict[str, int]) -> dict[str, Any]:
    t0 = time.perf_counter()
    await until_finished(sub, await start(ex, "bench/steps", [{}]))
    wall = time.perf_counter() - t0
    return {"steps": size["steps"], "wall_s": round(wall, 4), "steps_per_s": round(size["steps"] / wall, 1)}


async def case_fanout(ex: Executor, sub: Subscription, size: dict[str, int]) -> dict[str, Any]:
    runs = size["fanout_runs"]
    t0 = time.perf_counter()
    await until_finished(sub, await start(ex, "bench/fanout", [{"i": i} for i in range(runs)]))
    wall = time.perf_counter() - t0
    return {"runs": runs, "steps_per_run": size["fanout_steps"], "wall_s": round(wall, 4),
            "runs_per_s": round(runs / wall, 1)}


async def case_latency(ex: Executor, sub: Subscription, size: dict[str, int]) -> dict[str, Any]:
    latencies = []
    for _ in range(size["latency_samples"]):
        t0 = time.perf_counter()
        await until_finished(sub, await start(ex, "bench/latency", [{}]))
        latencies.append((time.perf_counter() - t0) * 1000)
    return latency_summary(latencies)


async def case_sleep(ex: Executor, sub: Subscription, size: dict[str, int]) -> dict[str, Any]:
    t0 = time.perf_counter()
    await until_finished(sub, await start(ex, "bench/sleep", [{}]))
    wall = time.perf_counter() - t0
    return {"sleeps": size["sleeps"], "wall_s": round(wall, 4), "ms_per_sleep": round(wall * 1000 / size["sleeps"], 3)}


async def case_signal(ex: Executor, sub: Subscription, size: dict[str, int], poll_s: float) -> dict[str, Any]:
    """Start a run, let it block on its signal wait, then time send_signal -> run completed."""
    latencies = []
    delays = arrival_delays(size["signal_samples"], poll_s)
    for i, delay in enumerate(delays):
        signal = f"go-{i}"
        [run_id] = await start(ex, "bench/signal", [{"signal": signal}])
        while not any(w["kind"] == "signal" for w in await ex.waits(run_id)):
            await asyncio.sleep(0.001)
        await asyncio.sleep(delay)
        t0 = time.perf_counter()
        await ex.send_signal(signal, {"i": i})
        await until_finished(sub, [run_id])
        latencies.append((time.perf_counter() - t0) * 1000)
    return {**latency_summary(latencies), "p50_by_idle_ms": by_idle(delays, latencies)}


CASES = {"steps": case_steps, "fanout": case_fanout, "latency": case_latency, "sleep": case_sleep}


def functions_for(case: str, size: dict[str, int]) -> list[Function]:
    if case == "steps":
        return [steps_function("steps", size["steps"])]
    if case == "fanout":
        return [steps_function("fanout", size["fanout_steps"])]
    if case == "latency":
        return [steps_function("latency", LATENCY_STEPS)]
    if case == "sleep":
        return [sleeper(size["sleeps"])]
    return [waiter]


async def main(argv: list[str]) -> None:
    args = runner_args(argv, __doc__.splitlines()[0])
    size = args.sizes
    db = Path(args.workdir) / f"ours-{args.case}-{args.durability}.db"
    ex = Executor(db=str(db), functions=functions_for(args.case, size), clock=RealClock(),
                  backoff=lambda attempt: 0, durability=args.durability)
    async with ex:
        with ex.subscribe(maxsize=10_000_000) as sub:
            async with asyncio.timeout(STALL_S):
                if args.case == "signal":
                    result = await case_signal(ex, sub, size, args.poll)
                else:
                    result = await CASES[args.case](ex, sub, size)
    emit({"case": args.case, "side": f"ours-{args.durability}", **result})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
