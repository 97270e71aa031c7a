"""Hot reload latency: from a function file's write to its new version being live.

    python benchmarks/bench_reload.py [--saves 50] [--debounce 20,50,100] [--files 1,50]
                                      [--patterns write,rename]

For each combination, a temporary folder holds ``--files`` function files; one of them is saved
``--saves`` times with a new return value (so a new version), either written in place
(``write``) or written to a temp file and renamed over (``rename``, what many editors do). A
random pause of up to one debounce period before each save spreads the saves over the
watcher's polling phase. Latency is ``time.perf_counter()`` from just before the write to the
moment ``executor.set_functions`` returned with the new version (``ReloadResult.live_at``);
``detect`` is the part until the reload began (file watcher + debounce), ``load`` the reload
itself (re-importing every file in the folder). ``reloads`` counts reloads; one per save means
no save was split in two. Prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

# Benchmark this checkout, not whatever copy of the package happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from executor import Executor  # noqa: E402
from executor.drivers.local.reload import FunctionWatcher  # noqa: E402


def function_source(fn_id: str, value: int) -> str:
    return textwrap.dedent(f"""
        from executor import create_function

        @create_function(id={fn_id!r}, trigger="bench/{fn_id}")
        async def handler(ctx):
            await ctx.step.run("one", lambda: {value})
            return {value}
    """).lstrip()


def save(path: Path, text: str, pattern: str) -> None:
    if pattern == "write":
        path.write_text(text)
    else:
        temp = path.with_name(f".{path.name}.tmp~")
        temp.write_text(text)
        os.replace(temp, path)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def measure(saves: int, debounce_ms: int, files: int, pattern: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-reload-") as tmp:
        folder = Path(tmp)
        for n in range(1, files):
            (folder / f"other_{n:03d}.py").write_text(function_source(f"other-{n}", n))
        target = folder / "target.py"
        target.write_text(function_source("target", 0))
        async with Executor(":memory:") as ex:
            async with FunctionWatcher(ex, [folder], debounce_ms=debounce_ms) as watcher:
                first = watcher.generation
                latency, detect, load = [], [], []
                for i in range(1, saves + 1):
                    await asyncio.sleep(random.uniform(0, debounce_ms / 1000))
                    before = ex.functions["target"].version
                    generation = watcher.generation
                    t0 = time.perf_counter()
                    save(target, function_source("target", i), pattern)
                    result = await watcher.wait_for_reload(generation, path=target, timeout=10)
                    if ex.functions["target"].version == before or result.errors:
                        raise RuntimeError(f"save {i} did not make a new version live: {result.to_dict()}")
                    latency.append((result.live_at - t0) * 1000)
                    detect.append((result.started_at - t0) * 1000)
                    load.append(result.load_ms)
                # Let a straggling second reload for the last save show up before counting.
                try:
                    await watcher.wait_for_reload(timeout=3 * debounce_ms / 1000 + 0.2)
                except TimeoutError:
                    pass
                reloads = watcher.generation - first
    return {
        "bench": "reload_latency", "pattern": pattern, "debounce_ms": debounce_ms, "files": files, "saves": saves,
        "reloads": reloads,
        "median_ms": round(statistics.median(latency), 1), "p90_ms": round(percentile(latency, 0.9), 1),
        "min_ms": round(min(latency), 1), "max_ms": round(max(latency), 1),
        "detect_median_ms": round(statistics.median(detect), 1),
        "load_median_ms": round(statistics.median(load), 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=50)
    parser.add_argument("--debounce", default="20,50,100", help="comma-separated debounce_ms values")
    parser.add_argument("--files", default="1,50", help="comma-separated folder sizes (function files)")
    parser.add_argument("--patterns", default="write,rename", help="write and/or rename")
    args = parser.parse_args()
    for files in [int(x) for x in args.files.split(",")]:
        for debounce in [int(x) for x in args.debounce.split(",")]:
            for pattern in args.patterns.split(","):
                print(json.dumps(await measure(args.saves, debounce, files, pattern)), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
