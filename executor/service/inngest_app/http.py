"""The HTTP shell of the app: one ASGI request in, one reply out, with the headers every Inngest SDK
reply carries and, when the request was signed, the reply's own signature.

Bodies are read up to a cap before anything looks at them (a server never sends more than the run
state limit; a body beyond it is not an execution request). Replies are JSON; ``None`` is ``null``,
as inngest-py writes it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from executor.drivers.inngest.signing import sign_response
from executor.service.inngest_app.config import FRAMEWORK
from executor.service.inngest_app.replies import Reply
from executor.service.inngest_app.upstream import api_headers

#: 32 MiB, the run state limit: nothing larger is ever an execution request.
MAX_BODY_BYTES = 32 * 1024 * 1024
SIGNATURE = "x-inngest-signature"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class Incoming:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]        # names in lower case
    body: bytes
    url: str                       # scheme://host/path, no query: where this request reached the app


async def read_request(scope: Scope, receive: Receive) -> Incoming:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge(f"the request body is over {MAX_BODY_BYTES:,} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
    return Incoming(scope["method"], scope["path"], query, headers, b"".join(chunks),
                    f"{scope.get('scheme', 'http')}://{host}{scope['path']}")


def sdk_headers(*, mode: str, env: str | None) -> dict[str, str]:
    """On every reply but a refused signature's (inngest-py's ``create_headers`` with its mode)."""
    return {**api_headers(env), "x-inngest-framework": FRAMEWORK, "x-inngest-expected-server-kind": mode}


async def send_reply(send: Send, reply: Reply, *, started: float, base_headers: dict[str, str],
                     signing_key: str | None) -> None:
    body = orjson.dumps(reply.body)
    headers = {**base_headers, **reply.headers, "x-inngest-sdk-handled": "true",
               "server-timing": f"handler;dur={(time.perf_counter() - started) * 1000:.1f}"}
    headers.setdefault("content-type", "application/json")
    if signing_key:
        headers[SIGNATURE] = sign_response(body, signing_key, int(time.time()))
    await send({"type": "http.response.start", "status": reply.status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]})
    await send({"type": "http.response.body", "body": body})
