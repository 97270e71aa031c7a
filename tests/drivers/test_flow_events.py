"""Flow control where events become runs: rate limit, idempotency, debounce, batching and singleton,
in both execution modes (checkpointing and strict replay)."""

from __future__ import annotations

import pytest

from executor import (Batch, Debounce, RateLimit, RunStatus, Singleton, StepStatus, create_function)
from executor.testing import run_all_to_end, run_to_end, settle

from tests.helpers import eventually, run_of, until_step

pytestmark = [pytest.mark.timeout(30), pytest.mark.parametrize("checkpointing", [True, False])]


async def test_rate_limit_skips_and_records_the_runs_over_the_limit(make_executor, clock, checkpointing):
    @create_function(id="sync", trigger="company/updated", checkpointing=checkpointing,
                     rate_limit=RateLimit(limit=1, period="4h", key="event.data.company"))
    async def sync(ctx):
        return ctx.event.data["company"]

    ex = await make_executor([sync])
    routed = await ex.send_and_route([{"name": "company/updated", "data": {"company": c}} for c in "aab"])
    assert all(len(ids) == 1 for ids in routed.values())      # every event is accounted for by a run
    runs = await run_all_to_end(ex, clock)
    assert sorted(r.status for r in runs) == [RunStatus.COMPLETED, RunStatus.COMPLETED, RunStatus.SKIPPED]
    [skipped] = await ex.runs(status=RunStatus.SKIPPED)
    assert skipped.skip_reason == "rate limited (company=a)" and skipped.started_at is None
    assert skipped.ended_at is not None and skipped.output is None
    clock.advance(4 * 3600_000)
    again = await run_of(ex, {"name": "company/updated", "data": {"company": "a"}})
    assert (await run_to_end(ex, clock, again.id)).status == RunStatus.COMPLETED


async def test_idempotency_key_starts_one_run_per_value_a_day(make_executor, clock, checkpointing):
    @create_function(id="charge", trigger="order/placed", checkpointing=checkpointing,
                     idempotency="event.data.orderId")
    async def charge(ctx):
        return ctx.event.data["orderId"]

    ex = await make_executor([charge])
    routed = await ex.send_and_route([{"name": "order/placed", "data": {"orderId": o}} for o in ("o-1", "o-1", "o-2")])
    assert [len(ids) for ids in routed.values()] == [1, 0, 1]
    second_event = await ex.event(list(routed)[1])
    assert "idempotency key orderId=o-1 already started a run" in second_event.notes[0]
    await run_all_to_end(ex, clock)
    clock.advance(24 * 3600_000)
    assert [len(ids) for ids in (await ex.send_and_route({"name": "order/placed", "data": {"orderId": "o-1"}})).values()] == [1]


async def test_debounce_starts_one_run_after_the_last_event_with_it(make_executor, clock, checkpointing):
    @create_function(id="reindex", trigger="doc/edited", checkpointing=checkpointing,
                     debounce=Debounce(period="30s", key="event.data.doc"))
    async def reindex(ctx):
        return await ctx.step.run("index", lambda: ctx.event.data["rev"])

    ex = await make_executor([reindex])
    start = clock.now_ms()
    ids = set()
    for rev in range(3):
        for ids_ in (await ex.send_and_route({"name": "doc/edited", "data": {"doc": "d1", "rev": rev}})).values():
            ids.update(ids_)
        clock.advance(10_000)
    other = await run_of(ex, {"name": "doc/edited", "data": {"doc": "d2", "rev": 7}})
    [pending] = ids
    run = await ex.run(pending)
    assert run.status == RunStatus.QUEUED and run.waiting_for.startswith("debouncing until ")
    runs = {r.id: r for r in await run_all_to_end(ex, clock)}
    assert len(runs) == 2 and runs[pending].output == 2 and runs[other.id].output == 7
    assert runs[pending].started_at - start == 20_000 + 30_000      # 30 s after the last event


async def test_events_debounced_in_one_send_start_one_run(make_executor, clock, checkpointing):
    @create_function(id="burst", trigger="hook", checkpointing=checkpointing, debounce=Debounce(period="2s"))
    async def burst(ctx):
        return ctx.event.data["n"]

    ex = await make_executor([burst])
    routed = await ex.send_and_route([{"name": "hook", "data": {"n": n}} for n in range(5)])
    assert len({run_id for ids in routed.values() for run_id in ids}) == 1
    [run] = await run_all_to_end(ex, clock)
    assert run.output == 4 and ex.pending() == []


async def test_debounce_timeout_caps_the_delay(make_executor, clock, checkpointing):
    @create_function(id="cap", trigger="tick", checkpointing=checkpointing,
                     debounce=Debounce(period="30s", timeout="1m"))
    async def cap(ctx):
        return ctx.event.data["i"]

    ex = await make_executor([cap])
    start = clock.now_ms()
    for i in range(8):                      # an event every 20 s would push the start back forever
        await ex.send({"name": "tick", "data": {"i": i}})
        clock.advance(20_000)
        await settle(ex, clock)
    runs = await run_all_to_end(ex, clock)
    # Each debounce ends 1 min after its first event at the latest, with the last event it got.
    assert sorted((r.started_at - start, r.output) for r in runs) == [(60_000, 2), (120_000, 5), (170_000, 7)]


async def test_an_event_older_than_the_debounced_one_is_ignored(make_executor, clock, checkpointing):
    @create_function(id="late", trigger="e", checkpointing=checkpointing, debounce=Debounce(period="10s"))
    async def late(ctx):
        return ctx.event.data["v"]

    ex = await make_executor([late])
    now = clock.now_ms()
    await ex.send({"name": "e", "data": {"v": "new"}, "ts": now})
    await ex.send({"name": "e", "data": {"v": "old"}, "ts": now - 60_000})
    [run] = await run_all_to_end(ex, clock)
    assert run.output == "new"


async def test_batch_runs_once_with_up_to_max_size_events(make_executor, clock, checkpointing):
    @create_function(id="ingest", trigger="row", checkpointing=checkpointing,
                     batch_events=Batch(max_size=3, timeout="5s", key="event.data.account"))
    async def ingest(ctx):
        rows = await ctx.step.run("rows", lambda: [e.data["i"] for e in ctx.events])
        return {"rows": rows, "first": ctx.event.data["i"]}

    ex = await make_executor([ingest])
    start = clock.now_ms()
    await ex.send([{"name": "row", "data": {"account": "a", "i": i}} for i in range(4)]
                  + [{"name": "row", "data": {"account": "b", "i": 10}}])
    await settle(ex, clock)
    waiting = sorted(r.waiting_for for r in await ex.runs() if r.status == RunStatus.QUEUED)
    assert [w.split(" until ")[0] for w in waiting] == ["batching 1/3", "batching 1/3"]
    runs = await run_all_to_end(ex, clock)
    outputs = sorted((r.output["rows"], r.started_at - start) for r in runs)
    assert outputs == [([0, 1, 2], 0), ([3], 5000), ([10], 5000)]     # full at once, the rest at the timeout
    assert all(r.output["first"] == r.output["rows"][0] for r in runs)
    assert ex.pending() == []          # no start item left behind by the ones a full batch replaced


async def test_batch_if_runs_the_other_events_alone(make_executor, clock, checkpointing):
    @create_function(id="cond", trigger="row", checkpointing=checkpointing,
                     batch_events=Batch(max_size=10, timeout="5s", if_exp="event.data.bulk == true"))
    async def cond(ctx):
        return len(ctx.events)

    ex = await make_executor([cond])
    await ex.send([{"name": "row", "data": {"bulk": b}} for b in (True, False, True, False)])
    runs = await run_all_to_end(ex, clock)
    assert sorted(r.output for r in runs) == [1, 1, 2]


async def test_singleton_skip_skips_while_one_runs(make_executor, clock, checkpointing):
    @create_function(id="one", trigger="go", checkpointing=checkpointing,
                     singleton=Singleton(key="event.data.user", mode="skip"))
    async def one(ctx):
        await ctx.step.sleep("nap", "1m")
        return ctx.event.data["n"]

    ex = await make_executor([one])
    await ex.send([{"name": "go", "data": {"user": "u", "n": n}} for n in (1, 2)] + [{"name": "go", "data": {"user": "v", "n": 3}}])
    runs = await run_all_to_end(ex, clock)
    assert sorted((r.status, r.output) for r in runs) == [
        (RunStatus.COMPLETED, 1), (RunStatus.COMPLETED, 3), (RunStatus.SKIPPED, None)]
    [skipped] = [r for r in runs if r.status == RunStatus.SKIPPED]
    assert skipped.skip_reason.startswith("singleton (user=u) while run ")
    again = await run_of(ex, {"name": "go", "data": {"user": "u", "n": 4}})   # the first one has finished
    assert (await run_to_end(ex, clock, again.id)).output == 4


async def test_singleton_cancel_replaces_the_running_one(make_executor, clock, checkpointing):
    @create_function(id="latest", trigger="go", checkpointing=checkpointing, singleton=Singleton(mode="cancel"))
    async def latest(ctx):
        await ctx.step.sleep("nap", "1m")
        return ctx.event.data["n"]

    ex = await make_executor([latest])
    first = await run_of(ex, {"name": "go", "data": {"n": 1}})
    await until_step(ex, first.id, "nap", StepStatus.SLEEPING)
    second = await run_of(ex, {"name": "go", "data": {"n": 2}})
    runs = {r.id: r for r in await run_all_to_end(ex, clock)}
    assert runs[first.id].status == RunStatus.CANCELLED
    assert runs[second.id].status == RunStatus.COMPLETED and runs[second.id].output == 2


async def test_invoking_a_singleton_that_skips_fails_the_step_at_once(make_executor, clock, checkpointing, fid):
    @create_function(id="limited", checkpointing=checkpointing, singleton=Singleton(mode="skip"))
    async def limited(ctx):
        await ctx.step.sleep("hold", "1h")
        return "ran"

    @create_function(id="caller", trigger="call", checkpointing=checkpointing)
    async def caller(ctx):
        try:
            return await ctx.step.invoke("child", function=limited)
        except Exception as exc:      # StepError: the child was skipped
            return f"refused: {exc}"

    ex = await make_executor([limited, caller])
    holder = await ex.invoke(fid("limited"))
    await until_step(ex, holder.id, "hold", StepStatus.SLEEPING)
    run = await run_of(ex, {"name": "call"})

    async def done() -> bool:
        return (await ex.run(run.id)).finished

    await eventually(done)
    result = await ex.run(run.id)
    assert result.output.startswith("refused: ") and "was skipped (singleton" in result.output
    assert len(await ex.runs(function_id=fid("limited"), status=RunStatus.SKIPPED)) == 1
