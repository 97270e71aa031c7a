"""``POST /v0/gql``: the dev server's GraphQL API, through the FastAPI app on an httpx ASGI transport
(executor on a virtual clock). The query shapes are the ones tools written against Inngest's dev
server send: the run's status and output with its trigger, the trace's step spans, a span's output
by id, an event's runs; plus the reply rules those tools judge by."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import inngest
import orjson
import pytest

from executor import Executor, NonRetriableError, StepStatus, create_function
from executor.service.api import create_app

from tests.helpers import run_of, until_step

pytestmark = pytest.mark.timeout(30)

RUN_AND_TRIGGER = """
query RunAndTrigger($run_id: String!) {
  run(runID: $run_id) { output status }
  runTrigger(runID: $run_id) { payloads }
}"""
TRACE = """
query Trace($run_id: String!) {
  run(runID: $run_id) { trace { childrenSpans { name outputID } } }
}"""
SPAN_OUTPUT = """
query SpanOutput($output_id: String!) {
  runTraceSpanOutputByID(outputID: $output_id) { data error { message name stack } }
}"""
EVENT_RUNS = """
query EventRuns($event_id: ID!) {
  event(query: {eventId: $event_id}) { functionRuns { id } }
}"""


@create_function(id="two-steps", trigger="gql/two-steps", retries=0)
async def two_steps(ctx):
    first = await ctx.step.run("first", lambda: {"foo": {"bar": 1}, "empty": None})
    second = await ctx.step.run("second", lambda: [1, 2])
    return {"first": first, "second": second}


@create_function(id="repeats", trigger="gql/repeats", retries=0)
async def repeats(ctx):
    return [await ctx.step.run("foo", lambda i=i: i * 10) for i in range(3)]


def _oh_no() -> None:
    raise ValueError("oh no")


@create_function(id="step-fails", trigger="gql/step-fails", retries=0)
async def step_fails(ctx):
    try:
        await ctx.step.run("doomed", _oh_no)
    except Exception as exc:   # StepError: the step failed for good, the function carries on
        return f"caught {type(exc).__name__}"
    return "not reached"


@create_function(id="run-fails", trigger="gql/run-fails", retries=0)
async def run_fails(ctx):
    await ctx.step.run("fine", lambda: "ok")
    raise NonRetriableError("giving up")


@create_function(id="napper", trigger="gql/nap", name="Takes a nap")
async def napper(ctx):
    await ctx.step.sleep("nap", "1h")
    return "rested"


@create_function(id="approver", trigger="gql/approve")
async def approver(ctx):
    got = await ctx.step.wait_for_event("approval", event="gql/approved", timeout="1d", match="data.id")
    return got.data["by"] if got else None


FUNCTIONS = [two_steps, repeats, step_fails, run_fails, napper, approver]


@pytest.fixture
async def ex(make_executor) -> Executor:
    return await make_executor(FUNCTIONS)


@pytest.fixture
async def gql(ex) -> AsyncIterator[Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ex)), base_url="http://127.0.0.1") as http:
        async def post(query: str, variables: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
            reply = await http.post("/v0/gql", json={"query": query, "variables": variables or {}, **extra})
            assert reply.status_code == 200, reply.text
            return reply.json()
        yield post


async def finished(ex: Executor, event: dict[str, Any]):
    run = await run_of(ex, event)
    return await ex.wait_for_run(run.id, timeout=5)


async def step_outputs(gql, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Each top-level span's name with its output, the way a test helper reads step outputs."""
    spans = (await gql(TRACE, {"run_id": run_id}))["data"]["run"]["trace"]["childrenSpans"]
    out = []
    for span in spans:
        assert span["outputID"], f"span {span['name']!r} has no outputID"
        reply = await gql(SPAN_OUTPUT, {"output_id": span["outputID"]})
        assert "errors" not in reply
        out.append((span["name"], reply["data"]["runTraceSpanOutputByID"]))
    return out


# ---- the queries test helpers send ----------------------------------------------------------

async def test_completed_run_gives_status_output_and_a_parsable_trigger_without_an_errors_key(ex, gql):
    run = await finished(ex, {"name": "gql/two-steps", "data": {"foo": {"bar": "baz"}}})
    reply = await gql(RUN_AND_TRIGGER, {"run_id": run.id})
    assert "errors" not in reply
    assert reply["data"]["run"]["status"] == "COMPLETED"
    assert orjson.loads(reply["data"]["run"]["output"]) == {"first": {"foo": {"bar": 1}, "empty": None},
                                                             "second": [1, 2]}
    [payload] = reply["data"]["runTrigger"]["payloads"]
    event = inngest.Event.model_validate_json(payload)   # the SDK's strict model
    assert (event.name, dict(event.data), event.id) == ("gql/two-steps", {"foo": {"bar": "baz"}}, run.event_id)
    assert isinstance(event.ts, int) and event.ts > 0


async def test_step_outputs_are_unwrapped_values_found_by_span_name(ex, gql):
    run = await finished(ex, {"name": "gql/two-steps"})
    assert await step_outputs(gql, run.id) == [
        ("first", {"data": '{"foo":{"bar":1},"empty":null}', "error": None}),
        ("second", {"data": "[1,2]", "error": None}),
    ]


async def test_a_repeated_step_id_gives_spans_of_that_name_in_order(ex, gql):
    run = await finished(ex, {"name": "gql/repeats"})
    outputs = await step_outputs(gql, run.id)
    assert [name for name, _ in outputs] == ["foo", "foo", "foo"]
    assert [orjson.loads(out["data"]) for _, out in outputs] == [0, 10, 20]
    assert len({span["outputID"] for span in (await gql(TRACE, {"run_id": run.id}))["data"]["run"]["trace"]
                ["childrenSpans"]}) == 3


async def test_a_failed_step_gives_its_error_and_no_data(ex, gql):
    run = await finished(ex, {"name": "gql/step-fails"})
    assert run.output == "caught StepError"
    [(name, out)] = await step_outputs(gql, run.id)
    assert name == "doomed" and out["data"] is None
    assert (out["error"]["message"], out["error"]["name"]) == ("oh no", "ValueError")
    assert "ValueError: oh no" in out["error"]["stack"]


async def test_a_failed_run_gives_its_error_as_output(ex, gql):
    run = await finished(ex, {"name": "gql/run-fails"})
    reply = await gql(RUN_AND_TRIGGER, {"run_id": run.id})
    assert "errors" not in reply and reply["data"]["run"]["status"] == "FAILED"
    error = orjson.loads(reply["data"]["run"]["output"])
    assert (error["name"], error["message"]) == ("NonRetriableError", "giving up")
    trace = (await gql("query($id: String!) { run(runID: $id) { trace { status outputID } } }",
                       {"id": run.id}))["data"]["run"]["trace"]
    assert trace["status"] == "FAILED"
    root = (await gql(SPAN_OUTPUT, {"output_id": trace["outputID"]}))["data"]["runTraceSpanOutputByID"]
    assert root["data"] is None and root["error"]["message"] == "giving up"


async def test_an_unknown_run_is_an_error_not_a_null_run(gql):
    reply = await gql(RUN_AND_TRIGGER, {"run_id": "01NOSUCHRUN"})
    assert reply["data"] is None   # runTrigger cannot be null, so the whole data is
    assert {e["path"][0] for e in reply["errors"]} == {"run", "runTrigger"}
    assert all("01NOSUCHRUN" in e["message"] and e["extensions"]["code"] == "NOT_FOUND" for e in reply["errors"])
    alone = await gql(TRACE, {"run_id": "01NOSUCHRUN"})
    assert alone["data"] == {"run": None} and alone["errors"][0]["path"] == ["run"]


async def test_an_event_lists_the_runs_it_started(ex, gql):
    [event_id] = await ex.send({"name": "gql/two-steps"})
    [run] = await ex.runs(event_id=event_id)
    reply = await gql(EVENT_RUNS, {"event_id": event_id})
    assert reply == {"data": {"event": {"functionRuns": [{"id": run.id}]}}}
    missing = await gql(EVENT_RUNS, {"event_id": "nope"})
    assert missing["data"] == {"event": None} and "'nope'" in missing["errors"][0]["message"]


# ---- the rest of the run view ------------------------------------------------------------------

async def test_run_fields_and_span_details(ex, gql, clock):
    run = await finished(ex, {"name": "gql/two-steps"})
    reply = await gql("""query($id: String!) { run(runID: $id) {
        id status queuedAt startedAt endedAt traceID triggerIDs eventName isBatch
        function { slug name triggers { type value } app { name sdkLanguage } }
        trace { name status isRoot duration childrenSpans {
            name status attempts stepOp stepType stepID isRoot parentSpanID startedAt endedAt childrenSpans { name } } }
    } }""", {"id": run.id})
    got = reply["data"]["run"]
    assert got["id"] == got["traceID"] == run.id and got["status"] == "COMPLETED"
    assert got["queuedAt"] == "2026-01-01T00:00:00.000Z" and got["endedAt"].endswith("Z")
    assert got["triggerIDs"] == [run.event_id] and got["eventName"] == "gql/two-steps" and got["isBatch"] is False
    assert got["function"] == {"slug": "two-steps", "name": "two-steps",
                               "triggers": [{"type": "EVENT", "value": "gql/two-steps"}],
                               "app": {"name": "test_gql", "sdkLanguage": "python"}}
    trace = got["trace"]
    assert (trace["name"], trace["status"], trace["isRoot"], trace["duration"]) == ("two-steps", "COMPLETED", True, 0)
    steps = {s.name: s for s in await ex.steps(run.id)}
    for span in trace["childrenSpans"]:
        assert span["status"] == "COMPLETED" and span["attempts"] == 1 and span["stepOp"] == "RUN"
        assert span["stepType"] == "run" and span["stepID"] == steps[span["name"]].hashed_id
        assert span["isRoot"] is False and span["parentSpanID"] == run.id and span["childrenSpans"] == []


async def test_a_sleeping_step_is_waiting_without_output_and_a_cancelled_run_cancels_it(ex, gql, clock):
    run = await run_of(ex, {"name": "gql/nap"})
    await until_step(ex, run.id, "nap", StepStatus.SLEEPING)
    query = """query($id: String!) { run(runID: $id) { status output trace { name outputID
        childrenSpans { name status outputID scheduledAt stepOp } } } }"""
    got = (await gql(query, {"id": run.id}))["data"]["run"]
    assert (got["status"], got["output"], got["trace"]["name"], got["trace"]["outputID"]) == (
        "RUNNING", None, "Takes a nap", None)
    [span] = got["trace"]["childrenSpans"]
    assert span == {"name": "nap", "status": "WAITING", "outputID": None, "stepOp": "SLEEP",
                    "scheduledAt": "2026-01-01T01:00:00.000Z"}
    [step] = await ex.steps(run.id)
    early = await gql(SPAN_OUTPUT, {"output_id": f"{run.id}:{step.hashed_id}"})
    assert early["data"] is None and "has no output yet: it is Sleeping" in early["errors"][0]["message"]
    assert await ex.cancel(run.id)
    await ex.wait_for_run(run.id, timeout=5)
    got = (await gql(query, {"id": run.id}))["data"]["run"]
    assert got["status"] == "CANCELLED" and got["trace"]["childrenSpans"][0]["status"] == "CANCELLED"


async def test_a_waiting_run_shows_what_it_waits_for_and_the_found_event_is_the_step_output(ex, gql, clock):
    [event_id] = await ex.send({"name": "gql/approve", "data": {"id": 7}})
    [run] = await ex.runs(event_id=event_id)
    await until_step(ex, run.id, "approval", StepStatus.WAITING)
    reply = await gql("""query($e: ID!) { event(query: {eventId: $e}) { name status pendingRuns totalRuns
        functionRuns { id status function { slug } waitingFor { eventName expression expiryTime } } } }""",
                      {"e": event_id})
    event = reply["data"]["event"]
    assert (event["name"], event["status"], event["pendingRuns"], event["totalRuns"]) == ("gql/approve", "RUNNING", 1, 1)
    [fr] = event["functionRuns"]
    assert (fr["id"], fr["status"], fr["function"]) == (run.id, "RUNNING", {"slug": "approver"})
    assert fr["waitingFor"] == {"eventName": "gql/approved", "expression": "data.id",   # as written
                                "expiryTime": "2026-01-02T00:00:00.000Z"}
    [approval_id] = await ex.send({"name": "gql/approved", "data": {"id": 7, "by": "ann"}})
    await ex.wait_for_run(run.id, timeout=5)
    [(name, out)] = await step_outputs(gql, run.id)
    assert name == "approval" and orjson.loads(out["data"])["id"] == approval_id
    status = await gql('query($e: ID!) { event(query: {eventId: $e}) { status } }', {"e": event_id})
    assert status["data"]["event"]["status"] == "COMPLETED"


async def test_bad_output_ids_are_errors(ex, gql):
    run = await finished(ex, {"name": "gql/two-steps"})
    for output_id, says in [("no-colon", "is not an outputID"), (f"{run.id}:feedface", "no step with hashed id"),
                            ("01NOSUCHRUN:abc", "no run with id")]:
        reply = await gql(SPAN_OUTPUT, {"output_id": output_id})
        assert reply["data"] is None and says in reply["errors"][0]["message"], reply


# ---- lists ---------------------------------------------------------------------------------------

async def test_functions_apps_and_function_by_slug(ex, gql):
    reply = await gql("""{ functions { slug } apps { id name url functionCount functions { slug } }
        functionBySlug(query: {functionSlug: "approver"}) { name slug appID url config
            configuration { retries { value } cancellations { event } } }
        none: functionBySlug(query: {functionSlug: "nope"}) { slug } }""")
    data = reply["data"]
    assert [f["slug"] for f in data["functions"]] == sorted(f.id for f in FUNCTIONS)
    [app] = data["apps"]
    assert (app["name"], app["functionCount"]) == ("test_gql", len(FUNCTIONS)) and app["url"].startswith("file://")
    fn = data["functionBySlug"]
    assert fn["appID"] == app["id"] and fn["url"] == app["url"] and fn["configuration"]["retries"] == {"value": 4}
    assert orjson.loads(fn["config"])["id"] == "approver" and data["none"] is None
    one = await gql('query($id: UUID!) { app(id: $id) { name } }', {"id": app["id"]})
    assert one["data"]["app"] == {"name": "test_gql"}


async def test_events_list_pages_newest_first(ex, gql):
    ids = [(await ex.send({"name": f"gql/unrouted-{i}", "data": {"i": i}}))[0] for i in range(3)]
    reply = await gql("{ events(query: {}) { id name payload raw } }")
    listed = reply["data"]["events"]
    assert [e["id"] for e in listed] == ids[::-1]
    assert orjson.loads(listed[0]["payload"]) == {"i": 2} and orjson.loads(listed[0]["raw"])["name"] == "gql/unrouted-2"
    older = await gql("query($last: ID) { events(query: {lastEventId: $last}) { id } }", {"last": ids[2]})
    assert [e["id"] for e in older["data"]["events"]] == ids[1::-1]
    unknown = await gql('{ events(query: {lastEventId: "nope"}) { id } }')
    assert unknown["data"] == {"events": None} and "names no event" in unknown["errors"][0]["message"]


RUNS = """query($first: Int!, $after: String, $filter: RunsFilterV2!) {
  runs(first: $first, after: $after, filter: $filter, orderBy: [{field: QUEUED_AT, direction: DESC}]) {
    edges { cursor node { id status function { slug } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  } }"""


async def test_runs_connection_filters_and_pages(ex, gql, clock):
    done = [await finished(ex, {"name": "gql/two-steps"}) for _ in range(3)]
    failed = await finished(ex, {"name": "gql/run-fails"})
    since = "2000-01-01T00:00:00Z"
    page = (await gql(RUNS, {"first": 2, "filter": {"from": since}}))["data"]["runs"]
    assert [e["node"]["id"] for e in page["edges"]] == [failed.id, done[2].id] and page["totalCount"] == 4
    assert page["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False,
                                "startCursor": failed.id, "endCursor": done[2].id}
    rest = (await gql(RUNS, {"first": 2, "after": page["pageInfo"]["endCursor"], "filter": {"from": since}}))
    assert [e["node"]["id"] for e in rest["data"]["runs"]["edges"]] == [done[1].id, done[0].id]
    assert rest["data"]["runs"]["pageInfo"]["hasNextPage"] is False
    completed = (await gql(RUNS, {"first": 10, "filter": {"from": since, "status": ["COMPLETED", "SKIPPED"],
                                                          "functionIDs": ["two-steps"]}}))["data"]["runs"]
    assert {e["node"]["id"] for e in completed["edges"]} == {r.id for r in done} and completed["totalCount"] == 3
    skipped = (await gql(RUNS, {"first": 10, "filter": {"from": since, "status": ["SKIPPED"]}}))["data"]["runs"]
    assert skipped["edges"] == [] and skipped["totalCount"] == 0
    future = (await gql(RUNS, {"first": 10, "filter": {"from": "2026-01-01T00:00:00.001Z"}}))["data"]["runs"]
    assert future["edges"] == []


async def test_runs_refuses_what_it_cannot_do(gql):
    cel = await gql(RUNS, {"first": 5, "filter": {"from": "2000-01-01T00:00:00Z", "query": "event.name == 'x'"}})
    assert cel["data"] is None and "CEL queries" in cel["errors"][0]["message"]
    ordered = await gql('{ runs(filter: {from: "2000-01-01T00:00:00Z"}, orderBy: [{field: ENDED_AT, '
                        'direction: ASC}]) { totalCount } }')
    assert "newest first by queue time only" in ordered["errors"][0]["message"]
    too_many = await gql(RUNS, {"first": 401, "filter": {"from": "2000-01-01T00:00:00Z"}})
    assert "first must be between 1 and 400" in too_many["errors"][0]["message"]
    bad_time = await gql(RUNS, {"first": 5, "filter": {"from": "yesterday"}})
    assert "'yesterday' is not an RFC 3339 time" in bad_time["errors"][0]["message"]


# ---- HTTP -------------------------------------------------------------------------------------

async def test_operation_name_picks_one_of_several_operations(ex, gql):
    document = "query A { functions { slug } } query B { apps { name } }"
    assert set((await gql(document, operationName="B"))["data"]) == {"apps"}


@pytest.mark.parametrize("body, status, says", [
    (b"{not json", 400, "not valid JSON"),
    (b'{"variables": {}}', 400, 'needs "query"'),
    (b'{"query": "{ functions { slug } }", "variables": [1]}', 400, '"variables" must be an object'),
    (b'{"query": "{ functions { slug }"}', 422, "Syntax Error"),
    (b'{"query": "{ nope }"}', 422, "Cannot query field 'nope'"),
])
async def test_requests_that_cannot_run_get_only_errors_and_a_4xx(ex, body, status, says):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ex)), base_url="http://127.0.0.1") as http:
        reply = await http.post("/v0/gql", content=body)
    assert reply.status_code == status and set(reply.json()) == {"errors"}
    assert says in reply.json()["errors"][0]["message"]


async def test_a_server_key_guards_the_endpoint_like_v1(ex):
    app = create_app(ex, key="s3cret")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        body = {"query": "{ functions { slug } }"}
        missing = await http.post("/v0/gql", json=body)
        wrong = await http.post("/v0/gql", json=body, headers={"Authorization": "Bearer nope"})
        right = await http.post("/v0/gql", json=body, headers={"Authorization": "Bearer s3cret"})
    assert missing.status_code == wrong.status_code == 401
    assert "Authorization: Bearer <key>" in missing.json()["errors"][0]["message"]
    assert "not this server's key" in wrong.json()["errors"][0]["message"]
    assert right.status_code == 200 and "errors" not in right.json()
