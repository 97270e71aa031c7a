"""The process ``test_crash.py`` SIGKILLs: an executor working through many 5-step runs.

Usage: ``crash_child.py DB LOG [--send N] [--replay]``

Every step handler appends ``"{run_id} {step_id}"`` to LOG and fsyncs it before returning, so
a line in LOG proves the handler ran even if the process dies the next instant. With
``--send N`` the child first sends N events with fixed ids (``evt-0`` … ``evt-{N-1}``) so the
test can check that none was lost; without it the child only resumes what DB already holds.
Either way it then waits for every run in DB to finish and exits 0 if all completed.
``--replay`` selects strict replay mode (``checkpointing=False``); both modes must survive a kill.

This file is a script, not a test module: pytest does not collect it (no ``test_`` prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from executor import Executor, RealClock, create_function

STEPS = 5
EVENT_NAME = "crash/test"
#: Long enough per step that, with many runs in flight, a kill usually lands inside a handler.
STEP_WORK_S = 0.002
#: Far more than any test waits: a run that is not done by then is a failure, not slowness.
WAIT_S = 300
POLL_S = 0.1


def make_function(log_path: str, replay: bool):
    """The function under test. Step ``k`` returns ``i*10 + k``; the function sums them, so a
    wrong or missing memo after the restart shows up in the run's output."""
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def side_effect(run_id: str, step_id: str, value: int) -> int:
        time.sleep(STEP_WORK_S)
        # One write() on an O_APPEND descriptor: lines from concurrent handler threads never
        # interleave, and a kill leaves either the whole line or none of it.
        os.write(fd, f"{run_id} {step_id}\n".encode())
        os.fsync(fd)
        return value

    @create_function(id="crash-test", trigger=EVENT_NAME, checkpointing=not replay)
    async def crash_test(ctx):
        i = ctx.event.data["i"]
        total = 0
        for k in range(STEPS):
            total += await ctx.step.run(f"step-{k}", side_effect, ctx.run_id, f"step-{k}", i * 10 + k)
        return {"i": i, "total": total}

    return crash_test


async def wait_until_finished(ex: Executor) -> dict[str, int]:
    """Poll run statuses until none is queued or running; returns runs per status.

    One polling loop covers runs this process started and runs it resumed alike, and each
    change of the counts is printed so a failing test's output shows how far the child got.
    """
    deadline = time.monotonic() + WAIT_S
    last: dict[str, int] = {}
    while True:
        counts: dict[str, int] = {}
        for run in await ex.runs(limit=1_000_000):
            counts[run.status] = counts.get(run.status, 0) + 1
        if counts != last:
            print(f"progress {counts}", flush=True)
            last = counts
        if not counts.keys() & {"Queued", "Running"}:
            return counts
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs still unfinished after {WAIT_S}s: {counts}")
        await asyncio.sleep(POLL_S)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("log")
    parser.add_argument("--send", type=int, default=0, metavar="N", help="send N events first")
    parser.add_argument("--replay", action="store_true", help="strict replay mode (checkpointing=False)")
    parser.add_argument("--durability", choices=["normal", "full"], default="normal")
    args = parser.parse_args(argv)

    fn = make_function(args.log, args.replay)
    async with Executor(db=args.db, functions=[fn], clock=RealClock(), backoff=lambda attempt: 0.05,
                        durability=args.durability) as ex:
        if args.send:
            await ex.send([{"id": f"evt-{i}", "name": EVENT_NAME, "data": {"i": i}} for i in range(args.send)])
            print(f"sent {args.send}", flush=True)
        counts = await wait_until_finished(ex)
    print(f"finished {sum(counts.values())} runs: {counts}", flush=True)
    return 0 if set(counts) <= {"Completed"} else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
