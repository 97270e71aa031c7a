"""Our SDK's shortcuts for latency, on a real clock: a short sleep or a wait resolved soon goes on
in the live invocation (``engine.inplace``), and a step that succeeded commits with the function's
next op or its end (``Invocation.hold``). Each keeps what is guaranteed: the park is durable
before anything waits on it, and a step the function went on from is never run again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from executor import Executor, RealClock, RunStatus, create_function
from executor.engine.inplace import IN_PLACE_MS
from executor.records import StepStatus
from tests.helpers import run_of

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
async def started():
    """Start executors on a real clock (the shortcuts need time to pass by itself); all closed after."""
    made: list[Executor] = []

    async def start(functions: list[Any], db: str = ":memory:") -> Executor:
        ex = Executor(db=db, functions=functions, clock=RealClock(), backoff=lambda attempt: 0)
        made.append(await ex.start())
        return ex

    yield start
    for ex in made:
        await ex.close()


async def until_waiting(ex: Executor, run_id: str, kind: str) -> None:
    async with asyncio.timeout(5):
        while not any(w["kind"] == kind for w in await ex.waits(run_id)):
            await asyncio.sleep(0.001)


@create_function(id="napper", trigger="nap")
async def napper(ctx):
    first = await ctx.step.run("a", lambda: 1)
    await ctx.step.sleep("nap", ctx.event.data["ms"])
    return first + await ctx.step.run("b", lambda: 2)


@create_function(id="waiter", trigger="wait")
async def waiter(ctx):
    got = await ctx.step.wait_for_signal("w", signal=ctx.event.data["signal"], timeout="1h", on_conflict="fail")
    return got.data if got else None


async def test_a_short_sleep_ends_in_the_invocation_that_parked_it(started) -> None:
    ex = await started([napper])
    run = await ex.wait_for_run((await run_of(ex, {"name": "nap", "data": {"ms": 5}})).id, timeout=5)
    assert (run.status, run.output, run.invocations) == (RunStatus.COMPLETED, 3, 1)
    assert [(s.step_id, s.status) for s in await ex.steps(run.id)] == [
        ("a", StepStatus.COMPLETED), ("nap", StepStatus.COMPLETED), ("b", StepStatus.COMPLETED)]
    assert ex.pending() == [] and await ex.waits(run.id) == []     # the sleep's timer went with it


async def test_a_sleep_longer_than_the_in_place_window_ends_the_invocation(started) -> None:
    ex = await started([napper])
    run = await ex.wait_for_run((await run_of(ex, {"name": "nap", "data": {"ms": IN_PLACE_MS * 5}})).id,
                                timeout=5)
    assert (run.status, run.output, run.invocations) == (RunStatus.COMPLETED, 3, 2)


async def test_a_signal_that_comes_soon_resumes_the_waiting_invocation(started) -> None:
    ex = await started([waiter])
    run = await run_of(ex, {"name": "wait", "data": {"signal": "go"}})
    await until_waiting(ex, run.id, "signal")     # committed before anything waits on it
    assert await ex.send_signal("go", {"n": 1}) == run.id
    done = await ex.wait_for_run(run.id, timeout=5)
    assert (done.status, done.output, done.invocations) == (RunStatus.COMPLETED, {"n": 1}, 1)


async def test_a_signal_after_the_window_resumes_the_run_in_a_new_invocation(started) -> None:
    ex = await started([waiter])
    run = await run_of(ex, {"name": "wait", "data": {"signal": "late"}})
    await until_waiting(ex, run.id, "signal")
    await asyncio.sleep(IN_PLACE_MS * 3 / 1000)     # the window's timer was set first: it has fired
    await ex.send_signal("late", 7)
    done = await ex.wait_for_run(run.id, timeout=5)
    assert (done.status, done.output, done.invocations) == (RunStatus.COMPLETED, 7, 2)


async def test_a_function_with_flow_control_does_not_hold_its_slot_waiting_in_place(started) -> None:
    @create_function(id="limited", trigger="wait", concurrency=1)
    async def limited(ctx):
        got = await ctx.step.wait_for_signal("w", signal="limited", timeout="1h", on_conflict="fail")
        return got.data

    ex = await started([limited])
    run = await run_of(ex, {"name": "wait"})
    await until_waiting(ex, run.id, "signal")
    await ex.send_signal("limited", 1)
    done = await ex.wait_for_run(run.id, timeout=5)
    assert (done.status, done.output, done.invocations) == (RunStatus.COMPLETED, 1, 2)


async def test_a_wait_in_place_survives_the_executor_stopping_mid_wait(started, tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    ex = await started([waiter], db)
    run = await run_of(ex, {"name": "wait", "data": {"signal": "after-restart"}})
    await until_waiting(ex, run.id, "signal")
    await ex.close()                                  # the invocation is cancelled while it waits
    again = await started([waiter], db)
    await until_waiting(again, run.id, "signal")
    await again.send_signal("after-restart", "ok")
    done = await again.wait_for_run(run.id, timeout=5)
    assert (done.status, done.output) == (RunStatus.COMPLETED, "ok")


async def test_a_held_step_is_committed_while_the_function_awaits_something_of_its_own(started) -> None:
    seen: dict[str, Any] = {}
    holder: dict[str, Executor] = {}

    @create_function(id="busy", trigger="busy")
    async def busy(ctx):
        await ctx.step.run("a", lambda: "A")
        await asyncio.sleep(0.05)                     # not a step: the engine cannot know how long
        seen["during"] = [(s.step_id, s.status) for s in await holder["ex"].steps(ctx.run_id)]
        return "done"

    ex = holder["ex"] = await started([busy])
    run = await ex.wait_for_run((await run_of(ex, {"name": "busy"})).id, timeout=5)
    assert run.status == RunStatus.COMPLETED
    assert seen["during"] == [("a", StepStatus.COMPLETED)]


async def test_a_held_step_is_kept_when_the_function_fails_after_it(started) -> None:
    calls: list[str] = []

    def a() -> str:
        calls.append("a")
        return "A"

    @create_function(id="flaky", trigger="flaky", retries=2)
    async def flaky(ctx):
        value = await ctx.step.run("a", a)
        if ctx.attempt == 0:
            raise RuntimeError("after the step")
        return value

    ex = await started([flaky])
    run = await ex.wait_for_run((await run_of(ex, {"name": "flaky"})).id, timeout=5)
    assert (run.status, run.output, calls) == (RunStatus.COMPLETED, "A", ["a"])
