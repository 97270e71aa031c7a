"""The ``inngest-sdk`` conformance driver's translation (``tests.sdk_twin``): a function's options
reach our server the same through inngest-py as through our own app, and what inngest-py cannot
express is refused with the reason — at translation when the code names it, else when the run
gets there (the run then fails at once, and the reason is kept for the fixture's skip)."""

from __future__ import annotations

import pytest

from executor import (Batch, Cancel, Concurrency, Debounce, Priority, RateLimit, RunStatus, Singleton, Throttle,
                      Timeouts, TriggerCron, TriggerEvent, VirtualClock, create_function)
from tests.helpers import run_of
from tests.sdk_context import CannotExpress
from tests.sdk_twin import SDKTwin, sdk_client
from tests.served import ServedExecutors, slug

pytestmark = pytest.mark.timeout(30)


async def _compensate(ctx):
    return "compensated"


def _options_rich():
    @create_function(id="rich", name="Rich", retries=7, on_failure=_compensate,
                     trigger=[TriggerEvent("app/order.*", expression="event.data.total > 10"),
                              TriggerCron("*/5 * * * *")],
                     cancel=[Cancel("app/order.cancelled", match="data.id", timeout="2d")],
                     concurrency=[Concurrency(limit=2, key="event.data.id"),
                                  Concurrency(limit=5, scope="env", key="event.data.account")],
                     throttle=Throttle(limit=3, period="1m", burst=2, key="event.data.account"),
                     rate_limit=RateLimit(limit=10, period="1h"), idempotency="event.data.id",
                     priority=Priority(run="event.data.vip ? 60 : 0"), timeouts=Timeouts(start="10m", finish="1h"))
    async def rich(ctx):
        return None

    @create_function(id="batched", trigger="app/item", batch_events=Batch(max_size=5, timeout="10s",
                                                                          key="event.data.list"))
    async def batched(ctx):
        return None

    @create_function(id="folded", trigger="app/edit", debounce=Debounce(period="30s", key="event.data.doc",
                                                                        timeout="5m"),
                     singleton=Singleton(mode="cancel", key="event.data.doc"))
    async def folded(ctx):
        return None

    return [rich, batched, folded]


async def _synced(driver: str, functions, clock):
    served = ServedExecutors(clock, driver)
    ex = await served.make(functions, db=":memory:", limits=None, backoff=lambda attempt: 1.0)
    try:
        return ex.specs()
    finally:
        await ex.close()
        await served.close()


async def test_options_reach_the_server_as_our_app_sends_them():
    clock = VirtualClock()
    ours, theirs = await _synced("inngest-app", _options_rich(), clock), await _synced("inngest-sdk", _options_rich(), clock)
    assert sorted(ours) == sorted(theirs) == sorted(slug(i) for i in ("rich", "rich-failure", "batched", "folded"))
    for fn_id in ours:
        a, b = ours[fn_id], theirs[fn_id]
        assert (a.triggers, a.retries if fn_id != slug("rich-failure") else 0, a.flow) == (b.triggers, b.retries, b.flow), fn_id
        assert [(c.event, c.expression(), c.timeout) for c in a.cancel] == [
            (c.event, c.expression(), c.timeout) for c in b.cancel], fn_id


async def test_a_step_method_the_code_names_is_refused_at_translation():
    @create_function(id="signals", trigger="go")
    async def signals(ctx):
        return await ctx.step.wait_for_signal("s", signal="x", timeout="1h", on_conflict="fail")

    twin = SDKTwin(sdk_client("dt", "http://127.0.0.1:1"), VirtualClock())
    with pytest.raises(CannotExpress, match="cannot express: function 'signals' calls wait_for_signal"):
        twin.translate([signals])
    assert twin.cannot == ["function 'signals' calls wait_for_signal: Inngest's SDK protocol (and inngest-py 0.5.19) "
                           "has no signal wait"]


async def test_one_reached_only_at_run_time_fails_the_run_at_once_and_is_kept():
    @create_function(id="sneaky", trigger="go")
    async def sneaky(ctx):
        method = getattr(ctx.step, "_".join(("wait", "for", "signal")))     # not in the code's names
        return await method("s", signal="x", timeout="1h", on_conflict="fail")

    clock = VirtualClock()
    served = ServedExecutors(clock, "inngest-sdk")
    ex = await served.make([sneaky], db=":memory:", limits=None, backoff=lambda attempt: 1.0)
    try:
        run = await ex.wait_for_run((await run_of(ex, {"name": "go"})).id, timeout=10)
    finally:
        await ex.close()
        await served.close()
    assert run.status == RunStatus.FAILED and run.invocations == 1
    assert run.error["name"] == "CannotExpress" and run.error["message"].startswith("cannot express: wait_for_signal")
    assert served.cannot == [run.error["message"].removeprefix("cannot express: ")]
