"""send_event, invoke, triggers (wildcard, expression, cron), cancel-on, on_failure and the
lifecycle events."""

from __future__ import annotations

import pytest

from executor import (
    Cancel,
    FunctionDefinitionError,
    NonRetriableError,
    RunStatus,
    StepError,
    StepStatus,
    TriggerCron,
    TriggerEvent,
    create_function,
)

from tests.helpers import eventually, run_of, until_step

pytestmark = pytest.mark.timeout(20)


@create_function(id="compute-square", trigger="calculate/square")
async def compute_square(ctx):
    return {"result": ctx.event.data["number"] * ctx.event.data["number"]}


@create_function(id="on-profile", trigger="user/profile.updated")
async def on_profile(ctx):
    return ctx.event.data


@pytest.mark.parametrize("checkpointing", [True, False])
async def test_send_event_returns_ids_triggers_functions_and_never_sends_twice(make_executor, checkpointing, fid):
    @create_function(id="fan-out", trigger="go", checkpointing=checkpointing)
    async def fan_out(ctx):
        one = await ctx.step.send_event("notify", {"name": "user/profile.updated", "data": {"userId": 1}})
        many = await ctx.step.send_event("batch", [{"name": "user/profile.updated", "data": {"userId": 2}},
                                                   {"name": "billing/invoice.created", "data": {}}])
        await ctx.step.run("after", lambda: "x")
        return {"one": one, "many": many}

    ex = await make_executor([fan_out, on_profile])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert len(run.output["one"]) == 1 and len(run.output["many"]) == 2
    sent = run.output["one"] + run.output["many"]
    stored = [await ex.event(i) for i in sent]
    assert [e.name for e in stored] == ["user/profile.updated", "user/profile.updated", "billing/invoice.created"]
    profile_runs = await ex.runs(function_id=fid("on-profile"))
    assert len(profile_runs) == 2, "each sent event triggered once, even though strict mode replayed the sends"
    for r in profile_runs:
        assert (await ex.wait_for_run(r.id, timeout=5)).status == RunStatus.COMPLETED
    assert len(await ex.events(name="user/profile.updated")) == 2


@pytest.mark.not_inngest_py("inngest-py's send_event is a step.run whose refused send (SendEventsError) is an ordinary "
                             "retried step error; our SDK fails the step at once")
async def test_send_event_with_a_bad_event_fails_the_step(make_executor):
    @create_function(id="bad-send", trigger="go")
    async def bad_send(ctx):
        try:
            await ctx.step.send_event("oops", {"name": "inngest/mine"})
        except StepError as err:
            return err.message

    ex = await make_executor([bad_send])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert "reserved" in run.output and "'oops'" in run.output


async def test_invoke_returns_the_child_result(make_executor, fid):
    @create_function(id="parent", trigger="go")
    async def parent(ctx):
        square = await ctx.step.invoke("get-square", function=compute_square, data={"number": 4})
        by_id = await ctx.step.invoke("again", function="compute-square", data={"number": 5})
        return [square["result"], by_id["result"]]

    ex = await make_executor([parent, compute_square])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert run.output == [16, 25]
    children = await ex.runs(parent_run_id=run.id)
    assert len(children) == 2 and {c.function_id for c in children} == {fid("compute-square")}
    steps = await ex.steps(run.id)
    assert [s.op for s in steps] == ["invoke", "invoke"]
    assert {s.detail["child_run_id"] for s in steps} == {c.id for c in children}


async def test_failed_child_raises_step_error_in_the_parent(make_executor):
    @create_function(id="failing-child", retries=0)
    async def failing_child(ctx):
        raise NonRetriableError("no such account")

    @create_function(id="parent", trigger="go")
    async def parent(ctx):
        try:
            await ctx.step.invoke("call", function=failing_child)
        except StepError as err:
            return {"name": err.name, "message": err.message}

    ex = await make_executor([parent, failing_child])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert run.output == {"name": "NonRetriableError", "message": "no such account"}


async def test_invoke_timeout_raises_step_error(make_executor, clock):
    @create_function(id="slow-child")
    async def slow_child(ctx):
        await ctx.step.sleep("forever", "30d")

    @create_function(id="parent", trigger="go")
    async def parent(ctx):
        try:
            await ctx.step.invoke("call", function=slow_child, timeout="1h")
        except StepError as err:
            return {"name": err.name, "message": err.message}

    ex = await make_executor([parent, slow_child])
    run = await run_of(ex, {"name": "go"})
    await until_step(ex, run.id, "call", StepStatus.WAITING)
    clock.advance(3_600_000)
    run = await ex.wait_for_run(run.id, timeout=5)
    assert run.output["name"] == "InngestInvokeTimeoutError"
    assert run.output["message"] == "Timed out waiting for invoked function to complete"



async def test_invoking_an_unknown_function_fails_the_step(make_executor, fid):
    @create_function(id="parent", trigger="go")
    async def parent(ctx):
        try:
            await ctx.step.invoke("call", function="nope")
        except StepError as err:
            return err.message

    ex = await make_executor([parent])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert f"no function with id {fid('nope')!r}" in run.output


async def test_trigger_expressions_wildcards_and_several_triggers(make_executor):
    @create_function(id="vip", trigger=[TriggerEvent("app/user.*", expression="event.data.plan == 'pro'"),
                                        "admin/ping"])
    async def vip(ctx):
        return ctx.event.name

    ex = await make_executor([vip])
    routed = await ex.send_and_route([
        {"name": "app/user.created", "data": {"plan": "pro"}},
        {"name": "app/user.created", "data": {"plan": "free"}},
        {"name": "app/order.created", "data": {"plan": "pro"}},
        {"name": "admin/ping"},
    ])
    assert [len(runs) for runs in routed.values()] == [1, 0, 0, 1]


async def test_invalid_triggers_are_rejected_when_the_function_is_defined():
    async def body(ctx):
        return None

    with pytest.raises(FunctionDefinitionError, match="function 'broken'.*trigger expression"):
        create_function(id="broken", trigger=TriggerEvent("x", expression="event.data.a =="))(body)
    with pytest.raises(FunctionDefinitionError, match="invalid cron expression"):
        create_function(id="broken", trigger=TriggerCron("every tuesday"))(body)
    with pytest.raises(FunctionDefinitionError, match="match or if_exp, not both"):
        create_function(id="broken", trigger="x", cancel=[Cancel("y", match="data.a", if_exp="true")])(body)


async def test_cron_trigger_starts_runs_on_schedule(make_executor, clock, fid):
    clock.set(1_767_225_600_000)    # 2026-01-01T00:00:00Z

    @create_function(id="every-5", trigger=TriggerCron("*/5 * * * *"))
    async def every_5(ctx):
        return ctx.event.ts

    ex = await make_executor([every_5])
    for n in (1, 2, 3):
        tick = 1_767_225_600_000 + 300_000 * n
        await eventually(lambda: ex.next_due() == tick)
        clock.set(tick)
        await eventually(lambda: _runs_at_least(ex, n))
    runs = await ex.runs(function_id=fid("every-5"))
    outputs = sorted([(await ex.wait_for_run(r.id, timeout=5)).output for r in runs])
    assert outputs == [1_767_225_600_000 + 300_000 * k for k in (1, 2, 3)]


async def _wait_kinds(ex, kinds):
    return {w["kind"] for w in await ex.waits()} == kinds


async def _runs_at_least(ex, n):
    return len(await ex.runs()) >= n


async def test_cancel_on_a_matching_later_event(make_executor, clock):
    @create_function(id="onboarding", trigger="app/user.signup",
                     cancel=[Cancel(event="app/user.deleted", match="data.userId", timeout="2d")])
    async def onboarding(ctx):
        await ctx.step.sleep("wait-3d", "3d")
        return "sent follow-up"

    ex = await make_executor([onboarding])
    cancelled = await run_of(ex, {"name": "app/user.signup", "data": {"userId": 1}})
    kept = await run_of(ex, {"name": "app/user.signup", "data": {"userId": 2}})
    await until_step(ex, cancelled.id, "wait-3d", StepStatus.SLEEPING)
    await until_step(ex, kept.id, "wait-3d", StepStatus.SLEEPING)     # its 3 days counted from now
    await ex.send({"name": "app/user.deleted", "data": {"userId": 1}})
    assert (await ex.wait_for_run(cancelled.id, timeout=5)).status == RunStatus.CANCELLED
    clock.advance(2 * 86_400_000 + 1)     # the rule expires before user 2 is deleted
    await ex.send({"name": "app/user.deleted", "data": {"userId": 2}})
    clock.advance(86_400_000)
    assert (await ex.wait_for_run(kept.id, timeout=5)).output == "sent follow-up"


async def test_on_failure_runs_with_the_failed_run_details_but_not_on_cancel(make_executor, clock, fid):
    seen = []

    async def handle_failure(ctx):
        seen.append(ctx.event.data)
        return "compensated"

    @create_function(id="charge", trigger="billing/charge", retries=0, on_failure=handle_failure)
    async def charge(ctx):
        if ctx.event.data.get("fail"):
            raise ValueError("card declined")
        await ctx.step.sleep("settle", "1h")

    ex = await make_executor([charge])
    assert fid("charge-failure") in ex.specs()
    failed = await ex.wait_for_run((await run_of(ex, {"name": "billing/charge", "data": {"fail": True}})).id, 5)
    assert failed.status == RunStatus.FAILED
    await eventually(lambda: _runs_at_least(ex, 2))
    [handler_run] = await ex.runs(function_id=fid("charge-failure"))
    assert (await ex.wait_for_run(handler_run.id, timeout=5)).output == "compensated"
    [data] = seen
    assert data["run_id"] == failed.id and data["function_id"] == fid("charge")
    assert data["error"]["name"] == "ValueError" and data["event"]["data"] == {"fail": True}

    to_cancel = await run_of(ex, {"name": "billing/charge", "data": {}})
    await until_step(ex, to_cancel.id, "settle", StepStatus.SLEEPING)
    await ex.cancel(to_cancel.id)
    await ex.wait_for_run(to_cancel.id, timeout=5)
    assert len(await ex.runs(function_id=fid("charge-failure"))) == 1, "cancelled runs do not call on_failure"
    names = [e.name for e in await ex.events()]
    assert names.count("inngest/function.failed") == 1 and names.count("inngest/function.cancelled") == 1
    assert "inngest/function.finished" in names


async def test_invoke_waiting_across_a_restart(make_executor, clock, tmp_path):
    db = str(tmp_path / "invoke.db")

    @create_function(id="napper")
    async def napper(ctx):
        await ctx.step.sleep("nap", "1h")
        return "rested"

    @create_function(id="parent", trigger="go")
    async def parent(ctx):
        return await ctx.step.invoke("call", function=napper)

    ex = await make_executor([parent, napper], db=db)
    run = await run_of(ex, {"name": "go"})
    await eventually(lambda: _wait_kinds(ex, {"invoke", "sleep"}))    # parent waits, child sleeps
    await ex.close()
    clock.advance(3_600_000)
    ex2 = await make_executor([parent, napper], db=db)
    assert (await ex2.wait_for_run(run.id, timeout=5)).output == "rested"


async def test_invoke_with_non_json_data_fails_the_run_naming_the_type(make_executor, driver):
    @create_function(id="parent", trigger="go")
    async def parent(ctx):
        await ctx.step.invoke("call", function=compute_square, data={"number": {1, 2}})

    ex = await make_executor([parent, compute_square])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert run.status == RunStatus.FAILED and run.invocations == 1
    assert run.error["name"] == "StepInputError" and "type set" in run.error["message"]
    # Served, the step fails in the app before the server hears of it: the run's error says which.
    assert [s.status for s in await ex.steps(run.id)] == (["Failed"] if driver == "local" else [])


async def test_rerun_from_a_step_keeps_the_results_before_it_and_runs_the_rest_again(make_executor):
    calls: list[str] = []

    @create_function(id="pipeline", trigger="go")
    async def pipeline(ctx):
        a = await ctx.step.run("extract", lambda: calls.append("extract") or 1)
        b = await ctx.step.run("transform", lambda: calls.append("transform") or a + 1)
        return await ctx.step.run("load", lambda: calls.append("load") or b * 10)

    ex = await make_executor([pipeline])
    first = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert first.output == 20 and calls == ["extract", "transform", "load"]
    again = await ex.wait_for_run((await ex.rerun(first.id, from_step="transform")).id, timeout=5)
    assert again.output == 20 and again.id != first.id
    assert calls == ["extract", "transform", "load", "transform", "load"], "extract's result was reused"
    steps = {s.step_id: s for s in await ex.steps(again.id)}
    assert steps["extract"].detail["rerun_of"] == first.id and steps["extract"].output == 1
    with pytest.raises(ValueError, match="has no step 'nope'; its steps are extract, transform, load"):
        await ex.rerun(first.id, from_step="nope")
