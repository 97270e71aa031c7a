"""How long a concurrent ``GET /v1/runs`` waits while one hostile event routes (issue #14, item 1).

Starts ``durable-tui serve`` on a function file whose trigger expressions walk a list in the event,
sends one event with a long list, and meanwhile times ``GET /v1/runs`` every 10 ms. Prints one
JSON line per case: the slowest and median GET while the event was being handled, and how long
the event's POST took. ``--root DIR`` runs another checkout's code (e.g. the commit before the
budget) for a before/after comparison in one run::

    python benchmarks/bench_hostile_event.py
    git worktree add /tmp/base <commit> && python benchmarks/bench_hostile_event.py --root /tmp/base
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

# One file each: a file whose expression is refused at load does not load at all.
FUNCTIONS = {
    "linear.py": '''
from executor import TriggerEvent, create_function

@create_function(id="linear", trigger=TriggerEvent(event="bench/linear", expression="event.data.items.all(x, x >= 0)"))
async def linear(ctx):
    return 1
''',
    "quadratic.py": '''
from executor import TriggerEvent, create_function

@create_function(id="quadratic",
                 trigger=TriggerEvent(event="bench/quadratic", expression="event.data.items.all(x, x in event.data.items)"))
async def quadratic(ctx):
    return 1
''',
}

CASES = [("bench/linear", 5_000), ("bench/linear", 20_000), ("bench/quadratic", 5_000)]


async def start_server(root: Path, folder: Path) -> tuple[asyncio.subprocess.Process, str]:
    (folder / "fns").mkdir()
    for name, source in FUNCTIONS.items():
        (folder / "fns" / name).write_text(source)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console.cli", "serve", "fns", "--port", "0", "--db", ":memory:", cwd=folder,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(root)})
    banner = []
    async with asyncio.timeout(30):
        while line := (await proc.stdout.readline()).decode():
            banner.append(line.strip())
            if line.startswith("listening on "):
                return proc, line.split()[2]
    raise SystemExit("serve did not start:\n" + "\n".join(banner))


async def one_case(url: str, name: str, items: int) -> dict[str, object]:
    body = json.dumps({"name": name, "data": {"items": list(range(items))}}).encode()
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        await http.get("/v1/runs")   # warm the connection pool
        latencies: list[float] = []
        started = time.perf_counter()
        post = asyncio.create_task(http.post("/e/bench", content=body))
        while not post.done():
            t0 = time.perf_counter()
            await http.get("/v1/runs", params={"limit": 10})
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.01)
        reply = await post
        event_ms = (time.perf_counter() - started) * 1000
        event_id = reply.json()["ids"][0]
        event = (await http.get(f"/v1/events/{event_id}")).json()["data"]
        loaded = {f["id"] for f in (await http.get("/v1/functions")).json()["data"]}
    return {"case": name, "items": items, "function_loaded": name.split("/")[1] in loaded,
            "event_post_ms": round(event_ms, 1),
            "get_runs_max_ms": round(max(latencies) * 1000, 1),
            "get_runs_median_ms": round(statistics.median(latencies) * 1000, 1), "gets": len(latencies),
            "cut_off": bool(event.get("notes"))}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the checkout whose code runs the server (default: this one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        proc, url = await start_server(args.root.resolve(), Path(folder))
        try:
            for name, items in CASES:
                print(json.dumps({"root": str(args.root), **await one_case(url, name, items)}), flush=True)
        finally:
            proc.terminate()
            await proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
