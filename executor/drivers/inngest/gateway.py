"""``step.ai.infer``: the server, not the app, calls the model API the ``AIGateway`` op describes, so
the request is durable and retried like any step while the app's own request is long finished.

The op's options are Inngest's: ``url``, ``format`` (``openai-chat`` by default, ``anthropic``,
``gemini``, ``bedrock``), ``auth_key``, extra ``headers`` and the JSON ``body``. How the key is sent
depends on the format, as on Inngest: a bearer token, Anthropic's ``x-api-key``, Gemini's ``key``
query parameter, or Bedrock's ready-made ``Authorization``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import orjson

from executor.drivers.inngest import wire
from executor.errors import ErrorInfo
from executor.ops import Op, Opcode

FORMATS = ("openai-chat", "anthropic", "gemini", "bedrock")
TIMEOUT_S = 300.0


def gateway_request(opts: Mapping[str, Any]) -> tuple[str, dict[str, str], bytes]:
    """The URL, headers and body of the call an ``AIGateway`` op describes; ``ValueError`` when the
    op cannot describe a call (no URL, an unknown format)."""
    url, fmt, key = opts.get("url"), opts.get("format") or "openai-chat", opts.get("auth_key") or ""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"step.ai.infer needs an http(s) url, got {url!r}")
    if fmt not in FORMATS:
        raise ValueError(f"step.ai.infer format {fmt!r} is not one of {', '.join(FORMATS)}")
    headers = {"Content-Type": "application/json"}
    if fmt == "gemini":
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(query=urlencode([*parse_qsl(parts.query), ("key", key)])))
    elif fmt == "bedrock":
        headers["Authorization"] = key
    elif fmt == "anthropic":
        headers["X-Api-Key"] = key
    else:
        headers["Authorization"] = f"Bearer {key}"
    for name, value in (opts.get("headers") or {}).items():
        headers[canonical_header(str(name))] = str(value)
    body = opts.get("body")
    return url, headers, body if isinstance(body, bytes) else orjson.dumps(body)


def canonical_header(name: str) -> str:
    """``x-my-header`` as ``X-My-Header``: header names are sent the way Inngest's server (Go) writes
    them, which is what an endpoint comparing names exactly expects."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


async def call_gateway(client: httpx.AsyncClient, step: str, opts: Mapping[str, Any], *,
                       now_ms: int) -> Op:
    """Make the call and say how the step went: its JSON reply as the step's output, or an
    ``AIGatewayError`` (a 5xx, a 429 or no answer is retried; another status is not)."""
    def failed(message: str, body: bytes = b"", *, retriable: bool = True) -> Op:
        return Op(Opcode.STEP_ERROR, step, error=ErrorInfo("AIGatewayError", message, body.decode(errors="replace")),
                  retriable=retriable, started_at=now_ms)

    try:
        url, headers, body = gateway_request(opts)
    except ValueError as exc:
        return failed(str(exc), retriable=False)
    try:
        response = await client.post(url, content=body, headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        return failed(f"Error making AI request: {type(exc).__name__}: {exc}")
    reply = response.content[:wire.MAX_RESPONSE_BYTES]
    if response.status_code > 299:
        return failed(f"Error making AI request: unsuccessful status code: {response.status_code}", reply,
                      retriable=response.status_code >= 500 or response.status_code == 429)
    try:
        data = orjson.loads(reply) if reply else None
    except orjson.JSONDecodeError:
        return failed(f"the AI endpoint {url} answered {response.status_code} with a body that is not JSON", reply)
    return Op(Opcode.STEP_RUN, step, data=data, started_at=now_ms)
