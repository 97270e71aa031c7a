"""What every request passes before the API parses anything: who may call, from which page, and
how much it may send.

It runs as the outermost ASGI layer because FastAPI reads and parses a body before any dependency
runs, so a key check written as a dependency comes after a 300 MB body has been parsed. Here, in
order: the Host header (a keyless server answers only to loopback names, so a DNS-rebinding page
cannot read it), the key (``/e/{key}`` the event key, ``/v1`` the admin key), the Content-Type of
``/v1`` writes (a web page can POST ``text/plain`` to any address without asking; it cannot send
``application/json`` to another site without a CORS preflight, which this server never grants),
and the body: refused from its declared length, read within a time limit and a size cap, and only
then handed on.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KiB = 1024
MiB = 1024 * KiB

#: Every ``/v1`` endpoint without a larger cap of its own takes at most this (their bodies are tiny).
SMALL_BODY_BYTES = 64 * KiB
#: Envelope around a capped payload (``{"signal": …, "data": …}``); the payload itself is checked
#: against its exact limit by the endpoint, after parsing.
ENVELOPE_BYTES = 64 * KiB
BODY_TIMEOUT_SECONDS = 30.0

_LOOPBACK_NAMES = frozenset({"localhost", "localhost."})
#: Called by Inngest SDKs, which know no key of ours (their step data can be megabytes); like
#: ``/fn/register`` and ``/v0`` they are answered as Inngest's dev server answers them.
SDK_PATHS = ("/v1/checkpoint/",)
_WRITES = frozenset({"POST", "PUT", "PATCH"})
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Access:
    """The keys a server was started with. ``event_key`` is what apps embed (``/e/{key}``);
    ``admin_key`` is the operator's ``/v1`` bearer token, and is the event key when not set."""

    event_key: str | None = None
    admin_key: str | None = None

    @property
    def bearer(self) -> str | None:
        return self.admin_key or self.event_key

    @property
    def open(self) -> bool:
        """No key at all: reachable only from this machine, so the Host header is checked."""
        return self.bearer is None


@dataclass(frozen=True)
class BodyCaps:
    """The largest body each kind of request may send, in bytes."""

    events: int                  # POST /e/{key} and /v1/events: a batch of events
    signal: int                  # POST /v1/signals: the data becomes the waiting step's output
    invoke: int                  # POST /v1/functions/{id}/invoke: the data becomes the event's data
    other: int                   # any other endpoint (the Inngest dev-server routes, GraphQL)

    def for_path(self, path: str) -> int:
        if path.startswith("/e/") or path == "/v1/events":
            return self.events
        if path == "/v1/signals":
            return self.signal + ENVELOPE_BYTES
        if path.startswith("/v1/functions/") and path.endswith("/invoke"):
            return self.invoke + ENVELOPE_BYTES
        if path.startswith(SDK_PATHS):
            return self.other
        if path.startswith("/v1/"):
            return SMALL_BODY_BYTES
        return self.other


class Refusal(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def loopback_host(host: str) -> bool:
    """``localhost``, ``127.0.0.1``, ``[::1]`` (any loopback address) or ``0.0.0.0``, any port.

    ``0.0.0.0`` is in because Inngest SDKs address a dev server on a wildcard bind that way; a
    browser never resolves a foreign name to it.
    """
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        if rest and not rest.startswith(":"):
            return False
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


class Guard:
    """ASGI middleware; see the module docstring for what it checks and in which order."""

    def __init__(self, app: ASGIApp, access: Access, caps: BodyCaps, router: Router,
                 body_timeout: float = BODY_TIMEOUT_SECONDS) -> None:
        self.app = app
        self.access = access
        self.caps = caps
        self.router = router
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._wrong_method(scope):
            # A method the path does not take is answered 405 (with Allow) by the router, which
            # reads no body: a key or a content type would not make it valid.
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        try:
            self._check_host(scope)
            self._check_key(scope, path)
            self._check_content_type(scope, path)
            if scope["method"] not in _BODYLESS:
                receive = await self._buffered(scope, receive, self.caps.for_path(path))
        except Refusal as refusal:
            await _reply(send, refusal, inngest_shape=path.startswith("/e/"))
            return
        await self.app(scope, receive, send)

    def _wrong_method(self, scope: Scope) -> bool:
        partial = False
        for route in self.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return False
            partial = partial or match is Match.PARTIAL
        return partial

    def _check_host(self, scope: Scope) -> None:
        if not self.access.open:
            return
        host = _header(scope, b"host")
        if host is not None and not loopback_host(host):
            raise Refusal(403, f"Host {host!r} is not accepted: a server without a key answers only to "
                               "localhost, 127.0.0.1, [::1] and 0.0.0.0 (start it with --key to serve other names)")

    def _check_key(self, scope: Scope, path: str) -> None:
        if path.startswith("/e/"):
            expected = [k for k in (self.access.event_key, self.access.admin_key) if k]
            given = path[len("/e/"):].split("/", 1)[0]
            if self.access.event_key and not any(_same(given, k) for k in expected):
                raise Refusal(401, "event key not accepted by this server")
            return
        if not path.startswith("/v1/") or path.startswith(SDK_PATHS) or self.access.bearer is None:
            return
        challenge = {"WWW-Authenticate": "Bearer"}
        scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refusal(401, "this server needs a key: send the header 'Authorization: Bearer <key>'", challenge)
        if not _same(token.strip(), self.access.bearer):
            if self.access.admin_key and self.access.event_key and _same(token.strip(), self.access.event_key):
                raise Refusal(401, "that is the event key, which only sends events (POST /e/{key}); "
                                   "/v1 needs the admin key", challenge)
            raise Refusal(401, "the key in the Authorization header is not this server's key", challenge)

    def _check_content_type(self, scope: Scope, path: str) -> None:
        if not path.startswith("/v1/") or scope["method"] not in _WRITES:
            return
        media = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
        if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
            shown = f"'{media}'" if media else "none"
            raise Refusal(415, f"{scope['method']} {path} needs 'Content-Type: application/json' (got {shown}); "
                               "this is what keeps web pages from calling the API")

    async def _buffered(self, scope: Scope, receive: Receive, cap: int) -> Receive:
        """Read the whole body within the cap and the time limit, then hand it on in one piece."""
        too_big = Refusal(413, f"the request body is over the limit of {cap:,} bytes for {scope['path']}")
        if scope["path"].startswith("/e/"):
            too_big = Refusal(400, f"the request body is over {cap:,} bytes; send fewer events per request")
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > cap:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return _replay(b"", message, receive)
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > cap:
                        raise too_big
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise Refusal(408, f"the request body did not arrive within {self.body_timeout:g} s") from None
        return _replay(b"".join(chunks), None, receive)


def _replay(body: bytes, disconnect: Message | None, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if disconnect is not None:
            return disconnect
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reply(send: Send, refusal: Refusal, *, inngest_shape: bool) -> None:
    body: dict[str, Any] = {"error": refusal.message}
    if inngest_shape:
        body = {"ids": [], "status": refusal.status, "error": refusal.message}
    payload = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
               (b"connection", b"close")]
    headers += [(k.lower().encode(), v.encode()) for k, v in refusal.headers.items()]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})

