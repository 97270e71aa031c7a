"""Memo and replay: completed steps are never re-executed, in both execution modes."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from executor import RunStatus, create_function

from tests.helpers import run_of, until_step

pytestmark = pytest.mark.timeout(20)


def _bad_and_good(mode_checkpointing: bool, printed: list[str], executed: list[str]):
    @create_function(id="bad-example", trigger="test", checkpointing=mode_checkpointing)
    async def bad(ctx):
        printed.append("This logs 4 times!")
        await ctx.step.run("a", executed.append, "a")
        await ctx.step.run("b", executed.append, "b")
        await ctx.step.run("c", executed.append, "c")
        return "done"

    return bad


async def test_strict_replay_reruns_function_body_once_per_step(make_executor):
    printed, executed = [], []
    ex = await make_executor([_bad_and_good(False, printed, executed)])
    run = await ex.wait_for_run((await run_of(ex, {"name": "test"})).id, timeout=5)
    assert run.status == RunStatus.COMPLETED and run.output == "done"
    assert printed == ["This logs 4 times!"] * 4
    assert executed == ["a", "b", "c"]
    assert run.invocations == 4


@pytest.mark.not_inngest_py("inngest-py 0.5.19 has no checkpointing: it runs one new step per request")
async def test_checkpointing_runs_steps_back_to_back_in_one_invocation(make_executor):
    printed, executed = [], []
    ex = await make_executor([_bad_and_good(True, printed, executed)])
    run = await ex.wait_for_run((await run_of(ex, {"name": "test"})).id, timeout=5)
    assert run.status == RunStatus.COMPLETED and run.output == "done"
    assert printed == ["This logs 4 times!"]
    assert executed == ["a", "b", "c"]
    assert run.invocations == 1


@pytest.mark.parametrize("checkpointing", [True, False])
async def test_both_modes_give_identical_results(make_executor, clock, checkpointing):
    @create_function(id="calc", trigger="calc", checkpointing=checkpointing)
    async def calc(ctx):
        total = 0
        for i in range(ctx.event.data["n"]):
            total += await ctx.step.run("add", lambda i=i: i * i)
        await ctx.step.sleep("pause", "1m")
        pair = await asyncio.gather(ctx.step.run("x", lambda: total), ctx.step.run("y", lambda: -total))
        return {"total": total, "pair": pair}

    ex = await make_executor([calc])
    run = await run_of(ex, {"name": "calc", "data": {"n": 5}})
    await until_step(ex, run.id, "pause", "Sleeping")
    clock.advance(60_000)
    run = await ex.wait_for_run(run.id, timeout=5)
    assert run.output == {"total": 30, "pair": [30, -30]}
    assert [s.step_id for s in await ex.steps(run.id)] == [
        "add", "add:1", "add:2", "add:3", "add:4", "pause", "x", "y"]



async def test_repeated_step_ids_get_counters_and_inngest_hashes(make_executor):
    calls = []

    @create_function(id="loop", trigger="loop", checkpointing=False)
    async def loop(ctx):
        pages = []
        for page in range(3):
            pages.append(await ctx.step.run("fetch-page", lambda p=page: calls.append(p) or p))
        return pages

    ex = await make_executor([loop])
    run = await ex.wait_for_run((await run_of(ex, {"name": "loop"})).id, timeout=5)
    assert run.output == [0, 1, 2]
    assert calls == [0, 1, 2], "each repeated step executes exactly once despite 4 replays"
    steps = await ex.steps(run.id)
    assert [s.step_id for s in steps] == ["fetch-page", "fetch-page:1", "fetch-page:2"]
    assert [s.hashed_id for s in steps] == [
        hashlib.sha1(b"fetch-page").hexdigest(),
        hashlib.sha1(b"fetch-page:1").hexdigest(),
        hashlib.sha1(b"fetch-page:2").hexdigest(),
    ]
    assert {s.name for s in steps} == {"fetch-page"}


async def test_async_and_sync_handlers_with_arguments(make_executor):
    async def add_async(a, b):
        await asyncio.sleep(0)
        return a + b

    @create_function(id="args", trigger="args")
    async def args_fn(ctx):
        return [await ctx.step.run("sync", max, 3, 9), await ctx.step.run("async", add_async, 2, 5)]

    ex = await make_executor([args_fn])
    run = await ex.wait_for_run((await run_of(ex, {"name": "args"})).id, timeout=5)
    assert run.output == [9, 7]


async def test_step_results_are_returned_as_json_values_in_both_modes(make_executor):
    @create_function(id="tuples", trigger="t")
    async def tuples(ctx):
        value = await ctx.step.run("tuple", lambda: (1, 2))
        return {"type": type(value).__name__, "value": value}

    ex = await make_executor([tuples])
    run = await ex.wait_for_run((await run_of(ex, {"name": "t"})).id, timeout=5)
    assert run.output == {"type": "list", "value": [1, 2]}, "the first run sees what a replay would see"


async def test_replay_aware_logger_logs_once(make_executor, caplog):
    @create_function(id="logs", trigger="logs", checkpointing=False)
    async def logs(ctx):
        ctx.logger.info("starting %s", ctx.event.data["who"])
        await ctx.step.run("a", lambda: 1)
        await ctx.step.run("b", lambda: 2)
        ctx.logger.info("finishing")
        return True

    ex = await make_executor([logs])
    with caplog.at_level("INFO", logger="durable_tui.functions"):
        run = await ex.wait_for_run((await run_of(ex, {"name": "logs", "data": {"who": "ada"}})).id, timeout=5)
    assert run.invocations == 3
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("durable_tui.functions")]
    assert messages == ["starting ada", "finishing"]


async def test_function_logs_are_tagged_with_the_run_and_the_step_logging(make_executor, caplog):
    @create_function(id="tagged", trigger="tagged")
    async def tagged(ctx):
        ctx.logger.info("between steps")

        def sync_work() -> int:
            ctx.logger.info("in a thread")
            return 1

        async def async_work() -> int:
            ctx.logger.warning("in the loop")
            return 2

        return await ctx.step.run("sync", sync_work) + await ctx.step.run("async", async_work)

    ex = await make_executor([tagged])
    with caplog.at_level("INFO", logger="durable_tui.functions"):
        run = await ex.wait_for_run((await run_of(ex, {"name": "tagged"})).id, timeout=5)
    tags = [(r.getMessage(), r.run_id, r.function_id, r.step_id) for r in caplog.records
            if r.name.startswith("durable_tui.functions")]
    assert tags == [("between steps", run.id, "tagged", None), ("in a thread", run.id, "tagged", "sync"),
                    ("in the loop", run.id, "tagged", "async")]


async def test_context_exposes_event_run_and_attempt(make_executor):
    seen = {}

    @create_function(id="ctx", trigger="ctx/*")
    async def ctx_fn(ctx):
        seen.update(name=ctx.event.name, data=ctx.event.data, run_id=ctx.run_id, attempt=ctx.attempt,
                    events=[e.id for e in ctx.events], ts=ctx.event.ts, fid=ctx.function_id)
        return None

    ex = await make_executor([ctx_fn])
    run = await run_of(ex, {"name": "ctx/hello", "data": {"k": 1}, "ts": 123})
    await ex.wait_for_run(run.id, timeout=5)
    assert seen == {"name": "ctx/hello", "data": {"k": 1}, "run_id": run.id, "attempt": 0,
                    "events": [run.event_id], "ts": 123, "fid": "ctx"}
