"""The documented limits, overridden small so the tests stay fast."""

from __future__ import annotations

import pytest

from executor import Limits, RunStatus, StepError, create_function

from tests.helpers import run_of

pytestmark = pytest.mark.timeout(20)


async def test_default_limits_match_the_spec():
    limits = Limits()
    assert limits.max_steps == 1000
    assert limits.max_step_output_bytes == 4 * 1024 * 1024
    assert limits.max_run_state_bytes == 32 * 1024 * 1024


async def test_too_many_steps_fail_the_run_naming_the_limit(make_executor):
    @create_function(id="many", trigger="go")
    async def many(ctx):
        for _ in range(10):
            await ctx.step.run("tick", lambda: 1)

    ex = await make_executor([many], limits=Limits(max_steps=5))
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert run.status == RunStatus.FAILED
    assert run.error["name"] == "StepLimitExceeded"
    assert "step limit of 5 steps" in run.error["message"] and "tick:5" in run.error["message"]
    assert len(await ex.steps(run.id)) == 5


@pytest.mark.not_inngest_py("inngest-py replays the whole function for each new step and rebuilds its memo table on "
                             "every lookup: its 1,001 requests of growing cost took 13x as long as our app's (one run)")
async def test_a_thousand_steps_is_allowed(make_executor):
    @create_function(id="thousand", trigger="go")
    async def thousand(ctx):
        for i in range(1000):
            await ctx.step.run("s", lambda i=i: i)
        return "ok"

    ex = await make_executor([thousand])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=30)
    assert run.status == RunStatus.COMPLETED and run.step_count == 1000


async def test_oversize_step_output_fails_the_step_without_retries(make_executor):
    calls = []

    @create_function(id="big", trigger="go")
    async def big(ctx):
        try:
            await ctx.step.run("huge", lambda: calls.append(1) or "x" * 2000)
        except StepError as err:
            return {"name": err.name, "message": err.message}

    ex = await make_executor([big], limits=Limits(max_step_output_bytes=1000))
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert calls == [1], "an oversize output is not retried"
    assert run.output["name"] == "StepOutputTooLarge"
    assert "2,002 bytes" in run.output["message"] and "1,000 bytes" in run.output["message"]
    assert "'huge'" in run.output["message"]


async def test_run_state_over_the_limit_fails_the_run(make_executor):
    @create_function(id="state", trigger="go")
    async def state(ctx):
        for _ in range(10):
            await ctx.step.run("chunk", lambda: "y" * 300)

    ex = await make_executor([state], limits=Limits(max_run_state_bytes=1000))
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert run.status == RunStatus.FAILED
    assert run.error["name"] == "StateLimitExceeded" and "1,000 bytes" in run.error["message"]
    assert run.state_bytes <= 1000


@pytest.mark.not_inngest_py("inngest-py makes a step result it cannot serialise an ordinary (retried) step error, so "
                             "the handler runs again on each retry instead of the step failing at once")
@pytest.mark.parametrize("checkpointing", [True, False])
async def test_non_json_step_result_fails_the_step_naming_the_type(make_executor, checkpointing):
    calls = []

    @create_function(id="nonjson", trigger="go", checkpointing=checkpointing)
    async def nonjson(ctx):
        try:
            await ctx.step.run("set", lambda: calls.append(1) or {"ids": {1, 2}})
        except StepError as err:
            return err.message

    ex = await make_executor([nonjson])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert "type set is not JSON-serialisable" in run.output
    assert "'set'" in run.output and "run " in run.output
    assert calls == [1]


@pytest.mark.not_inngest_py("inngest-py answers an unserialisable return value with a plain 500 (no X-Inngest-No-Retry), "
                             "so the server retries the run, as Inngest's would, instead of failing it at once")
async def test_non_json_function_result_fails_the_run(make_executor):
    @create_function(id="retobj", trigger="go")
    async def retobj(ctx):
        return object()

    ex = await make_executor([retobj])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert run.status == RunStatus.FAILED
    assert run.error["name"] == "FunctionOutputNotSerializable" and "type object" in run.error["message"]
