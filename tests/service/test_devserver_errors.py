"""Errors of a real inngest-py app: ``RetryAfterError`` retries when it says (not after Inngest's 15 s
backoff), ``NonRetriableError`` fails the run with no retry, a step that keeps failing reaches the
function as a catchable ``StepError``; and an app that answers garbage (not an SDK, invalid JSON,
more ops than a run may have) fails the run with an error that says so, losing nothing done before."""

from __future__ import annotations

import collections
import datetime
import time
from typing import Any

import inngest
import pytest

from executor.util.backoff import default_backoff
from tests.service.sdkapps import Reply

pytestmark = pytest.mark.timeout(30)

SDK_HEADERS = {"content-type": "application/json", "x-inngest-sdk": "inngest-py:v0.5.19"}


async def test_retry_after_is_honoured_at_function_and_step_level(start_devserver, sdk_app):
    dev = await start_devserver(backoff=default_backoff)    # Inngest's schedule: a first retry after 15-22 s
    client = dev.client("errs")
    seen: list[tuple[str, int, float]] = []

    def flaky_step() -> str:
        seen.append(("step", 0, time.monotonic()))
        if len([s for s in seen if s[0] == "step"]) == 1:
            raise inngest.RetryAfterError("not yet", datetime.timedelta(seconds=1))
        return "stepped"

    @client.create_function(fn_id="later", trigger=inngest.TriggerEvent(event="errs/later"), retries=2)
    async def later(ctx: inngest.Context) -> str:
        seen.append(("fn", ctx.attempt, time.monotonic()))
        if ctx.attempt == 0:
            raise inngest.RetryAfterError("come back", 1000)
        return await ctx.step.run("flaky", flaky_step)

    await sdk_app(client, later, server=dev)
    run = await dev.finish(await dev.start_run(client, "errs/later"))
    assert (run.status, run.output) == ("Completed", "stepped")
    fn_times = [t for kind, _, t in seen if kind == "fn"]
    step_times = [t for kind, _, t in seen if kind == "step"]
    assert len(step_times) == 2 and [a for kind, a, _ in seen if kind == "fn"][:2] == [0, 1]
    for gap in (fn_times[1] - fn_times[0], step_times[1] - step_times[0]):
        assert 0.9 <= gap < 3.0, f"a retry-after of 1 s retried after {gap:.2f} s"


async def test_non_retriable_error_fails_the_run_at_once(devserver, sdk_app):
    client = devserver.client("errs")
    ran = collections.Counter()

    def refuse() -> None:
        ran["refuse"] += 1
        raise inngest.NonRetriableError("no way")

    @client.create_function(fn_id="refuser", trigger=inngest.TriggerEvent(event="errs/refuse"), retries=3)
    async def refuser(ctx: inngest.Context) -> None:
        await ctx.step.run("refuse", refuse)

    app = await sdk_app(client, refuser)
    run = await devserver.finish(await devserver.start_run(client, "errs/refuse"))
    assert run.status == "Failed"
    assert (run.error["name"], run.error["message"]) == ("NonRetriableError", "no way")
    assert ran["refuse"] == 1 and app.requests["errs-refuser"] == 1 and run.attempt == 0


async def test_a_step_failing_on_every_attempt_becomes_a_step_error_the_function_can_catch(devserver, sdk_app):
    client = devserver.client("errs")
    ran = collections.Counter()

    def broken() -> None:
        ran["broken"] += 1
        raise ValueError(f"attempt {ran['broken']} broke")

    @client.create_function(fn_id="catcher", trigger=inngest.TriggerEvent(event="errs/catch"), retries=2)
    async def catcher(ctx: inngest.Context) -> Any:
        try:
            await ctx.step.run("broken", broken)
        except inngest.StepError as exc:
            return {"name": exc.name, "message": exc.message}
        return "not reached"

    await sdk_app(client, catcher)
    run = await devserver.finish(await devserver.start_run(client, "errs/catch"))
    assert (run.status, run.output) == ("Completed", {"name": "ValueError", "message": "attempt 3 broke"})
    assert ran["broken"] == 3, "retries=2: three attempts, then the failure is the step's result"
    assert (await devserver.step_memos(run.id))["broken"]["error"]["message"] == "attempt 3 broke"


# ---- an app answering garbage -------------------------------------------------------------------

def two_steps(client: inngest.Inngest, ran: collections.Counter, retries: int) -> inngest.Function:
    @client.create_function(fn_id="victim", trigger=inngest.TriggerEvent(event="errs/victim"), retries=retries)
    async def victim(ctx: inngest.Context) -> list[str]:
        def step(name: str):
            def handler() -> str:
                ran[name] += 1
                return name
            return handler
        return [await ctx.step.run("first", step("first")), await ctx.step.run("second", step("second"))]
    return victim


GARBAGE = {
    "not an SDK": (Reply(200, b"<html>welcome</html>", {"content-type": "text/html"}), "x-inngest-sdk"),
    "invalid JSON": (Reply(206, b'[{"op": "StepRun", "id": ', SDK_HEADERS), "JSON"),
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
async def test_garbage_from_the_app_fails_the_run_with_a_clear_error(devserver, sdk_app, kind):
    client = devserver.client("errs")
    ran = collections.Counter()
    app = await sdk_app(client, two_steps(client, ran, retries=0))
    reply, says = GARBAGE[kind]
    app.answer("errs-victim", 2, reply)
    run = await devserver.finish(await devserver.start_run(client, "errs/victim"))
    assert run.status == "Failed"
    assert says in run.error["message"], run.error
    assert (await devserver.step_memos(run.id)) == {"first": {"data": "first"}}, "the step done before is kept"
    assert ran == {"first": 1}
    assert (await devserver.ex.event(run.event_id)) is not None


@pytest.mark.parametrize("kind", sorted(GARBAGE))
async def test_a_retry_after_garbage_continues_where_the_run_was(devserver, sdk_app, kind):
    client = devserver.client("errs")
    ran = collections.Counter()
    app = await sdk_app(client, two_steps(client, ran, retries=1))
    app.answer("errs-victim", 2, GARBAGE[kind][0])
    run = await devserver.finish(await devserver.start_run(client, "errs/victim"))
    assert (run.status, run.output) == ("Completed", ["first", "second"])
    assert ran == {"first": 1, "second": 1}


async def test_more_ops_than_a_run_may_have_fail_it(devserver, sdk_app):
    client = devserver.client("errs")
    ran = collections.Counter()

    @client.create_function(fn_id="fanout", trigger=inngest.TriggerEvent(event="errs/fanout"), retries=0)
    async def fanout(ctx: inngest.Context) -> None:
        await ctx.group.parallel(tuple((lambda i=i: ctx.step.run(f"part-{i}", lambda: ran.update(["part"])))
                                       for i in range(1001)))

    app = await sdk_app(client, fanout)
    run = await devserver.finish(await devserver.start_run(client, "errs/fanout"))
    assert run.status == "Failed"
    assert run.error["name"] == "InngestErrFunctionOverflowed" and "1000 steps" in run.error["message"], run.error
    assert ran["part"] == 0 and app.requests["errs-fanout"] == 1, "no planned step was executed"
