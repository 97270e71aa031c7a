"""Errors from the real inngest-py SDK, as ``parse_response`` reports them: step errors and their
retries, function-level failures kept verbatim, and what the headers say about retrying."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import inngest
import pytest

from executor.drivers.inngest.wire import MAX_OPS_PER_RESPONSE
from executor.ops import Opcode, hash_step_id
from tests.drivers.inngest.harness import RunState, real_now_ms, slug


def boom() -> None:
    raise ValueError("bad")


async def test_a_failing_step_is_a_retriable_step_error_until_the_last_attempt(client, serve):
    @client.create_function(fn_id="flaky", trigger=inngest.TriggerEvent(event="app/go"), retries=2)
    async def flaky(ctx: inngest.Context) -> Any:
        try:
            await ctx.step.run("boom", boom)
        except inngest.StepError as err:
            return {"caught": err.name, "message": err.message}
        return "unreachable"

    app, state = serve(flaky), RunState(slug("flaky"))
    [op] = (await app.call(state, attempt=0, max_attempts=3)).ops
    assert (op.op, op.id, op.retriable, op.retry_at) == (Opcode.STEP_ERROR, hash_step_id("boom"), True, None)
    assert op.error.name == "ValueError" and op.error.message == "bad"
    assert op.error.raw["code"] == "unknown" and op.error.raw["stack"].startswith("Traceback")
    [last] = (await app.call(state, attempt=2, max_attempts=3)).ops
    assert last.op == Opcode.STEP_FAILED and last.error.to_dict() == op.error.to_dict()
    state.memoize(last)                       # {"error": …} is what the SDK raises as StepError
    result = await app.call(state)
    assert result.complete and result.output == {"caught": "ValueError", "message": "bad"}


async def test_an_uncaught_failed_step_fails_the_function_for_good(client, serve):
    @client.create_function(fn_id="uncaught", trigger=inngest.TriggerEvent(event="app/go"), retries=0)
    async def uncaught(ctx: inngest.Context) -> Any:
        await ctx.step.run("boom", boom)

    app, state = serve(uncaught), RunState(slug("uncaught"))
    [failed] = (await app.call(state, max_attempts=1)).ops
    assert failed.op == Opcode.STEP_FAILED
    state.memoize(failed)
    result = await app.call(state, max_attempts=1)
    assert result.error is not None and result.retriable is False and result.detail["status"] == 500
    assert result.error.raw["code"] == "step_errored"
    assert (result.error.name, result.error.message) == ("ValueError", "bad")


async def test_non_retriable_error_in_a_step_fails_the_function_without_retry(client, serve):
    @client.create_function(fn_id="fatal", trigger=inngest.TriggerEvent(event="app/go"), retries=1)
    async def fatal(ctx: inngest.Context) -> Any:
        def refuse() -> None:
            raise inngest.NonRetriableError("foo")
        await ctx.step.run("refuse", refuse)

    result = await serve(fatal).call(RunState(slug("fatal")))
    assert result.ops == [] and result.retriable is False
    assert result.error.raw["code"] == "non_retriable_error" and result.error.raw["name"] == "NonRetriableError"
    assert result.error.message == "foo"


@pytest.mark.parametrize("in_step", [False, True], ids=["function", "step"])
async def test_retry_after_error_sets_the_next_attempt(client, serve, in_step):
    @client.create_function(fn_id="later", trigger=inngest.TriggerEvent(event="app/go"))
    async def later(ctx: inngest.Context) -> Any:
        def wait() -> None:
            raise inngest.RetryAfterError("not yet", datetime.timedelta(seconds=30))
        if in_step:
            await ctx.step.run("rate-limited", wait)    # inngest-py raises it at function level too
        wait()

    before = real_now_ms()
    result, reply = await serve(later).exchange(RunState(slug("later")))
    assert reply.status_code == 500 and reply.headers["retry-after"].endswith("Z")   # an ISO time
    assert result.ops == [] and result.retriable is True and result.error.message == "not yet"
    assert before + 29_000 <= result.retry_at <= real_now_ms() + 31_000


async def test_unserializable_output_is_kept_verbatim_without_a_stack(client, serve):
    @client.create_function(fn_id="objects", trigger=inngest.TriggerEvent(event="app/go"))
    async def objects(ctx: inngest.Context) -> Any:
        await ctx.step.run("step_1", lambda: object())

    result = await serve(objects).call(RunState(slug("objects")))
    assert result.error.to_dict() == {"code": "output_unserializable", "name": "OutputUnserializableError",
                                      "message": '"step_1" returned unserializable data'}
    assert result.retriable is True         # inngest-py sends no x-inngest-no-retry here: retries are spent


async def test_a_nested_step_is_a_step_error_the_headers_forbid_retrying(client, serve):
    @client.create_function(fn_id="nested", trigger=inngest.TriggerEvent(event="app/go"), retries=5)
    async def nested(ctx: inngest.Context) -> Any:
        async def outer() -> Any:
            return await ctx.step.run("inner", lambda: 1)
        return await ctx.step.run("outer", outer)

    result, reply = await serve(nested).exchange(RunState(slug("nested")))
    assert reply.headers["x-inngest-no-retry"] == "true"
    [op] = result.ops
    assert (op.op, op.retriable, op.error.message) == (Opcode.STEP_ERROR, False, "Nested steps are not supported.")


async def test_a_step_found_while_targeting_another_fails_retriably(client, serve):
    @client.create_function(fn_id="moved", trigger=inngest.TriggerEvent(event="app/go"))
    async def moved(ctx: inngest.Context) -> Any:
        await ctx.step.run("surprise", lambda: 1)
        return await ctx.group.parallel((lambda: ctx.step.run("p1", lambda: 1),))

    result = await serve(moved).call(RunState(slug("moved")), target=hash_step_id("p1"),
                                     disable_immediate_execution=True)
    assert result.error.to_dict() == {"code": "step_unexpected", "name": "StepUnexpectedError", "stack": None,
                                      "message": 'found step "surprise" when targeting a different step'}
    assert result.retriable is True


async def test_an_unknown_function_is_a_retriable_error_from_the_sdk(client, serve):
    @client.create_function(fn_id="known", trigger=inngest.TriggerEvent(event="app/go"))
    async def known(ctx: inngest.Context) -> None:
        return None

    result = await serve(known).call(RunState(slug("gone")))
    assert result.error.raw["code"] == "function_not_found" and result.retriable is True
    assert "myapp-gone" in result.error.message


async def test_a_function_returning_none_completes_with_null(client, serve):
    @client.create_function(fn_id="nothing", trigger=inngest.TriggerEvent(event="app/go"))
    async def nothing(ctx: inngest.Context) -> None:
        return None

    result = await serve(nothing).call(RunState(slug("nothing")))
    assert result.complete and result.output is None and result.error is None


async def test_more_than_a_thousand_ops_overflow_the_function(client, serve):
    @client.create_function(fn_id="wide", trigger=inngest.TriggerEvent(event="app/go"))
    async def wide(ctx: inngest.Context) -> Any:
        return await ctx.group.parallel(tuple(
            (lambda i=i: ctx.step.run(f"s{i}", lambda: i)) for i in range(MAX_OPS_PER_RESPONSE + 1)))

    result = await serve(wide).call(RunState(slug("wide")))
    assert result.ops == [] and result.retriable is False
    assert result.error.to_dict() == {"error": "function has too many steps", "name": "InngestErrFunctionOverflowed",
                                      "message": "The function run exceeded the step limit of 1000 steps."}


async def test_a_streamed_reply_is_unwrapped_into_the_same_result(client, serve):
    @client.create_function(fn_id="streamed", trigger=inngest.TriggerEvent(event="app/go"))
    async def streamed(ctx: inngest.Context) -> Any:
        async def slow() -> Any:
            await asyncio.sleep(0.05)         # long enough for one keep-alive before the reply
            return {"n": 1}
        return {"got": await ctx.step.run("a", slow)}

    app, state = serve(streamed, streaming=inngest.Streaming.FORCE), RunState(slug("streamed"))
    result, reply = await app.exchange(state)
    assert reply.status_code == 201 and reply.content.startswith(b" ")
    [op] = result.ops
    assert (op.op, op.data) == (Opcode.STEP_RUN, {"n": 1}) and result.detail["streamed"] is True
    assert result.detail["status"] == 206
    state.memoize(op)
    result = await app.call(state)
    assert result.complete and result.output == {"got": {"n": 1}} and result.detail["status"] == 200
