"""Flow control survives a restart: a debounce or a batch in flight, a throttle's state, runs queued
behind a concurrency limit, a singleton holder and start deadlines all pick up where they were."""

from __future__ import annotations

import asyncio

import pytest

from executor import (Batch, Concurrency, Debounce, RunStatus, Singleton, Throttle, Timeouts, create_function)
from executor.testing import run_all_to_end, settle

from tests.helpers import eventually

pytestmark = pytest.mark.timeout(30)


async def test_a_restart_mid_debounce_keeps_the_debounce(make_executor, clock, tmp_path):
    @create_function(id="reindex", trigger="doc/edited", debounce=Debounce(period="30s", key="event.data.doc"))
    async def reindex(ctx):
        return ctx.event.data["rev"]

    db = str(tmp_path / "state.db")
    ex = await make_executor([reindex], db=db)
    start = clock.now_ms()
    await ex.send({"name": "doc/edited", "data": {"doc": "d", "rev": 1}})
    clock.advance(10_000)
    await ex.send({"name": "doc/edited", "data": {"doc": "d", "rev": 2}})
    await settle(ex, clock)
    await ex.close()

    clock.advance(5_000)
    ex = await make_executor([reindex], db=db)
    [pending] = await ex.runs()
    assert pending.waiting_for.startswith("debouncing until ")
    await ex.send({"name": "doc/edited", "data": {"doc": "d", "rev": 3}})    # still the same debounce
    [run] = await run_all_to_end(ex, clock)
    assert run.id == pending.id and run.output == 3 and run.started_at - start == 15_000 + 30_000


async def test_a_restart_mid_batch_keeps_the_events_collected(make_executor, clock, tmp_path):
    @create_function(id="ingest", trigger="row", batch_events=Batch(max_size=4, timeout="1m"))
    async def ingest(ctx):
        return [e.data["i"] for e in ctx.events]

    db = str(tmp_path / "state.db")
    ex = await make_executor([ingest], db=db)
    await ex.send([{"name": "row", "data": {"i": i}} for i in range(2)])
    await settle(ex, clock)
    await ex.close()

    ex = await make_executor([ingest], db=db)
    [pending] = await ex.runs()
    assert pending.waiting_for.startswith("batching 2/4")
    await ex.send([{"name": "row", "data": {"i": i}} for i in range(2, 5)])
    runs = sorted(await run_all_to_end(ex, clock), key=lambda r: r.output)
    assert [r.output for r in runs] == [[0, 1, 2, 3], [4]]


async def test_throttle_state_and_throttled_runs_survive_a_restart(make_executor, clock, tmp_path):
    @create_function(id="api", trigger="call", throttle=Throttle(limit=1, period="1m", burst=0))
    async def api(ctx):
        return ctx.event.data["i"]

    db = str(tmp_path / "state.db")
    ex = await make_executor([api], db=db)
    start = clock.now_ms()
    await ex.send([{"name": "call", "data": {"i": i}} for i in range(3)])
    await settle(ex, clock)
    await ex.close()

    ex = await make_executor([api], db=db)
    runs = await run_all_to_end(ex, clock)
    assert sorted(r.started_at - start for r in runs) == [0, 60_000, 120_000]   # the first start still counts


async def test_runs_queued_behind_a_concurrency_limit_run_after_a_restart(make_executor, clock, tmp_path):
    release = asyncio.Event()

    @create_function(id="one-at-a-time", trigger="go", concurrency=[Concurrency(limit=1, key="event.data.k")])
    async def one(ctx):
        await ctx.step.run("a", release.wait)
        return ctx.event.data["n"]

    db = str(tmp_path / "state.db")
    ex = await make_executor([one], db=db)
    await ex.send([{"name": "go", "data": {"k": "x", "n": n}} for n in range(3)])

    async def held() -> bool:
        return sum(bool(r.waiting_for) for r in await ex.runs()) == 2

    await eventually(held)
    await ex.close()
    release.set()
    ex = await make_executor([one], db=db)
    runs = await run_all_to_end(ex, clock)
    assert sorted(r.output for r in runs) == [0, 1, 2] and {r.status for r in runs} == {RunStatus.COMPLETED}


async def test_a_singleton_holder_and_a_start_deadline_survive_a_restart(make_executor, clock, tmp_path):
    @create_function(id="single", trigger="go", singleton=Singleton(mode="skip"), timeouts=Timeouts(start="1m"))
    async def single(ctx):
        await ctx.step.sleep("nap", "1h")
        return ctx.event.data["n"]

    db = str(tmp_path / "state.db")
    ex = await make_executor([single], db=db)
    await ex.send({"name": "go", "data": {"n": 1}})
    await settle(ex, clock)
    await ex.close()

    ex = await make_executor([single], db=db)
    await ex.send({"name": "go", "data": {"n": 2}})
    runs = await run_all_to_end(ex, clock)
    assert sorted((r.status, r.output) for r in runs) == [(RunStatus.COMPLETED, 1), (RunStatus.SKIPPED, None)]
