"""Golden tests: one request to our Inngest app and the same request to an inngest==0.5.19 app with
the same functions (``tests.app.pairs``); the replies must agree field by field — status, body and
headers — except the SDK's name and version, the framework's name, stack traces (different code
raised them) and the signature's value (it signs a body whose stack differs).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import fastapi
import httpx
import inngest
import inngest.fast_api
import orjson
import pytest

from executor.drivers.inngest.signing import sign_request, verify_response_signature
from executor.service.inngest_app import InngestApp
from tests.app.pairs import APP, OURS, UNTIL, theirs
from tests.drivers.inngest.harness import SIGNING_KEY, StubServer

pytestmark = pytest.mark.timeout(30)

RUN = "01JGOLDENRUN000000000000000"
EVENT = {"name": "app/go", "data": {"id": 1}, "id": "01EVENT", "ts": 1_767_225_599_000, "user": {}}
#: Differ by what they are, not by what the app does (or only by transport).
UNCOMPARED_HEADERS = {"date", "server", "content-length", "server-timing", "x-inngest-sdk", "user-agent",
                      "x-inngest-framework", "x-inngest-signature"}


def h(step_id: str) -> str:
    return hashlib.sha1(step_id.encode()).hexdigest()


def body(steps: dict[str, Any] | None = None, *, attempt: int = 0, max_attempts: int = 5, die: bool = False,
         use_api: bool = False, **extra: Any) -> dict[str, Any]:
    steps = steps or {}
    return {"event": EVENT, "events": [] if use_api else [EVENT], "steps": {} if use_api else steps,
            "use_api": use_api, "version": 2, "defers": {},
            "ctx": {"run_id": RUN, "env": "", "step_id": "step", "attempt": attempt, "max_attempts": max_attempts,
                    "stack": {"stack": list(steps), "current": len(steps)}, "disable_immediate_execution": die,
                    "use_api": use_api, **extra}}


class Pair:
    """Both apps, in process (ASGI transports, no sockets), against one stub Inngest server."""

    def __init__(self, stub: StubServer, signing_key: str | None = None) -> None:
        client = inngest.Inngest(app_id=APP, is_production=signing_key is not None, signing_key=signing_key,
                                 api_base_url=stub.origin, event_api_base_url=stub.origin, event_key="evkey")
        api = fastapi.FastAPI()
        inngest.fast_api.serve(api, client, theirs(client))
        self.ours_app = InngestApp(OURS, app_id=APP, server=stub.origin, signing_key=signing_key, event_key="evkey")
        self.theirs = httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://app.test")
        self.ours = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.ours_app), base_url="http://app.test")
        self.signing_key = signing_key

    async def send(self, method: str, query: dict[str, str] | None = None, payload: Any = None,
                   headers: dict[str, str] | None = None, *, raw: bytes | None = None
                   ) -> tuple[httpx.Response, httpx.Response]:
        content = raw if raw is not None else (orjson.dumps(payload) if payload is not None else None)
        sent = {"content-type": "application/json", **(headers or {})}
        replies = []
        for client in (self.ours, self.theirs):
            replies.append(await client.request(method, "/api/inngest", params=query, content=content, headers=sent))
        return replies[0], replies[1]

    async def execute(self, fn: str, payload: Any, step: str = "step", **options: Any
                      ) -> tuple[httpx.Response, httpx.Response]:
        headers = {}
        if self.signing_key:
            headers["x-inngest-signature"] = sign_request(orjson.dumps(payload), self.signing_key, int(time.time()))
        return await self.send("POST", {"fnId": f"{APP}-{fn}", "stepId": step}, payload, headers, **options)

    async def close(self) -> None:
        await self.ours.aclose()
        await self.theirs.aclose()
        await self.ours_app.aclose()


@pytest.fixture(scope="module")
def stub():
    server = StubServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keyed_stub():
    """A server whose API wants the Bearer token of ``SIGNING_KEY``."""
    server = StubServer(signing_key=SIGNING_KEY).start()
    yield server
    server.stop()


@pytest.fixture
async def pair(stub):
    made = Pair(stub)
    yield made
    await made.close()


def _masked(value: Any) -> Any:
    """Stack traces come from different code: compare that both have one (or neither)."""
    if isinstance(value, dict):
        return {k: ("<stack>" if k == "stack" and isinstance(v, str) else _masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def same(ours: httpx.Response, theirs: httpx.Response) -> Any:
    """Assert the two replies agree; return the (masked) body."""
    assert ours.status_code == theirs.status_code, (ours.text, theirs.text)
    ours_body, theirs_body = _masked(ours.json()), _masked(theirs.json())
    assert ours_body == theirs_body
    ours_headers = {k: v for k, v in ours.headers.items() if k not in UNCOMPARED_HEADERS}
    theirs_headers = {k: v for k, v in theirs.headers.items() if k not in UNCOMPARED_HEADERS}
    assert ours_headers == theirs_headers
    for header in ("x-inngest-sdk", "user-agent", "x-inngest-framework", "x-inngest-signature"):
        assert (header in ours.headers) == (header in theirs.headers), header
    assert ours.headers.get("x-inngest-sdk", "inngest-").startswith("inngest-")
    return ours_body


async def test_discovery_runs_the_first_step(pair):
    [op] = same(*await pair.execute("steps", body()))
    assert op["op"] == "StepRun" and op["data"] == {"x": 1} and op["id"] == h("a")


async def test_replay_returns_memos_and_completes(pair):
    same(*await pair.execute("steps", body({h("a"): {"data": {"x": 1}}})))
    done = same(*await pair.execute("steps", body({h("a"): {"data": {"x": 1}}, h("b"): {"data": 42}})))
    assert done == {"a": {"x": 1}, "b": 42}


async def test_repeated_step_ids_are_counted(pair):
    memos = {h("item"): {"data": 0}, h("item:1"): {"data": 1}}
    [op] = same(*await pair.execute("loop", body(memos)))
    assert op["id"] == h("item:2") and op["userland"] == {"id": "item", "index": 2}


async def test_sleep_wait_and_invoke_ops(pair):
    [sleep] = same(*await pair.execute("async-ops", body()))
    assert sleep["op"] == "Sleep" and sleep["name"] == UNTIL.strftime("%Y-%m-%dT%H:%M:%S.678Z")
    [wait] = same(*await pair.execute("async-ops", body({h("nap"): None})))
    assert wait["opts"] == {"if": "event.data.id == async.data.id", "timeout": "1m"}
    [invoke] = same(*await pair.execute("async-ops", body({h("nap"): None, h("w"): None})))
    assert invoke["opts"]["function_id"] == f"{APP}-child"
    done = same(*await pair.execute("async-ops", body({h("nap"): None, h("w"): None, h("inv"): {"data": {"k": 1}}})))
    assert done == {"got": None, "child": {"k": 1}}


async def test_parallel_steps_are_planned_and_targeting_runs_one(pair):
    planned = same(*await pair.execute("fan", body()))
    assert [op["op"] for op in planned] == ["StepPlanned", "StepPlanned"] and planned[0]["opts"] is None
    raced = same(*await pair.execute("race", body()))
    assert [op["opts"] for op in raced] == [{"parallelMode": "race"}] * 2
    [ran] = same(*await pair.execute("fan", body(die=True), step=h("p2")))
    assert ran["op"] == "StepRun" and ran["data"] == 2


async def test_disable_immediate_execution_plans_a_lone_step(pair):
    [op] = same(*await pair.execute("steps", body(die=True)))
    assert op["op"] == "StepPlanned"


async def test_targeting_a_step_the_function_does_not_reach_first(pair):
    error = same(*await pair.execute("steps", body(), step=h("b")))
    assert error["code"] == "step_unexpected"


@pytest.mark.parametrize("attempt, code", [(0, "StepError"), (4, "StepFailed")])
async def test_a_failing_step(pair, attempt, code):
    [op] = same(*await pair.execute("failing", body(attempt=attempt)))
    assert op["op"] == code and op["error"]["name"] == "ValueError" and op["error"]["message"] == "bad input"


async def test_a_failed_step_memo_raises_in_the_function(pair):
    memo = {h("boom"): {"error": {"name": "ValueError", "message": "bad input", "stack": "..."}}}
    error = same(*await pair.execute("failing", body(memo)))
    assert error["name"] == "StepError" or error["code"] == "step_errored"


@pytest.mark.parametrize("fn", ["refuse", "later", "crash"])
async def test_function_errors_and_their_headers(pair, fn):
    same(*await pair.execute(fn, body()))


async def test_send_event_posts_to_the_event_api(pair, stub):
    [op] = same(*await pair.execute("send", body()))
    assert op["op"] == "StepRun" and op["data"] == ["01SENT0"]


async def test_use_api_fetches_the_state(pair, stub):
    stub.batches[RUN] = [EVENT]
    stub.actions[RUN] = {h("a"): {"data": {"x": 1}}, h("b"): {"data": 42}}
    assert same(*await pair.execute("steps", body(use_api=True))) == {"a": {"x": 1}, "b": 42}


@pytest.mark.parametrize("case", ["unknown function", "no fnId", "no disable_immediate_execution", "not json",
                                  "events null", "probe"])
async def test_bad_requests(pair, case):
    if case == "unknown function":
        same(*await pair.execute("nope", body()))
    elif case == "no fnId":
        same(*await pair.send("POST", {"stepId": "step"}, body()))
    elif case == "no disable_immediate_execution":
        payload = body()
        del payload["ctx"]["disable_immediate_execution"]
        ours, theirs_ = await pair.execute("steps", payload)
        # The message is pydantic's in inngest-py, ours in ours: both name the field.
        for reply in (ours, theirs_):
            assert "ctx.disable_immediate_execution" in reply.json().pop("message")
        ours_body, theirs_body = ours.json(), theirs_.json()
        del ours_body["message"], theirs_body["message"]
        assert ours.status_code == theirs_.status_code == 500 and ours_body == theirs_body
        assert ours_body["code"] == "unknown"
    elif case == "not json":
        ours, theirs_ = await pair.execute("steps", None, raw=b"{not json")
        assert ours.status_code == theirs_.status_code == 500
    elif case == "events null":
        payload = body()
        payload["events"] = None
        same(*await pair.execute("steps", payload))
    else:
        ours, theirs_ = await pair.send("POST", {"probe": "trust"})
        assert ours.status_code == theirs_.status_code == 200 and ours.content == theirs_.content


async def test_introspection(pair):
    same(*await pair.send("GET"))


async def test_sync_registers_the_same_functions(pair, stub):
    before = len(stub.registered)
    url = "http://app.test/api/inngest"
    same(*await pair.send("PUT", payload={"url": url}, headers={"x-inngest-server-kind": "dev"}))
    ours, theirs_ = (r["body"] for r in stub.registered[before:before + 2])
    for body_ in (ours, theirs_):
        body_.pop("sdk")
        body_.pop("framework")
    # inngest-py can also serve over Connect (websocket workers); this app does not, so says not.
    assert theirs_["capabilities"].pop("connect") == "v1"
    _failure_retries(ours["functions"], theirs_["functions"])
    assert ours == theirs_


def _failure_retries(ours: list[dict[str, Any]], theirs_: list[dict[str, Any]]) -> None:
    """The one deliberate difference: our SDK's ``on_failure`` handler retries as often as its
    function (so it behaves the same on our engine and on Inngest's); inngest-py's never retries."""
    [ours_failure] = [f for f in ours if f["id"] == f"{APP}-rich-failure"]
    [theirs_failure] = [f for f in theirs_ if f["id"] == f"{APP}-rich-failure"]
    assert ours_failure["steps"]["step"]["retries"] == {"attempts": 7}
    assert theirs_failure["steps"]["step"]["retries"] == {"attempts": 0}
    ours_failure["steps"]["step"]["retries"] = theirs_failure["steps"]["step"]["retries"]


async def test_signed_requests_replies_and_refusals(keyed_stub):
    signed = Pair(keyed_stub, signing_key=SIGNING_KEY)
    try:
        ours, theirs_ = await signed.execute("steps", body())
        same(ours, theirs_)
        keyed_stub.batches[RUN] = [EVENT]
        keyed_stub.actions[RUN] = {h("a"): {"data": {"x": 1}}, h("b"): {"data": 42}}
        assert same(*await signed.execute("steps", body(use_api=True))) == {"a": {"x": 1}, "b": 42}
        verify_response_signature(ours.headers["x-inngest-signature"], ours.content, [SIGNING_KEY])
        same(*await signed.send("POST", {"fnId": f"{APP}-steps", "stepId": "step"}, body(),
                                {"x-inngest-signature": "t=1&s=00"}))
        same(*await signed.send("GET"))
        signed_get = {"x-inngest-signature": sign_request(b"", SIGNING_KEY, int(time.time()))}
        ours, theirs_ = await signed.send("GET", headers=signed_get)
        assert ours.json()["authentication_succeeded"] is theirs_.json()["authentication_succeeded"] is True
        ours_body, theirs_body = ours.json(), theirs_.json()
        for key in ("sdk_language", "sdk_version", "framework"):
            assert ours_body.pop(key) != theirs_body.pop(key)
        assert theirs_body["capabilities"].pop("connect") == "v1"
        assert ours_body == theirs_body
        await _in_band_sync(signed)
    finally:
        await signed.close()


async def _in_band_sync(signed: Pair) -> None:
    """Cloud mode's sync: the server asks (signed) and the app answers with its functions."""
    payload = {"url": "http://app.test/api/inngest"}
    headers = {"x-inngest-sync-kind": "in_band",
               "x-inngest-signature": sign_request(orjson.dumps(payload), SIGNING_KEY, int(time.time()))}
    ours, theirs_ = await signed.send("PUT", payload=payload, headers=headers)
    assert ours.status_code == theirs_.status_code == 200
    assert ours.headers["x-inngest-sync-kind"] == theirs_.headers["x-inngest-sync-kind"] == "in_band"
    ours_body, theirs_body = ours.json(), theirs_.json()
    for body_ in (ours_body, theirs_body):
        for key in ("sdk_author", "sdk_language", "sdk_version", "framework"):
            body_.pop(key)
        for key in ("sdk_language", "sdk_version", "framework"):
            body_["inspection"].pop(key)
    assert theirs_body["inspection"]["capabilities"].pop("connect") == "v1"
    _failure_retries(ours_body["functions"], theirs_body["functions"])
    assert ours_body == theirs_body
