"""``InngestApp``: our function files served as an Inngest app, so an Inngest server (self-hosted,
Inngest Cloud, or durable-tui's own) runs them.

One URL (``/api/inngest``) answers the three requests every Inngest SDK answers: ``GET`` says what
the app is, ``PUT`` syncs it (the app posts its functions to the server's ``/fn/register``, or in
cloud mode answers with them in-band), ``POST`` runs one request of a function. Executing is our
local driver's job (``LocalDriver`` in serving mode): the body becomes an ``InvocationRequest``, the
result becomes inngest-py's reply.

Without a signing key the app is in dev mode (nothing is signed or checked, as with Inngest's dev
server); with one it is in cloud mode: requests must carry a valid signature (401 otherwise), replies
are signed, calls to the server carry the key's Bearer token. The app is also a ``FunctionHost``, so
``FunctionWatcher`` hot-reloads its files, and every reload syncs it again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from executor.drivers.inngest.signing import SignatureError, hash_signing_key, verify_signature
from executor.drivers.local.attempt import FinalStepError
from executor.drivers.local.driver import LocalDriver
from executor.drivers.local.function import Function
from executor.drivers.local.invocation import Serving
from executor.errors import ErrorInfo
from executor.feed import ChangeFeed
from executor.ops import Op
from executor.service.inngest_app import config
from executor.service.inngest_app.control import AppControl, Checkpointer
from executor.service.inngest_app.http import (SIGNATURE, BodyTooLarge, Incoming, Receive, Scope, Send, read_request,
                                               sdk_headers, send_reply)
from executor.service.inngest_app.incoming import (ExecutionRequest, ValidationError, invocation_request,
                                                   parse_execution_request)
from executor.service.inngest_app.replies import Reply, ReplyContext, error_reply, result_reply, sdk_op
from executor.service.inngest_app.upstream import EventsRefused, Upstream, UpstreamError
from executor.util.clock import Clock, RealClock

log = logging.getLogger("durable_tui.app")
IN_BAND = "in_band"


def plain_error(code: str, message: str, name: str, status: int = 500) -> Reply:
    """An error before any function code ran: inngest-py's body has no stack, and no header forbids
    the server's retry."""
    return Reply(status, {"code": code, "message": message, "name": name})


class InngestApp:
    """An ASGI app. ``server`` is the Inngest server's origin (its API and event API); without one
    the app can run requests but neither sync itself nor send events. ``url`` is where the server
    reaches the app (by default learnt from the server's sync ``PUT``)."""

    def __init__(self, functions: Iterable[Function], *, app_id: str, server: str | None = None,
                 signing_key: str | None = None, signing_key_fallback: str | None = None,
                 event_key: str | None = None, env: str | None = None, app_version: str | None = None,
                 serve_path: str = config.DEFAULT_SERVE_PATH, url: str | None = None,
                 clock: Clock | None = None) -> None:
        if not isinstance(app_id, str) or not app_id.strip():
            raise ValueError("an Inngest app needs an app id (--app-id), e.g. the name of the service")
        if signing_key_fallback and not signing_key:
            raise ValueError("a fallback signing key needs a signing key")
        self.app_id = app_id
        self.clock: Clock = clock or RealClock()
        self.feed = ChangeFeed()
        self.mode = "cloud" if signing_key else "dev"
        self.serve_path = serve_path
        self.url = url
        self.env = env
        self.app_version = app_version
        self._keys = [k for k in (signing_key, signing_key_fallback) if k]
        self._event_key = event_key
        self.upstream = (Upstream(server, signing_key=signing_key, signing_key_fallback=signing_key_fallback,
                                  event_key=event_key, env=env) if server else None)
        self._driver = LocalDriver(self.clock.now_ms, serving=Serving(self._send_events))
        self._functions: list[Function] = []
        self._by_slug: dict[str, Function] = {}
        self._sync_task: asyncio.Task[None] | None = None
        #: Completed syncs (``sync``, a ``PUT``, a reload): a test or a banner can wait on the count.
        self.syncs = 0
        self.set_functions(functions)

    # ---- functions (FunctionHost) ------------------------------------------------------------

    @property
    def functions(self) -> list[Function]:
        return list(self._functions)

    def set_functions(self, functions: Iterable[Function]) -> None:
        """Swap the functions (hot reload); an app that knows its URL syncs again."""
        functions = list(functions)
        self._driver.set_functions(functions)       # refuses two functions with one id
        self._functions = functions
        self._by_slug = {config.slug(self.app_id, fid): fn for fid, fn in self._driver.functions.items()}
        if self.url and self.upstream is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return      # not serving yet: the first sync sends them
            self._resync(loop)

    def _resync(self, loop: asyncio.AbstractEventLoop) -> None:
        previous = self._sync_task

        async def again() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                await self.sync()
            except UpstreamError as exc:
                log.warning("app %r: %s", self.app_id, exc)

        self._sync_task = loop.create_task(again(), name=f"sync {self.app_id}")

    def register_body(self, app_url: str) -> dict[str, Any]:
        return config.register_body(self._functions, app_id=self.app_id, app_url=app_url,
                                    app_version=self.app_version)

    async def sync(self, *, server_kind: str | None = None, deploy_id: str | None = None) -> dict[str, Any]:
        """Register with the server (``POST /fn/register``) and return its reply; ``UpstreamError``
        when it cannot be reached, refuses, or answers something that is not JSON."""
        if self.upstream is None or self.url is None:
            raise UpstreamError(f"app {self.app_id!r} cannot sync: it needs a server (--server) and its own URL")
        response = await self.upstream.register(self.register_body(self.url), server_kind=server_kind,
                                                deploy_id=deploy_id)
        try:
            reply = response.json()
        except ValueError:
            raise UpstreamError(f"the server at {self.upstream.origin} answered the sync with HTTP "
                                f"{response.status_code} and no JSON: {response.text[:300]!r}") from None
        if not isinstance(reply, dict):
            raise UpstreamError(f"the server answered the sync with {reply!r}, not an object")
        if response.status_code >= 400 or reply.get("ok") is False:
            raise UpstreamError(f"the server at {self.upstream.origin} refused the sync of app {self.app_id!r} "
                                f"(HTTP {response.status_code}): {reply.get('error') or reply}")
        self.syncs += 1
        log.info("app %r synced with %s: %d function(s)", self.app_id, self.upstream.origin, len(self._by_slug))
        return reply

    async def wait_synced(self) -> None:
        """Until the resync a reload started has finished (a no-op when none is pending)."""
        if self._sync_task is not None:
            await asyncio.gather(self._sync_task, return_exceptions=True)

    async def aclose(self) -> None:
        if self._sync_task is not None:
            self._sync_task.cancel()
            await asyncio.gather(self._sync_task, return_exceptions=True)
        if self.upstream is not None:
            await self.upstream.aclose()

    # ---- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        base = sdk_headers(mode=self.mode, env=self.env)
        try:
            incoming = await read_request(scope, receive)
        except BodyTooLarge as exc:
            await send_reply(send, plain_error("body_invalid", str(exc), "BodyTooLarge", 413), started=started,
                             base_headers=base, signing_key=None)
            return
        if incoming.path.rstrip("/") != self.serve_path.rstrip("/"):
            reply = Reply(404, {"code": "url_not_found", "message": f"nothing is served at {incoming.path}; "
                                f"the Inngest endpoint is {self.serve_path}", "name": "NotFound"})
            await send_reply(send, reply, started=started, base_headers=base, signing_key=None)
            return
        key, refused = self._check_signature(incoming)
        if refused is not None and incoming.method != "PUT":
            # As inngest-py: a refused signature gets none of the SDK's headers.
            await send_reply(send, refused, started=started, base_headers={}, signing_key=None)
            return
        if incoming.method == "POST":
            reply = await self._execute(incoming)
        elif incoming.method == "GET":
            reply = self._inspect(incoming, key)
        elif incoming.method == "PUT":
            reply = await self._sync_request(incoming, key, refused)
        else:
            reply = Reply(405, {"code": "method_not_allowed", "message": f"{incoming.method} is not served here; "
                                "an Inngest server uses GET, PUT and POST", "name": "MethodNotAllowed"},
                          {"allow": "GET, PUT, POST"})
        if reply.status == 401:
            base = {}
        await send_reply(send, reply, started=started, base_headers=base, signing_key=key)

    def _check_signature(self, incoming: Incoming) -> tuple[str | None, Reply | None]:
        """The key that signed the request (None in dev mode), or the 401 for a request that is not
        signed with ours."""
        if self.mode == "dev":
            return None, None
        try:
            return verify_signature(incoming.headers.get(SIGNATURE), incoming.body, self._keys,
                                    now_s=int(time.time())), None
        except SignatureError as exc:
            log.warning("app %r refused a %s request: %s", self.app_id, incoming.method, exc)
            return None, Reply(401, {"message": "Unauthorized"})

    # ---- GET: introspection --------------------------------------------------------------------

    def _inspect(self, incoming: Incoming, key: str | None) -> Reply:
        kind = incoming.headers.get("x-inngest-server-kind")
        if kind in ("dev", "cloud") and kind != self.mode:
            return Reply(403, {})
        body = config.inspection(function_count=len(self._functions), mode=self.mode,
                                 has_event_key=self._event_key is not None, has_signing_key=bool(self._keys),
                                 has_signing_key_fallback=len(self._keys) > 1)
        if key is not None:
            body.update(self._authenticated())
        return Reply(200, body)

    def _authenticated(self) -> dict[str, Any]:
        origin = self.upstream.origin.rstrip("/") if self.upstream is not None else None
        return {
            "api_origin": origin, "app_id": self.app_id, "authentication_succeeded": True,
            "capabilities": dict(config.CAPABILITIES), "env": self.env, "event_api_origin": origin,
            "event_key_hash": hashlib.sha256(self._event_key.encode()).hexdigest() if self._event_key else None,
            "framework": config.FRAMEWORK, "sdk_language": config.LANGUAGE, "sdk_version": config.VERSION,
            "serve_origin": None, "serve_path": None,
            "signing_key_hash": hash_signing_key(self._keys[0]),
            "signing_key_fallback_hash": hash_signing_key(self._keys[1]) if len(self._keys) > 1 else None}

    # ---- PUT: sync -----------------------------------------------------------------------------

    async def _sync_request(self, incoming: Incoming, key: str | None, refused: Reply | None) -> Reply:
        app_url = self.url or incoming.url
        if self.mode == "cloud" and incoming.headers.get("x-inngest-sync-kind") == IN_BAND:
            if refused is not None:
                return refused
            return Reply(200, self._in_band(app_url), {"x-inngest-sync-kind": IN_BAND})
        kind = incoming.headers.get("x-inngest-server-kind")
        if kind in ("dev", "cloud") and kind != self.mode:
            expected = {"dev": "Dev Server", "cloud": "Cloud"}
            return plain_error("server_kind_mismatch", f"Sync rejected since it's from {expected[kind]} but expected "
                               f"{expected[self.mode]}", "ServerKindMismatch", 400)
        if self.upstream is None:
            return plain_error("registration_failed", f"app {self.app_id!r} has no server to register with: start "
                               "it with --server URL", "RegistrationFailedError")
        self.url = app_url
        try:
            response = await self.upstream.register(self.register_body(app_url), server_kind=kind,
                                                    deploy_id=incoming.query.get("deployId"))
        except UpstreamError as exc:
            return plain_error("unknown", str(exc), "Exception")
        try:
            reply = response.json()
        except ValueError:
            return plain_error("registration_failed", "response is not valid JSON", "RegistrationFailedError")
        if not isinstance(reply, dict):
            return plain_error("registration_failed", "response is not an object", "RegistrationFailedError")
        if response.status_code < 400:
            self.syncs += 1
        # As inngest-py: the server's answer, whatever it says, is the PUT's (200) answer.
        return Reply(200, reply, {"x-inngest-sync-kind": "out_of_band"})

    def _in_band(self, app_url: str) -> dict[str, Any]:
        inspection = config.inspection(function_count=len(self._functions), mode=self.mode,
                                       has_event_key=self._event_key is not None, has_signing_key=True,
                                       has_signing_key_fallback=len(self._keys) > 1)
        body: dict[str, Any] = {
            "app_id": self.app_id, "appVersion": self.app_version, "env": self.env, "framework": config.FRAMEWORK,
            "functions": config.function_configs(self._functions, self.app_id, app_url),
            "inspection": _without_nones({**inspection, **self._authenticated()}), "sdk_author": config.LANGUAGE,
            "sdk_language": config.LANGUAGE, "sdk_version": config.VERSION, "url": app_url}
        return _without_nones(body)

    # ---- POST: execution -------------------------------------------------------------------------

    async def _execute(self, incoming: Incoming) -> Reply:
        probe = incoming.query.get("probe")
        if probe:
            return Reply(200, None) if probe == "trust" else plain_error("unknown", f"unsupported probe: {probe}",
                                                                         "Exception")
        try:
            req = parse_execution_request(incoming.body)
        except ValidationError as exc:
            return plain_error("unknown", str(exc), "ValidationError")
        fn_slug = incoming.query.get("fnId")
        if fn_slug is None:
            return plain_error("query_param_missing", "fnId", "QueryParamMissingError")
        fn = self._by_slug.get(fn_slug) or self._driver.functions.get(fn_slug)
        if fn is None:
            return plain_error("function_not_found", f"function {fn_slug} not found", "FunctionNotFoundError")
        events, steps = req.events, req.steps
        if req.use_api:
            if self.upstream is None:
                return plain_error("unknown", f"run {req.run_id}: the server asks the app to fetch the run's state "
                                   "from its API, but the app has no --server", "Exception")
            try:
                events, steps = await self.upstream.run_state(req.run_id)
            except UpstreamError as exc:
                return plain_error("unknown", str(exc), "Exception")
        if events is None:
            return plain_error("unknown", "events not in request", "Exception")
        step_id = incoming.query.get("stepId")
        target = step_id if step_id and step_id != config.STEP else None
        context = ReplyContext(self.app_id, req.attempt, req.max_attempts)
        control = AppControl(req.run_id, self._checkpointer(req, fn, target, context))
        request = invocation_request(req, fn, events=events, steps=steps, target=target, now_ms=self.clock.now_ms(),
                                     control=control, request_id=req.request_id or incoming.headers.get("x-request-id", ""))
        result = await self._driver.invoke(request)
        for warning in result.warnings:
            log.warning("function %r, run %s: %s", fn.id, req.run_id, warning["message"])
        if control.stale is not None:
            # The server no longer waits for this request (cancelled, ended, requeued): stop, report nothing.
            return error_reply(ErrorInfo("StaleRequest", control.stale, None), retriable=False, code="stale_request")
        return result_reply(result, control.reported, context)

    def _checkpointer(self, req: ExecutionRequest, fn: Function, target: str | None,
                      context: ReplyContext) -> Checkpointer | None:
        """Steps run inline are posted to the server as they finish when it can take them: it sent
        the ids a checkpoint names (``ctx.fn_id``, ``ctx.qi_id``, as the TypeScript SDK requires),
        and this is a discovery request of a checkpointing function."""
        upstream = self.upstream
        if (upstream is None or not upstream.checkpoints_supported or not fn.checkpointing or target is not None
                or not req.fn_id or not req.qi_id or req.disable_immediate_execution):
            return None
        started = self.clock.now_ms()

        async def post(op: Op) -> bool:
            body = {"run_id": req.run_id, "fn_id": req.fn_id, "qi_id": req.qi_id,
                    "request_id": req.request_id or None, "request_started_at": started,
                    "steps": [sdk_op(op, context)], "ts": self.clock.now_ms()}
            return await upstream.checkpoint(req.run_id, body)

        return post

    async def _send_events(self, events: list[Any], where: str) -> list[str]:
        """``step.send_event``'s handler: the server's event API stores them and answers their ids."""
        if self.upstream is None:
            raise FinalStepError("EventsNotSent", f"{where}: the app has no --server to send events to")
        try:
            return await self.upstream.send_events(events)
        except EventsRefused as exc:
            raise FinalStepError("EventValidationError", f"{where}: {exc}") from None


def _without_nones(body: dict[str, Any]) -> dict[str, Any]:
    """inngest-py leaves unset fields out of the in-band sync body (an unsigned GET keeps them)."""
    return {k: v for k, v in body.items() if v is not None}


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to start or stop with the server: the app is ready when constructed."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
