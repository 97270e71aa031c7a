"""Correctness under load (issue #13): group commit, handlers run in place or in threads and
parallel grouping must never run a step twice nor lose a run when many runs share the engine."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path
from typing import Any

import pytest

from executor import Executor, RealClock, RunStatus, create_function

RUNS, STEPS, CONCURRENCY = 2_000, 10, 64


@pytest.mark.timeout(300)
async def test_2000_runs_of_10_steps_64_at_a_time_run_every_step_exactly_once(tmp_path: Path) -> None:
    calls: collections.Counter[tuple[int, int]] = collections.Counter()

    def step(run: int, k: int) -> int:
        calls[(run, k)] += 1
        return run * STEPS + k

    @create_function(id="load", trigger="load/go")
    async def load(ctx: Any) -> int:
        total = 0
        for k in range(STEPS):
            total += await ctx.step.run(f"step-{k}", step, ctx.event.data["run"], k)
        return total

    ex = Executor(db=str(tmp_path / "load.db"), functions=[load], clock=RealClock(),
                  backoff=lambda attempt: 0, concurrency=CONCURRENCY)
    async with ex:
        with ex.subscribe(maxsize=10_000_000) as sub:
            routed = await ex.send_and_route([{"name": "load/go", "data": {"run": i}} for i in range(RUNS)])
            run_ids = {run_id for ids in routed.values() for run_id in ids}
            assert len(run_ids) == RUNS
            pending = set(run_ids)
            async with asyncio.timeout(280):
                while pending:
                    for change in await sub.get_batch():
                        if change.kind == "run" and RunStatus(change.status).finished:
                            pending.discard(change.run_id)
            assert not sub.overflowed
        # What the database holds, not only what the feed said.
        runs = [await ex.run(run_id) for run_id in run_ids]
        assert collections.Counter(r.status for r in runs) == {RunStatus.COMPLETED: RUNS}
        outputs = sorted(r.output for r in runs)
        assert outputs == sorted(sum(i * STEPS + k for k in range(STEPS)) for i in range(RUNS))
        for run_id in list(run_ids)[:200]:          # the memo of a sample, step by step
            steps = await ex.steps(run_id)
            assert [s.step_id for s in sorted(steps, key=lambda s: s.seq)] == [f"step-{k}" for k in range(STEPS)]
            assert all(s.status == "Completed" and s.attempts == 1 for s in steps)
    assert len(calls) == RUNS * STEPS
    assert set(calls.values()) == {1}, "a step ran more than once"
