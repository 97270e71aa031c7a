"""The HTTP API against a real uvicorn server on a free loopback port (executor on a virtual clock)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from executor import Limits, LoadError, LoadStatus
from executor.service.client import ApiRequestError, Client, ServerUnavailableError
from executor.service.api import create_app
from executor.service.server import ApiServer, bind
from tests.service import support
from tests.service.support import FUNCTIONS, JSON, finished, pending_waits, post_events

pytestmark = pytest.mark.timeout(30)


# ---- the event API ---------------------------------------------------------------------------

async def test_one_event_starts_its_function(served):
    status, body = await post_events(served, {"name": "test/greet", "data": {"name": "ada"}})
    assert status == 200 and body["status"] == 200 and len(body["ids"]) == 1
    [run] = (await served.http.get(f"/v1/events/{body['ids'][0]}/runs")).json()["data"]
    assert (await finished(served, run["id"]))["output"] == "hello ADA"


async def test_an_array_of_events_gets_ids_in_order(served):
    status, body = await post_events(served, [{"name": "test/greet", "id": "a"}, {"name": "other/x", "id": "b"}])
    assert status == 200 and body["status"] == 200 and len(body["ids"]) == 2, "internal ids, as Inngest answers"
    second = (await served.http.get(f"/v1/events/{body['ids'][1]}")).json()["data"]
    assert second["name"] == "other/x" and second["id"] == "b" and second["internal_id"] == body["ids"][1]
    assert (await served.http.get("/v1/events/b")).json()["data"]["internal_id"] == body["ids"][1], "by its own id too"


async def test_ts_defaults_to_the_receive_time(served, clock):
    _, body = await post_events(served, [{"name": "test/x"}, {"name": "test/x", "ts": 1234}])
    stamps = [(await served.http.get(f"/v1/events/{i}")).json()["data"]["ts"] for i in body["ids"]]
    assert stamps == [clock.now_ms(), 1234]


async def test_a_repeated_event_id_starts_no_new_run(served):
    answers = [await post_events(served, {"name": "test/greet", "id": "once"}) for _ in range(2)]
    assert [status for status, _ in answers] == [200, 200]
    assert len({body["ids"][0] for _, body in answers}) == 2, "stored twice, as Inngest does"
    assert len((await served.http.get("/v1/events/once/runs")).json()["data"]) == 1, "but run once"


@pytest.mark.parametrize("body, error", [
    (b"{not json", "not valid JSON"),
    (b"", "not valid JSON"),
    ({"data": {}}, "'name' is required"),
    ({"name": ""}, "'name' is required"),
    ({"name": "   "}, "'name' is required"),
    ({"name": 5}, "'name' is required"),
    ({"name": "inngest/function.finished"}, "'inngest/' name prefix is reserved"),
    ({"name": "test/x", "data": [1]}, "'data' must be a JSON object"),
    ({"name": "test/x", "ts": "yesterday"}, "'ts' must be epoch milliseconds"),
    ([{"name": ""}, {"name": "test/x"}], "event 1: 'name' is required"),
    ([], "no events to send"),
    (7, "must be a JSON object"),
])
async def test_bad_events_are_refused_and_nothing_is_stored(served, body, error):
    status, reply = await post_events(served, body)
    assert status == 400 and reply["status"] == 400 and reply["ids"] == []
    assert error in reply["error"]
    assert (await served.http.get("/v1/events")).json()["data"] == []


async def test_a_bad_event_stops_the_batch_and_the_ones_before_it_are_kept(served):
    status, reply = await post_events(served, [{"name": "test/x", "id": "first"}, {"name": ""}, {"name": "test/x"}])
    assert status == 400 and "event 2: 'name' is required" in reply["error"]
    [kept] = reply["ids"]
    listed = (await served.http.get("/v1/events")).json()["data"]
    assert [(e["id"], e["internal_id"]) for e in listed] == [("first", kept)], "the third one was never read"


async def test_seeded_ids_come_back_the_same_when_a_client_retries(served):
    seed = {"x-inngest-event-id-seed": "1743130137367,eii2YKXRVTJPuA=="}
    events = [{"name": "test/greet", "data": {"name": "a"}}, {"name": "test/greet", "data": {"name": "b"}}]
    first = await served.http.post("/e/key", content=orjson.dumps(events), headers=seed)
    retry = await served.http.post("/e/key", content=orjson.dumps(events), headers=seed)
    ids = first.json()["ids"]
    assert ids == retry.json()["ids"] == ["01JQDAE4RQF8MBCR55T5AK4KXS", "01JQDAE4RQF8MBCR55T5AK4KXT"]
    listed = (await served.http.get("/v1/events", params={"name": "test/greet"})).json()["data"]
    assert sorted(e["internal_id"] for e in listed) == sorted(ids * 2), "each copy stored, as on Inngest"
    for event_id in ids:
        assert len((await served.http.get(f"/v1/events/{event_id}/runs")).json()["data"]) == 1, "routed once"


async def test_event_size_and_count_limits(serve_app):
    s = await serve_app(limits=Limits(max_event_bytes=1000, max_events_per_send=3))
    status, reply = await post_events(s, {"name": "test/x", "data": {"blob": "x" * 1000}})
    assert status == 400 and "the limit is 1,000 bytes" in reply["error"]
    status, reply = await post_events(s, [{"name": "test/x"}] * 4)
    assert status == 400 and "4 events in one send; the limit is 3" in reply["error"]
    assert (await post_events(s, [{"name": "test/x"}] * 3))[0] == 200


async def test_default_event_limit_is_3_mib(served):
    status, reply = await post_events(served, {"name": "test/x", "data": {"blob": "x" * (3 * 1024 * 1024)}})
    assert status == 400 and "the limit is 3,145,728 bytes" in reply["error"]


async def test_a_request_body_over_the_cap_is_refused_unread(serve_app):
    s = await serve_app(max_request_bytes=100)
    status, reply = await post_events(s, {"name": "test/x", "data": {"blob": "x" * 200}})
    assert (status, reply["ids"]) == (400, []) and "over 100 bytes" in reply["error"]


# ---- runs ----------------------------------------------------------------------------------

async def test_run_detail_has_steps_timings_and_the_pending_sleep(served, clock):
    run = await served.ex.invoke("napper", {})
    [wait] = await pending_waits(served, 1)
    detail = (await served.http.get(f"/v1/runs/{run.id}")).json()["data"]
    assert detail["status"] == "Running" and detail["function_id"] == "napper"
    [step] = detail["steps"]
    assert (step["id"], step["op"], step["status"], step["due_at"]) == ("nap", "sleep", "Sleeping", clock.now_ms() + 3_600_000)
    assert detail["waits"] == [wait] and wait["kind"] == "sleep" and wait["deadline"] == step["due_at"]


async def test_completed_run_detail(served):
    run = await served.ex.invoke("greet", {"name": "bo"})
    detail = await finished(served, run.id)
    assert detail["status"] == "Completed" and detail["output"] == "hello BO" and detail["waits"] == []
    assert [(s["id"], s["status"], s["attempts"], s["output"]) for s in detail["steps"]] == [
        ("load-name", "Completed", 1, "bo"), ("shout", "Completed", 1, "BO")]
    assert all(s["started_at"] is not None and s["ended_at"] is not None for s in detail["steps"])


async def test_list_runs_filters_and_pages(served):
    ids = [(await served.ex.invoke("greet", {})).id for _ in range(3)]
    napping = (await served.ex.invoke("napper", {})).id
    for run_id in ids:
        await served.ex.wait_for_run(run_id, timeout=5)
    body = (await served.http.get("/v1/runs", params={"function_id": "greet", "limit": 2})).json()
    assert [r["id"] for r in body["data"]] == ids[::-1][:2]
    rest = (await served.http.get("/v1/runs", params={"function_id": "greet", "cursor": body["metadata"]["next_cursor"]})).json()
    assert [r["id"] for r in rest["data"]] == ids[:1] and rest["metadata"]["next_cursor"] is None
    completed = (await served.http.get("/v1/runs", params={"status": "Completed"})).json()["data"]
    assert {r["id"] for r in completed} == set(ids) and napping not in {r["id"] for r in completed}


@pytest.mark.parametrize("params, error", [
    ({"status": "Sleeping"}, "query.status: Input should be 'Queued', 'Running', 'Completed', 'Failed', 'Cancelled' or 'Skipped'"),
    ({"limit": 0}, "query.limit"),
    ({"limit": 5000}, "query.limit"),
    ({"limit": "many"}, "query.limit"),
])
async def test_list_runs_bad_query(served, params, error):
    response = await served.http.get("/v1/runs", params=params)
    assert response.status_code == 400 and error in response.json()["error"]


async def test_cancel_a_sleeping_run_then_again(served):
    run = await served.ex.invoke("napper", {})
    await pending_waits(served, 1)
    response = await served.http.delete(f"/v1/runs/{run.id}")
    assert response.json() == {"data": {"run_id": run.id, "cancelled": True}}
    assert (await finished(served, run.id))["status"] == "Cancelled"
    again = await served.http.delete(f"/v1/runs/{run.id}")
    assert again.status_code == 409 and "already finished (Cancelled)" in again.json()["error"]


async def test_rerun_starts_a_fresh_run_on_the_same_event(served):
    _, body = await post_events(served, {"name": "test/greet", "data": {"name": "cy"}})
    [first] = await served.ex.runs(event_id=body["ids"][0])
    response = await served.http.post(f"/v1/runs/{first.id}/rerun", headers=JSON)
    new_id = response.json()["data"]["run_id"]
    assert new_id != first.id and (await finished(served, new_id))["output"] == "hello CY"


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/runs/nope"), ("DELETE", "/v1/runs/nope"), ("POST", "/v1/runs/nope/rerun"),
    ("GET", "/v1/events/nope"), ("GET", "/v1/events/nope/runs"), ("POST", "/v1/waits/nope/fire"),
    ("POST", "/v1/functions/nope/invoke"), ("GET", "/v1/nothing-here"),
])
async def test_unknown_ids_are_404_with_an_error(served, method, path):
    response = await served.http.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == 404
    assert "'nope'" in response.json()["error"] or "no such endpoint: GET /v1/nothing-here" == response.json()["error"]


# ---- events, functions, waits, signals -------------------------------------------------------

async def test_list_events_by_name_with_cursor(served):
    _, body = await post_events(served, [{"name": "a/x", "id": "1"}, {"name": "b/y", "id": "2"}, {"name": "a/x", "id": "3"}])
    page = (await served.http.get("/v1/events", params={"name": "a/x", "limit": 1})).json()
    assert [e["id"] for e in page["data"]] == ["3"] and page["metadata"]["next_cursor"] == body["ids"][2]
    rest = (await served.http.get("/v1/events", params={"name": "a/x", "cursor": body["ids"][2]})).json()
    assert [e["id"] for e in rest["data"]] == ["1"] and rest["data"][0]["internal_id"] == body["ids"][0]


async def test_functions_with_their_triggers_and_load_errors(serve_app):
    source = support.__file__      # where the served functions are defined
    broken = LoadError(file=source, line=3, message="SyntaxError: invalid syntax")
    s = await serve_app(load_status=LoadStatus([broken, LoadError("other.py", None, "boom")]))
    body = (await s.http.get("/v1/functions")).json()
    by_id = {f["id"]: f for f in body["data"]}
    assert set(by_id) == {"greet", "napper", "approver"}
    assert by_id["greet"]["triggers"][0]["event"] == "test/greet"
    assert by_id["greet"]["source_file"] == source
    assert by_id["greet"]["load_error"] == broken.to_dict()
    assert broken.to_dict()["where"] == f"{source}:3"
    assert body["metadata"]["load_errors"] == [broken.to_dict(), {"file": "other.py", "line": None, "message": "boom", "where": "other.py"}]


async def test_load_status_is_read_on_every_request(served):
    status = LoadStatus()
    app = create_app(served.ex, load_status=status)
    async with ApiServer(app, bind("127.0.0.1", 0)) as server, httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/v1/functions")).json()["metadata"]["load_errors"] == []
        status.errors = [LoadError("f.py", 1, "gone wrong")]
        assert (await http.get("/v1/functions")).json()["metadata"]["load_errors"][0]["message"] == "gone wrong"


async def test_invoke_a_function(served):
    response = await served.http.post("/v1/functions/greet/invoke", json={"data": {"name": "di"}})
    assert (await finished(served, response.json()["data"]["run_id"]))["output"] == "hello DI"
    bare = await served.http.post("/v1/functions/greet/invoke", json={})
    assert (await finished(served, bare.json()["data"]["run_id"]))["output"] == "hello WORLD"


@pytest.mark.parametrize("body, error", [
    ({"data": [1, 2]}, "body.data"),
    (b"{oops", "not valid JSON"),
])
async def test_invoke_bad_body(served, body, error):
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = await served.http.post("/v1/functions/greet/invoke", headers={"Content-Type": "application/json"}, **kwargs)
    assert response.status_code == 400 and error in response.json()["error"]


async def test_waits_list_and_fire_a_sleep(served):
    run = await served.ex.invoke("napper", {})
    [wait] = await pending_waits(served, 1)
    assert (wait["run_id"], wait["step_id"], wait["kind"]) == (run.id, "nap", "sleep")
    response = await served.http.post(f"/v1/waits/{wait['id']}/fire", headers=JSON)
    assert response.json() == {"data": {"id": wait["id"], "fired": True}}
    assert (await finished(served, run.id))["output"] == "rested"
    assert (await served.http.post(f"/v1/waits/{wait['id']}/fire", headers=JSON)).status_code == 404


async def test_fire_times_out_a_signal_wait(served):
    run = await served.ex.invoke("approver", {"signal": "never"})
    [wait] = await pending_waits(served, 1)
    assert (wait["kind"], wait["signal"]) == ("signal", "never")
    await served.http.post(f"/v1/waits/{wait['id']}/fire", headers=JSON)
    assert (await finished(served, run.id))["output"] == "timed out"


async def test_signal_resumes_the_waiting_run(served):
    run = await served.ex.invoke("approver", {"signal": "approve-42"})
    await pending_waits(served, 1)
    response = await served.http.post("/v1/signals", json={"signal": "approve-42", "data": {"ok": True}})
    assert response.json() == {"data": {"run_id": run.id}}
    assert (await finished(served, run.id))["output"] == {"ok": True}


@pytest.mark.parametrize("body, status, error", [
    ({"signal": "nobody-waits"}, 404, "no run is waiting for signal 'nobody-waits'"),
    ({"data": 1}, 400, "body.signal: Field required"),
    ({"signal": ""}, 400, "body.signal"),
    ({"signal": 5}, 400, "body.signal"),
    (b"not json", 400, "not valid JSON"),
])
async def test_bad_signals(served, body, status, error):
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = await served.http.post("/v1/signals", headers={"Content-Type": "application/json"}, **kwargs)
    assert response.status_code == status and error in response.json()["error"]


async def test_event_bodies_are_read_as_json_whatever_the_content_type(served):
    """``curl -d '{...}'`` and Inngest SDKs send events as application/x-www-form-urlencoded or
    text/plain; the event API reads them as JSON, as Inngest's does."""
    for content_type in ("application/x-www-form-urlencoded", "text/plain", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = await served.http.post("/e/k", content=b'{"name": "test/x"}', headers=headers)
        assert response.status_code == 200, content_type


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data", None])
async def test_v1_writes_need_a_json_content_type(served, content_type):
    """What a web page can send to any address without a CORS preflight is refused, before parsing."""
    headers = {"Content-Type": content_type} if content_type else {}
    run = await served.ex.invoke("napper", {})
    for path, body in (("/v1/functions/greet/invoke", b'{"data": {"name": "jo"}}'),
                       ("/v1/signals", b'{"signal": "none"}'), (f"/v1/runs/{run.id}/rerun", b"")):
        response = await served.http.post(path, content=body, headers=headers)
        assert response.status_code == 415, path
        assert "needs 'Content-Type: application/json'" in response.json()["error"]
    assert len(await served.ex.runs(function_id="greet")) == 0
    assert (await served.http.post("/v1/functions/greet/invoke", content=b"{}",
                                   headers={"Content-Type": "application/json; charset=utf-8"})).status_code == 200


async def test_openapi_document(served):
    doc = (await served.http.get("/openapi.json")).json()
    assert doc["info"]["title"] == "durable-tui"
    for path in ("/e/{event_key}", "/v1/signals", "/v1/runs", "/v1/runs/{run_id}", "/v1/runs/{run_id}/rerun",
                 "/v1/events", "/v1/events/{event_id}", "/v1/events/{event_id}/runs", "/v1/functions",
                 "/v1/functions/{function_id}/invoke", "/v1/waits", "/v1/waits/{wait_id}/fire", "/v1/stream"):
        assert path in doc["paths"], path
    assert "EventIn" in doc["components"]["schemas"]


# ---- auth ----------------------------------------------------------------------------------

async def test_with_a_key_only_that_event_key_and_bearer_are_accepted(serve_app):
    s = await serve_app(key="s3cret")
    status, reply = await post_events(s, {"name": "test/x"}, key="wrong")
    assert (status, reply["ids"], reply["error"]) == (401, [], "event key not accepted by this server")
    assert (await post_events(s, {"name": "test/x"}, key="s3cret"))[0] == 200
    async with httpx.AsyncClient(base_url=s.url) as anonymous:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0"}):
            response = await anonymous.get("/v1/runs", headers=headers)
            assert response.status_code == 401 and "key" in response.json()["error"]
        assert (await anonymous.get("/v1/stream")).status_code == 401
        assert (await anonymous.get("/openapi.json")).status_code == 200
    assert (await s.http.get("/v1/runs")).status_code == 200


async def test_without_a_key_any_event_key_is_accepted(served):
    for key in ("a", "NO_EVENT_KEY_SET"):
        assert (await post_events(served, {"name": "test/x"}, key=key))[0] == 200
    assert (await served.http.get("/v1/runs", headers={"Authorization": "Bearer whatever"})).status_code == 200


# ---- SSE -----------------------------------------------------------------------------------

def is_completion_of(run_id: str):
    return lambda change: change["kind"] == "run" and change["id"] == run_id and change["status"] == "Completed"


async def take_until(changes, last) -> list[dict[str, Any]]:
    taken = []
    async for change in changes:
        taken.append(change if isinstance(change, dict) else change.to_dict())
        if last(taken[-1]):
            return taken
    raise AssertionError(f"the stream ended before the expected change; got {taken}")


async def test_stream_delivers_a_runs_transitions_in_commit_order(served):
    with served.ex.subscribe() as local:
        async with served.client.stream() as changes:
            run = await served.ex.invoke("greet", {})
            seen = await take_until(changes, is_completion_of(run.id))
        assert seen == await take_until(local, is_completion_of(run.id))
    statuses = [c["status"] for c in seen if c["kind"] == "run"]
    assert statuses[0] == "Queued" and statuses[-1] == "Completed" and "Running" in statuses
    steps = [c["status"] for c in seen if c["kind"] == "step"]
    assert steps == ["Running", "Completed", "Running", "Completed"]


async def test_stopping_the_server_ends_open_streams(make_executor):
    ex = await make_executor(FUNCTIONS)
    server = await ApiServer(create_app(ex), bind("127.0.0.1", 0)).start()
    async with Client(server.url) as client, client.stream() as changes:
        async with asyncio.timeout(5):
            await server.stop()
            assert [c async for c in changes] == []


# ---- the client ----------------------------------------------------------------------------

async def test_client_covers_every_endpoint(served):
    c = served.client
    [event_id] = await c.send({"name": "test/greet", "data": {"name": "ed"}})
    assert (await c.event(event_id))["name"] == "test/greet"
    [run] = await c.event_runs(event_id)
    await served.ex.wait_for_run(run["id"], timeout=5)
    assert (await c.run(run["id"]))["output"] == "hello ED"
    assert [e["id"] for e in (await c.events(name="test/greet")).items] == [event_id]
    assert (await c.runs(status="Completed")).items[0]["id"] == run["id"]
    again = await c.rerun(run["id"])
    assert (await served.ex.wait_for_run(again, timeout=5)).status == "Completed"
    assert {f["id"] for f in (await c.functions()).functions} == {"greet", "napper", "approver"}
    napping = await c.invoke("napper")
    [wait] = await pending_waits(served, 1)
    assert await c.waits() == [wait]
    await c.fire(wait["id"])
    assert (await served.ex.wait_for_run(napping, timeout=5)).output == "rested"
    waiting = await c.invoke("approver", {"signal": "go"})
    await pending_waits(served, 1)
    assert await c.signal("go", 1) == waiting
    cancelling = await c.invoke("napper")
    await c.cancel(cancelling)
    assert (await served.ex.wait_for_run(cancelling, timeout=5)).status == "Cancelled"
    with pytest.raises(ApiRequestError) as refused:
        await c.cancel(cancelling)
    assert refused.value.status == 409


async def test_client_send_while_the_server_is_stopped(served):
    await served.client.send({"name": "test/x"})
    await served.server.stop()
    with pytest.raises(ServerUnavailableError, match=f"no durable-tui server answers at {served.url}"):
        await served.client.send({"name": "test/x"})
    with pytest.raises(ServerUnavailableError):
        async with served.client.stream():
            pass
