"""The same functions twice: written with our SDK (served by ``InngestApp``) and with inngest-py 0.5.19
(served by its FastAPI adapter), so the golden tests can send both one request and compare replies.

Each pair has one id and does the same thing step for step; anything time-dependent uses a fixed
instant, so the two replies can match to the character.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import inngest

from executor import Cancel, Concurrency, Debounce, NonRetriableError, RetryAfterError, TriggerCron, TriggerEvent, create_function

APP = "golden"
#: A month ahead (a sleep may last a year at most), to the millisecond: both SDKs send it as is.
UNTIL = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=678_000)
RETRY_AT = datetime(2030, 1, 1, 0, 0, 0, tzinfo=timezone.utc)


def _double(x: int) -> int:
    return x * 2


def _boom() -> None:
    raise ValueError("bad input")


# ---- ours ------------------------------------------------------------------------------------

@create_function(id="child", trigger="app/child")
async def o_child(ctx):
    return ctx.event.data


@create_function(id="steps", trigger="app/go", checkpointing=False)
async def o_steps(ctx):
    a = await ctx.step.run("a", lambda: {"x": 1})
    b = await ctx.step.run("b", _double, 21)
    return {"a": a, "b": b}


@create_function(id="loop", trigger="app/go", checkpointing=False)
async def o_loop(ctx):
    return [await ctx.step.run("item", lambda i=i: i) for i in range(3)]


@create_function(id="async-ops", trigger="app/go", retries=2, checkpointing=False)
async def o_async_ops(ctx):
    await ctx.step.sleep_until("nap", UNTIL)
    got = await ctx.step.wait_for_event("w", event="app/other", if_exp="event.data.id == async.data.id",
                                        timeout="1m")
    child = await ctx.step.invoke("inv", function=o_child, data={"k": 1})
    return {"got": got, "child": child}


async def _gather(ctx):
    return list(await asyncio.gather(ctx.step.run("p1", lambda: 1), ctx.step.run("p2", lambda: 2)))


#: inngest-py's default parallel mode (WAIT: one discovery once all end) is our optimize_parallelism.
o_fan = create_function(id="fan", trigger="app/go", checkpointing=False, optimize_parallelism=True)(_gather)
#: Ours by default (a discovery after each step ends) is inngest-py's RACE.
o_race = create_function(id="race", trigger="app/go", checkpointing=False)(_gather)


@create_function(id="failing", trigger="app/go", checkpointing=False)
async def o_failing(ctx):
    await ctx.step.run("boom", _boom)


@create_function(id="refuse", trigger="app/go", checkpointing=False)
async def o_refuse(ctx):
    raise NonRetriableError("account closed")


@create_function(id="later", trigger="app/go", checkpointing=False)
async def o_later(ctx):
    raise RetryAfterError("slow down", RETRY_AT)


@create_function(id="crash", trigger="app/go", checkpointing=False)
async def o_crash(ctx):
    raise KeyError("missing")


@create_function(id="send", trigger="app/go", checkpointing=False)
async def o_send(ctx):
    return await ctx.step.send_event("send", [{"name": "app/sent", "data": {"n": 1}}])


async def _compensate(ctx):
    return "compensated"


@create_function(id="rich", name="Rich config", trigger=[TriggerEvent("app/order", expression="event.data.total > 10"),
                                                          TriggerCron("*/5 * * * *")],
                 retries=7, cancel=[Cancel("app/order.cancelled", if_exp="event.data.id == async.data.id",
                                           timeout="2d")], on_failure=_compensate)
async def o_rich(ctx):
    return None


@create_function(id="flow", trigger="app/flow", concurrency=[Concurrency(limit=2, key="event.data.id")],
                 debounce=Debounce(period="30s", key="event.data.id"))
async def o_flow(ctx):
    return None


OURS = [o_rich, o_flow, o_child, o_steps, o_loop, o_async_ops, o_fan, o_race, o_failing, o_refuse, o_later, o_crash, o_send]


# ---- inngest-py's ----------------------------------------------------------------------------

def theirs(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    go = inngest.TriggerEvent(event="app/go")

    async def compensate(ctx: inngest.Context) -> Any:
        return "compensated"

    @client.create_function(fn_id="rich", name="Rich config",
                            trigger=[inngest.TriggerEvent(event="app/order", expression="event.data.total > 10"),
                                     inngest.TriggerCron(cron="*/5 * * * *")],
                            retries=7, cancel=[inngest.Cancel(event="app/order.cancelled",
                                                              if_exp="event.data.id == async.data.id",
                                                              timeout=timedelta(days=2))],
                            on_failure=compensate)
    async def rich(ctx: inngest.Context) -> Any:
        return None

    @client.create_function(fn_id="flow", trigger=inngest.TriggerEvent(event="app/flow"),
                            concurrency=[inngest.Concurrency(limit=2, key="event.data.id")],
                            debounce=inngest.Debounce(period=timedelta(seconds=30), key="event.data.id"))
    async def flow(ctx: inngest.Context) -> Any:
        return None

    @client.create_function(fn_id="child", trigger=inngest.TriggerEvent(event="app/child"))
    async def child(ctx: inngest.Context) -> Any:
        return ctx.event.data

    @client.create_function(fn_id="steps", trigger=go)
    async def steps(ctx: inngest.Context) -> Any:
        a = await ctx.step.run("a", lambda: {"x": 1})
        b = await ctx.step.run("b", _double, 21)
        return {"a": a, "b": b}

    @client.create_function(fn_id="loop", trigger=go)
    async def loop(ctx: inngest.Context) -> Any:
        return [await ctx.step.run("item", lambda i=i: i) for i in range(3)]

    @client.create_function(fn_id="async-ops", trigger=go, retries=2)
    async def async_ops(ctx: inngest.Context) -> Any:
        await ctx.step.sleep_until("nap", UNTIL)
        got = await ctx.step.wait_for_event("w", event="app/other", if_exp="event.data.id == async.data.id",
                                            timeout=timedelta(minutes=1))
        result = await ctx.step.invoke("inv", function=child, data={"k": 1})
        return {"got": got.to_dict() if got else None, "child": result}

    @client.create_function(fn_id="fan", trigger=go)
    async def fan(ctx: inngest.Context) -> Any:
        return list(await ctx.group.parallel((lambda: ctx.step.run("p1", lambda: 1),
                                              lambda: ctx.step.run("p2", lambda: 2))))

    @client.create_function(fn_id="race", trigger=go)
    async def race(ctx: inngest.Context) -> Any:
        return list(await ctx.group.parallel((lambda: ctx.step.run("p1", lambda: 1),
                                              lambda: ctx.step.run("p2", lambda: 2)),
                                             parallel_mode=inngest.ParallelMode.RACE))

    @client.create_function(fn_id="failing", trigger=go)
    async def failing(ctx: inngest.Context) -> Any:
        await ctx.step.run("boom", _boom)

    @client.create_function(fn_id="refuse", trigger=go)
    async def refuse(ctx: inngest.Context) -> Any:
        raise inngest.NonRetriableError("account closed")

    @client.create_function(fn_id="later", trigger=go)
    async def later(ctx: inngest.Context) -> Any:
        raise inngest.RetryAfterError("slow down", RETRY_AT)

    @client.create_function(fn_id="crash", trigger=go)
    async def crash(ctx: inngest.Context) -> Any:
        raise KeyError("missing")

    @client.create_function(fn_id="send", trigger=go)
    async def send(ctx: inngest.Context) -> Any:
        return await ctx.step.send_event("send", [inngest.Event(name="app/sent", data={"n": 1})])

    return [rich, flow, child, steps, loop, async_ops, fan, race, failing, refuse, later, crash, send]
