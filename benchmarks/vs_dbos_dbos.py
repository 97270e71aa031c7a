"""DBOS Transact's side of ``vs_dbos.py``: one case, printed as one JSON line. Runs in the venv
``vs_dbos.py --setup`` made (``benchmarks/.dbos-venv``), never in ours.

    benchmarks/.dbos-venv/bin/python benchmarks/vs_dbos_dbos.py CASE --workdir DIR [--size full|quick]
                                                               [--style sync|async] [--poll SECONDS]

DBOS runs on SQLite with its defaults (``system_database_url="sqlite:///FILE"``: rollback journal,
``synchronous=FULL``), in-process like ours. ``--style sync`` (the default) is DBOS's primary style:
sync workflows calling ``@DBOS.step()`` functions, run on DBOS's thread pool. ``--style async`` is
the shape of our side: async workflows whose sync steps run in a worker thread
(``DBOS.run_step_async``). ``--poll`` is ``notification_listener_polling_interval_sec``: on SQLite
``recv`` learns of a message by polling at that interval (its default is 1 s; 0.01 here unless told).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dbos import DBOS  # noqa: E402
from dbos._dbos import _get_dbos_instance  # noqa: E402
from vs_dbos_common import LATENCY_STEPS, SLEEP_MS, STALL_S, arrival_delays, emit, latency_summary, runner_args  # noqa: E402


def trivial(k: int) -> int:
    return k


# ---- the sync style: DBOS's primary one ---------------------------------------------------------

@DBOS.step(name="trivial")
def trivial_step(k: int) -> int:
    return k


@DBOS.workflow(name="steps_sync")
def steps_sync(steps: int) -> int:
    return sum(trivial_step(k) for k in range(steps))


@DBOS.workflow(name="sleep_sync")
def sleep_sync(sleeps: int) -> int:
    for _ in range(sleeps):
        DBOS.sleep(SLEEP_MS / 1000)
    return sleeps


@DBOS.workflow(name="signal_sync")
def signal_sync() -> Any:
    return DBOS.recv("go", timeout_seconds=3600)


# ---- the async style: the shape of our side -----------------------------------------------------

@DBOS.workflow(name="steps_async")
async def steps_async(steps: int) -> int:
    total = 0
    for k in range(steps):
        total += await DBOS.run_step_async({"name": "trivial"}, trivial, k)
    return total


@DBOS.workflow(name="sleep_async")
async def sleep_async(sleeps: int) -> int:
    for _ in range(sleeps):
        await DBOS.sleep_async(SLEEP_MS / 1000)
    return sleeps


@DBOS.workflow(name="signal_async")
async def signal_async() -> Any:
    return await DBOS.recv_async("go", timeout_seconds=3600)


def blocked_in_recv(workflow_id: str) -> bool:
    """Whether the workflow's ``recv`` has registered its waiter, i.e. it is blocked on the
    message (DBOS has no public call for this; its notification map is what its poller checks)."""
    return any(dest == workflow_id for _, (dest, *_rest), _event in
               _get_dbos_instance()._sys_db.notifications_map.snapshot())


# ---- the cases: one measuring routine per style, same work ---------------------------------------

def run_sync(case: str, size: dict[str, int], poll_s: float) -> dict[str, Any]:
    if case == "steps":
        t0 = time.perf_counter()
        DBOS.start_workflow(steps_sync, size["steps"]).get_result()
        return steps_result(size, time.perf_counter() - t0)
    if case == "fanout":
        t0 = time.perf_counter()
        handles = [DBOS.start_workflow(steps_sync, size["fanout_steps"]) for _ in range(size["fanout_runs"])]
        for handle in handles:
            handle.get_result()
        return fanout_result(size, time.perf_counter() - t0)
    if case == "latency":
        return latency_summary([timed(lambda: DBOS.start_workflow(steps_sync, LATENCY_STEPS).get_result())
                                for _ in range(size["latency_samples"])])
    if case == "sleep":
        t0 = time.perf_counter()
        DBOS.start_workflow(sleep_sync, size["sleeps"]).get_result()
        return sleep_result(size, time.perf_counter() - t0)
    latencies = []
    for i, delay in enumerate(arrival_delays(size["signal_samples"], poll_s)):
        handle = DBOS.start_workflow(signal_sync)
        while not blocked_in_recv(handle.workflow_id):
            time.sleep(0.001)
        time.sleep(delay)
        t0 = time.perf_counter()
        DBOS.send(handle.workflow_id, {"i": i}, "go")
        handle.get_result()
        latencies.append((time.perf_counter() - t0) * 1000)
    return latency_summary(latencies)


async def run_async(case: str, size: dict[str, int], poll_s: float) -> dict[str, Any]:
    if case == "steps":
        t0 = time.perf_counter()
        await (await DBOS.start_workflow_async(steps_async, size["steps"])).get_result()
        return steps_result(size, time.perf_counter() - t0)
    if case == "fanout":
        t0 = time.perf_counter()
        handles = await asyncio.gather(*(DBOS.start_workflow_async(steps_async, size["fanout_steps"])
                                         for _ in range(size["fanout_runs"])))
        await asyncio.gather(*(handle.get_result() for handle in handles))
        return fanout_result(size, time.perf_counter() - t0)
    if case == "latency":
        latencies = []
        for _ in range(size["latency_samples"]):
            t0 = time.perf_counter()
            await (await DBOS.start_workflow_async(steps_async, LATENCY_STEPS)).get_result()
            latencies.append((time.perf_counter() - t0) * 1000)
        return latency_summary(latencies)
    if case == "sleep":
        t0 = time.perf_counter()
        await (await DBOS.start_workflow_async(sleep_async, size["sleeps"])).get_result()
        return sleep_result(size, time.perf_counter() - t0)
    latencies = []
    for i, delay in enumerate(arrival_delays(size["signal_samples"], poll_s)):
        handle = await DBOS.start_workflow_async(signal_async)
        while not blocked_in_recv(handle.workflow_id):
            await asyncio.sleep(0.001)
        await asyncio.sleep(delay)
        t0 = time.perf_counter()
        await DBOS.send_async(handle.workflow_id, {"i": i}, "go")
        await handle.get_result()
        latencies.append((time.perf_counter() - t0) * 1000)
    return latency_summary(latencies)


def timed(call: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    call()
    return (time.perf_counter() - t0) * 1000


def steps_result(size: dict[str, int], wall: float) -> dict[str, Any]:
    return {"steps": size["steps"], "wall_s": round(wall, 4), "steps_per_s": round(size["steps"] / wall, 1)}


def fanout_result(size: dict[str, int], wall: float) -> dict[str, Any]:
    return {"runs": size["fanout_runs"], "steps_per_run": size["fanout_steps"], "wall_s": round(wall, 4),
            "runs_per_s": round(size["fanout_runs"] / wall, 1)}


def sleep_result(size: dict[str, int], wall: float) -> dict[str, Any]:
    return {"sleeps": size["sleeps"], "wall_s": round(wall, 4), "ms_per_sleep": round(wall * 1000 / size["sleeps"], 3)}


async def with_stall_limit(case: str, size: dict[str, int], poll_s: float) -> dict[str, Any]:
    async with asyncio.timeout(STALL_S):
        return await run_async(case, size, poll_s)


def main(argv: list[str]) -> None:
    args = runner_args(argv, __doc__.splitlines()[0])
    size = args.sizes
    db = Path(args.workdir) / f"dbos-{args.case}-{args.style}-{os.getpid()}.sqlite"
    DBOS(config={"name": "vs-dbos", "system_database_url": f"sqlite:///{db}", "log_level": "WARNING",
                 "notification_listener_polling_interval_sec": args.poll})
    DBOS.launch()
    try:
        if args.style == "sync":
            result = run_sync(args.case, size, args.poll)
        else:
            result = asyncio.run(with_stall_limit(args.case, size, args.poll))
    finally:
        DBOS.destroy()
    emit({"case": args.case, "side": f"dbos-{args.style}", "poll_s": args.poll, **result})


if __name__ == "__main__":
    main(sys.argv[1:])
