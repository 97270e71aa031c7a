"""The HTTP API: Inngest's event endpoint plus a ``/v1`` REST surface and a live SSE stream.

Other programs reach a running executor through this: the apps that emit events (any Inngest
SDK works, since ``POST /e/{key}`` speaks Inngest's event API), scripts and the command line
(``executor.service.client``), and a console attached from another terminal (``GET /v1/stream``).

Every ``/v1`` reply is a ``{"data": …}`` envelope (lists add ``"metadata": {"next_cursor"}``) and
every failure is ``{"error": "<what is wrong>"}`` with a 4xx status, so a script never has to
guess which shape it got. The event endpoint keeps Inngest's own shape,
``{"ids": [...], "status": 200}`` or ``{"ids": [], "status": 400, "error": …}``, because SDKs parse it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from executor.drivers.local.loader import LoadStatus
from executor.engine.events import MAX_NAME_LENGTH, check_name
from executor.errors import EventValidationError
from executor.executor import Executor
from executor.feed import Change, Subscription
from executor.records import MiB
from executor.service.devserver import add_devserver_routes
from executor.service.gql import add_gql_routes
from executor.service.guard import BODY_TIMEOUT_SECONDS, Access, BodyCaps, Guard
from executor.service.openapi import EVENT_BODY_SCHEMA, JSON_OBJECT_BODY, PRINTABLE, document
from executor.specs import FunctionSpec
from executor.util import jsonvalues

#: A request to the event API larger than this is refused before it is parsed (one event may be
#: 3 MiB by default; this leaves room for a batch of many smaller ones).
DEFAULT_MAX_REQUEST_BYTES = 64 * MiB
MAX_PAGE = 1000
SEED_HEADER = "x-inngest-event-id-seed"
#: sse-starlette cuts open streams mid-message when it notices the server stopping; this long it lets
#: ours end cleanly first (they end at once on ``stop_streams``).
STREAM_STOP_GRACE_SECONDS = 5.0
T = TypeVar("T")
RunStatusName = Literal["Queued", "Running", "Completed", "Failed", "Cancelled", "Skipped"]


class ApiError(Exception):
    """A request the API refuses; becomes ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SignalIn(BaseModel):
    signal: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="the signal name a run waits for",
                        json_schema_extra={"pattern": PRINTABLE})
    data: Any = Field(default=None, description="any JSON value handed to the waiting run (integers within 64 bits)")


class RerunIn(BaseModel):
    from_step: str | None = Field(default=None, description="rerun from this step: the new run keeps the results "
                                                            "of the steps reached before it (step id or hashed id)")


class InvokeIn(BaseModel):
    data: dict[str, Any] | None = Field(default=None, description="the event data the run sees (integers within 64 bits)")


def create_app(executor: Executor, *, key: str | None = None, admin_key: str | None = None,
               load_status: LoadStatus | None = None, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
               body_timeout: float = BODY_TIMEOUT_SECONDS) -> FastAPI:
    """Build the ASGI app around a started ``executor``.

    With ``key`` set, the event API accepts only that event key (or the admin key) and every
    ``/v1`` call needs ``Authorization: Bearer <admin_key or key>``; with neither, both are open
    but answer only to loopback host names (the server refuses to bind anything but loopback then).
    Keys are checked, and bodies capped, before anything is parsed (``guard``).
    """
    status = load_status or LoadStatus()
    access = Access(event_key=key, admin_key=admin_key)
    limits = executor.limits
    caps = BodyCaps(events=max_request_bytes, signal=limits.max_step_output_bytes,
                    invoke=limits.max_event_bytes, other=max_request_bytes)
    app = FastAPI(title="durable-tui", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Durable step functions with Inngest's step semantics.")
    app.state.streams_stopping = asyncio.Event()
    app.add_middleware(Guard, access=access, caps=caps, router=app.router, body_timeout=body_timeout)
    _install_error_handlers(app)
    app.post("/e/{event_key}", tags=["events"], openapi_extra=EVENT_BODY_SCHEMA,
             summary="Send events (Inngest's event API)")(_event_endpoint(executor))
    v1 = APIRouter(prefix="/v1")
    _add_run_routes(v1, executor)
    _add_event_routes(v1, executor)
    _add_function_routes(v1, executor, status)
    _add_wait_routes(v1, executor)
    _add_stream_route(v1, executor, app.state.streams_stopping)
    app.include_router(v1)
    add_gql_routes(app, executor, key=key)
    add_devserver_routes(app, executor)
    document(app, keyed=access.bearer is not None)
    return app


def stop_streams(app: FastAPI) -> None:
    """End every open ``/v1/stream`` response. A server calls this before shutting down:
    an SSE stream never ends by itself, and the server would otherwise wait for it. (An app not built
    by ``create_app`` has none.)"""
    stopping = getattr(app.state, "streams_stopping", None)
    if stopping is not None:
        stopping.set()


# ---- errors and auth ---------------------------------------------------------------------

def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _describe_validation(exc.errors())}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message, headers = exc.detail, exc.headers
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            # Each route knows only its own method; a path served by several routes allows them all.
            allowed = ", ".join(_methods_for(request))
            message, headers = f"{request.method} is not allowed on {request.url.path}; use {allowed}", {"Allow": allowed}
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=headers)


def _methods_for(request: Request) -> list[str]:
    def collect(routes: Sequence[Any]) -> list[APIRoute]:
        matched: list[APIRoute] = []
        for route in routes:
            if route.matches(request.scope)[0] is Match.NONE:
                continue
            if isinstance(route, APIRoute):
                matched.append(route)
            elif hasattr(route, "original_router"):   # an included APIRouter (/v1)
                matched += collect(route.original_router.routes)
        return matched

    # Where a path parameter may hold slashes (an app named by its URL), /v1/apps/x/sync also fits
    # /v1/apps/{name}: the path is the most literal template that fits, as the document lists it.
    matched = collect(request.app.router.routes)
    literal = {id(r): len(re.sub(r"{[^}]*}", "", r.path_format)) for r in matched}
    best = max(literal.values(), default=0)
    return sorted({m for r in matched if literal[id(r)] == best for m in r.methods})


def _describe_validation(errors: Sequence[Any]) -> str:
    """Pydantic's error list as one sentence: ``body.signal: Field required; query.limit: …``."""
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()))
        if err.get("type") == "json_invalid":
            parts.append(f"the request body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})")
        else:
            parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)


def _check_payload(value: Any, limit: int, what: str, why: str) -> None:
    """What FastAPI parsed (Python's json: any integer) must be storable, and within its limit."""
    try:
        size = len(jsonvalues.dumps(value))
    except jsonvalues.NotJSONError as exc:
        hint = "; integers must fit in 64 bits" if "64-bit" in str(exc) else ""
        raise ApiError(400, f"{what} cannot be stored: {exc}{hint}") from None
    if size > limit:
        raise ApiError(400, f"{what} is {size:,} bytes; the limit is {limit:,} bytes ({why})")


async def _found(call: Awaitable[T]) -> T:
    """The executor raises KeyError (or another LookupError) for an unknown or finished id: the
    client's 404. Its first argument is already a full sentence (KeyError's str() would quote it)."""
    try:
        return await call
    except LookupError as exc:
        raise ApiError(404, str(exc.args[0]) if exc.args else "not found") from None


# ---- event API ---------------------------------------------------------------------------

def _event_reply(status: int, ids: list[str], error: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ids": ids, "status": status}
    if error is not None:
        body["error"] = error
    return JSONResponse(body, status_code=status)


def _event_endpoint(executor: Executor) -> Callable[..., Awaitable[JSONResponse]]:
    async def send_events(event_key: str, request: Request) -> JSONResponse:
        """Store one event or an array of events and start the runs they trigger.

        The events are durable before the reply. The ids answered are where each event is
        stored (derived from ``x-inngest-event-id-seed`` when an SDK sends one); an event whose
        own ``id`` was seen before is stored but starts no second run of a function. A bad event
        stops the batch: the events before it are kept, and the 400 lists their ids.
        Any Content-Type is read as JSON, as Inngest's event API does (``curl -d`` labels JSON as
        a form); the key and the size were checked by ``guard``.
        """
        raw = await request.body()
        try:
            events = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return _event_reply(400, [], f"the request body is not valid JSON ({exc})")
        try:
            routed, error = await executor.receive(events, seed=request.headers.get(SEED_HEADER))
        except EventValidationError as exc:
            return _event_reply(400, [], str(exc))
        return _event_reply(400 if error else 200, list(routed), error)

    return send_events


# ---- /v1 -----------------------------------------------------------------------------------

def _page(items: list[Any], limit: int, *, record: Callable[[Any], dict[str, Any]] = lambda i: i.to_dict(),
          cursor: Callable[[Any], str] = lambda i: i.id) -> dict[str, Any]:
    """``limit + 1`` items were read: the extra one only says whether another page exists."""
    shown = items[:limit]
    more = len(items) > limit
    return {"data": [record(i) for i in shown], "metadata": {"next_cursor": cursor(shown[-1]) if more else None}}


def _limit_query() -> Any:
    return Query(100, ge=1, le=MAX_PAGE, description="page size")


def _cursor_query() -> Any:
    return Query(None, description="next_cursor from the previous page")


def _add_run_routes(v1: APIRouter, ex: Executor) -> None:
    @v1.get("/runs", tags=["runs"], summary="List runs, newest first")
    async def list_runs(status: RunStatusName | None = Query(None, description="only runs with this status"),
                        function_id: str | None = None, limit: int = _limit_query(),
                        cursor: str | None = _cursor_query()) -> dict[str, Any]:
        return _page(await ex.runs(status=status, function_id=function_id, limit=limit + 1, before=cursor), limit)

    @v1.get("/runs/{run_id}", tags=["runs"], summary="A run with its steps and pending waits")
    async def get_run(run_id: str) -> dict[str, Any]:
        run = await _require_run(ex, run_id)
        steps = [s.to_dict() for s in await ex.steps(run_id)]
        waits = await ex.waits(run_id=run_id)
        return {"data": {**run.to_dict(), "steps": steps, "waits": waits}}

    @v1.delete("/runs/{run_id}", tags=["runs"], summary="Cancel a run at its next step boundary")
    async def cancel_run(run_id: str) -> dict[str, Any]:
        cancelled = await _found(ex.cancel(run_id))
        if not cancelled:
            run = await _require_run(ex, run_id)
            raise ApiError(409, f"run {run_id} already finished ({run.status}); there is nothing to cancel")
        return {"data": {"run_id": run_id, "cancelled": True}}

    @v1.post("/runs/{run_id}/rerun", tags=["runs"], summary="Start a fresh run on the same event",
             openapi_extra={"requestBody": {"required": True}})   # {} at least: see JSON_OBJECT_BODY
    async def rerun(run_id: str, body: RerunIn | None = None) -> dict[str, Any]:
        try:
            run = await _found(ex.rerun(run_id, from_step=body.from_step if body else None))
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return {"data": {"run_id": run.id}}


async def _require_run(ex: Executor, run_id: str) -> Any:
    run = await ex.run(run_id)
    if run is None:
        raise ApiError(404, f"no run with id {run_id!r}")
    return run


def _add_event_routes(v1: APIRouter, ex: Executor) -> None:
    @v1.get("/events", tags=["events"], summary="List events, newest first")
    async def list_events(name: str | None = None, limit: int = _limit_query(),
                          cursor: str | None = _cursor_query()) -> dict[str, Any]:
        return _page(await ex.events(name=name, limit=limit + 1, before=cursor), limit,
                     record=lambda e: e.to_record(), cursor=lambda e: e.key)

    @v1.post("/events", tags=["events"], summary="Send events and say which runs each started or resumed",
             openapi_extra=EVENT_BODY_SCHEMA)
    async def send_events(request: Request) -> dict[str, Any]:
        """The operator's send (the console's `e`, ``durable-tui send``): one event or an array, all
        stored or none (a bad event is a 400 naming it). Unlike ``POST /e/{key}``, which answers
        Inngest's shape, the reply says what each event did: ``{"ids": [...], "runs": {event id:
        [run ids]}, "started": {…}, "resumed": {…}}``: every run it touched, then split into the runs
        it started (it is their trigger) and the waiting runs it resumed."""
        try:
            events = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"the request body is not valid JSON ({exc})") from None
        try:
            routed = await ex.send_and_route(events)
        except EventValidationError as exc:
            raise ApiError(400, str(exc)) from None
        started, resumed = {}, {}
        for event_id, run_ids in routed.items():
            triggered = {r.id for r in await ex.runs(event_id=event_id, limit=MAX_PAGE)} if run_ids else set()
            started[event_id] = [r for r in run_ids if r in triggered]
            resumed[event_id] = [r for r in run_ids if r not in triggered]
        return {"data": {"ids": list(routed), "runs": routed, "started": started, "resumed": resumed}}

    @v1.get("/events/{event_id}", tags=["events"], summary="One event")
    async def get_event(event_id: str) -> dict[str, Any]:
        return {"data": (await _require_event(ex, event_id)).to_record()}

    @v1.get("/events/{event_id}/runs", tags=["events"], summary="The runs an event started")
    async def event_runs(event_id: str) -> dict[str, Any]:
        await _require_event(ex, event_id)
        return {"data": [r.to_dict() for r in await ex.runs(event_id=event_id, limit=MAX_PAGE)]}

    @v1.post("/signals", tags=["events"], summary="Resume the run waiting for a signal")
    async def send_signal(body: SignalIn) -> dict[str, Any]:
        problem = check_name(body.signal, "'signal'")
        if problem:
            raise ApiError(400, problem)
        _check_payload(body.data, ex.limits.max_step_output_bytes, "signal data", "it becomes the waiting step's output")
        run_id = await _found(ex.send_signal(body.signal, body.data))
        return {"data": {"run_id": run_id}}


async def _require_event(ex: Executor, event_id: str) -> Any:
    event = await ex.event(event_id)
    if event is None:
        raise ApiError(404, f"no event with id {event_id!r}")
    return event


def _add_function_routes(v1: APIRouter, ex: Executor, status: LoadStatus) -> None:
    @v1.get("/functions", tags=["functions"], summary="Loaded functions (files and SDK apps) and current load errors")
    async def list_functions() -> dict[str, Any]:
        functions = [{**fn.describe(), "app": None, "load_error": status.error_for(fn.source_file),
                      "flow_usage": await _usage(ex, fn.id)}
                     for fn in sorted(ex.functions.values(), key=lambda f: f.id)]
        functions += [{**_app_function(spec), "flow_usage": await _usage(ex, spec.id)}
                      for spec in sorted(ex.specs().values(), key=lambda s: s.id) if spec.app is not None]
        return {"data": functions, "metadata": {"load_errors": [e.to_dict() for e in status.errors]}}

    @v1.get("/functions/{function_id}/flow", tags=["functions"],
            summary="A function's flow control: settings, slots in use, runs held back (any driver)")
    async def function_flow(function_id: str) -> dict[str, Any]:
        return {"data": await _found(ex.flow(function_id))}

    @v1.post("/functions/{function_id}/invoke", tags=["functions"], summary="Start a function now")
    async def invoke(function_id: str, body: InvokeIn) -> dict[str, Any]:
        _check_payload(body.data, ex.limits.max_event_bytes, "invoke data", "it becomes the run's event data")
        try:
            run = await _found(ex.invoke(function_id, body.data))
        except EventValidationError as exc:
            raise ApiError(400, f"function {function_id!r}: {exc}") from None
        return {"data": {"run_id": run.id}}


def _app_function(spec: FunctionSpec) -> dict[str, Any]:
    """A function synced from an SDK app, in the shape of a local one's ``describe()`` (its
    ``source_file`` is none: the code lives with the app, at ``url``)."""
    return {"id": spec.id, "name": spec.display_name, "triggers": [t.to_dict() for t in spec.triggers],
            "retries": spec.retries, "mode": spec.mode, "source_file": None, "version": spec.version,
            "cancel": [c.to_dict() for c in spec.cancel], "on_failure": None, "app": spec.app, "url": spec.source,
            "load_error": None}


async def _usage(ex: Executor, function_id: str) -> dict[str, Any] | None:
    """Current use of the function's flow control, None when it has none."""
    spec = ex.specs().get(function_id)
    if spec is None or not spec.flow.active:
        return None
    usage = await ex.flow(function_id)
    return {k: v for k, v in usage.items() if k != "settings"}


def _add_wait_routes(v1: APIRouter, ex: Executor) -> None:
    @v1.get("/waits", tags=["waits"], summary="Pending sleeps and waits for events, signals and runs")
    async def list_waits() -> dict[str, Any]:
        return {"data": await ex.waits()}

    @v1.post("/waits/{wait_id:path}/fire", tags=["waits"], summary="End a sleep now, or time a wait out now",
             openapi_extra=JSON_OBJECT_BODY)
    async def fire(wait_id: str) -> dict[str, Any]:
        await _found(ex.fire(wait_id))
        return {"data": {"id": wait_id, "fired": True}}


def _add_stream_route(v1: APIRouter, ex: Executor, stopping: asyncio.Event) -> None:
    @v1.get("/stream", tags=["stream"], summary="Server-Sent Events of the change feed")
    async def stream() -> EventSourceResponse:
        """``event: ready`` once subscribed (nothing committed after it is missed), then one
        ``event: change`` per committed change in commit order, data ``{"kind", "id", "run_id",
        "status", "data"}``. ``event: reset`` means changes were dropped for a slow reader:
        reload what you show instead of applying deltas."""
        return EventSourceResponse(_changes(ex, stopping), shutdown_grace_period=STREAM_STOP_GRACE_SECONDS)


async def _changes(ex: Executor, stopping: asyncio.Event) -> AsyncIterator[dict[str, str]]:
    with ex.subscribe() as sub:
        yield {"event": "ready", "data": "{}"}
        stop = asyncio.ensure_future(stopping.wait())
        try:
            while batch := await _next_batch(sub, stop):
                if sub.overflowed:
                    sub.overflowed = False
                    yield {"event": "reset", "data": "{}"}
                for change in batch:
                    yield {"event": "change", "data": orjson.dumps(change.to_dict()).decode()}
        finally:
            stop.cancel()


async def _next_batch(sub: Subscription, stop: asyncio.Future[Any]) -> list[Change]:
    """The next batch of changes, or an empty list once ``stop`` is done."""
    batch = asyncio.ensure_future(sub.get_batch())
    try:
        await asyncio.wait((batch, stop), return_when=asyncio.FIRST_COMPLETED)
        return batch.result() if batch.done() else []
    finally:
        batch.cancel()
