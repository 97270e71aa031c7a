"""wait_for_event (match / CEL) and wait_for_signal: only later events match, timeouts return
None, first match consumes, signal conflicts, operator fire, durability across restarts."""

from __future__ import annotations

import asyncio

import pytest

from executor import Event, RunStatus, Signal, SignalNotFoundError, StepError, StepStatus, create_function

from tests.helpers import run_of, until_step

pytestmark = pytest.mark.timeout(20)


def _approval(**wait_kwargs):
    @create_function(id="approval", trigger="app/invoice.created")
    async def approval(ctx):
        approved = await ctx.step.wait_for_event("wait-for-approval", event="app/invoice.approved",
                                                 timeout="7d", **wait_kwargs)
        if approved is None:
            return {"approved": False}
        assert isinstance(approved, Event)
        return {"approved": True, "by": approved.data.get("by"), "id": approved.id, "name": approved.name}

    return approval


async def _waiting(ex, run_id, step_id="wait-for-approval"):
    await until_step(ex, run_id, step_id, StepStatus.WAITING)



@pytest.mark.parametrize("how", [
    {"match": "data.invoiceId"},
    {"if_exp": "event.data.invoiceId == async.data.invoiceId"},
])
async def test_matching_event_resumes_the_run(make_executor, how):
    ex = await make_executor([_approval(**how)])
    run = await run_of(ex, {"name": "app/invoice.created", "data": {"invoiceId": "inv-1"}})
    await _waiting(ex, run.id)
    [other] = await ex.send({"name": "app/invoice.approved", "data": {"invoiceId": "inv-2", "by": "eve"}})
    await asyncio.sleep(0.02)
    assert (await ex.run(run.id)).status == RunStatus.RUNNING, "a different invoice does not match"
    [good] = await ex.send({"name": "app/invoice.approved", "data": {"invoiceId": "inv-1", "by": "bob"}})
    run = await ex.wait_for_run(run.id, timeout=5)
    assert run.output == {"approved": True, "by": "bob", "id": good, "name": "app/invoice.approved"}
    [step] = await ex.steps(run.id)
    assert step.op == "wait_for_event" and step.output["id"] == good


async def test_event_sent_before_the_wait_never_matches(make_executor, clock):
    entered, gate = asyncio.Event(), asyncio.Event()

    async def setup():
        entered.set()
        await gate.wait()
        return "ready"

    @create_function(id="late", trigger="go")
    async def late(ctx):
        await ctx.step.run("slow-setup", setup)
        return await ctx.step.wait_for_event("wait", event="ping", timeout="1h")

    ex = await make_executor([late])
    run = await run_of(ex, {"name": "go"})
    await asyncio.wait_for(entered.wait(), 5)     # (served, the server hears of the step when it ends)
    await ex.send({"name": "ping"})        # the run exists, but its wait is not stored yet
    gate.set()
    await _waiting(ex, run.id, "wait")
    clock.advance(3_600_000)
    assert (await ex.wait_for_run(run.id, timeout=5)).output is None


async def test_timeout_returns_none_and_takes_the_timeout_branch(make_executor, clock, driver):
    ex = await make_executor([_approval(match="data.invoiceId")])
    run = await run_of(ex, {"name": "app/invoice.created", "data": {"invoiceId": "inv-9"}})
    await _waiting(ex, run.id)
    [wait] = await ex.waits()
    assert wait["deadline"] == clock.now_ms() + 7 * 86_400_000
    assert wait["kind"] == "event" and wait["event"] == "app/invoice.approved"
    # inngest-py has no ``match``: the adapter sends the expression it stands for.
    assert wait["expression"] == ("event.data.invoiceId == async.data.invoiceId" if driver == "inngest-sdk"
                                  else "data.invoiceId")
    clock.advance(7 * 86_400_000)
    assert (await ex.wait_for_run(run.id, timeout=5)).output == {"approved": False}
    assert await ex.waits() == []


async def test_first_matching_event_consumes_the_wait(make_executor):
    ex = await make_executor([_approval(match="data.invoiceId")])
    run = await run_of(ex, {"name": "app/invoice.created", "data": {"invoiceId": "inv-1"}})
    await _waiting(ex, run.id)
    routed = await ex.send_and_route([
        {"name": "app/invoice.approved", "data": {"invoiceId": "inv-1", "by": "first"}},
        {"name": "app/invoice.approved", "data": {"invoiceId": "inv-1", "by": "second"}},
    ])
    assert list(routed.values()) == [[run.id], []]
    assert (await ex.wait_for_run(run.id, timeout=5)).output["by"] == "first"


async def test_if_expression_with_literal_conjunct(make_executor):
    @create_function(id="subscription", trigger="app/user.signup")
    async def subscription(ctx):
        sub = await ctx.step.wait_for_event(
            "wait-for-subscription", event="app/subscription.created", timeout="30d",
            if_exp="event.data.userId == async.data.userId && async.data.plan == 'pro'")
        return sub.data if sub else None

    ex = await make_executor([subscription])
    run = await run_of(ex, {"name": "app/user.signup", "data": {"userId": 42}})
    await _waiting(ex, run.id, "wait-for-subscription")
    await ex.send({"name": "app/subscription.created", "data": {"userId": 42, "plan": "free"}})
    await ex.send({"name": "app/subscription.created", "data": {"userId": 42.0}})          # missing plan: no match
    await ex.send({"name": "app/subscription.created", "data": {"userId": 42.0, "plan": "pro"}})   # 42 == 42.0
    assert (await ex.wait_for_run(run.id, timeout=5)).output == {"userId": 42.0, "plan": "pro"}


async def test_invalid_expression_fails_the_step_quoting_it(make_executor, fid):
    @create_function(id="bad-cel", trigger="go")
    async def bad_cel(ctx):
        try:
            await ctx.step.wait_for_event("w", event="x", timeout="1h", if_exp="async.data.a == ")
        except StepError as err:
            return {"name": err.name, "message": err.message}

    ex = await make_executor([bad_cel])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert run.output["name"] == "InvalidExpression"
    assert '"async.data.a == "' in run.output["message"] and "column" in run.output["message"]
    assert f"function {fid('bad-cel')!r}" in run.output["message"]


async def test_match_and_if_together_is_an_error(make_executor):
    @create_function(id="both", trigger="go")
    async def both(ctx):
        await ctx.step.wait_for_event("w", event="x", timeout="1h", match="data.a", if_exp="true")

    ex = await make_executor([both])
    run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=5)
    assert run.status == RunStatus.FAILED and "match or if_exp, not both" in run.error["message"]


def _signal_task(on_conflict: str, fn_id: str = "signal-task"):
    @create_function(id=fn_id, trigger="task/start")
    async def task(ctx):
        got = await ctx.step.wait_for_signal("wait-for-task-completion", signal=ctx.event.data["task"],
                                             timeout="1h", on_conflict=on_conflict)
        assert got is None or isinstance(got, Signal)
        return None if got is None else {"signal": got.signal, "data": got.data}

    return task


async def test_signal_resumes_the_waiting_run(make_executor):
    ex = await make_executor([_signal_task("replace")])
    run = await run_of(ex, {"name": "task/start", "data": {"task": "task-123"}})
    await _waiting(ex, run.id, "wait-for-task-completion")
    [wait] = await ex.waits()
    assert wait["kind"] == "signal" and wait["signal"] == "task-123"
    assert await ex.send_signal("task-123", {"ok": True}) == run.id
    assert (await ex.wait_for_run(run.id, timeout=5)).output == {"signal": "task-123", "data": {"ok": True}}
    with pytest.raises(SignalNotFoundError, match="no run is waiting for signal 'task-123'"):
        await ex.send_signal("task-123", {})


async def test_signal_conflict_fail(make_executor):
    ex = await make_executor([_signal_task("fail")])
    first = await run_of(ex, {"name": "task/start", "data": {"task": "t"}})
    await _waiting(ex, first.id, "wait-for-task-completion")
    second = await ex.wait_for_run((await run_of(ex, {"name": "task/start", "data": {"task": "t"}})).id, timeout=5)
    assert second.status == RunStatus.FAILED
    assert second.error["name"] == "SignalConflict" and first.id in second.error["message"]
    assert await ex.send_signal("t", 1) == first.id


async def test_signal_conflict_replace_leaves_the_earlier_waiter_to_time_out(make_executor, clock):
    ex = await make_executor([_signal_task("replace")])
    first = await run_of(ex, {"name": "task/start", "data": {"task": "t"}})
    await _waiting(ex, first.id, "wait-for-task-completion")
    clock.advance(60_000)
    second = await run_of(ex, {"name": "task/start", "data": {"task": "t"}})
    await _waiting(ex, second.id, "wait-for-task-completion")
    assert await ex.send_signal("t", "payload") == second.id
    assert (await ex.wait_for_run(second.id, timeout=5)).output == {"signal": "t", "data": "payload"}
    assert (await ex.run(first.id)).status == RunStatus.RUNNING
    clock.advance(3_600_000)
    assert (await ex.wait_for_run(first.id, timeout=5)).output is None


async def test_fire_ends_a_sleep_or_times_out_a_wait_now(make_executor):
    @create_function(id="skippable", trigger="go")
    async def skippable(ctx):
        await ctx.step.sleep("long-nap", "7d")
        got = await ctx.step.wait_for_event("approval", event="never", timeout="7d")
        return {"got": got}

    ex = await make_executor([skippable])
    run = await run_of(ex, {"name": "go"})
    await until_step(ex, run.id, "long-nap", StepStatus.SLEEPING)
    [sleep] = await ex.waits()
    assert sleep["kind"] == "sleep" and sleep["step_id"] == "long-nap"
    await ex.fire(sleep["id"])
    await _waiting(ex, run.id, "approval")
    [wait] = await ex.waits()
    await ex.fire(wait["id"])
    assert (await ex.wait_for_run(run.id, timeout=5)).output == {"got": None}
    with pytest.raises(KeyError):
        await ex.fire(wait["id"])


async def test_waits_survive_closing_and_reopening(make_executor, clock, tmp_path):
    db = str(tmp_path / "waits.db")
    functions = [_approval(match="data.invoiceId"), _signal_task("replace")]
    ex = await make_executor(functions, db=db)
    approval = await run_of(ex, {"name": "app/invoice.created", "data": {"invoiceId": "inv-7"}})
    task = await run_of(ex, {"name": "task/start", "data": {"task": "sig-7"}})
    await _waiting(ex, approval.id)
    await _waiting(ex, task.id, "wait-for-task-completion")
    await ex.close()

    ex2 = await make_executor(functions, db=db)
    assert {w["kind"] for w in await ex2.waits()} == {"event", "signal"}
    await ex2.send({"name": "app/invoice.approved", "data": {"invoiceId": "inv-7", "by": "restart"}})
    assert await ex2.send_signal("sig-7", 7) == task.id
    assert (await ex2.wait_for_run(approval.id, timeout=5)).output["by"] == "restart"
    assert (await ex2.wait_for_run(task.id, timeout=5)).output == {"signal": "sig-7", "data": 7}
