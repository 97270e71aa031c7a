"""Parallel steps with asyncio.gather, and strict replay's optimize_parallelism."""

from __future__ import annotations

import asyncio

import pytest

from executor import RunStatus, create_function

from tests.helpers import eventually, run_of

pytestmark = pytest.mark.timeout(20)


@pytest.mark.parametrize("checkpointing", [True, False])
async def test_gather_runs_handlers_concurrently_and_keeps_order(make_executor, checkpointing):
    started = {name: asyncio.Event() for name in "abc"}

    def handler(name: str, other: str):
        async def body():
            started[name].set()
            # Each handler only finishes once another has started: impossible if run one by one.
            await asyncio.wait_for(started[other].wait(), timeout=5)
            return name.upper()
        return body

    @create_function(id="par", trigger="par", checkpointing=checkpointing)
    async def par(ctx):
        results = await asyncio.gather(
            ctx.step.run("a", handler("a", "b")),
            ctx.step.run("b", handler("b", "c")),
            ctx.step.run("c", handler("c", "a")),
        )
        return await ctx.step.run("combine", lambda: "".join(results))

    ex = await make_executor([par])
    run = await ex.wait_for_run((await run_of(ex, {"name": "par"})).id, timeout=5)
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.output == "ABC"
    steps = await ex.steps(run.id)
    groups = {s.step_id: s.group for s in steps}
    assert groups["a"] == groups["b"] == groups["c"] != groups["combine"], "parallel steps are grouped"


def _fan_out(optimize: bool, executed: list[str]):
    @create_function(id=f"fan-{optimize}", trigger="fan", checkpointing=False, optimize_parallelism=optimize)
    async def fan(ctx):
        items = ctx.event.data["items"]
        results = await asyncio.gather(*[
            ctx.step.run(f"process-item-{i}", lambda i=i: executed.append(i) or i * 10) for i in items])
        return sum(results)

    return fan


async def test_optimize_parallelism_reinvokes_once_per_group(make_executor, fid):
    executed_plain, executed_opt = [], []
    ex = await make_executor([_fan_out(False, executed_plain), _fan_out(True, executed_opt)])
    [event_id] = await ex.send({"name": "fan", "data": {"items": list(range(5))}})
    runs = {r.function_id: await ex.wait_for_run(r.id, timeout=5) for r in await ex.runs(event_id=event_id)}
    plain, opt = runs[fid("fan-False")], runs[fid("fan-True")]
    assert plain.output == opt.output == 100
    assert sorted(executed_plain) == sorted(executed_opt) == [0, 1, 2, 3, 4]
    # Discovery, then one re-invocation per finished step (the last one completes the run) …
    assert plain.invocations == 1 + 5
    # … against discovery plus a single re-invocation for the whole group.
    assert opt.invocations == 2


async def test_parallel_step_failure_after_retries_is_a_catchable_step_error(make_executor, clock):
    from executor import StepError

    def boom():
        raise ValueError("bad item")

    @create_function(id="par-fail", trigger="pf", retries=0)
    async def par_fail(ctx):
        ok, bad = await asyncio.gather(ctx.step.run("ok", lambda: 1), ctx.step.run("bad", boom),
                                       return_exceptions=True)
        assert isinstance(bad, StepError)
        return {"ok": ok, "bad": bad.name, "message": bad.message}

    ex = await make_executor([par_fail])
    run = await ex.wait_for_run((await run_of(ex, {"name": "pf"})).id, timeout=5)
    assert run.output == {"ok": 1, "bad": "ValueError", "message": "bad item"}


@pytest.mark.parametrize("checkpointing", [True, False])
async def test_parallel_sleeps_waits_and_invokes(make_executor, clock, checkpointing):
    @create_function(id="square")
    async def square(ctx):
        return ctx.event.data["n"] ** 2

    @create_function(id="fan", trigger="go", checkpointing=checkpointing)
    async def fan(ctx):
        await asyncio.gather(ctx.step.sleep("a", "1h"), ctx.step.sleep("b", "2h"))
        squares = await asyncio.gather(*[ctx.step.invoke(f"sq-{i}", function="square", data={"n": i})
                                         for i in range(4)])
        first, second = await asyncio.gather(ctx.step.wait_for_event("w", event="e", timeout="1h"),
                                             ctx.step.wait_for_event("w2", event="e2", timeout="1h"))
        return {"squares": squares, "events": [first.data, second.data]}

    ex = await make_executor([fan, square])
    run = await run_of(ex, {"name": "go"})
    await eventually(lambda: _wait_steps(ex, {"a", "b"}))
    clock.advance(2 * 3_600_000)
    await eventually(lambda: _wait_steps(ex, {"w", "w2"}))
    await ex.send({"name": "e2", "data": {"x": 2}})
    await ex.send({"name": "e", "data": {"x": 1}})
    run = await ex.wait_for_run(run.id, timeout=5)
    assert run.output == {"squares": [0, 1, 4, 9], "events": [{"x": 1}, {"x": 2}]}
    groups = {s.step_id: s.group for s in await ex.steps(run.id)}
    assert groups["a"] == groups["b"] and groups["sq-0"] == groups["sq-3"] and groups["w"] == groups["w2"]
    assert len({groups["a"], groups["sq-0"], groups["w"]}) == 3, "each gather is its own group"


async def test_a_signal_wait_in_parallel_with_an_event_wait(make_executor):
    @create_function(id="both", trigger="go")
    async def both(ctx):
        event, signal = await asyncio.gather(
            ctx.step.wait_for_event("w", event="e", timeout="1h"),
            ctx.step.wait_for_signal("s", signal="sig", timeout="1h", on_conflict="fail"))
        return {"event": event.data, "signal": signal.data}

    ex = await make_executor([both])
    run = await run_of(ex, {"name": "go"})
    await eventually(lambda: _wait_steps(ex, {"w", "s"}))
    await ex.send_signal("sig", 2)
    await ex.send({"name": "e", "data": {"x": 1}})
    run = await ex.wait_for_run(run.id, timeout=5)
    assert run.output == {"event": {"x": 1}, "signal": 2}
    groups = {s.step_id: s.group for s in await ex.steps(run.id)}
    assert groups["w"] == groups["s"]


async def _wait_steps(ex, step_ids):
    return {w["step_id"] for w in await ex.waits()} == step_ids
