"""The Inngest protocol layer against the real inngest-py SDK (0.5.19), in process.

Each test serves inngest-py functions, sends them requests built by ``encode_request`` /
``request_headers`` / ``request_url`` exactly as our HTTP driver will, and checks what
``parse_response`` makes of the real replies — replaying memos the way the engine stores them.
"""

from __future__ import annotations

import datetime
from typing import Any

import inngest
import inngest.experimental.ai.openai

from executor.drivers.inngest import build_request_body, canonical_json
from executor.ops import Op, Opcode, hash_step_id
from tests.drivers.inngest.harness import NOW_MS, RunState, event, real_now_ms, slug


# ---- the request body ------------------------------------------------------------------------

def test_body_is_what_the_go_executor_sends():
    state = RunState(slug("fn"), trigger=event(data={"b": 2, "a": 1.5}))
    body = build_request_body(state.request(), fn_uuid="2f1c0e52-0000-4000-8000-000000000000", use_api=False,
                              qi_id="qi-1", job_id="job-1")
    assert body["event"] == {"id": "01EVENT", "name": "app/go", "data": {"b": 2, "a": 1.5}, "ts": NOW_MS - 1000,
                             "user": {}}
    assert body["events"] == [body["event"]]
    assert body["steps"] == {} and body["defers"] == {} and body["version"] == 2 and body["use_api"] is False
    assert body["ctx"] == {
        "fn_id": "2f1c0e52-0000-4000-8000-000000000000", "run_id": state.run_id, "env": "", "step_id": "step",
        "attempt": 0, "max_attempts": 5, "stack": {"stack": [], "current": 0}, "qi_id": "qi-1",
        "disable_immediate_execution": False, "use_api": False, "job_id": "job-1"}
    # JCS: sorted keys, no whitespace, 1.5 as ECMAScript prints it.
    wire = canonical_json(body)
    assert wire.startswith(b'{"ctx":{"attempt":0,"disable_immediate_execution":false,"env":"","fn_id":')
    assert b'"data":{"a":1.5,"b":2}' in wire and b" " not in wire


def test_body_lists_memoized_steps_in_the_order_they_finished():
    state = RunState(slug("fn"))
    state.memoize(Op(Opcode.STEP_RUN, hash_step_id("a"), display_name="a", data=1))
    state.memoize(Op(Opcode.STEP_RUN, hash_step_id("b"), display_name="b", data=2))
    request = state.request(target=hash_step_id("c"), disable_immediate_execution=True, request_id="req-9")
    body = build_request_body(request, fn_uuid=None, use_api=False)
    assert body["ctx"]["stack"] == {"stack": [hash_step_id("a"), hash_step_id("b")], "current": 2}
    assert body["steps"] == {hash_step_id("a"): {"data": 1}, hash_step_id("b"): {"data": 2}}
    assert body["ctx"]["step_id"] == "step" and body["ctx"]["fn_id"] == ""
    assert body["ctx"]["request_id"] == "req-9" and body["ctx"]["disable_immediate_execution"] is True
    api = build_request_body(request, fn_uuid=None, use_api=True)
    assert api["events"] == [] and api["steps"] == {} and api["use_api"] is api["ctx"]["use_api"] is True
    assert api["event"] == body["event"] and api["ctx"]["stack"] == body["ctx"]["stack"]


# ---- steps ---------------------------------------------------------------------------------------

async def test_step_run_runs_inline_then_the_function_returns(client, serve):
    @client.create_function(fn_id="two", trigger=inngest.TriggerEvent(event="app/go"))
    async def two(ctx: inngest.Context) -> Any:
        first = await ctx.step.run("a", lambda: {"x": 1, "empty": None})
        second = await ctx.step.run("b", lambda: [ctx.event.data["id"], first["x"]])
        return {"first": first, "second": second}

    app = serve(two)
    state = RunState(slug("two"))
    result = await app.call(state)
    assert not result.complete and result.error is None
    [op] = result.ops
    assert (op.op, op.id, op.display_name, op.index, op.data) == (
        Opcode.STEP_RUN, hash_step_id("a"), "a", None, {"x": 1, "empty": None})
    assert result.detail["status"] == 206 and result.detail["sdk"] == "inngest-py:v0.5.19"
    assert result.detail["request_version"] == 2
    state.memoize(op)
    [op] = (await app.call(state)).ops
    assert (op.op, op.display_name, op.data) == (Opcode.STEP_RUN, "b", [1, 1])
    state.memoize(op)
    result = await app.call(state)
    assert result.complete and result.output == {"first": {"x": 1, "empty": None}, "second": [1, 1]}
    assert result.ops == [] and result.detail["status"] == 200


async def test_repeated_step_ids_are_counted_and_hashed_like_inngest(client, serve):
    @client.create_function(fn_id="loop", trigger=inngest.TriggerEvent(event="app/go"))
    async def loop(ctx: inngest.Context) -> Any:
        return [await ctx.step.run("item", lambda i=i: i * 10) for i in range(3)]

    app, state = serve(loop), RunState(slug("loop"))
    for n in range(3):
        [op] = (await app.call(state)).ops
        assert op.id == hash_step_id("item", n) == hash_step_id("item" if n == 0 else f"item:{n}")
        assert (op.display_name, op.index, op.step_id, op.data) == ("item", n or None,
                                                                     "item" if n == 0 else f"item:{n}", n * 10)
        state.memoize(op)
    result = await app.call(state)
    assert result.complete and result.output == [0, 10, 20]


async def test_sleep_and_sleep_until_name_the_wake_time(client, serve):
    until = datetime.datetime(2030, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)

    @client.create_function(fn_id="naps", trigger=inngest.TriggerEvent(event="app/go"))
    async def naps(ctx: inngest.Context) -> str:
        await ctx.step.sleep("nap", datetime.timedelta(seconds=30))
        await ctx.step.sleep_until("later", until)
        return "awake"

    app, state = serve(naps), RunState(slug("naps"))
    before = real_now_ms()
    [nap] = (await app.call(state)).ops
    assert (nap.op, nap.display_name, nap.id, nap.opts) == (Opcode.SLEEP, "nap", hash_step_id("nap"), {})
    woke = datetime.datetime.fromisoformat(nap.name)
    assert before + 30_000 - 1000 <= woke.timestamp() * 1000 <= real_now_ms() + 30_000
    state.memoize(nap, None)                 # a finished sleep's memo is null
    [later] = (await app.call(state)).ops
    assert later.op == Opcode.SLEEP and datetime.datetime.fromisoformat(later.name) == until
    state.memoize(later, None)
    result = await app.call(state)
    assert result.complete and result.output == "awake"


async def test_wait_for_event_reports_its_expression_and_returns_the_event_or_none(client, serve):
    @client.create_function(fn_id="waits", trigger=inngest.TriggerEvent(event="app/go"))
    async def waits(ctx: inngest.Context) -> Any:
        matched = await ctx.step.wait_for_event("approval", event="app/approved",
                                                if_exp="event.data.id == async.data.id",
                                                timeout=datetime.timedelta(minutes=1))
        missed = await ctx.step.wait_for_event("second", event="app/never", timeout=datetime.timedelta(seconds=2))
        return {"matched": matched.data if matched else None, "id": matched.id if matched else None,
                "missed": missed}

    app, state = serve(waits), RunState(slug("waits"))
    [wait] = (await app.call(state)).ops
    assert (wait.op, wait.name, wait.display_name) == (Opcode.WAIT_FOR_EVENT, "app/approved", "approval")
    assert wait.opts == {"if": "event.data.id == async.data.id", "timeout": "1m"}
    state.memoize(wait, {"name": "app/approved", "data": {"id": 1, "ok": True}, "id": "01MATCH",
                         "ts": NOW_MS, "user": {}})
    [second] = (await app.call(state)).ops
    assert second.opts == {"if": None, "timeout": "2s"}      # kept as sent
    state.memoize(second, None)             # a timed-out wait's memo is null
    result = await app.call(state)
    assert result.output == {"matched": {"id": 1, "ok": True}, "id": "01MATCH", "missed": None}


async def test_invoke_names_the_function_and_gets_its_result_or_its_error(client, serve):
    @client.create_function(fn_id="parent", trigger=inngest.TriggerEvent(event="app/go"))
    async def parent(ctx: inngest.Context) -> Any:
        child = await ctx.step.invoke_by_id("call-child", function_id="child", data={"k": 1},
                                            timeout=datetime.timedelta(minutes=5))
        try:
            await ctx.step.invoke_by_id("call-broken", function_id="broken", data={})
        except inngest.StepError as err:
            return {"child": child, "broken": [err.name, err.message]}
        return "unreachable"

    app, state = serve(parent), RunState(slug("parent"))
    [invoke] = (await app.call(state)).ops
    assert (invoke.op, invoke.display_name) == (Opcode.INVOKE_FUNCTION, "call-child")
    assert invoke.opts["function_id"] == "myapp-child" and invoke.opts["payload"]["data"] == {"k": 1}
    assert invoke.opts["timeout"] == "5m"
    state.memoize(invoke, {"data": {"sum": 3}})
    [broken] = (await app.call(state)).ops
    state.memoize(broken, {"error": {"name": "MyError", "message": "oh no", "stack": "at child()"}})
    result = await app.call(state)
    assert result.output == {"child": {"sum": 3}, "broken": ["MyError", "oh no"]}


async def test_send_event_is_a_step_whose_data_is_the_event_ids(client, serve, stub):
    @client.create_function(fn_id="sender", trigger=inngest.TriggerEvent(event="app/go"))
    async def sender(ctx: inngest.Context) -> Any:
        return await ctx.step.send_event("tell", [inngest.Event(name="app/told", data={"n": 1})])

    app, state = serve(sender), RunState(slug("sender"))
    [op] = (await app.call(state)).ops
    assert (op.op, op.display_name, op.data) == (Opcode.STEP_RUN, "tell", ["01SENT0"])
    assert stub.sent[-1]["name"] == "app/told" and stub.sent[-1]["data"] == {"n": 1}
    state.memoize(op)
    assert (await app.call(state)).output == ["01SENT0"]


async def test_parallel_steps_are_planned_then_run_one_by_one_when_targeted(client, serve):
    @client.create_function(fn_id="par", trigger=inngest.TriggerEvent(event="app/go"))
    async def par(ctx: inngest.Context) -> Any:
        return await ctx.group.parallel((lambda: ctx.step.run("p1", lambda: 1), lambda: ctx.step.run("p2", lambda: 2)))

    app, state = serve(par), RunState(slug("par"))
    planned = (await app.call(state)).ops
    assert [(o.op, o.display_name, o.data, o.race) for o in planned] == [
        (Opcode.STEP_PLANNED, "p1", None, False), (Opcode.STEP_PLANNED, "p2", None, False)]
    for op in planned:                     # the executor targets each planned step
        [ran] = (await app.call(state, target=op.id, disable_immediate_execution=True)).ops
        assert (ran.op, ran.id) == (Opcode.STEP_RUN, op.id)
        state.memoize(ran)
    result = await app.call(state)
    assert result.complete and result.output == [1, 2]


async def test_race_mode_marks_planned_steps(client, serve):
    @client.create_function(fn_id="race", trigger=inngest.TriggerEvent(event="app/go"))
    async def race(ctx: inngest.Context) -> Any:
        return await ctx.group.parallel((lambda: ctx.step.run("r1", lambda: 1), lambda: ctx.step.run("r2", lambda: 2)),
                                        parallel_mode=inngest.ParallelMode.RACE)

    planned = (await serve(race).call(RunState(slug("race")))).ops
    assert [(o.op, o.opts, o.race) for o in planned] == [(Opcode.STEP_PLANNED, {"parallelMode": "race"}, True)] * 2


async def test_disable_immediate_execution_plans_a_lone_step(client, serve):
    @client.create_function(fn_id="lone", trigger=inngest.TriggerEvent(event="app/go"))
    async def lone(ctx: inngest.Context) -> Any:
        return await ctx.step.run("only", lambda: "ran")

    [op] = (await serve(lone).call(RunState(slug("lone")), disable_immediate_execution=True)).ops
    assert (op.op, op.display_name) == (Opcode.STEP_PLANNED, "only")


async def test_ai_infer_asks_the_server_to_call_the_model(client, serve):
    adapter = inngest.experimental.ai.openai.Adapter(auth_key="sk-test", model="gpt-test",
                                                      base_url="http://llm.test/v1")

    @client.create_function(fn_id="ai", trigger=inngest.TriggerEvent(event="app/go"))
    async def ai(ctx: inngest.Context) -> Any:
        return await ctx.step.ai.infer("ask", adapter=adapter, body={"messages": [{"role": "user", "content": "hi"}]})

    app, state = serve(ai), RunState(slug("ai"))
    [op] = (await app.call(state)).ops
    assert (op.op, op.display_name, op.opts["type"]) == (Opcode.AI_GATEWAY, "ask", "step.ai.infer")
    assert op.opts["url"].startswith("http://llm.test/v1") and op.opts["auth_key"] == "sk-test"
    assert op.opts["body"]["messages"] == [{"role": "user", "content": "hi"}] and op.opts["format"] == "openai-chat"
    state.memoize(op, {"data": {"choices": [{"message": {"content": "hello"}}]}})
    assert (await app.call(state)).output == {"choices": [{"message": {"content": "hello"}}]}
