"""Real inngest-py apps against our Inngest dev server, both on free loopback ports in this event loop.

``DevServer`` is the executor with its HTTP API (``create_app`` + ``ApiServer``); ``SDKApp`` is an
``inngest==0.5.19`` app served by FastAPI (``inngest.fast_api.serve``) under uvicorn. Between them
run the real protocol: the app syncs when it is PUT to (it then posts ``/fn/register``), our
HTTP driver POSTs its execution requests, and the SDK calls back for events and large state.

``SDKApp`` counts the execution requests it gets per function (Inngest's parallel rules fix those
counts), can swap its functions behind the same URL (a re-sync with a changed app), and can be
told to answer a given request like something that is not an SDK at all.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import fastapi
import httpx
import inngest
import inngest.fast_api
import orjson
import uvicorn

from executor import Executor, Run
from executor.service.server import ApiServer
from executor.service.sockets import bind, url_of
from executor.testing import run_to_end
from executor.util.clock import Clock, VirtualClock

SERVE_PATH = "/api/inngest"
#: Real seconds a test waits for a run (every one here ends within a few).
RUN_TIMEOUT_S = 15.0
#: How long a stopping app lets requests still executing finish (a test that failed may leave one hanging).
STOP_GRACE_S = 2

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Reply:
    """A canned HTTP answer given instead of the SDK's (to play a broken app)."""

    status: int
    body: bytes
    headers: dict[str, str]


class _InLoopServer(uvicorn.Server):
    """uvicorn in the test's own event loop, leaving the signal handlers to pytest."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LoopServer:
    """An ASGI callable served by uvicorn on a free loopback port, in this event loop; it can be
    stopped and started again on the same port (an app going down and coming back)."""

    def __init__(self, asgi: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self._asgi = asgi
        self._sock: socket.socket | None = bind("127.0.0.1", 0)
        self.origin = url_of(self._sock)
        self._port = self._sock.getsockname()[1]
        self._server: _InLoopServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sock = self._sock or bind("127.0.0.1", self._port)
        self._sock = None
        config = uvicorn.Config(self._asgi, interface="asgi3", log_level="warning", lifespan="off", ws="none",
                                access_log=False, timeout_graceful_shutdown=STOP_GRACE_S)
        self._server = server = _InLoopServer(config)
        self._task = task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                await task
                raise RuntimeError(f"the server at {self.origin} stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = self._task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class SDKApp:
    """inngest-py functions served on a free port (``url`` is what gets PUT to and registered)."""

    def __init__(self, client: inngest.Inngest, functions: list[inngest.Function[Any]]) -> None:
        self.client = client
        self.requests: collections.Counter[str] = collections.Counter()   # fnId -> execution POSTs
        self.use_api: dict[str, list[bool]] = collections.defaultdict(list)   # fnId -> each request's flag
        self._canned: dict[tuple[str, int], Reply] = {}
        self._inner = self._fastapi(functions)
        self._server = LoopServer(self._asgi)
        self.url = self._server.origin + SERVE_PATH

    def _fastapi(self, functions: list[inngest.Function[Any]]) -> fastapi.FastAPI:
        app = fastapi.FastAPI()
        inngest.fast_api.serve(app, self.client, functions, serve_path=SERVE_PATH)
        return app

    def answer(self, fn_id: str, nth: int, reply: Reply) -> None:
        """Give ``reply`` instead of the SDK's answer to the ``nth`` execution request of ``fn_id``."""
        self._canned[(fn_id, nth)] = reply

    def swap(self, functions: list[inngest.Function[Any]]) -> None:
        """Serve another set of functions at the same URL (the app was redeployed)."""
        self._inner = self._fastapi(functions)

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            fn_id = parse_qs(scope["query_string"].decode()).get("fnId", [""])[0]
            self.requests[fn_id] += 1
            canned = self._canned.pop((fn_id, self.requests[fn_id]), None)
            if canned is not None:
                await _answer(canned, send)
                return
            body = await _read_body(receive)
            self.use_api[fn_id].append(orjson.loads(body).get("use_api") is True)
            receive = _replay(body, receive)
        await self._inner(scope, receive, send)

    async def start(self) -> "SDKApp":
        await self._server.start()
        return self

    async def stop(self) -> None:
        await self._server.stop()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, then: Receive) -> Receive:
    """A ``receive`` that hands the already-read body to the app, then listens to the connection."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return await then()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


async def _answer(reply: Reply, send: Send) -> None:
    headers = [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
    headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


class CallLog:
    """ASGI middleware noting each request's method and path (what an SDK called on the server)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], calls: list[tuple[str, str]]) -> None:
        self.app = app
        self.calls = calls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.calls.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


@dataclass
class DevServer:
    """Our executor behind its HTTP API, as SDK apps see it; ``calls`` lists the requests it got."""

    ex: Executor
    clock: Clock
    server: ApiServer
    http: httpx.AsyncClient
    calls: list[tuple[str, str]]

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, app_id: str = "sdk-tests") -> inngest.Inngest:
        """An SDK client in dev mode whose API and event API are this server."""
        return inngest.Inngest(app_id=app_id, is_production=False, api_base_url=self.url,
                               event_api_base_url=self.url)

    async def sync(self, app: SDKApp) -> dict[str, Any]:
        """PUT to the app, as ``curl -X PUT`` or the dev server's ping does; the py SDK answers with
        our ``/fn/register`` reply (it always says 200, so the reply body is what tells)."""
        reply = await self.http.put(app.url, headers={"X-Inngest-Server-Kind": "dev"})
        assert reply.status_code == 200, reply.text
        return reply.json()

    async def start_run(self, client: inngest.Inngest, name: str, data: dict[str, Any] | None = None) -> str:
        """Send one event through the SDK's client and return the one run it started."""
        [event_id] = await client.send(inngest.Event(name=name, data=data or {}))
        [run] = await self.ex.runs(event_id=event_id)
        return run.id

    async def finish(self, run_id: str, timeout: float = RUN_TIMEOUT_S) -> Run:
        """The run once it ended; a virtual clock jumps over sleeps and timeouts meanwhile."""
        if isinstance(self.clock, VirtualClock):
            return await run_to_end(self.ex, self.clock, run_id, timeout=timeout)
        return await self.ex.wait_for_run(run_id, timeout=timeout)

    async def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        reply = await self.http.post(f"{self.url}/v0/gql", json={"query": query, "variables": variables})
        assert reply.status_code == 200, reply.text
        return reply.json()

    async def step_memos(self, run_id: str) -> dict[str, Any]:
        """Step id (``foo``, ``foo:1`` for repeats) -> what the run stored for it."""
        return {s.step_id: s.memo for s in await self.ex.steps(run_id) if s.has_memo}
