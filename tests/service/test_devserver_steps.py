"""Every step op of a real inngest-py app, executed by our dev server: ``step.run`` (once per step,
memos replayed), ``sleep``/``sleep_until``, ``wait_for_event`` matched through ``if_exp`` or timed
out, ``invoke`` returning, failing or timing out, and ``send_event``. Waiting happens on a virtual
clock that starts at the wall clock's now (the SDK dates sleeps by its own clock)."""

from __future__ import annotations

import collections
import datetime
from typing import Any

import inngest
import pytest

from tests.helpers import eventually

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def dev(start_devserver):
    return await start_devserver(virtual=True)


async def waiting(dev, run_id: str) -> list[dict[str, Any]]:
    """The run's pending waits, once it has parked on one."""
    await eventually(lambda: dev.ex.waits(run_id))
    return await dev.ex.waits(run_id)


async def test_each_step_runs_once_and_replays_from_its_memo(dev, sdk_app):
    client = dev.client("steps")
    ran: collections.Counter[str] = collections.Counter()

    def body(name: str, value: Any):
        def handler() -> Any:
            ran[name] += 1
            return value
        return handler

    @client.create_function(fn_id="two", trigger=inngest.TriggerEvent(event="steps/two"), retries=0)
    async def two(ctx: inngest.Context) -> dict[str, Any]:
        first = await ctx.step.run("first", body("first", {"foo": {"bar": 1}, "empty": None}))
        loop = [await ctx.step.run("again", body(f"again{i}", i)) for i in range(2)]
        return {"first": first, "loop": loop}

    app = await sdk_app(client, two, server=dev)
    run = await dev.finish(await dev.start_run(client, "steps/two"))
    assert (run.status, run.output) == ("Completed", {"first": {"foo": {"bar": 1}, "empty": None}, "loop": [0, 1]})
    assert ran == {"first": 1, "again0": 1, "again1": 1}
    assert await dev.step_memos(run.id) == {"first": {"data": {"foo": {"bar": 1}, "empty": None}},
                                            "again": {"data": 0}, "again:1": {"data": 1}}
    assert app.requests["steps-two"] == 4, "one request per step, each running inline, then the return"


async def test_sleep_and_sleep_until_wake_the_run_when_their_time_comes(dev, sdk_app):
    client = dev.client("steps")

    @client.create_function(fn_id="naps", trigger=inngest.TriggerEvent(event="steps/naps"), retries=0)
    async def naps(ctx: inngest.Context) -> str:
        await ctx.step.sleep("short", datetime.timedelta(hours=1))
        until = await ctx.step.run("until", lambda: (datetime.datetime.now(datetime.UTC)
                                                     + datetime.timedelta(days=2)).isoformat())
        await ctx.step.sleep_until("long", datetime.datetime.fromisoformat(until))
        return until

    await sdk_app(client, naps, server=dev)
    started = dev.clock.now_ms()
    run_id = await dev.start_run(client, "steps/naps")
    [nap] = await waiting(dev, run_id)
    assert nap["kind"] == "sleep" and 3_595_000 <= nap["deadline"] - started <= 3_605_000
    run = await dev.finish(run_id)
    assert run.status == "Completed"
    wake = int(datetime.datetime.fromisoformat(run.output).timestamp() * 1000)
    assert dev.clock.now_ms() >= wake >= started + 2 * 86_400_000, "slept until the date the SDK asked for"
    memos = await dev.step_memos(run_id)
    assert memos["short"] is None and memos["long"] is None


def waiter(client: inngest.Inngest) -> inngest.Function:
    @client.create_function(fn_id="waiter", trigger=inngest.TriggerEvent(event="steps/wait"), retries=0)
    async def wait(ctx: inngest.Context) -> Any:
        got = await ctx.step.wait_for_event("approval", event="steps/approved", if_exp="event.data.id == async.data.id",
                                            timeout=datetime.timedelta(minutes=5))
        return None if got is None else {"id": got.id, "name": got.name, "data": got.data, "ts": got.ts}
    return wait


async def test_wait_for_event_returns_the_event_its_if_expression_matches(dev, sdk_app):
    client = dev.client("steps")
    await sdk_app(client, waiter(client), server=dev)
    run_id = await dev.start_run(client, "steps/wait", {"id": "order-7"})
    [wait] = await waiting(dev, run_id)
    assert wait["kind"] == "event" and wait["event"] == "steps/approved"
    await client.send(inngest.Event(name="steps/approved", data={"id": "order-8", "by": "wrong"}))
    [matching] = await client.send(inngest.Event(name="steps/approved", data={"id": "order-7", "by": "ana"}))
    run = await dev.finish(run_id)
    assert run.status == "Completed"
    assert run.output["data"] == {"id": "order-7", "by": "ana"} and run.output["name"] == "steps/approved"
    assert run.output["id"] == matching and run.output["ts"] > 0


async def test_wait_for_event_times_out_to_none_when_nothing_matches(dev, sdk_app):
    client = dev.client("steps")
    await sdk_app(client, waiter(client), server=dev)
    started = dev.clock.now_ms()
    run_id = await dev.start_run(client, "steps/wait", {"id": "order-7"})
    await waiting(dev, run_id)
    await client.send(inngest.Event(name="steps/approved", data={"id": "order-8"}))
    run = await dev.finish(run_id)
    assert (run.status, run.output) == ("Completed", None)
    assert dev.clock.now_ms() - started >= 300_000
    assert (await dev.step_memos(run_id))["approval"] is None


class ChildError(Exception):
    pass


def invoke_functions(client: inngest.Inngest, *, timeout: datetime.timedelta | None = None) -> list[inngest.Function]:
    @client.create_function(fn_id="child", trigger=inngest.TriggerEvent(event="steps/never"), retries=0)
    async def child(ctx: inngest.Context) -> Any:
        mode = ctx.event.data["mode"]
        if mode == "fail":
            raise ChildError("oh no")
        if mode == "slow":
            await ctx.step.sleep("slow", datetime.timedelta(hours=1))
        return {"doubled": ctx.event.data["n"] * 2, "invoked_by": ctx.event.name}

    @client.create_function(fn_id="parent", trigger=inngest.TriggerEvent(event="steps/parent"), retries=0)
    async def parent(ctx: inngest.Context) -> Any:
        try:
            return await ctx.step.invoke("call", function=child, data={"n": 21, "mode": ctx.event.data["mode"]},
                                         timeout=timeout)
        except inngest.StepError as exc:
            return {"caught": exc.name, "message": exc.message, "stack": exc.stack}

    return [child, parent]


async def test_invoke_returns_the_child_runs_output(dev, sdk_app):
    client = dev.client("steps")
    await sdk_app(client, *invoke_functions(client), server=dev)
    run = await dev.finish(await dev.start_run(client, "steps/parent", {"mode": "ok"}))
    assert (run.status, run.output) == ("Completed", {"doubled": 42, "invoked_by": "inngest/function.invoked"})
    [child] = await dev.ex.runs(function_id="steps-child")
    assert (child.status, child.parent_run_id) == ("Completed", run.id)


async def test_invoke_of_a_failing_child_raises_its_error_in_the_parent(dev, sdk_app):
    client = dev.client("steps")
    await sdk_app(client, *invoke_functions(client), server=dev)
    run = await dev.finish(await dev.start_run(client, "steps/parent", {"mode": "fail"}))
    assert run.status == "Completed"
    assert (run.output["caught"], run.output["message"]) == ("ChildError", "oh no")
    assert "raise ChildError" in run.output["stack"], "the child's stack comes along"


async def test_invoke_times_out_with_inngests_error(dev, sdk_app):
    client = dev.client("steps")
    await sdk_app(client, *invoke_functions(client, timeout=datetime.timedelta(minutes=1)), server=dev)
    run = await dev.finish(await dev.start_run(client, "steps/parent", {"mode": "slow"}))
    assert run.status == "Completed"
    assert run.output == {"caught": "InngestInvokeTimeoutError",
                          "message": "Timed out waiting for invoked function to complete", "stack": None}


async def test_send_event_stores_the_events_and_starts_their_runs(dev, sdk_app):
    client = dev.client("steps")

    @client.create_function(fn_id="sender", trigger=inngest.TriggerEvent(event="steps/send"), retries=0)
    async def sender(ctx: inngest.Context) -> list[str]:
        return await ctx.step.send_event("notify", [inngest.Event(name="steps/notified", data={"n": n})
                                                    for n in (1, 2)])

    @client.create_function(fn_id="notified", trigger=inngest.TriggerEvent(event="steps/notified"), retries=0)
    async def notified(ctx: inngest.Context) -> int:
        return ctx.event.data["n"]

    await sdk_app(client, sender, notified, server=dev)
    run = await dev.finish(await dev.start_run(client, "steps/send"))
    assert run.status == "Completed" and len(run.output) == 2
    assert (await dev.step_memos(run.id))["notify"] == {"data": run.output}
    outputs = []
    for event_id in run.output:
        assert (await dev.ex.event(event_id)).name == "steps/notified"
        [child] = await dev.ex.runs(event_id=event_id)
        outputs.append((await dev.finish(child.id)).output)
    assert outputs == [1, 2]
