"""The process ``test_crash_flow.py`` SIGKILLs with a debounce and a batch in flight.

Usage: ``crash_flow_child.py DB PHASE``

Phase ``first`` sends, for each of ``KEYS`` keys, ``PER_KEY`` events to a debounced function and
``PER_KEY`` events to a batched one (both waiting far longer than the test takes), prints ``sent``
and waits to be killed. Phase ``again`` starts on the same database, sends one more event per key to
each function (the debounce must give its run this last event; the batch must add it), shortens
nothing, and waits for every run to finish; it exits 0 when all completed.

This file is a script, not a test module: pytest does not collect it (no ``test_`` prefix).
"""

from __future__ import annotations

import asyncio
import sys
import time

from executor import Batch, Debounce, Executor, RealClock, create_function

KEYS = 5
PER_KEY = 4
DEBOUNCE = "crash/edited"
BATCH = "crash/row"
WAIT_S = 60


@create_function(id="debounced", trigger=DEBOUNCE, debounce=Debounce(period="5s", key="event.data.key"))
async def debounced(ctx):
    return await ctx.step.run("seen", lambda: {"key": ctx.event.data["key"], "n": ctx.event.data["n"]})


@create_function(id="batched", trigger=BATCH,
                 batch_events=Batch(max_size=PER_KEY * 2 + 1, timeout="8s", key="event.data.key"))
async def batched(ctx):
    return await ctx.step.run("rows", lambda: sorted(e.data["n"] for e in ctx.events))


def events(n_values: range) -> list[dict]:
    return [{"name": name, "data": {"key": f"k{k}", "n": n}} for n in n_values for k in range(KEYS)
            for name in (DEBOUNCE, BATCH)]


async def main(db: str, phase: str) -> int:
    async with Executor(db=db, functions=[debounced, batched], clock=RealClock()) as ex:
        if phase == "first":
            await ex.send(events(range(PER_KEY)))
            print("sent", flush=True)
            await asyncio.sleep(WAIT_S)      # killed long before this ends
            return 1
        await ex.send(events(range(PER_KEY, PER_KEY + 1)))
        deadline = time.monotonic() + WAIT_S
        while True:
            runs = await ex.runs(limit=10_000)
            if all(run.finished for run in runs):
                break
            if time.monotonic() > deadline:
                print(f"unfinished: {[(r.function_id, r.status, r.waiting_for) for r in runs if not r.finished]}")
                return 1
            await asyncio.sleep(0.1)
    print(f"finished {len(runs)} runs", flush=True)
    return 0 if {run.status for run in runs} == {"Completed"} else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
