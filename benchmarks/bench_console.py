"""The console under load: 10,000 runs in the database, then 50 new runs a second.

    python benchmarks/bench_console.py [--runs 10000] [--rate 50] [--seconds 10] [--size 120x40]

Seeds a temporary database with ``--runs`` finished runs, opens the real console on it (headless,
embedded executor in its own thread, real clock), then starts ``--rate`` runs a second (each:
two steps and a short sleep) for ``--seconds`` while it measures, on the UI's side:

- startup: until the Runs view shows its first window of rows;
- UI event-loop lag: a 10 ms ticker's overshoot (what a keystroke waits before it is handled);
- key round trip: a ``down``/``up`` keystroke until the row under the new cursor position has
  been drawn again (keystroke → screen), ten a second;
- freshness: from a run's creation until its row is on screen, and from a run's completing
  commit until its row says so (sampled every 10 ms);
- memory: the process's resident set at the end (and its peak);
- refresh cost: time per coalesced refresh; rows added / patched in place / left alone, and
  table rebuilds (there should be none);
- switching to the Functions (counts over every run) and Events views with that much data.

Prints one JSON object per line; compare ratios between runs on one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

# Benchmark this checkout, not whatever copy of the package happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The console package first, as the launchers import it: it sets Textual's frame rate.
import console  # noqa: E402, F401, I001

from textual import events  # noqa: E402

from console.app import DurableConsole  # noqa: E402
from console.backends.embedded import EmbeddedBackend  # noqa: E402
from console.screens.base import ViewScreen  # noqa: E402
from console.widgets.live_table import LiveTable  # noqa: E402
from executor import Context, Executor, create_function  # noqa: E402


@create_function(id="bench-seed", trigger="bench/seed")
async def seed(ctx: Context) -> int:
    return await ctx.step.run("one", lambda: 1)


@create_function(id="bench-live", trigger="bench/live")
async def live(ctx: Context) -> int:
    value = await ctx.step.run("fetch", lambda: ctx.event.data["n"])
    await ctx.step.sleep("settle", "200ms")
    return await ctx.step.run("store", lambda: value * 2)


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(values), "median": round(statistics.median(ordered), 2),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2), "max": round(ordered[-1], 2)}


async def seed_database(db: str, runs: int) -> float:
    started = time.perf_counter()
    async with Executor(db, [seed, live]) as ex:
        with ex.subscribe() as sub:
            for start in range(0, runs, 500):
                await ex.send([{"name": "bench/seed", "data": {"i": i}} for i in range(start, min(start + 500, runs))])
            done = 0
            while done < runs:
                done += sum(1 for c in await sub.get_batch() if c.kind == "run" and c.status == "Completed")
    return time.perf_counter() - started


class Probe:
    """Measurements taken from inside the running app."""

    def __init__(self) -> None:
        self.refresh_ms: list[float] = []
        self.rebuilds = 0
        self.rows: Counter[str] = Counter()
        self.refreshed: dict[ViewScreen, float] = {}
        self.lag_ms: list[float] = []
        self.fresh_ms: list[float] = []
        self.done_ms: list[float] = []
        self.keys_ms: list[float] = []
        #: When each table last drew each row with the cursor on it (``perf_counter``).
        self.cursor_drawn: dict[tuple[int, int], float] = {}

    def instrument(self) -> None:
        probe = self
        original = ViewScreen._drain

        async def timed_drain(view: ViewScreen) -> None:
            began = time.perf_counter()
            await original(view)
            probe.refresh_ms.append((time.perf_counter() - began) * 1000)
            probe.refreshed[view] = time.perf_counter()

        ViewScreen._drain = timed_drain  # type: ignore[method-assign]
        original_upsert = LiveTable.upsert

        def counted_upsert(table: LiveTable, key: str, cells: Any) -> bool:
            version = table._versions.get(key)
            added = original_upsert(table, key, cells)
            probe.rows["added" if added else "patched" if table._versions[key] != version else "unchanged"] += 1
            return added

        LiveTable.upsert = counted_upsert  # type: ignore[method-assign]
        original_set_columns = LiveTable.set_columns

        def counted_set_columns(table: LiveTable, columns: Any) -> bool:
            changed = original_set_columns(table, columns)
            probe.rebuilds += changed
            return changed

        LiveTable.set_columns = counted_set_columns  # type: ignore[method-assign]
        original_render_lines = LiveTable.render_lines

        def timed_render_lines(table: LiveTable, crop: Any) -> Any:
            # The lines the screen is about to show (a line may come from a cache without
            # render_line being called for it).
            strips = original_render_lines(table, crop)
            y = table.cursor_row + 1 - table.scroll_offset.y
            if y > 0 and crop.y <= y < crop.bottom:
                probe.cursor_drawn[(id(table), table.cursor_row)] = time.perf_counter()
            return strips

        LiveTable.render_lines = timed_render_lines  # type: ignore[method-assign]

    async def tick_lag(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            began = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lag_ms.append(max((time.perf_counter() - began) * 1000 - 10, 0))


async def key_round_trip(app: DurableConsole, table: LiveTable, key: str, probe: Probe) -> float:
    """A keystroke as the terminal delivers it, until the row the cursor moved to is drawn (ms)."""
    before = table.cursor_row
    began = time.perf_counter()
    app.post_message(events.Key(key, None))
    while table.cursor_row == before or probe.cursor_drawn.get((id(table), table.cursor_row), 0) < began:
        await asyncio.sleep(0.001)
    return (time.perf_counter() - began) * 1000


def rss_mb() -> tuple[float, float]:
    """The resident set now and at its peak, in MB (Linux)."""
    now = 0.0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
    return round(now, 1), round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def drive_load(backend: EmbeddedBackend, rate: int, seconds: float, sent: dict[str, float],
                     completed: dict[str, float]) -> int:
    """Start ``rate`` runs a second from the executor's own loop, recording when each started and
    when its completion was committed."""
    async def watch(ex: Executor) -> None:
        with ex.subscribe() as sub:
            while True:
                for change in await sub.get_batch():
                    if change.kind == "run" and change.status == "Completed" and change.id in sent:
                        completed[change.id] = time.perf_counter()

    async def produce(ex: Executor) -> None:
        watcher = asyncio.create_task(watch(ex))
        interval = 1 / rate
        began = time.perf_counter()
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, began + n * interval - time.perf_counter()))
            routed = await ex.send_and_route({"name": "bench/live", "data": {"n": n}})
            for run_ids in routed.values():
                for run_id in run_ids:
                    sent[run_id] = time.perf_counter()
        await asyncio.sleep(1.0)           # the last runs complete
        watcher.cancel()

    await backend.on_executor(produce)
    return len(sent)


async def measure(db: str, args: argparse.Namespace) -> None:
    probe = Probe()
    probe.instrument()
    backend = EmbeddedBackend(db, [seed, live])
    app = DurableConsole(backend)
    width, height = (int(x) for x in args.size.split("x"))
    async with app.run_test(size=(width, height)) as pilot:
        began = time.perf_counter()
        while not (isinstance(app.screen, ViewScreen) and app.screen.query(LiveTable)
                   and app.screen.query_one(LiveTable).row_count >= min(args.runs, 1000)):
            await pilot.pause(0.01)
        emit(measure="startup_until_rows_shown", seconds=round(time.perf_counter() - began, 3),
             rows=app.screen.query_one(LiveTable).row_count, runs_in_db=args.runs)
        await pilot.pause(0.5)
        probe.refresh_ms.clear()
        probe.rebuilds = 0
        probe.rows.clear()

        stop = asyncio.Event()
        sent: dict[str, float] = {}
        completed: dict[str, float] = {}
        table = app.screen.query_one(LiveTable)
        lag = asyncio.create_task(probe.tick_lag(stop))
        fresh = asyncio.create_task(watch_rows(table, sent, completed, probe, stop))
        load = asyncio.create_task(drive_load(backend, args.rate, args.seconds, sent, completed))
        key = "down"
        table.cursor_row = 5
        while not load.done():
            probe.keys_ms.append(await key_round_trip(app, table, key, probe))
            key = "up" if key == "down" else "down"
            await asyncio.sleep(0.1)
        started_runs = await load
        await asyncio.sleep(1.0)
        stop.set()
        await lag
        await fresh
        emit(measure="live_load", runs_started=started_runs, rate_per_s=args.rate, seconds=args.seconds,
             rows_on_screen=table.row_count, table_rebuilds=probe.rebuilds, rows=dict(probe.rows))
        emit(measure="ui_loop_lag_ms", **summary(probe.lag_ms))
        emit(measure="key_round_trip_ms", note="keystroke -> the row under the cursor drawn", **summary(probe.keys_ms))
        emit(measure="freshness_ms", note="run created -> its row on screen", **summary(probe.fresh_ms))
        emit(measure="commit_to_row_ms", note="completion committed -> its row says Completed",
             **summary(probe.done_ms))
        emit(measure="refresh_ms", note="one coalesced refresh of the visible view", **summary(probe.refresh_ms))

        for key, name in (("1", "functions"), ("4", "events"), ("3", "waits"), ("2", "runs")):
            began = time.perf_counter()
            app.post_message(events.Key(key, None))
            while probe.refreshed.get(app.screen, 0) < began:   # type: ignore[call-overload]
                await asyncio.sleep(0.002)
            emit(measure="switch_view_ms", view=name, note="key press until the view's first refresh is done",
                 ms=round((time.perf_counter() - began) * 1000, 1))
        await pilot.pause(0.2)   # let the last key's handling finish before the app shuts down
        now, peak = rss_mb()
        emit(measure="rss_mb", now=now, peak=peak, note="the whole process: console, executor and its database")


async def watch_rows(table: LiveTable, sent: dict[str, float], completed: dict[str, float], probe: Probe,
                     stop: asyncio.Event) -> None:
    """Every 10 ms: which new runs have a row, which completed ones say so."""
    seen: set[str] = set()
    done: set[str] = set()
    while not stop.is_set():
        now = time.perf_counter()
        # Only the runs not seen yet: the probe itself must not load the loop it measures.
        for run_id in [r for r in list(sent) if r not in seen and table.has_row(r)]:
            seen.add(run_id)
            probe.fresh_ms.append((now - sent[run_id]) * 1000)
        for run_id in [r for r in list(completed) if r not in done and table.has_row(r)]:
            if "Completed" in table.row_cells(run_id)["status"].plain:
                done.add(run_id)
                probe.done_ms.append((now - completed[run_id]) * 1000)
        await asyncio.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000, help="finished runs to seed")
    parser.add_argument("--rate", type=int, default=50, help="new runs per second during the live phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the live phase")
    parser.add_argument("--size", default="120x40", help="terminal size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "bench.db")
        emit(measure="seed", runs=args.runs, seconds=round(asyncio.run(seed_database(db, args.runs)), 2))
        asyncio.run(measure(db, args))


if __name__ == "__main__":
    main()
