"""What the HTTP driver costs per step: one run of N trivial steps served by an inngest-py app (one
request per step) against the same function run by the local driver.

    python benchmarks/bench_http_driver.py [--steps N] [--repeat R]

Prints one JSON object per line: machine info first, then one line per scenario with the median
(and fastest) wall time of R runs and the cost per step, then the ratios:

  local/replay         our SDK with ``checkpointing=False``: one invocation per step, the body
                       replayed from the top each time (the same shape of work as the HTTP case)
  local/checkpointing  our SDK's default: the steps run back to back in one invocation
  http/inngest-py      the app in ``http_app.py``, in its own process (inngest==0.5.19 on FastAPI and
                       uvicorn), synced by a PUT, each step one POST from the HTTP driver whose body
                       carries every earlier step's result (so request size grows with the run);
                       ``app_ms_per_request`` is the app's own time per request (its handler, as it
                       measures it), ``outside_app_ms_per_step`` the rest: our driver and engine, both
                       HTTP stacks (httpx here, uvicorn there) and the loopback; ``bare_post_ms`` is
                       one POST to a trivial endpoint of the same app, i.e. HTTP alone

The executor is on a database file with the real clock, as ``durable-tui serve`` runs it; the
server and the app share this machine, so the numbers include the app's own time. Compare the
ratios printed in one run, not absolute times across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench_engine import emit, finished_run, steps_function, until_finished
from executor import Executor, RealClock
from executor.service.api import create_app
from executor.service.server import ApiServer, bind

HERE = Path(__file__).resolve().parent
APP_START_TIMEOUT_S = 30


def open_executor(db: Path, functions: list[Any]) -> Executor:
    return Executor(db=str(db), functions=functions, clock=RealClock(), backoff=lambda attempt: 0)


async def one_run(ex: Executor, name: str, steps: int) -> tuple[float, int]:
    """Start one run, wait for it on the change feed; its wall time and recorded invocations."""
    with ex.subscribe(maxsize=1_000_000) as sub:
        t0 = time.perf_counter()
        started = await ex.send_and_route({"name": name, "data": {"steps": steps}})
        [run_id] = [r for ids in started.values() for r in ids]
        await until_finished(sub, [run_id])
        wall = time.perf_counter() - t0
    run = await finished_run(ex, run_id)
    if run.output != sum(range(steps)):
        raise RuntimeError(f"run {run_id} returned {run.output!r}")
    return wall, run.invocations


async def bench_local(workdir: Path, mode: str, steps: int, repeat: int) -> dict[str, Any]:
    fn = steps_function("local", steps, checkpointing=mode == "checkpointing")
    async with open_executor(workdir / f"local-{mode}.db", [fn]) as ex:
        results = [await one_run(ex, "bench/local", steps) for _ in range(repeat)]
    return summary(f"local/{mode}", steps, results)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def bench_http(workdir: Path, steps: int, repeat: int) -> dict[str, Any]:
    async with open_executor(workdir / "http.db", []) as ex:
        server = await ApiServer(create_app(ex), bind("127.0.0.1", 0)).start()
        port = free_port()
        app = subprocess.Popen([sys.executable, str(HERE / "http_app.py"), str(port), server.url])
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                await sync_app(http, f"http://127.0.0.1:{port}/api/inngest", app)
                if "bench-steps" not in ex.specs():
                    raise RuntimeError(f"the app did not register its function: {ex.apps.list()}")
                results = [await one_run(ex, "bench/http", steps) for _ in range(repeat)]
                stats = (await http.get(f"http://127.0.0.1:{port}/stats")).json()
                bare_ms = await bare_post_ms(http, f"http://127.0.0.1:{port}/echo", steps)
        finally:
            app.terminate()
            app.wait(timeout=10)
            await server.stop()
    row = summary("http/inngest-py", steps, results)
    app_ms = stats["busy_s"] / stats["requests"] * 1000
    row["app_ms_per_request"] = round(app_ms, 3)
    row["bare_post_ms"] = round(bare_ms, 3)
    row["outside_app_ms_per_step"] = round((sum(w for w, _ in results) * 1000 - stats["busy_s"] * 1000)
                                      / (steps * len(results)), 3)
    return row


async def sync_app(http: httpx.AsyncClient, url: str, app: subprocess.Popen[bytes]) -> None:
    """PUT to the app once it answers (it then registers with our server)."""
    async with asyncio.timeout(APP_START_TIMEOUT_S):
        while True:
            if app.poll() is not None:
                raise RuntimeError(f"the benchmark app exited with {app.returncode}")
            try:
                reply = await http.put(url)
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    if reply.status_code != 200 or not reply.json().get("ok"):
        raise RuntimeError(f"sync failed: {reply.status_code} {reply.text}")


async def bare_post_ms(http: httpx.AsyncClient, url: str, count: int) -> float:
    """The median time of a POST to a trivial endpoint: what any HTTP request costs here."""
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        (await http.post(url, content=b'{"steps": {}}')).raise_for_status()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def summary(scenario: str, steps: int, results: list[tuple[float, int]]) -> dict[str, Any]:
    walls = [wall for wall, _ in results]
    median = statistics.median(walls)
    return {"bench": scenario, "steps": steps, "runs": len(walls), "wall_s": round(median, 4),
            "fastest_s": round(min(walls), 4), "per_step_ms": round(median / steps * 1000, 3),
            "steps_per_s": round(steps / median, 1), "invocations": results[0][1]}


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="steps in the run (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario; the median is reported")
    args = parser.parse_args(argv)
    emit({"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                      "sqlite": sqlite3.sqlite_version}, "steps": args.steps, "repeat": args.repeat})
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        workdir = Path(tmp)
        rows = {}
        for mode in ("replay", "checkpointing"):
            rows[mode] = await bench_local(workdir, mode, args.steps, args.repeat)
            emit(rows[mode])
        rows["http"] = await bench_http(workdir, args.steps, args.repeat)
        emit(rows["http"])
    http_ms = rows["http"]["per_step_ms"]
    emit({"bench": "ratio", "steps": args.steps,
          "http_vs_local_replay": round(http_ms / rows["replay"]["per_step_ms"], 2),
          "http_vs_local_checkpointing": round(http_ms / rows["checkpointing"]["per_step_ms"], 2),
          "http_overhead_per_step_ms": round(http_ms - rows["replay"]["per_step_ms"], 3)})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
