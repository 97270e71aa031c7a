"""Run one sample from the command line, on a virtual clock so a "7d" sleep takes no time:

    .venv/bin/python sample_functions/_demo.py demo/user.fetch '{"userId": 1}'

Loads this folder with ``load_paths``, sends the event, moves the clock to the next due time
whenever every run is only waiting (a sleep's end, a wait's timeout), and prints the steps and
result of every run the event led to: invoked children and fan-out receivers too. Nobody sends
approvals or signals here, so ``wait_for_event`` and ``wait_for_signal`` take their timeouts.
(The leading underscore keeps the loader from treating this file as a function file.)
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from executor import Executor, RealClock, VirtualClock, load_paths
from executor.testing import run_all_to_end


async def main(name: str, data: dict) -> None:
    loaded = load_paths([Path(__file__).parent])
    for error in loaded.errors:
        print(f"load error: {error.describe()}", file=sys.stderr)
    clock = VirtualClock(start_ms=RealClock().now_ms())  # starts now, then only moves when told
    async with Executor(":memory:", loaded.functions, clock=clock, backoff=lambda attempt: 1) as ex:
        started = await ex.send_and_route({"name": name, "data": data})
        if not any(started.values()):
            print(f"no sample is triggered by {name!r}; see sample_functions/README.md", file=sys.stderr)
            return
        for run in await run_all_to_end(ex, clock, timeout=30):
            print(f"\n{run.function_id}: {run.status} after {run.invocations} invocation(s)")
            for step in await ex.steps(run.id):
                print(f"  {step.step_id:<28} {step.status:<10} {json.dumps(step.output)[:80]}")
            if run.error is not None:
                print(f"  error: {run.error['name']}: {run.error['message']}")
            else:
                print("  output:", json.dumps(run.output, indent=2))


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) == 3 else {}))
