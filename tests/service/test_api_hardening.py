"""The HTTP API against a careless or hostile client (issue #14, items 2–6): keys before bodies,
capped bodies, slow and half-open connections, 400s instead of 500s, web pages kept out, and
names that cannot carry terminal escapes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import pytest

from executor import TriggerEvent, create_function
from executor.records import MiB
from executor.service.api import create_app
from executor.service.guard import loopback_host
from executor.service.server import ApiServer, bind
from tests.service.support import JSON, pending_waits, post_events

pytestmark = pytest.mark.timeout(30)


async def raw_request(url: str, head: bytes, body: bytes = b"", *, read_timeout: float = 5.0) -> bytes:
    """Send a request by hand (a declared length need not be sent) and read what comes back."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head + body)
        await writer.drain()
        async with asyncio.timeout(read_timeout):
            return await reader.read(65536)
    finally:
        writer.close()


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def body_of(reply: bytes) -> dict[str, Any]:
    return orjson.loads(reply.split(b"\r\n\r\n", 1)[1])


# ---- 2. keys before bodies, and every body capped ---------------------------------------------

async def test_a_huge_unauthenticated_body_gets_its_401_before_any_of_it_is_read(serve_app):
    s = await serve_app(key="k")
    head = (b"POST /v1/signals HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 314572800\r\n\r\n")
    reply = await raw_request(s.url, head, b'{"signal": ')   # 300 MB declared, a few bytes sent
    assert status_of(reply) == 401 and "needs a key" in body_of(reply)["error"]
    reply = await raw_request(s.url, head.replace(b"/v1/signals", b"/e/wrong"), b"[")
    assert status_of(reply) == 401 and body_of(reply)["error"] == "event key not accepted by this server"


@pytest.mark.parametrize("path", ["/v1/signals", "/v1/functions/greet/invoke", "/v1/runs/x/rerun"])
async def test_every_v1_body_is_capped_before_it_is_read(served, path):
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 52428800\r\n\r\n").encode()
    reply = await raw_request(served.url, head, b"{")
    assert status_of(reply) == 413 and "over the limit" in body_of(reply)["error"]


async def test_a_streamed_body_is_cut_at_its_cap(served):
    async def chunks():
        for _ in range(12):
            yield b" " * (512 * 1024)
    response = await served.http.post("/v1/signals", content=chunks(), headers=JSON)
    assert response.status_code == 413


async def test_signal_data_is_held_to_the_step_output_limit(served):
    run = await served.ex.invoke("approver", {"signal": "big"})
    await pending_waits(served, 1)
    over = {"signal": "big", "data": "x" * (4 * MiB + 100)}
    response = await served.http.post("/v1/signals", json=over)
    assert response.status_code == 400 and "the limit is 4,194,304 bytes" in response.json()["error"]
    assert (await served.ex.run(run.id)).status == "Running"


# ---- 3. slow and half-open connections ---------------------------------------------------------

async def test_half_open_connections_are_closed_and_cannot_lock_out_clients(make_executor):
    ex = await make_executor([])
    app = create_app(ex)
    async with ApiServer(app, bind("127.0.0.1", 0), header_timeout=0.5, max_connections=16) as server:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        idle = []
        for _ in range(40):   # more than the limit: the oldest idle ones make room
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"POST /e/k HTTP/1.1\r\nHost: 127.0.0.1\r\n")   # headers never finished
            idle.append((reader, writer))
        async with httpx.AsyncClient(base_url=server.url) as http:
            started = time.monotonic()
            assert (await http.get("/v1/runs")).status_code == 200
            assert time.monotonic() - started < 2
        async with asyncio.timeout(5):   # every half-open connection is closed by the server
            for reader, writer in idle:
                assert await reader.read() == b""
                writer.close()


async def test_a_body_that_never_arrives_is_timed_out(make_executor):
    ex = await make_executor([])
    async with ApiServer(create_app(ex, body_timeout=0.5), bind("127.0.0.1", 0)) as server:
        head = b"POST /e/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n"
        reply = await raw_request(server.url, head, b'{"name"')
        assert status_of(reply) == 408 and "did not arrive within 0.5 s" in body_of(reply)["error"]
    assert await ex.events() == []


# ---- 4. valid JSON the store cannot hold is a 400, never a 500 ---------------------------------

@pytest.mark.parametrize("event, message", [
    (b'{"name": "test/x", "ts": 9223372036854775808}', "outside the 64-bit range"),
    (b'{"name": "test/x", "ts": -9223372036854775809}', "not exact as a float"),
    (b'{"name": "test/x", "ts": 1e300}', "not exact as a float"),
])
async def test_timestamps_outside_int64_are_refused(served, event, message):
    status, body = await post_events(served, event)
    assert status == 400 and message in body["error"]
    assert await served.ex.events() == []


async def test_signal_data_with_an_integer_beyond_64_bits_is_a_400(served):
    run = await served.ex.invoke("approver", {"signal": "wide"})
    await pending_waits(served, 1)
    response = await served.http.post("/v1/signals", content=b'{"signal": "wide", "data": {"n": 1' + b"0" * 30 + b"}}",
                                      headers=JSON)
    assert response.status_code == 400 and "integers must fit in 64 bits" in response.json()["error"]
    assert (await served.ex.run(run.id)).status == "Running"


@pytest.mark.parametrize("case, status, message", [
    ("wide", 400, "integers must fit in 64 bits"),
    ("over-3-MiB", 400, "the limit is 3,145,728 bytes"),
])
async def test_invoke_data_the_store_cannot_hold_is_refused(served, case, status, message):
    data = {"wide": b'{"data": {"n": 1' + b"0" * 30 + b"}}",
            "over-3-MiB": b'{"data": {"s": "' + b"x" * (3 * MiB + 1000) + b'"}}'}[case]
    response = await served.http.post("/v1/functions/greet/invoke", content=data, headers=JSON)
    assert response.status_code == status and message in response.json()["error"]
    assert await served.ex.runs(function_id="greet") == []


# ---- 5. web pages: content type (test_api), Host names, separate admin key ----------------------

@pytest.mark.parametrize("host, accepted", [
    ("127.0.0.1:8288", True), ("localhost", True), ("localhost:1", True), ("[::1]:8288", True),
    ("0.0.0.0:8288", True), ("127.1.2.3", True), ("evil.example", False), ("evil.example:8288", False),
    ("127.0.0.1.evil.example", False), ("[::1]evil", False), ("192.168.1.10:8288", False),
])
def test_loopback_host_names(host, accepted):
    assert loopback_host(host) is accepted


async def test_a_keyless_server_answers_only_to_loopback_host_names(served):
    rebinding = await served.http.get("/v1/runs", headers={"Host": "attacker.example:8288"})
    assert rebinding.status_code == 403 and "not accepted" in rebinding.json()["error"]
    response = await served.http.post("/e/k", content=b'{"name": "test/x"}', headers={"Host": "attacker.example"})
    assert response.status_code == 403 and response.json()["ids"] == []
    assert (await served.http.get("/v1/runs", headers={"Host": "localhost:8288"})).status_code == 200


async def test_a_keyed_server_accepts_any_host_name(serve_app):
    s = await serve_app(key="k")
    assert (await s.http.get("/v1/runs", headers={"Host": "durable.internal"})).status_code == 200


async def test_the_admin_key_is_separate_from_the_event_key(serve_app):
    s = await serve_app(key="ev", admin_key="adm")
    async with httpx.AsyncClient(base_url=s.url) as http:
        refused = await http.get("/v1/runs", headers={"Authorization": "Bearer ev"})
        assert refused.status_code == 401 and "that is the event key" in refused.json()["error"]
        assert (await http.get("/v1/runs", headers={"Authorization": "Bearer adm"})).status_code == 200
        for key, status in (("ev", 200), ("adm", 200), ("other", 401)):
            response = await http.post(f"/e/{key}", content=b'{"name": "test/x"}')
            assert response.status_code == status, key


# ---- 6. ids, names and the documents ---------------------------------------------------------------

@pytest.mark.parametrize("event_id", [{}, [], 0, False, 1.5])
async def test_a_non_string_id_is_refused_not_replaced(served, event_id):
    status, body = await post_events(served, {"name": "test/x", "id": event_id})
    assert status == 400 and "'id' must be a string" in body["error"]
    assert await served.ex.events() == []


@pytest.mark.parametrize("event, message", [
    ({"name": "n" * (1024 * 1024)}, "'name' is 1,048,576 characters long; the limit is 256"),
    ({"name": "test/x", "id": "i" * (1024 * 1024)}, "'id' is 1,048,576 characters long"),
    ({"name": "test/\x1b[2Jgone"}, "control character '\\x1b'"),
    ({"name": "test/x\n2026-01-01 fake log line"}, "control character '\\n'"),
    ({"name": "test/x", "id": "a\x07b"}, "control character '\\x07'"),
])
async def test_long_names_and_control_characters_are_refused(served, event, message):
    status, body = await post_events(served, event)
    assert status == 400 and message in body["error"]
    assert await served.ex.events() == []


async def test_signal_names_are_capped_and_refuse_control_characters(served):
    for name, message in (("s" * 300, "at most 256 characters"), ("a\x1bb", "control character")):
        response = await served.http.post("/v1/signals", json={"signal": name})
        assert response.status_code == 400 and message in response.json()["error"]


async def test_the_openapi_document_says_400_not_422(serve_app):
    s = await serve_app(key="k")
    doc = (await s.http.get("/openapi.json")).json()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            # GraphQL answers a document that does not parse with 422, as GraphQL over HTTP says.
            assert ("422" in codes) == (path == "/v0/gql"), (method, path)
            assert {"400", "405"} <= codes, (method, path)
            # The key guards /v1 and /v0/gql; what Inngest SDKs call is answered as the dev server does.
            guarded = (path.startswith("/v1/") and not path.startswith("/v1/checkpoint/")) or path == "/v0/gql"
            assert ("security" in operation) == guarded, (method, path)
            assert ("401" in codes) == (guarded or path.startswith("/e/")), (method, path)
            if method == "post" and path.startswith("/v1/"):
                assert {"413", "415"} <= codes
    assert "HTTPValidationError" not in doc["components"]["schemas"]


@pytest.mark.parametrize("url", ["http://0\u0098\u0013\"x", "http://[zz", "http://h:99999/x", "http:///x", "00"])
async def test_an_app_url_that_cannot_be_requested_is_refused_with_400(served, url):
    response = await served.http.post("/v1/apps", json={"url": url}, headers=JSON)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "an app URL must be http(s)://host[:port]/path" in error or "body.url" in error


async def test_405_says_which_methods_are_allowed(served):
    response = await served.http.put("/v1/runs", headers=JSON)
    assert response.status_code == 405 and response.headers["allow"] == "GET"
    assert "use GET" in response.json()["error"]


@create_function(id="bulk", trigger=TriggerEvent(event="test/bulk", expression="event.data.items.all(x, x >= 0)"))
async def bulk(ctx):
    return "ran"


async def test_the_event_shows_why_an_expression_was_cut_off(make_executor):
    ex = await make_executor([bulk])
    async with ApiServer(create_app(ex), bind("127.0.0.1", 0)) as server, \
            httpx.AsyncClient(base_url=server.url) as http:
        reply = (await http.post("/e/k", json={"name": "test/bulk", "data": {"items": list(range(20_000))}})).json()
        event = (await http.get(f"/v1/events/{reply['ids'][0]}")).json()["data"]
        assert "evaluation budget" in event["notes"][0]
        assert (await http.get(f"/v1/events/{reply['ids'][0]}/runs")).json()["data"] == []


async def test_a_real_server_under_hundreds_of_half_open_connections_keeps_answering(tmp_path):
    """The issue's 1,100 idle connections against 1,024 descriptors, scaled down: a ``serve`` process
    limited to 256 descriptors, 400 half-open connections. Without the limit and the header timeout,
    accept() fails, asyncio logs a traceback per failure and the API times out."""
    import resource
    import sys

    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    (tmp_path / "fns.py").write_text("from executor import create_function\n\n"
                                     "@create_function(id='x', trigger='app/x')\nasync def x(ctx):\n    return 1\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console.cli", "serve", "fns.py", "--port", "0", "--db", ":memory:",
        "--header-timeout", "1",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL, preexec_fn=few_descriptors)
    held = []
    try:
        async with asyncio.timeout(20):
            while not (line := (await proc.stdout.readline()).decode()).startswith("listening on "):
                assert line, "serve did not start"
        url = line.split()[2]
        host, port = url.removeprefix("http://").rsplit(":", 1)
        for _ in range(400):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            held.append(writer)
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            for _ in range(3):
                assert (await http.get("/v1/runs")).status_code == 200
                assert (await http.post("/e/k", content=b'{"name": "app/x"}')).status_code == 200
    finally:
        for writer in held:
            writer.close()
        proc.terminate()
        _, stderr = await proc.communicate()
    assert len(stderr) < 20_000, stderr[-2000:]
    assert b"Traceback" not in stderr


async def test_a_hostile_event_does_not_stall_a_concurrent_read(make_executor):
    """Without a budget this event held the loop for ~15 s (benchmarks/bench_hostile_event.py
    measures the latency; here a generous bound only guards against the stall)."""
    ex = await make_executor([bulk])
    async with ApiServer(create_app(ex), bind("127.0.0.1", 0)) as server, \
            httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        await http.get("/v1/runs")
        hostile = asyncio.create_task(
            http.post("/e/k", json={"name": "test/bulk", "data": {"items": list(range(20_000))}}))
        slowest = 0.0
        while not hostile.done():
            started = time.monotonic()
            assert (await http.get("/v1/runs", params={"limit": 5})).status_code == 200
            slowest = max(slowest, time.monotonic() - started)
            await asyncio.sleep(0.005)
        assert (await hostile).status_code == 200
        assert slowest < 2.0


async def test_405_on_an_apps_sync_path_allows_what_the_document_lists(served):
    # /v1/apps/{name} takes names with slashes (an app known only by its URL), so the sync path
    # also fits the DELETE route; Allow names the methods of the path as documented.
    response = await served.http.put("/v1/apps/my-app/sync", headers=JSON)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
