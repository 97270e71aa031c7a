"""Retries: per-step attempts with backoff on the injected clock, StepError, NonRetriableError,
RetryAfterError, and function-level retries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from executor import NonRetriableError, RetryAfterError, RunStatus, StepError, create_function

from tests.helpers import eventually, run_of, until_step

pytestmark = pytest.mark.timeout(20)


async def _drive(ex, clock, run_id, step_ms=1000, limit=100):
    """Advance virtual time until the run finishes (each advance lets one backoff elapse)."""
    for _ in range(limit):
        run = await ex.run(run_id)
        if run.finished:
            return run
        clock.advance(step_ms)
        await _settle(ex)
    raise AssertionError("run did not finish")


async def _settle(ex):
    import asyncio
    for _ in range(20):
        await asyncio.sleep(0)


async def test_default_retries_make_five_attempts_then_step_error_is_catchable(make_executor, clock):
    attempts = []

    def flaky():
        attempts.append(clock.now_ms())
        raise ConnectionError("upstream down")

    @create_function(id="flaky", trigger="go")
    async def flaky_fn(ctx):
        try:
            await ctx.step.run("call", flaky)
        except StepError as err:
            return {"caught": err.name, "message": err.message, "has_stack": "ConnectionError" in err.stack}
        return "unreachable"

    ex = await make_executor([flaky_fn], backoff=lambda attempt: attempt * 10.0)
    run = await run_of(ex, {"name": "go"})
    run = await _drive(ex, clock, run.id, step_ms=5000)
    assert run.status == RunStatus.COMPLETED
    assert run.output == {"caught": "ConnectionError", "message": "upstream down", "has_stack": True}
    assert len(attempts) == 5
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    # Each retry waits for its backoff (10 s, 20 s, 30 s, 40 s), rounded up to the 5 s drive step.
    assert all(g >= want * 1000 for g, want in zip(gaps, (10, 20, 30, 40)))
    [step] = await ex.steps(run.id)
    assert step.attempts == 5 and step.status == "Failed"


async def test_step_retries_then_succeeds_without_rerunning_earlier_steps(make_executor, clock):
    calls = {"first": 0, "second": 0}

    def first():
        calls["first"] += 1
        return "one"

    def second():
        calls["second"] += 1
        if calls["second"] < 3:
            raise RuntimeError(f"try {calls['second']}")
        return "two"

    @create_function(id="retry-ok", trigger="go", retries=2, checkpointing=False)
    async def fn(ctx):
        return [await ctx.step.run("first", first), await ctx.step.run("second", second)]

    ex = await make_executor([fn])
    run = await _drive(ex, clock, (await run_of(ex, {"name": "go"})).id)
    assert run.output == ["one", "two"]
    assert calls == {"first": 1, "second": 3}


async def test_uncaught_step_error_fails_run_with_original_error(make_executor, clock, driver):
    @create_function(id="uncaught", trigger="go", retries=1)
    async def fn(ctx):
        await ctx.step.run("explode", lambda: 1 / 0)

    ex = await make_executor([fn])
    run = await _drive(ex, clock, (await run_of(ex, {"name": "go"})).id)
    assert run.status == RunStatus.FAILED
    assert run.error["code"] == "step_errored"
    assert run.error["name"] == "ZeroDivisionError"
    if driver == "local":       # Inngest's error body has no field for the step that raised
        assert run.error["step"] == "explode"


async def test_non_retriable_error_fails_the_run_at_once(make_executor, clock, fid):
    calls = []

    def refuse():
        calls.append(1)
        raise NonRetriableError("account closed")

    @create_function(id="nonretry", trigger="go")
    async def fn(ctx):
        try:
            await ctx.step.run("charge", refuse)
        except StepError:
            return "caught"   # NonRetriableError is not a catchable StepError: the run fails at once

    ex = await make_executor([fn])
    with ex.subscribe() as feed:
        run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
        changes = await feed.get_batch()
    assert run.status == RunStatus.FAILED
    assert run.error["name"] == "NonRetriableError" and run.error["message"] == "account closed"
    assert calls == [1]
    [failed] = [c for c in changes if c.kind == "run" and c.status == RunStatus.FAILED]
    assert failed.data == {"function_id": fid("nonretry"), "error": {"name": "NonRetriableError",
                                                                "message": "account closed"}}, "why, with the change"


async def test_retry_after_error_schedules_next_attempt_at_that_time(make_executor, clock, driver):
    attempts = []

    def limited():
        attempts.append(clock.now_ms())
        if len(attempts) == 1:
            raise RetryAfterError("rate limited", timedelta(minutes=10))
        return "ok"

    @create_function(id="retry-after", trigger="go")
    async def fn(ctx):
        return await ctx.step.run("call", limited)

    ex = await make_executor([fn], backoff=lambda a: 1.0)
    run = await run_of(ex, {"name": "go"})
    await eventually(lambda: _retry_due(ex, attempts[0] + 600_000 if attempts else None))
    if driver == "local":       # over Inngest's protocol the error ends the request: the server holds no step
        [step] = await ex.steps(run.id)
        assert step.status == "Retrying" and step.due_at == attempts[0] + 600_000
    clock.advance(599_000)
    await _settle(ex)
    assert len(attempts) == 1, "not retried before the requested time"
    clock.advance(1_000)
    run = await ex.wait_for_run(run.id, timeout=5)
    assert run.output == "ok" and attempts[1] - attempts[0] == 600_000


async def test_retry_after_is_clamped_to_at_least_one_second(make_executor, clock):
    def limited():
        raise RetryAfterError("now!", 0)

    @create_function(id="clamp", trigger="go", retries=1)
    async def fn(ctx):
        return await ctx.step.run("call", limited)

    ex = await make_executor([fn])
    await run_of(ex, {"name": "go"})
    await eventually(lambda: _retry_due(ex, clock.now_ms() + 1000))


async def _retry_due(ex, due):
    """The next attempt is scheduled at ``due`` (whichever record holds it: the step's, or with
    the error ending the request as Inngest's SDKs do, the run's)."""
    return due is not None and ex.next_due() == due


async def test_error_outside_steps_is_retried_at_function_level(make_executor, clock):
    executions = []

    @create_function(id="outside", trigger="go", retries=2)
    async def fn(ctx):
        first = await ctx.step.run("first", lambda: executions.append("first") or 1)
        if ctx.attempt < 2:
            raise KeyError(f"attempt {ctx.attempt}")
        return {"first": first, "attempt": ctx.attempt}

    ex = await make_executor([fn])
    run = await _drive(ex, clock, (await run_of(ex, {"name": "go"})).id)
    assert run.status == RunStatus.COMPLETED
    assert run.output == {"first": 1, "attempt": 2}
    assert executions == ["first"], "the memoized step is not re-run by function-level retries"


async def test_function_level_retries_exhausted_fail_the_run(make_executor, clock):
    @create_function(id="always", trigger="go", retries=1)
    async def fn(ctx):
        raise ValueError("broken")

    ex = await make_executor([fn])
    run = await _drive(ex, clock, (await run_of(ex, {"name": "go"})).id)
    assert run.status == RunStatus.FAILED and run.attempt == 1
    assert run.error["name"] == "ValueError" and run.error["message"] == "broken"
    assert run.invocations == 2


async def test_a_retry_backoff_is_listed_with_the_waits_and_can_be_fired_now(make_executor, clock):
    attempts: list[int] = []

    def flaky():
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise ValueError("not yet")
        return "ok"

    @create_function(id="flaky-now", trigger="go", retries=2)
    async def flaky_now(ctx):
        return await ctx.step.run("call", flaky)

    ex = await make_executor([flaky_now], backoff=lambda attempt: 3600.0)
    run = await run_of(ex, {"name": "go"})
    await until_step(ex, run.id, "call", "Retrying")
    [retry] = await ex.waits()
    assert (retry["kind"], retry["step_id"], retry["run_id"]) == ("retry", "call", run.id)
    assert retry["deadline"] == clock.now_ms() + 3_600_000 and retry["error"]["message"] == "not yet"
    await ex.fire(retry["id"])                 # no hour passes on the clock
    done = await ex.wait_for_run(run.id, timeout=5)
    assert done.output == "ok" and len(attempts) == 2 and await ex.waits() == []
