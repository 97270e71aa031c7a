"""CEL evaluation within a budget (issue #14, item 1): costly expressions are refused at load, the
rest are cut off at evaluation, and routing says so on the event.

The sizes are chosen so that each case took seconds or hundreds of megabytes without a budget;
pytest-timeout and tracemalloc bound them here.
"""

from __future__ import annotations

import tracemalloc

import pytest

from executor import TriggerEvent, create_function
from executor.expressions import ExpressionError, compile_expression, prepare_variables
from executor.expressions.budget import MAX_ALLOCATED_BYTES, MAX_COST

from tests.helpers import until_step

pytestmark = pytest.mark.timeout(10)


def _items(n: int) -> dict:
    return {"name": "app/order", "data": {"items": list(range(n)), "kind": "bulk"}}


# ---- refused at load ----------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "event.data.items.all(x, x in event.data.items)",
    "event.data.items.exists(x, event.data.text.contains(x))",
    "event.data.tags.filter(t, event.data.bio.matches(t)).size() > 0",
])
def test_a_comprehension_quadratic_in_the_event_is_refused_at_load(source):
    with pytest.raises(ExpressionError, match="grows with the square of the event's size"):
        compile_expression(source)


def test_linear_comprehensions_still_compile():
    for source in ("event.data.items.all(x, x in [1, 2, 3])",
                   "event.data.items.exists(x, x.name.contains(event.data.q))",
                   "event.data.items.map(x, x * 2).size() > 0"):
        compile_expression(source)


def test_an_expression_over_budget_before_reading_any_data_is_refused_at_load():
    source = " || ".join(f"event.data.k == {i}" for i in range(60))
    with pytest.raises(ExpressionError, match="too costly to evaluate"):
        compile_expression(source)
    assert compile_expression(" || ".join(f"event.data.k == {i}" for i in range(10))).minimum_cost < MAX_COST


# ---- cut off at evaluation ------------------------------------------------------------------------

def test_a_long_comprehension_is_cut_off_instead_of_stalling():
    # Without a budget this took ~1 s per 5,000 items on the event loop.
    verdict = compile_expression("event.data.items.all(x, x >= 0)").check({"event": _items(50_000)})
    assert not verdict.matched
    assert f"evaluation budget ({MAX_COST:,} units" in verdict.cutoff


def test_the_same_expression_within_budget_still_routes_correctly():
    expression = compile_expression("event.data.items.all(x, x >= 0)")
    assert expression.check({"event": _items(5)}).matched
    failing = {"name": "app/order", "data": {"items": [1, 2, -3]}}
    assert expression.check({"event": failing}).matched is False
    assert expression.check({"event": failing}).cutoff is None


def test_only_the_fields_read_are_converted():
    # cel-python's own conversion of a 300k-item list took 4 s before evaluating anything.
    event = _items(300_000)
    assert compile_expression("event.data.kind == 'bulk'").check({"event": event}).matched
    verdict = compile_expression("size(event.data.items) > 0").check({"event": event})
    assert not verdict.matched and "reading event.data.items" in verdict.cutoff


def test_concatenating_the_event_hundreds_of_times_is_refused_at_load():
    # The 256 concatenations cost 5.5 s and +910 MB per event; as a balanced tree they
    # pass the length and depth limits, and the static cost estimate refuses them.
    source = "event.data.s"
    for _ in range(7):
        source = f"({source} + {source})"
    with pytest.raises(ExpressionError, match="too costly to evaluate"):
        compile_expression(f"{source} != ''")


def test_concatenation_is_charged_for_what_it_copies():
    event = {"name": "x", "data": {"s": "a" * (1024 * 1024)}}
    expression = compile_expression("(event.data.s + event.data.s) + (event.data.s + event.data.s) != ''")
    tracemalloc.start()
    try:
        verdict = expression.check({"event": event})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not verdict.matched and "concatenating with +" in verdict.cutoff
    assert peak < 3 * MAX_ALLOCATED_BYTES


def test_map_building_strings_is_cut_off_by_memory():
    event = {"name": "x", "data": {"items": list(range(40)), "s": "b" * (200 * 1024)}}
    expression = compile_expression("event.data.items.map(x, event.data.s + event.data.s).size() > 0")
    tracemalloc.start()
    try:
        verdict = expression.check({"event": event})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not verdict.matched and "concatenating with +" in verdict.cutoff
    assert peak < 3 * MAX_ALLOCATED_BYTES


def test_string_of_a_list_is_an_error_not_a_repr():
    expression = compile_expression("string(event.data.items) == ''")
    assert expression.check({"event": _items(3)}) == expression.check({"event": _items(3)})
    assert not expression.check({"event": _items(3)}).matched


def test_verdicts_do_not_depend_on_which_expression_converted_the_data_first():
    prepared = prepare_variables({"event": _items(4_000)})
    cheap = compile_expression("size(event.data.items) > 0")
    costly = compile_expression("event.data.items.all(x, x >= 0)")
    first = cheap.check(prepared)
    costly.check(prepared)
    assert cheap.check(prepared) == first and first.matched


# ---- routing says so on the event -----------------------------------------------------------------

@create_function(id="bulk-check", trigger=TriggerEvent(event="app/order", expression="event.data.items.all(x, x >= 0)"))
async def bulk_check(ctx):
    return len(ctx.event.data["items"])


@create_function(id="waiter", trigger="app/start")
async def waiter(ctx):
    got = await ctx.step.wait_for_event("wait-order", event="app/order", timeout="1h",
                                        if_exp="async.data.items.exists(x, x == 7)")
    return got is not None


async def test_a_cut_off_trigger_starts_nothing_and_the_event_says_why(make_executor):
    ex = await make_executor([bulk_check])
    [small] = await ex.send(_items(3))
    assert len(await ex.runs(event_id=small)) == 1
    [big] = await ex.send(_items(20_000))
    assert await ex.runs(event_id=big) == []
    [note] = (await ex.event(big)).notes
    assert "function 'bulk-check': its trigger expression" in note and "evaluation budget" in note
    assert (await ex.event(small)).notes is None
    assert "notes" not in (await ex.event(big)).to_dict()   # never part of what functions see


async def test_a_cut_off_wait_keeps_waiting_and_the_event_names_the_run(make_executor):
    ex = await make_executor([waiter])
    [start] = await ex.send({"name": "app/start"})
    [run] = await ex.runs(event_id=start)
    await until_step(ex, run.id, "wait-order", "Waiting")
    [big] = await ex.send({"name": "app/order", "data": {"items": list(range(20_000))}})
    [note] = (await ex.event(big)).notes
    assert f"run {run.id}: the wait of step 'wait-order'" in note and "was not evaluated" in note
    assert (await ex.run(run.id)).status == "Running"
    await ex.send({"name": "app/order", "data": {"items": [1, 7]}})
    assert (await ex.wait_for_run(run.id, timeout=5)).output is True
