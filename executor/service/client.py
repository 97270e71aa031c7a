"""An httpx client for a running ``durable-tui serve``: the command line uses it, and so does a
console attached to a remote executor.

Every endpoint of ``executor.service.api`` has a method here. Failures come back as one exception type,
``ApiRequestError``, carrying the server's own ``error`` message, and a server that does not
answer at all is ``ServerUnavailableError`` — so callers can print one clear line instead of an
httpx traceback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from executor.service.settings import DEFAULT_URL
import orjson

#: The event key sent when the server has no key: any value is accepted then.
OPEN_EVENT_KEY = "local"


class ApiRequestError(Exception):
    """The server refused a request; ``status`` is the HTTP status, the message the server's."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ServerUnavailableError(ApiRequestError):
    """No server answered at the URL (not started, stopped, wrong address or port)."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


@dataclass
class Page:
    """One page of a newest-first listing; pass ``next_cursor`` back for the next (None: last page)."""

    items: list[dict[str, Any]]
    next_cursor: str | None = None


@dataclass
class Routed:
    """What a send did: the events' ids in order, and per event id the runs it started (it is
    their trigger) and the waiting runs it resumed."""

    ids: list[str]
    started: dict[str, list[str]] = field(default_factory=dict)
    resumed: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class FunctionList:
    functions: list[dict[str, Any]]
    load_errors: list[dict[str, Any]] = field(default_factory=list)


class Client:
    """``async with Client(url, key) as c: await c.send({"name": "app/x"})``."""

    def __init__(self, url: str = DEFAULT_URL, key: str | None = None, *, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # ---- transport -----------------------------------------------------------------------

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """httpx's exceptions as the two this module promises."""
        try:
            yield
        except httpx.TimeoutException:
            raise ServerUnavailableError(f"the server at {self.url} did not answer within {self.timeout:g} s") from None
        except httpx.TransportError as exc:
            raise ServerUnavailableError(
                f"no durable-tui server answers at {self.url} ({exc or type(exc).__name__}); "
                "start one with `durable-tui serve`, or pass --url") from None

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if method in ("POST", "PUT", "PATCH") and "json" not in kwargs and "content" not in kwargs:
            # The server takes /v1 writes only as JSON (web pages cannot send that to it), bodiless ones too.
            kwargs["json"] = {}
        with self._translated():
            response = await self._http.request(method, path, **kwargs)
        body = _json_or_none(response.content)
        if response.is_error:
            raise ApiRequestError(response.status_code, _error_message(response, body))
        return body

    async def _data(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._call(method, path, **kwargs))["data"]

    async def _page(self, path: str, params: dict[str, Any]) -> Page:
        body = await self._call("GET", path, params={k: v for k, v in params.items() if v is not None})
        return Page(body["data"], body.get("metadata", {}).get("next_cursor"))

    # ---- events and signals --------------------------------------------------------------

    async def send(self, events: dict[str, Any] | list[dict[str, Any]]) -> list[str]:
        """Send one event or a list through the event API; returns the event ids."""
        body = await self._call("POST", f"/e/{self.key or OPEN_EVENT_KEY}", content=orjson.dumps(events),
                                headers={"Content-Type": "application/json"})
        return body["ids"]

    async def send_and_route(self, events: dict[str, Any] | list[dict[str, Any]]) -> Routed:
        """Send events as the operator does (``POST /v1/events``): all stored or none, and the
        reply says which runs each event started and which waiting runs it resumed."""
        body = await self._data("POST", "/v1/events", content=orjson.dumps(events),
                                headers={"Content-Type": "application/json"})
        return Routed(body["ids"], body.get("started", {}), body.get("resumed", {}))

    async def signal(self, signal: str, data: Any = None) -> str:
        """Resume the run waiting for ``signal``; returns its id (404 when none waits)."""
        return (await self._data("POST", "/v1/signals", json={"signal": signal, "data": data}))["run_id"]

    async def events(self, *, name: str | None = None, limit: int = 100, cursor: str | None = None) -> Page:
        return await self._page("/v1/events", {"name": name, "limit": limit, "cursor": cursor})

    async def event(self, event_id: str) -> dict[str, Any]:
        return await self._data("GET", f"/v1/events/{event_id}")

    async def event_runs(self, event_id: str) -> list[dict[str, Any]]:
        return await self._data("GET", f"/v1/events/{event_id}/runs")

    # ---- runs ----------------------------------------------------------------------------

    async def runs(self, *, status: str | None = None, function_id: str | None = None, limit: int = 100,
                   cursor: str | None = None) -> Page:
        return await self._page("/v1/runs", {"status": status, "function_id": function_id, "limit": limit,
                                             "cursor": cursor})

    async def run(self, run_id: str) -> dict[str, Any]:
        """The run with ``steps`` and pending ``waits``."""
        return await self._data("GET", f"/v1/runs/{run_id}")

    async def cancel(self, run_id: str) -> None:
        await self._data("DELETE", f"/v1/runs/{run_id}")

    async def rerun(self, run_id: str, from_step: str | None = None) -> str:
        body = {"from_step": from_step} if from_step else {}
        return (await self._data("POST", f"/v1/runs/{run_id}/rerun", json=body))["run_id"]

    # ---- functions and waits -------------------------------------------------------------

    async def functions(self) -> FunctionList:
        body = await self._call("GET", "/v1/functions")
        return FunctionList(body["data"], body.get("metadata", {}).get("load_errors", []))

    async def invoke(self, function_id: str, data: dict[str, Any] | None = None) -> str:
        return (await self._data("POST", f"/v1/functions/{function_id}/invoke", json={"data": data}))["run_id"]

    async def waits(self) -> list[dict[str, Any]]:
        return await self._data("GET", "/v1/waits")

    async def fire(self, wait_id: str) -> None:
        await self._data("POST", f"/v1/waits/{wait_id}/fire")

    # ---- apps served by an Inngest SDK ---------------------------------------------------

    async def apps(self) -> list[dict[str, Any]]:
        """Each app: name, url, sdk (language and version), framework, function count, last sync, error."""
        return await self._data("GET", "/v1/apps")

    async def add_app(self, url: str) -> dict[str, Any]:
        """Remember an app URL and sync it now (a failed sync is kept on the app, not raised)."""
        return await self._data("POST", "/v1/apps", json={"url": url})

    async def sync_app(self, name: str) -> dict[str, Any]:
        return await self._data("POST", f"/v1/apps/{quote(name, safe='')}/sync")

    async def remove_app(self, name: str) -> None:
        await self._data("DELETE", f"/v1/apps/{quote(name, safe='')}")

    # ---- live stream ---------------------------------------------------------------------

    @asynccontextmanager
    async def stream(self) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """``async with c.stream() as changes: async for change in changes: …``

        Entered only once the server has subscribed, so every change committed after that is
        delivered, in commit order. A change of kind ``"reset"`` means the server dropped
        changes for this slow reader: reload instead of applying deltas.
        """
        with self._translated():
            async with self._http.stream("GET", "/v1/stream", timeout=httpx.Timeout(self.timeout, read=None)) as resp:
                if resp.is_error:
                    await resp.aread()
                    raise ApiRequestError(resp.status_code, _error_message(resp, _json_or_none(resp.content)))
                messages = _sse_messages(resp.aiter_lines())
                async for kind, _ in messages:
                    if kind == "ready":
                        break
                yield self._changes(messages)

    async def _changes(self, messages: AsyncIterator[tuple[str, str]]) -> AsyncIterator[dict[str, Any]]:
        with self._translated():
            async for kind, data in messages:
                if kind == "change":
                    yield orjson.loads(data)
                elif kind == "reset":
                    yield {"kind": "reset", "id": "", "run_id": None, "status": None, "data": {}}


async def _sse_messages(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """Server-Sent Events framing: ``(event type, data)`` per message; comments (pings) skipped."""
    event, data = "message", []
    async for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)


def _json_or_none(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def _error_message(response: httpx.Response, body: Any) -> str:
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    return f"HTTP {response.status_code} from {response.request.url}: {response.text[:200] or response.reason_phrase}"
