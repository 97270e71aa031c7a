"""Flow control while runs execute: concurrency (steps, not runs), throttle, priority and timeouts,
in both execution modes (checkpointing and strict replay)."""

from __future__ import annotations

import asyncio
import collections

import pytest

from executor import (Concurrency, Priority, RunStatus, Throttle, Timeouts, create_function)
from executor.testing import run_all_to_end, settle

from tests.helpers import eventually, run_of

pytestmark = [pytest.mark.timeout(30), pytest.mark.parametrize("checkpointing", [True, False])]



async def _hold(entered: asyncio.Event, release: asyncio.Event) -> None:
    """A step that says it started (served, the server hears of a step only when it ends), then
    waits to be let go."""
    entered.set()
    await release.wait()


class Tracker:
    """Counts steps executing at once, per key and in all."""

    def __init__(self) -> None:
        self.now: collections.Counter[str] = collections.Counter()
        self.peak: collections.Counter[str] = collections.Counter()
        self.order: list[str] = []

    async def work(self, key: str, tag: str = "") -> str:
        self.order.append(tag or key)
        self.now[key] += 1
        self.now["*"] += 1
        self.peak[key] = max(self.peak[key], self.now[key])
        self.peak["*"] = max(self.peak["*"], self.now["*"])
        await asyncio.sleep(0.005)
        self.now[key] -= 1
        self.now["*"] -= 1
        return key


async def test_concurrency_per_key_bounds_steps_executing_at_once(make_executor, clock, checkpointing):
    t = Tracker()

    @create_function(id="sync-user", trigger="user/updated", checkpointing=checkpointing,
                     concurrency=[Concurrency(limit=1, key="event.data.userId")])
    async def sync_user(ctx):
        await ctx.step.run("fetch", t.work, ctx.event.data["userId"])
        return await ctx.step.run("store", t.work, ctx.event.data["userId"])

    ex = await make_executor([sync_user])
    await ex.send([{"name": "user/updated", "data": {"userId": u}} for u in ["u-1", "u-2", "u-3"] * 3])
    runs = await run_all_to_end(ex, clock)
    assert [r.status for r in runs] == [RunStatus.COMPLETED] * 9
    assert all(t.peak[u] == 1 for u in ("u-1", "u-2", "u-3"))
    assert t.peak["*"] > 1          # different users are not held back by each other


async def test_a_sleeping_run_holds_no_slot(make_executor, clock, checkpointing):
    t = Tracker()

    @create_function(id="slow", trigger="go", checkpointing=checkpointing, concurrency=1)
    async def slow(ctx):
        await ctx.step.run("a", t.work, "fn", f"a{ctx.event.data['i']}")
        await ctx.step.sleep("nap", "1h")
        await ctx.step.run("b", t.work, "fn", f"b{ctx.event.data['i']}")

    ex = await make_executor([slow])
    await ex.send([{"name": "go", "data": {"i": i}} for i in range(3)])
    await run_all_to_end(ex, clock)
    # Every run took its first step before any woke up: the sleepers held nothing.
    assert t.order == ["a0", "a1", "a2", "b0", "b1", "b2"] and t.peak["fn"] == 1


async def test_a_held_back_run_says_why_and_the_function_shows_its_slots(make_executor, clock, checkpointing, fid):
    entered, release = asyncio.Event(), asyncio.Event()

    @create_function(id="sync-user", trigger="user/updated", checkpointing=checkpointing,
                     concurrency=[Concurrency(limit=1, key="event.data.userId")])
    async def sync_user(ctx):
        await ctx.step.run("work", _hold, entered, release)

    ex = await make_executor([sync_user])
    await run_of(ex, {"name": "user/updated", "data": {"userId": "u-42"}})
    await asyncio.wait_for(entered.wait(), 5)     # (served, the server hears of a step when it ends)
    second = await run_of(ex, {"name": "user/updated", "data": {"userId": "u-42"}})

    async def held() -> bool:
        return (await ex.run(second.id)).waiting_for == "queued: concurrency 1/1 for userId=u-42"

    await eventually(held)
    assert [r.waiting_for for r in await ex.runs() if r.id == second.id] == ["queued: concurrency 1/1 for userId=u-42"]
    usage = await ex.flow(fid("sync-user"))
    assert usage["concurrency"] == [{"key": "userId=u-42", "scope": "fn", "in_use": 1, "limit": 1, "waiting": 1}]
    assert usage["queued"] == 1
    release.set()
    runs = await run_all_to_end(ex, clock)
    assert {r.status for r in runs} == {RunStatus.COMPLETED} and all(r.waiting_for is None for r in runs)
    assert (await ex.flow(fid("sync-user")))["concurrency"] == []


async def test_two_limits_both_hold_and_env_scope_is_shared_between_functions(make_executor, clock, checkpointing):
    t = Tracker()
    shared = Concurrency(limit=1, scope="env", key="event.data.account")

    def make(fid: str):
        @create_function(id=fid, trigger=fid, checkpointing=checkpointing,
                         concurrency=[Concurrency(limit=2), shared])
        async def fn(ctx):
            await ctx.step.run("one", t.work, ctx.event.data["account"])
            await ctx.step.run("two", t.work, f"{fid}")
        return fn

    ex = await make_executor([make("a"), make("b")])
    await ex.send([{"name": name, "data": {"account": acc}} for name in ("a", "b") for acc in ("x", "y", "x", "y")])
    runs = await run_all_to_end(ex, clock)
    assert len(runs) == 8 and {r.status for r in runs} == {RunStatus.COMPLETED}
    assert t.peak["x"] == 1 and t.peak["y"] == 1      # one step per account across both functions
    assert t.peak["a"] <= 2 and t.peak["b"] <= 2


async def test_throttle_spaces_starts_and_queues_the_rest(make_executor, clock, checkpointing):
    @create_function(id="api", trigger="call", checkpointing=checkpointing,
                     throttle=Throttle(limit=2, period="1m", burst=0, key="event.data.account"))
    async def api(ctx):
        return ctx.event.data["i"]

    ex = await make_executor([api])
    start = clock.now_ms()
    await ex.send([{"name": "call", "data": {"account": "a", "i": i}} for i in range(5)]
                  + [{"name": "call", "data": {"account": "b", "i": 9}}])
    await settle(ex, clock)
    waiting = sorted(r.waiting_for or "" for r in await ex.runs() if not r.finished)
    assert waiting[0].startswith("throttled until ") and waiting[0].endswith(" for account=a")
    assert waiting[1:] == ["throttled: queued behind earlier runs for account=a"] * 2
    runs = await run_all_to_end(ex, clock)
    assert [r.status for r in runs] == [RunStatus.COMPLETED] * 6     # none dropped
    starts = sorted(r.started_at - start for r in runs if r.output != 9)
    assert starts == [0, 0, 30_000, 60_000, 90_000]          # `limit` at once, then one every period/limit
    assert [r.started_at - start for r in runs if r.output == 9] == [0]   # another key is not held back


async def test_throttle_burst_lets_that_many_more_start_together(make_executor, clock, checkpointing, fid):
    @create_function(id="burst", trigger="go", checkpointing=checkpointing,
                     throttle=Throttle(limit=1, period="30s", burst=2))
    async def burst(ctx):
        return None

    @create_function(id="default", trigger="go", checkpointing=checkpointing,
                     throttle=Throttle(limit=2, period="30s"))
    async def default(ctx):
        return None

    ex = await make_executor([burst, default])
    start = clock.now_ms()
    await ex.send([{"name": "go"}] * 5)
    runs = await run_all_to_end(ex, clock)
    by_fn = {name: sorted(r.started_at - start for r in runs if r.function_id == fid(name))
             for name in ("burst", "default")}
    # limit + burst at once (Inngest's docs: limit 2, burst 1 starts three), then one every period/limit;
    # the default burst is inngest-py's, 1.
    assert by_fn == {"burst": [0, 0, 0, 30_000, 60_000], "default": [0, 0, 0, 15_000, 30_000]}


async def test_priority_moves_a_run_ahead_of_older_queued_runs(make_executor, clock, checkpointing):
    t = Tracker()
    entered, release = asyncio.Event(), asyncio.Event()

    @create_function(id="summaries", trigger="ask", checkpointing=checkpointing, concurrency=1,
                     priority=Priority(run="event.data.plan == 'enterprise' ? 120 : 0"))
    async def summaries(ctx):
        if ctx.event.data["i"] == 0:
            await ctx.step.run("first", _hold, entered, release)
        await ctx.step.run("work", t.work, "fn", str(ctx.event.data["i"]))

    ex = await make_executor([summaries])
    await run_of(ex, {"name": "ask", "data": {"i": 0, "plan": "free"}})
    await asyncio.wait_for(entered.wait(), 5)
    for i, plan in ((1, "free"), (2, "free"), (3, "enterprise")):
        clock.advance(1000)
        await ex.send({"name": "ask", "data": {"i": i, "plan": plan}})

    async def all_held() -> bool:
        return sum(bool(r.waiting_for) for r in await ex.runs()) == 3

    await eventually(all_held)
    release.set()
    await run_all_to_end(ex, clock)
    # (In strict replay run 0's second step is queued too, and run 3 goes ahead of it as well.)
    assert [i for i in t.order if i != "0"] == ["3", "1", "2"]


async def test_a_negative_priority_delays_the_start(make_executor, clock, checkpointing):
    @create_function(id="later", trigger="go", checkpointing=checkpointing, priority=Priority(run="-90"))
    async def later(ctx):
        return None

    ex = await make_executor([later])
    start = clock.now_ms()
    run = await run_of(ex, {"name": "go"})
    await settle(ex, clock)
    assert (await ex.run(run.id)).waiting_for.startswith("delayed by priority until ")
    [done] = await run_all_to_end(ex, clock)
    assert done.started_at - start == 90_000


async def test_timeouts_start_cancels_a_run_held_back_too_long(make_executor, clock, checkpointing):
    entered, release = asyncio.Event(), asyncio.Event()

    @create_function(id="busy", trigger="go", checkpointing=checkpointing, concurrency=1,
                     timeouts=Timeouts(start="10m"))
    async def busy(ctx):
        await ctx.step.run("hold", _hold, entered, release)

    ex = await make_executor([busy])
    first = await run_of(ex, {"name": "go"})
    await asyncio.wait_for(entered.wait(), 5)
    second = await run_of(ex, {"name": "go"})

    async def held() -> bool:
        return bool((await ex.run(second.id)).waiting_for)

    await eventually(held)
    clock.advance(10 * 60_000)

    async def cancelled() -> bool:
        return (await ex.run(second.id)).status == RunStatus.CANCELLED

    await eventually(cancelled)
    run = await ex.run(second.id)
    assert run.error["name"] == "FunctionTimeoutError" and "timeouts.start" in run.error["message"]
    release.set()
    assert (await ex.wait_for_run(first.id, timeout=5)).status == RunStatus.COMPLETED


async def test_timeouts_finish_cancels_a_run_that_lasts_too_long(make_executor, clock, checkpointing, fid):
    @create_function(id="long", trigger="go", checkpointing=checkpointing, timeouts=Timeouts(finish="1h"))
    async def long(ctx):
        await ctx.step.run("a", lambda: 1)
        await ctx.step.sleep("nap", "2h")
        return "done"

    @create_function(id="short", trigger="go", checkpointing=checkpointing, timeouts=Timeouts(finish="3h"))
    async def short(ctx):
        await ctx.step.sleep("nap", "2h")
        return "done"

    ex = await make_executor([long, short])
    await ex.send({"name": "go"})
    runs = {r.function_id: r for r in await run_all_to_end(ex, clock)}
    assert runs[fid("long")].status == RunStatus.CANCELLED and "timeouts.finish" in runs[fid("long")].error["message"]
    assert runs[fid("short")].status == RunStatus.COMPLETED and runs[fid("short")].output == "done"


async def test_runs_held_back_go_on_under_the_options_of_a_reloaded_function(make_executor, clock, checkpointing,
                                                                             reload_functions):
    release = asyncio.Event()

    def version(limit: int | None):
        @create_function(id="job", trigger="go", checkpointing=checkpointing, concurrency=limit)
        async def job(ctx):
            await ctx.step.run("work", release.wait)
            return ctx.event.data["n"]
        return job

    ex = await make_executor([version(1)])
    await ex.send([{"name": "go", "data": {"n": n}} for n in range(3)])

    async def held(count: int):
        async def check() -> bool:
            return sum(bool(r.waiting_for) for r in await ex.runs()) == count
        return check

    await eventually(await held(2))
    await reload_functions(ex, [version(None)])      # the limit is gone: nobody is left waiting for a slot
    await eventually(await held(0))
    release.set()
    runs = await run_all_to_end(ex, clock)
    assert sorted(r.output for r in runs) == [0, 1, 2]
