"""Events into runs: validation, ids, idempotency, trigger matching."""

from __future__ import annotations

import pytest

from executor import EventValidationError, Limits, RunStatus, TriggerEvent, create_function

pytestmark = pytest.mark.timeout(20)


@create_function(id="signup", trigger=TriggerEvent(event="app/user.signup"))
async def signup(ctx):
    return ctx.event.data


@create_function(id="any-user", trigger=["app/user.*", "legacy/user"])
async def any_user(ctx):
    return ctx.event.name


@pytest.mark.parametrize("bad, message", [
    ({"data": {}}, "'name' is required"),
    ({"name": ""}, "'name' is required"),
    ({"name": "   "}, "'name' is required"),
    ({"name": "inngest/function.failed"}, "'inngest/' name prefix is reserved"),
    ({"name": "x", "data": [1, 2]}, "'data' must be a JSON object"),
    ({"name": "x", "ts": "yesterday"}, "'ts' must be epoch milliseconds"),
    ("just a string", "must be a JSON object"),
])
async def test_malformed_events_are_refused_and_nothing_is_stored(make_executor, bad, message):
    ex = await make_executor([signup])
    with pytest.raises(EventValidationError, match=message):
        await ex.send([{"name": "app/user.signup", "data": {"ok": True}}, bad])
    assert await ex.events() == [], "a batch with one bad event stores none of them"
    assert await ex.runs() == []


async def test_batch_error_names_the_position(make_executor):
    ex = await make_executor([signup])
    with pytest.raises(EventValidationError, match="event 2"):
        await ex.send([{"name": "ok"}, {"name": ""}])


async def test_ids_are_assigned_and_runs_start_per_matching_function(make_executor, clock):
    ex = await make_executor([signup, any_user])
    ids = await ex.send([{"name": "app/user.signup", "data": {"id": 7}}, {"name": "legacy/user"}])
    assert len(ids) == 2 and all(len(i) == 26 for i in ids), "ULIDs are assigned"
    first = {r.function_id for r in await ex.runs(event_id=ids[0])}
    second = {r.function_id for r in await ex.runs(event_id=ids[1])}
    assert first == {"signup", "any-user"} and second == {"any-user"}
    stored = await ex.event(ids[0])
    assert stored.data == {"id": 7} and stored.ts == clock.now_ms()
    for run in await ex.runs():
        assert (await ex.wait_for_run(run.id, timeout=5)).status == RunStatus.COMPLETED


async def test_the_store_counts_runs_per_function_and_status_as_a_pass_over_them_would(make_executor):
    ex = await make_executor([signup, any_user])
    await ex.send([{"name": "app/user.signup"}, {"name": "legacy/user"}, {"name": "app/user.login"},
                   {"name": "legacy/user"}])
    for run in await ex.runs():
        await ex.wait_for_run(run.id, timeout=5)
    expected: dict[str, dict[str, int]] = {}
    for run in await ex.runs():
        by_status = expected.setdefault(run.function_id, {})
        by_status[run.status] = by_status.get(run.status, 0) + 1
    assert await ex.store.count_runs_by_function() == expected
    assert sum(expected["any-user"].values()) == 4 and expected["signup"] == {RunStatus.COMPLETED: 1}


async def test_an_event_id_seen_before_starts_no_new_runs(make_executor):
    ex = await make_executor([signup])
    await ex.send({"id": "evt-1", "name": "app/user.signup", "data": {"n": 1}})
    await ex.send({"id": "evt-1", "name": "app/user.signup", "data": {"n": 2}})
    await ex.send([{"id": "evt-2", "name": "app/user.signup"}, {"id": "evt-2", "name": "app/user.signup"}])
    assert len(await ex.runs(event_id="evt-1")) == 1
    assert len(await ex.runs(event_id="evt-2")) == 1
    assert (await ex.event("evt-1")).data == {"n": 1}, "the first copy is kept"


async def test_unmatched_events_are_stored_without_runs(make_executor):
    ex = await make_executor([signup])
    [event_id] = await ex.send({"name": "nobody/listens"})
    assert (await ex.event(event_id)).name == "nobody/listens"
    assert await ex.runs(event_id=event_id) == []


async def test_event_size_and_count_limits(make_executor):
    ex = await make_executor([signup], limits=Limits(max_event_bytes=200, max_events_per_send=3))
    with pytest.raises(EventValidationError, match="bytes; the limit is 200 bytes"):
        await ex.send({"name": "big", "data": {"blob": "z" * 500}})
    with pytest.raises(EventValidationError, match="4 events in one send; the limit is 3"):
        await ex.send([{"name": "a"}] * 4)


async def test_invoke_and_rerun_start_runs_directly(make_executor):
    ex = await make_executor([signup])
    run = await ex.invoke("signup", {"who": "ada"})
    done = await ex.wait_for_run(run.id, timeout=5)
    assert done.output == {"who": "ada", "_inngest": {"fn_id": "signup"}}
    again = await ex.wait_for_run((await ex.rerun(run.id)).id, timeout=5)
    assert again.id != run.id and again.output == done.output
    with pytest.raises(KeyError, match="no function with id 'nope'"):
        await ex.invoke("nope")
