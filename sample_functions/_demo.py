"""Run one sample from the command line, on a virtual clock so a "7d" sleep takes no time:

    .venv/bin/python sample_functions/_demo.py demo/user.fetch '{"userId": 1}'

Loads this folder with ``load_paths``, sends the event, moves the clock to each sleep's end
as the run reaches it, and prints every run's steps and result. (The leading underscore keeps
the loader from treating this file as a function file.)
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from executor import Executor, RealClock, VirtualClock
from executor.loader import load_paths
from executor.state import Run


async def run_to_end(ex: Executor, clock: VirtualClock, run_id: str) -> Run:
    """Wait for the run to finish, jumping the clock to the next due item whenever the run
    has nothing left to do but wait (a sleep, a retry backoff)."""
    with ex.subscribe() as changes:
        while True:
            run = await ex.run(run_id)
            assert run is not None
            if run.finished:
                return run
            due = [item["due_at"] for item in ex.pending() if item["run_id"] == run_id]
            if due and min(due) > clock.now_ms():
                clock.set(min(due))
            await changes.get_batch()


async def main(name: str, data: dict) -> None:
    loaded = load_paths([Path(__file__).parent])
    for error in loaded.errors:
        print(f"load error: {error.file}:{error.line}: {error.message}", file=sys.stderr)
    clock = VirtualClock(start_ms=RealClock().now_ms())  # starts now, then only moves when told
    async with Executor(":memory:", loaded.functions, clock=clock, backoff=lambda attempt: 1) as ex:
        started = await ex.send_and_route({"name": name, "data": data})
        run_ids = [run_id for ids in started.values() for run_id in ids]
        if not run_ids:
            print(f"no sample is triggered by {name!r}; see sample_functions/README.md", file=sys.stderr)
        for run_id in run_ids:
            run = await asyncio.wait_for(run_to_end(ex, clock, run_id), timeout=30)
            print(f"\n{run.function_id}: {run.status} after {run.invocations} invocation(s)")
            for step in await ex.steps(run_id):
                print(f"  {step.step_id:<28} {step.status:<10} {json.dumps(step.output)[:80]}")
            if run.error is not None:
                print(f"  error: {run.error['name']}: {run.error['message']}")
            else:
                print("  output:", json.dumps(run.output, indent=2))


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) == 3 else {}))
