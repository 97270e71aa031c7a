"""``ctx.group.parallel`` of a real inngest-py app, with the exact number of requests Inngest's rules
give. The rules: steps reported together come back planned (``StepPlanned``) and each gets its own
targeted request; in WAIT mode the next discovery request comes once no step of the group is
outstanding (an invoke counts), in RACE mode after each step ends; once the group has drained,
the next new step runs inline again instead of being planned."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import inngest
import pytest

pytestmark = pytest.mark.timeout(30)

#: How long a slow step takes (a step that runs while others are outstanding).
SLOW_STEP_S = 0.3
#: In RACE mode the slow step waits for the other branch to finish first: at most this long.
RACE_HOLD_S = 10.0


def chains(client: inngest.Inngest, mode: inngest.ParallelMode, order: list[str]) -> inngest.Function:
    """Two branches of two sequential steps each, then one more step. The right branch's first step
    is slow: in RACE mode it lasts until the left branch has ended (which only RACE mode allows),
    in WAIT mode a moment."""
    left_done = asyncio.Event()

    def step(name: str, hold: float = 0.0):
        async def handler() -> str:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(left_done.wait(), hold)
            if name == "l2":
                left_done.set()
            order.append(name)
            return name
        return handler

    @client.create_function(fn_id=f"chains-{mode.value}", trigger=inngest.TriggerEvent(event=f"par/{mode.value}"),
                            retries=0)
    async def fn(ctx: inngest.Context) -> Any:
        async def left() -> list[str]:
            return [await ctx.step.run("l1", step("l1")), await ctx.step.run("l2", step("l2"))]

        async def right() -> list[str]:
            hold = RACE_HOLD_S if mode == inngest.ParallelMode.RACE else SLOW_STEP_S
            return [await ctx.step.run("r1", step("r1", hold)), await ctx.step.run("r2", step("r2"))]

        branches = await ctx.group.parallel((left, right), parallel_mode=mode)
        return {"branches": list(branches), "after": await ctx.step.run("after", step("after"))}

    return fn


@pytest.mark.parametrize(("mode", "order", "requests"), [
    # plan l1+r1 | l1 | r1 | plan l2+r2 | l2 | r2 | "after" inline | return
    (inngest.ParallelMode.WAIT, ["l1", "r1", "l2", "r2", "after"], 8),
    # plan l1+r1 | l1 | r1 (slow) | after l1: plan l2 | l2 | after l2 | after r1: plan r2 | r2 | after r2: "after" inline | return
    (inngest.ParallelMode.RACE, ["l1", "l2", "r1", "r2", "after"], 10),
])
async def test_parallel_modes_decide_when_discovery_runs(devserver, sdk_app, mode, order, requests):
    client = devserver.client("par")
    ran: list[str] = []
    app = await sdk_app(client, chains(client, mode, ran))
    run = await devserver.finish(await devserver.start_run(client, f"par/{mode.value}"))
    assert (run.status, run.output) == ("Completed", {"branches": [["l1", "l2"], ["r1", "r2"]], "after": "after"})
    assert ran == order, "each step ran once, in the order the mode allows"
    assert app.requests[f"par-chains-{mode.value}"] == requests


async def test_wait_mode_waits_for_a_pending_invoke_before_discovery(devserver, sdk_app):
    client = devserver.client("par")

    @client.create_function(fn_id="child", trigger=inngest.TriggerEvent(event="par/never"), retries=0)
    async def child(ctx: inngest.Context) -> str:
        await asyncio.sleep(SLOW_STEP_S)
        return "child done"

    @client.create_function(fn_id="mixed", trigger=inngest.TriggerEvent(event="par/mixed"), retries=0)
    async def mixed(ctx: inngest.Context) -> Any:
        together = await ctx.group.parallel((
            lambda: ctx.step.invoke("call", function=child),
            lambda: ctx.step.run("quick", lambda: 1),
            lambda: ctx.step.send_event("tell", inngest.Event(name="par/told")),
        ))
        after = await ctx.step.run("after", lambda: "after")
        return {"together": [together[0], together[1], len(together[2])], "after": after}

    app = await sdk_app(client, child, mixed)
    run = await devserver.finish(await devserver.start_run(client, "par/mixed"))
    assert (run.status, run.output) == ("Completed", {"together": ["child done", 1, 1], "after": "after"})
    # invoke + plan quick and tell | quick | tell | (child ends) discovery: "after" inline | return
    assert app.requests["par-mixed"] == 5
    assert app.requests["par-child"] == 1
