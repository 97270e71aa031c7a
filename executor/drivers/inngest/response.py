"""An SDK's reply to an execution request, as an ``InvocationResult`` (Go: ``HandleHttpResponse``).

- 206: the ops the function reported (an array, or a single object from old SDKs; ``[]`` is "no op");
  a ``RunComplete`` op (a checkpointing SDK's last) completes the run with its data.
- 200 (any other 2xx): the function returned; the body is its JSON value.
- 201: a streamed reply — keep-alive whitespace, then ``{"status", "headers", "body"}`` wrapping the
  real one, which is unwrapped and judged like any other.
- anything else: the function failed; an SDK's JSON error body is kept verbatim (Inngest's dev server
  shows and compares it key for key).

Retries follow the headers: ``x-inngest-no-retry: true`` forbids one, ``retry-after`` (seconds, an
HTTP date or ISO 8601) asks for a time, which the engine clamps to [1 s, 24 h]; for a ``StepError``
op both apply to that step. A 2xx without ``x-inngest-sdk`` did not come from an SDK (a proxy, a
different server) and is a retriable failure, never a completed run. Nothing an SDK sends raises:
garbage becomes a retriable error that says what was wrong and where.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from executor.drivers.inngest import wire
from executor.errors import ErrorInfo
from executor.ops import InvocationResult, Op, Opcode

_OVERFLOW = {
    "error": "function has too many steps",
    "name": "InngestErrFunctionOverflowed",
    "message": f"The function run exceeded the step limit of {wire.MAX_OPS_PER_RESPONSE} steps.",
}
_EXCERPT = 2000


def parse_response(status: int, headers: Mapping[str, str], body: bytes, *, now_ms: int,
                   url: str | None = None) -> InvocationResult:
    """Judge one reply. ``url`` (the request's) only makes messages say where the reply came from.

    ``detail`` records the HTTP status (the inner one when streamed), the SDK header, the request
    version the SDK speaks (send it back as ``version`` next time) and the body size.
    """
    where = f"POST {url}" if url else "the SDK"
    h = wire.lower_headers(headers)
    detail: dict[str, Any] = {"status": status, "bytes": len(body)}
    if len(body) > wire.MAX_RESPONSE_BYTES:
        return _failed(wire.system_error(
            "output_too_large", "OutputTooLarge",
            f"{where} answered with {len(body):,} bytes; an SDK reply may be at most "
            f"{wire.MAX_RESPONSE_BYTES:,} bytes — return less data from the function or its steps "
            "(store large data elsewhere and return a reference)"), h, status, now_ms, detail)
    if status == 201:
        try:
            status, body, h = unwrap_stream(body, h)
        except wire.WireError as exc:
            return _invalid(f"{where} streamed a reply (HTTP 201) that cannot be unwrapped: {exc}", detail)
        detail.update(status=status, streamed=True)
    detail["sdk"] = h.get(wire.SDK)
    version = h.get(wire.REQUEST_VERSION, "")
    detail["request_version"] = int(version) if version.lstrip("-").isdigit() else None
    if 200 <= status < 300:
        if not h.get(wire.SDK):
            return _failed(wire.system_error(
                "not_sdk", "NotSDKResponse",
                f"{where} answered HTTP {status} without an x-inngest-sdk header, so the reply did not come "
                "from an Inngest SDK (a proxy, or another server at this URL?); retried while the function has "
                "retries left",
                _excerpt(body)), h, status, now_ms, detail)
        if status == 206:
            return _ops(body, h, status, now_ms, where, detail)
        return _returned(body, where, detail)
    return _failed(_error_body(status, h, body, where), h, status, now_ms, detail)


def unwrap_stream(body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes, dict[str, str]]:
    """The reply inside a streamed (201) one: its status, body bytes and headers (merged over the
    outer ones). The inner body is usually a JSON string holding the JSON reply (inngest-py encodes
    it twice); a plain JSON value is taken as the reply itself."""
    try:
        wrapper = orjson.loads(body.lstrip())
    except orjson.JSONDecodeError as exc:
        raise wire.WireError(f"after the keep-alive whitespace the body is not JSON ({exc})") from None
    if not isinstance(wrapper, dict):
        raise wire.WireError("the streamed body must be an object {status, headers, body}")
    if isinstance(wrapper.get("error"), str):
        raise wire.WireError(f"the SDK reported a streaming error: {wrapper['error']}")
    status = wrapper.get("status")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise wire.WireError(f"the streamed body has no valid 'status' (got {status!r})")
    inner = wrapper.get("body")
    if isinstance(inner, str):
        inner_body = inner.encode()
    else:
        inner_body = b"" if inner is None else orjson.dumps(inner)
    inner_headers = wrapper.get("headers") or {}
    if not isinstance(inner_headers, dict):
        raise wire.WireError("the streamed body's 'headers' must be an object")
    merged = {**wire.lower_headers(headers), **wire.lower_headers({k: v for k, v in inner_headers.items()
                                                                    if isinstance(v, str)})}
    return status, inner_body, merged


def parse_retry_after(value: str | None, now_ms: int) -> int | None:
    """Epoch ms asked for by a ``retry-after`` value (whole seconds, an HTTP date, or ISO 8601); None
    when absent or unreadable (the engine's backoff applies then). Not clamped: the engine does that."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) <= 7 and text.isdigit():
        seconds = int(text)
        return now_ms + seconds * 1000 if seconds > 0 else None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """Go's ``ShouldRetry``: the no-retry header decides when present; without it only a 4xx from an
    old TypeScript SDK (before v1.10.1 / v2.4.1, which meant "final" by status) is not retried."""
    flag = headers.get(wire.NO_RETRY)
    if flag:
        return flag != "true"
    if not 400 <= status <= 499:
        return True
    match = re.fullmatch(r"inngest-js:v(\d+)\.(\d+)\.(\d+)(?:[-+].*)?", headers.get(wire.SDK, ""))
    if match is None:
        return True
    version = tuple(int(part) for part in match.groups())
    return not ((version[0] == 1 and version < (1, 10, 1)) or (version[0] == 2 and version < (2, 4, 1)))


# ---- the three outcomes ----------------------------------------------------------------------

def _ops(body: bytes, headers: dict[str, str], status: int, now_ms: int, where: str,
         detail: dict[str, Any]) -> InvocationResult:
    text = body.strip()
    if not text:
        return _invalid(f"{where} answered 206 with an empty body; a 206 must carry a JSON array of ops", detail)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return _invalid(f"{where} answered 206 with a body that is not JSON ({exc}): {_excerpt(text)}", detail)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return _invalid(f"{where} answered 206 with {wire.json_type(value)}; expected an array of ops", detail)
    if len(value) > wire.MAX_OPS_PER_RESPONSE:
        error = ErrorInfo(_OVERFLOW["name"], _OVERFLOW["message"], "", raw=dict(_OVERFLOW))
        return InvocationResult(error=error, retriable=False, detail=detail)
    ops: list[Op] = []
    retriable = should_retry(status, headers)
    retry_at = parse_retry_after(headers.get(wire.RETRY_AFTER), now_ms)
    for position, raw in enumerate(value):
        try:
            op = wire.op_from_wire(raw)
        except wire.WireError as exc:
            return _invalid(f"{where} answered 206 with an unreadable op at position {position}: {exc}", detail)
        if op.op == Opcode.STEP_ERROR:
            op = dataclasses.replace(op, retriable=retriable, retry_at=retry_at)
        ops.append(op)
    done = next((op for op in ops if op.op == Opcode.RUN_COMPLETE), None)
    if done is not None:
        # A checkpointing SDK ends with RunComplete (its data is the return value) after the steps it ran.
        return InvocationResult(ops=[op for op in ops if op.op != Opcode.RUN_COMPLETE], complete=True,
                                output=done.data, detail=detail)
    return InvocationResult(ops=ops, detail=detail)


def _returned(body: bytes, where: str, detail: dict[str, Any]) -> InvocationResult:
    if not body.strip():
        return InvocationResult(complete=True, output=None, detail=detail)
    try:
        output = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _invalid(f"{where} reported the function's return value, but the body is not JSON ({exc}): "
                        f"{_excerpt(body)}", detail)
    return InvocationResult(complete=True, output=output, detail=detail)


def _failed(error: ErrorInfo, headers: dict[str, str], status: int, now_ms: int,
            detail: dict[str, Any]) -> InvocationResult:
    return InvocationResult(error=error, retriable=should_retry(status, headers),
                            retry_at=parse_retry_after(headers.get(wire.RETRY_AFTER), now_ms), detail=detail)


def _invalid(message: str, detail: dict[str, Any]) -> InvocationResult:
    """A reply that breaks the protocol: retried, since a redeploy or a passing glitch may fix it."""
    return InvocationResult(error=wire.system_error("invalid_response", "InvalidSDKResponse", message),
                            retriable=True, detail=detail)


def _error_body(status: int, headers: dict[str, str], body: bytes, where: str) -> ErrorInfo:
    """The function's error: an SDK's JSON object verbatim; anything else described."""
    from_sdk = bool(headers.get(wire.SDK) or headers.get(wire.SDK_HANDLED))
    if not from_sdk:
        return wire.system_error(
            "upstream_error", "UpstreamHTTPError",
            f"{where} answered HTTP {status} before an Inngest SDK responded (a proxy or load balancer in "
            "front of the app, a crash, or no Inngest app at this URL)", _excerpt(body))
    try:
        value = orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        return ErrorInfo("Error", f"{where} answered HTTP {status}: {_excerpt(body) or '(empty body)'}", "")
    error = ErrorInfo.from_dict(value) if isinstance(value, Mapping) else ErrorInfo(
        "Error", f"{where} answered HTTP {status}: {_excerpt(body) or '(empty body)'}", "")
    if status == 401:
        return error.with_message(f"{error.message} — the app refused the request's signature: give the server the "
                                  "app's signing key, or run the app in dev mode (INNGEST_DEV=1)")
    return error


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "… (truncated)"
