"""The protocol layer on hand-made input: JCS, ops on the wire, replies no real SDK sends on demand
(streams, garbage, proxies, oversize bodies, every retry-after form), signing keys and URLs."""

from __future__ import annotations

import random

import jcs
import orjson
import pytest

from executor.drivers.inngest import (SignatureError, bearer_token_valid, canonical_json, encode_request,
                                      hash_signing_key, normalize_signing_key, op_from_wire, parse_response,
                                      parse_retry_after, request_headers, request_url, sign_request, unwrap_stream,
                                      verify_signature)
from executor.drivers.inngest.wire import MAX_OPS_PER_RESPONSE, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, WireError
from executor.errors import ErrorInfo
from executor.ops import Op, Opcode, hash_step_id
from tests.drivers.inngest.harness import NOW_MS, SIGNING_KEY, RunState, slug

SDK = {"x-inngest-sdk": "inngest-js:v4.24.0", "x-inngest-req-version": "2"}
URL = "http://app.test/api/inngest?fnId=myapp-fn&stepId=step"


def reply(status: int, body: object, headers: dict[str, str] | None = None, raw: bytes | None = None):
    data = raw if raw is not None else orjson.dumps(body)
    return parse_response(status, {**SDK, **(headers or {})}, data, now_ms=NOW_MS, url=URL)


# ---- JCS ---------------------------------------------------------------------------------------

def random_json(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randint(-2**60, 2**60) if rng.random() < 0.2 else rng.randint(-1000, 1000)
    if kind == 2:
        return rng.choice([0.1, 1.0, -0.0, 1e21, 1e-7, 5e-324, 123.456, 2.5e300, rng.uniform(-1e6, 1e6)])
    if kind in (3, 4, 5):
        return "".join(chr(rng.choice([rng.randrange(0, 0x80), rng.randrange(0x80, 0xd800),
                                       rng.randrange(0xe000, 0x10000), rng.randrange(0x10000, 0x10ffff)]))
                       for _ in range(rng.randrange(6)))
    if kind in (6, 7):
        return {str(random_json(rng, 9)): random_json(rng, depth + 1) for _ in range(rng.randrange(5))}
    return [random_json(rng, depth + 1) for _ in range(rng.randrange(5))]


def test_canonical_json_is_the_reference_jcs_whichever_path_it_takes():
    rng = random.Random(8785)
    for _ in range(3000):
        value = random_json(rng)
        assert canonical_json(value) == jcs.canonicalize(value), value
    plain = {"z": [1, "é\u2028", {"b": None, "a": True}], "A": -2**53, "\ue000": 1, "\U0001f600": 2}
    assert canonical_json(plain) == jcs.canonicalize(plain)
    assert canonical_json({"b": 1.0, "a": 2**60}) == b'{"a":1152921504606847000,"b":1}'


# ---- ops ---------------------------------------------------------------------------------------

def test_op_round_trips_through_the_wire_shape():
    op = Op(Opcode.STEP_RUN, hash_step_id("item", 2), name="item", display_name="item", index=2,
            opts={"type": "step.sendEvent"}, data={"ids": ["a"]}, started_at=NOW_MS, ended_at=NOW_MS + 15)
    wire = op.to_wire()
    assert wire["timing"] == {"a": NOW_MS * 1_000_000, "b": 15_000_000}
    assert wire["userland"] == {"id": "item", "index": 2}
    back = op_from_wire(wire)
    assert (back.op, back.id, back.display_name, back.index, back.opts, back.data, back.started_at, back.ended_at) == (
        op.op, op.id, "item", 2, op.opts, op.data, NOW_MS, NOW_MS + 15)
    failed = Op(Opcode.STEP_FAILED, "h1", display_name="s",
                error=ErrorInfo.from_dict({"name": "E", "message": "m", "__serialized": True}))
    assert failed.to_wire()["data"] is None and op_from_wire(failed.to_wire()).error.raw == {
        "name": "E", "message": "m", "__serialized": True}


def test_op_from_wire_falls_back_to_userland_id_and_ignores_odd_timing():
    op = op_from_wire({"op": "StepPlanned", "id": "h", "userland": {"id": "from-userland"}, "timing": "soon"})
    assert (op.display_name, op.step_id, op.started_at, op.opts) == ("from-userland", "from-userland", None, {})
    assert op_from_wire({"op": "None"}).op == Opcode.NONE


@pytest.mark.parametrize(("raw", "message"), [
    ([1], "must be a JSON object, not an array"),
    ({"op": "Teleport", "id": "h"}, "unknown opcode 'Teleport'"),
    ({"op": "StepRun"}, "has no id"),
    ({"op": "StepRun", "id": 5}, "'id' must be a string"),
    ({"op": "StepRun", "id": "h", "opts": [1]}, "opts must be an object"),
    ({"op": "StepRun", "id": "h", "userland": {"index": "2"}}, "userland.index"),
    ({"op": "StepError", "id": "h"}, "must carry an error"),
    ({"op": "StepError", "id": "h", "error": "boom"}, "error must be an object"),
])
def test_op_from_wire_refuses_malformed_ops(raw, message):
    with pytest.raises(WireError, match=message):
        op_from_wire(raw)


# ---- replies -----------------------------------------------------------------------------------

def test_206_takes_an_array_a_single_object_or_nothing():
    one = {"op": "StepRun", "id": "h1", "name": "a", "displayName": "a", "data": 1}
    assert [o.id for o in reply(206, [one, {**one, "id": "h2"}]).ops] == ["h1", "h2"]
    assert [o.id for o in reply(206, one).ops] == ["h1"]                  # pre-1.0 SDKs
    empty = reply(206, [])
    assert empty.ops == [] and empty.error is None and not empty.complete


def test_run_complete_completes_the_run_after_the_steps_it_reports():
    ran = {"op": "StepRun", "id": "h1", "displayName": "a", "data": 1}
    done = {"op": "RunComplete", "id": hash_step_id("complete"), "data": {"total": 1}}
    result = reply(206, [ran, done])
    assert result.complete and result.output == {"total": 1} and [o.id for o in result.ops] == ["h1"]
    assert reply(206, {**done, "data": None}).complete


def test_no_retry_and_retry_after_apply_to_step_errors():
    op = {"op": "StepError", "id": "h", "error": {"name": "E", "message": "m"}}
    plain = reply(206, [op]).ops[0]
    assert (plain.retriable, plain.retry_at) == (True, None)
    final = reply(206, [op], {"x-inngest-no-retry": "true", "retry-after": "5"}).ops[0]
    assert (final.retriable, final.retry_at) == (False, NOW_MS + 5000)
    other = reply(206, [{"op": "StepRun", "id": "r", "data": 1}], {"x-inngest-no-retry": "true"}).ops[0]
    assert other.retriable is True                                       # only StepError ops carry it


def test_too_many_ops_fail_the_run_for_good():
    ops = [{"op": "StepPlanned", "id": f"h{n}"} for n in range(MAX_OPS_PER_RESPONSE + 1)]
    result = reply(206, ops)
    assert result.retriable is False and result.error.name == "InngestErrFunctionOverflowed"
    assert len(reply(206, ops[:-1]).ops) == MAX_OPS_PER_RESPONSE


def test_an_oversize_reply_is_output_too_large():
    result = reply(200, None, raw=b'"' + b"x" * MAX_RESPONSE_BYTES + b'"')
    assert result.error.raw["code"] == "output_too_large" and result.retriable is True
    assert f"{MAX_RESPONSE_BYTES + 2:,} bytes" in result.error.message and URL in result.error.message


@pytest.mark.parametrize(("status", "body", "message"), [
    (206, b"", "empty body"),
    (206, b"<html>oops</html>", "not JSON"),
    (206, b'"StepRun"', "a string; expected an array of ops"),
    (206, b'[{"op": "StepRun"}]', "unreadable op at position 0: a StepRun op has no id"),
    (206, b"[null]", "position 0: an op must be a JSON object, not null"),
    (200, b"hello", "the body is not JSON"),
])
def test_garbage_is_a_retriable_error_that_says_what_was_wrong(status, body, message):
    result = reply(status, None, raw=body)
    assert result.error.name == "InvalidSDKResponse" and result.retriable is True and message in result.error.message
    assert result.ops == [] and not result.complete and URL in result.error.message


def test_a_2xx_without_the_sdk_header_is_not_a_completed_run():
    result = parse_response(200, {"content-type": "application/json"}, b'{"ok": true}', now_ms=NOW_MS, url=URL)
    assert not result.complete and result.retriable is True and result.error.raw["code"] == "not_sdk"
    assert URL in result.error.message and "HTTP 200" in result.error.message
    assert parse_response(206, {}, b"[]", now_ms=NOW_MS).error.raw["code"] == "not_sdk"


def test_error_bodies_are_kept_verbatim_and_proxy_errors_described():
    body = {"name": "MyError", "message": "oh no", "stack": "at f()", "__serialized": True, "cause": {"x": 1}}
    result = reply(400, body, {"x-inngest-no-retry": "true"})
    assert result.error.to_dict() == body and result.retriable is False
    proxy = parse_response(502, {"content-type": "text/html"}, b"<h1>Bad Gateway</h1>", now_ms=NOW_MS, url=URL)
    assert proxy.error.name == "UpstreamHTTPError" and "HTTP 502" in proxy.error.message
    assert "Bad Gateway" in proxy.error.stack and proxy.retriable is True
    text = reply(500, None, raw=b"Internal Server Error")
    assert text.error.message.endswith("HTTP 500: Internal Server Error") and text.retriable is True


@pytest.mark.parametrize(("sdk", "retried"), [("inngest-js:v2.4.0", False), ("inngest-js:v1.10.0", False),
                                              ("inngest-js:v2.4.1", True), ("inngest-py:v0.5.19", True)])
def test_a_4xx_without_no_retry_is_final_only_for_old_typescript_sdks(sdk, retried):
    result = parse_response(400, {"x-inngest-sdk": sdk}, b'{"name": "E", "message": "m"}', now_ms=NOW_MS)
    assert result.retriable is retried


def test_a_streamed_reply_is_unwrapped():
    inner = [{"op": "StepRun", "id": "h", "data": 1}]
    wrapped = b"   \n " + orjson.dumps({"status": 206, "headers": {"X-Inngest-No-Retry": "false"},
                                         "body": orjson.dumps(inner).decode()})
    result = parse_response(201, SDK, wrapped, now_ms=NOW_MS, url=URL)
    assert [o.id for o in result.ops] == ["h"] and result.detail["streamed"] and result.detail["status"] == 206
    status, body, headers = unwrap_stream(orjson.dumps({"status": 500, "body": {"name": "E", "message": "m"},
                                                        "headers": {"Retry-After": "3"}}), {"x-inngest-sdk": "s"})
    assert (status, orjson.loads(body), headers["retry-after"], headers["x-inngest-sdk"]) == (
        500, {"name": "E", "message": "m"}, "3", "s")
    failed = parse_response(201, SDK, orjson.dumps({"status": 500, "body": '{"name":"E","message":"m"}',
                                                    "headers": {"retry-after": "3"}}), now_ms=NOW_MS)
    assert failed.error.to_dict() == {"name": "E", "message": "m"} and failed.retry_at == NOW_MS + 3000


@pytest.mark.parametrize(("body", "message"), [
    (b"      ", "not JSON"), (b' {"error": "stream broke"}', "stream broke"),
    (b'{"body": "null"}', "no valid 'status'"), (b"[1]", "must be an object"),
])
def test_a_broken_stream_is_a_retriable_error(body, message):
    result = parse_response(201, SDK, body, now_ms=NOW_MS, url=URL)
    assert result.retriable is True and "cannot be unwrapped" in result.error.message
    assert message in result.error.message


@pytest.mark.parametrize(("value", "expected"), [
    ("1", NOW_MS + 1000), ("120", NOW_MS + 120_000), ("0", None), ("-5", None), ("", None), (None, None),
    ("2026-01-01T00:00:30.000Z", NOW_MS + 30_000), ("2026-01-01T00:00:30+00:00", NOW_MS + 30_000),
    ("2026-01-01T00:00:30", NOW_MS + 30_000), ("Thu, 01 Jan 2026 00:01:00 GMT", NOW_MS + 60_000),
    ("2026-01-02", NOW_MS + 86_400_000), ("tomorrow-ish", None),
])
def test_retry_after_reads_seconds_http_dates_and_iso(value, expected):
    assert parse_retry_after(value, NOW_MS) == expected


# ---- signing ---------------------------------------------------------------------------------

def test_keys_signatures_and_bearer_tokens():
    bare = "12ab" * 16
    assert normalize_signing_key(SIGNING_KEY) == normalize_signing_key(bare) == bare
    body = b'{"b": 1, "a": [1.0]}'
    header = sign_request(body, SIGNING_KEY, 1_700_000_000)
    assert header == sign_request(b'{"a":[1],"b":1}', bare, 1_700_000_000)        # canonical, prefix-free
    assert header.startswith("t=1700000000&s=")
    assert verify_signature(header, body, [SIGNING_KEY], now_s=1_700_000_100) == SIGNING_KEY
    for bad, message in [(None, "not signed"), ("s=abc", "malformed"), ("t=x&s=abc", "timestamp"),
                         (header.replace("s=", "s=0"), "none of the signing keys")]:
        with pytest.raises(SignatureError, match=message):
            verify_signature(bad, body, [SIGNING_KEY])
    hashed = hash_signing_key(SIGNING_KEY)
    assert hashed == hash_signing_key(bare) and len(hashed) == 64
    assert hash_signing_key(SIGNING_KEY, keep_prefix=True) == "signkey-test-" + hashed
    for token in (hashed, "signkey-test-" + hashed, SIGNING_KEY, bare):
        assert bearer_token_valid(f"Bearer {token}", [SIGNING_KEY])
    for header_value in ("Bearer ", "Bearer nope", f"Basic {hashed}", None):
        assert not bearer_token_valid(header_value, [SIGNING_KEY])
    with pytest.raises(SignatureError, match="must be hex"):
        hash_signing_key("signkey-test-not-hex")


def test_request_url_and_headers():
    weird = "http://app.test/api/inngest?fnId=myapp-%25%24%5E%26%2A%28_%2B%7B%7C%3A%3C%3F%E2%98%83&stepId=step"
    assert request_url(weird, "abc123") == weird.replace("stepId=step", "stepId=abc123")
    assert request_url("http://app.test/x?stepId=old&fnId=f", None) == "http://app.test/x?fnId=f&stepId=step"
    request = RunState(slug("fn")).request(target="abc123", request_id="req-1")
    headers = request_headers(request, body=b"{}", signing_key=SIGNING_KEY, now_s=1_700_000_000, job_id="job-1")
    assert headers["X-Inngest-Step-ID"] == "abc123" and headers["X-Run-ID"] == request.run.id
    assert headers["x-request-id"] == "req-1" and headers["x-inngest-job-id"] == "job-1"
    assert headers["x-inngest-req-version"] == "2"
    assert verify_signature(headers["X-Inngest-Signature"], b"{}", [SIGNING_KEY]) == SIGNING_KEY
    assert "X-Inngest-Signature" not in request_headers(request, body=b"{}")
    with pytest.raises(ValueError, match="now_s"):
        request_headers(request, body=b"{}", signing_key=SIGNING_KEY)


def test_encode_request_leaves_large_state_to_the_api():
    state = RunState(slug("fn"))
    state.memoize(Op(Opcode.STEP_RUN, hash_step_id("a"), display_name="a", data="x" * 1000))
    small = encode_request(state.request(), fn_uuid=None)
    assert not small.use_api and orjson.loads(small.body)["steps"] == {hash_step_id("a"): {"data": "x" * 1000}}
    assert small.body == canonical_json(orjson.loads(small.body))
    state.state_bytes = MAX_REQUEST_BYTES                     # the stored size says "too big" before encoding
    assert encode_request(state.request(), fn_uuid=None).use_api
    state.state_bytes = 0                                      # a wrong stored size: the encoded size decides
    state.memoize(Op(Opcode.STEP_RUN, hash_step_id("b"), display_name="b", data="y" * MAX_REQUEST_BYTES))
    big = encode_request(state.request(), fn_uuid=None)
    body = orjson.loads(big.body)
    assert big.use_api and body["steps"] == {} and body["events"] == [] and body["ctx"]["use_api"] is True
