"""Sleeps (durations, sleep_until, limits), cancellation, nested steps and the change feed."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from executor import RunStatus, StepStatus, create_function
from executor.util.durations import parse_duration

from tests.helpers import run_of, until_step

pytestmark = pytest.mark.timeout(20)


@pytest.mark.parametrize("value, ms", [
    ("30s", 30_000), ("24h", 86_400_000), ("7d", 604_800_000), ("1h30m", 5_400_000), ("1w", 604_800_000),
    ("500ms", 500), (2500, 2500), (timedelta(minutes=2), 120_000), ("1.5s", 1500),
])
def test_duration_forms(value, ms):
    assert parse_duration(value) == ms


@pytest.mark.parametrize("bad", ["", "soon", "10 parsecs", "5x", -1, "1h-30m", True, None])
def test_bad_durations_say_which_forms_work(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


async def test_sleep_resumes_only_when_the_clock_reaches_it(make_executor, clock):
    @create_function(id="nap", trigger="go")
    async def nap(ctx):
        await ctx.step.sleep("wait-24h", "24h")
        return "awake"

    ex = await make_executor([nap])
    run = await run_of(ex, {"name": "go"})
    await until_step(ex, run.id, "wait-24h", StepStatus.SLEEPING)
    [step] = await ex.steps(run.id)
    assert step.due_at == clock.now_ms() + 86_400_000 and step.op == "sleep"
    clock.advance(86_400_000 - 1)
    await asyncio.sleep(0.05)
    assert (await ex.run(run.id)).status == RunStatus.RUNNING
    clock.advance(1)
    assert (await ex.wait_for_run(run.id, timeout=5)).output == "awake"



@pytest.mark.parametrize("when", [
    datetime(2026, 2, 2, 0, 0, tzinfo=timezone.utc),            # aware
    datetime(2026, 2, 2, 0, 0),                                  # naive = UTC
    "2026-02-02T00:00:00Z",                                      # ISO string
    "2026-02-02T01:00:00+01:00",                                 # ISO with offset
])
async def test_sleep_until_accepts_datetimes_and_iso_strings(make_executor, clock, when):
    @create_function(id="until", trigger="go")
    async def until(ctx):
        await ctx.step.sleep_until("wake", ctx.event.data["when"] if isinstance(when, str) else when)
        return "woke"

    clock.set(int(datetime(2026, 2, 1, tzinfo=timezone.utc).timestamp() * 1000))
    ex = await make_executor([until])
    run = await run_of(ex, {"name": "go", "data": {"when": when if isinstance(when, str) else None}})
    await until_step(ex, run.id, "wake", StepStatus.SLEEPING)
    [step] = await ex.steps(run.id)
    assert step.due_at == int(datetime(2026, 2, 2, tzinfo=timezone.utc).timestamp() * 1000)
    clock.advance(86_400_000)
    assert (await ex.wait_for_run(run.id, timeout=5)).output == "woke"


@pytest.mark.parametrize("checkpointing", [True, False])
async def test_sleep_until_the_past_continues_at_once(make_executor, checkpointing):
    @create_function(id="past", trigger="go", checkpointing=checkpointing)
    async def past(ctx):
        await ctx.step.sleep_until("xmas", "2020-12-25T09:00:00Z")
        await ctx.step.sleep("zero", 0)
        return "went on"

    ex = await make_executor([past])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert run.output == "went on"
    assert [s.status for s in await ex.steps(run.id)] == ["Completed", "Completed"]


@pytest.mark.parametrize("call", [
    lambda step: step.sleep("too-long", "367d"),
    lambda step: step.sleep_until("too-far", datetime.now(timezone.utc) + timedelta(days=400)),
    lambda step: step.sleep("nonsense", "tomorrow-ish"),
])
async def test_invalid_sleeps_fail_the_run_with_a_clear_message(make_executor, clock, call):
    clock.set(int(datetime.now(timezone.utc).timestamp() * 1000))

    @create_function(id="bad-sleep", trigger="go")
    async def bad_sleep(ctx):
        await call(ctx.step)

    ex = await make_executor([bad_sleep])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert run.status == RunStatus.FAILED and run.error["name"] == "StepInputError"
    assert "function 'bad-sleep'" in run.error["message"] and "step '" in run.error["message"]
    assert run.invocations == 1, "a step that can never work is not retried"


async def test_cancel_a_sleeping_run(make_executor, clock):
    after = []

    @create_function(id="sleepy", trigger="go")
    async def sleepy(ctx):
        await ctx.step.sleep("long", "7d")
        await ctx.step.run("after", after.append, 1)

    ex = await make_executor([sleepy])
    run = await run_of(ex, {"name": "go"})
    await until_step(ex, run.id, "long", StepStatus.SLEEPING)
    assert await ex.cancel(run.id) is True
    run = await ex.wait_for_run(run.id, timeout=5)
    assert run.status == RunStatus.CANCELLED and run.ended_at is not None
    clock.advance(8 * 86_400_000)
    await asyncio.sleep(0.05)
    assert after == [] and ex.pending() == []
    assert await ex.cancel(run.id) is False, "cancelling a finished run is a no-op"


async def test_cancel_stops_a_running_run_at_its_next_step_boundary(make_executor):
    entered, gate, reached = asyncio.Event(), asyncio.Event(), []

    async def slow():
        entered.set()
        await gate.wait()
        return "slow done"

    @create_function(id="busy", trigger="go")
    async def busy(ctx):
        await ctx.step.run("slow", slow)
        await ctx.step.run("next", reached.append, "next")

    ex = await make_executor([busy])
    run = await run_of(ex, {"name": "go"})
    # The handler itself says it runs: served by an Inngest app, the server hears of a step when it ends.
    await asyncio.wait_for(entered.wait(), 5)
    await ex.cancel(run.id)
    gate.set()
    run = await ex.wait_for_run(run.id, timeout=5)
    assert run.status == RunStatus.CANCELLED
    steps = {s.step_id: s for s in await ex.steps(run.id)}
    assert steps["slow"].output == "slow done", "the step in flight finishes and is kept"
    assert "next" not in steps and reached == []


async def test_nested_steps_are_refused(make_executor):
    @create_function(id="nested", trigger="go")
    async def nested(ctx):
        async def outer():
            return await ctx.step.run("inner", lambda: 1)
        await ctx.step.run("outer", outer)

    ex = await make_executor([nested])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert run.status == RunStatus.FAILED
    assert "nested steps are not supported" in run.error["message"].lower()     # inngest-py capitalises it


async def test_change_feed_reports_run_transitions_in_order(make_executor, driver):
    @create_function(id="feed", trigger="go")
    async def feed(ctx):
        await ctx.step.run("one", lambda: 1)
        return 1

    ex = await make_executor([feed])
    with ex.subscribe() as sub:
        run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
        changes = []
        async with asyncio.timeout(5):
            while not any(c.kind == "run" and c.status == "Completed" for c in changes):
                changes.extend(await sub.get_batch())
    run_statuses = [c.status for c in changes if c.kind == "run" and c.id == run.id]
    assert run_statuses[0] == "Queued" and run_statuses[-1] == "Completed"
    assert "Running" in run_statuses
    step_statuses = [c.status for c in changes if c.kind == "step"]
    # Served by an Inngest app, a step is reported when it ends: the protocol has no "started".
    assert step_statuses == (["Running", "Completed"] if driver == "local" else ["Completed"])
    assert changes[0].kind == "event"
