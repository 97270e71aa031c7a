"""Apps served by any Inngest SDK, as a driver: each invocation is one ``POST`` to the function's
registered URL, answered with Inngest's 200/206/500 replies (``response.parse_response`` turns them
into a result; ``request.encode_request`` builds what Go's executor would send).

One pooled ``httpx.AsyncClient`` carries every request. Replies are read up to the SDK size limit
and no further. While a request is in flight its ``RunControl`` is kept by run id, so an SDK that
checkpoints its steps mid-request (the TypeScript SDK's ``POST /v1/checkpoint/{run}/async``)
commits them through the same engine entry point as our own SDK does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from executor.drivers.inngest import wire
from executor.drivers.inngest.request import encode_request, request_headers, request_url
from executor.drivers.inngest.response import parse_response
from executor.drivers.inngest.sync import DRIVER, AppSync, SyncedFunction
from executor.errors import ErrorInfo
from executor.ops import InvocationRequest, InvocationResult, Op, RunControl, RunStopped
from executor.records import StepState

log = logging.getLogger("durable_tui.inngest")

#: How long one SDK request may take (Inngest allows 2 h per request; a dev loop wants less).
DEFAULT_REQUEST_TIMEOUT_S = 900.0
CONNECT_TIMEOUT_S = 10.0


class CheckpointRefused(Exception):
    """No request of that run is in flight (or it ended): the SDK gets a 409 and stops."""


class InngestDriver:
    name = DRIVER

    def __init__(self, now_ms: Callable[[], int], *, signing_key: str | None = None,
                 timeout: float = DEFAULT_REQUEST_TIMEOUT_S, client: httpx.AsyncClient | None = None) -> None:
        self._now_ms = now_ms
        self.signing_key = signing_key
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_S), follow_redirects=False,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        self._functions: dict[str, SyncedFunction] = {}
        self._apps: dict[str, AppSync] = {}
        self._versions: dict[str, int] = {}          # app -> the request version its SDK speaks
        self._inflight: dict[str, RunControl] = {}

    @property
    def client(self) -> httpx.AsyncClient:
        return self._client

    async def aclose(self) -> None:
        await self._client.aclose()

    # ---- apps ------------------------------------------------------------------------------

    def set_app(self, app: AppSync) -> None:
        """Take (or replace) an app's functions: where each is served and its stable UUID."""
        self.remove_app(app.app_name)
        self._apps[app.app_name] = app
        for fn in app.functions:
            self._functions[fn.spec.id] = fn

    def remove_app(self, name: str) -> None:
        old = self._apps.pop(name, None)
        if old is not None:
            for fn in old.functions:
                self._functions.pop(fn.spec.id, None)

    def apps(self) -> Iterable[AppSync]:
        return list(self._apps.values())

    # ---- invoking --------------------------------------------------------------------------

    async def invoke(self, request: InvocationRequest) -> InvocationResult:
        fn = self._functions.get(request.function_id)
        if fn is None:
            return InvocationResult(error=ErrorInfo(
                "FunctionNotFound", f"function {request.function_id!r} belongs to no synced app any more; "
                "sync its app again (its runs continue once it is back)", ""))
        app = fn.spec.app or ""
        version = self._versions.get(app, wire.REQUEST_VERSION_PREFERRED)
        encoded = encode_request(request, fn_uuid=fn.fn_uuid, version=version, qi_id=request.request_id,
                                 job_id=request.request_id)
        url = request_url(fn.url, request.target)
        headers = request_headers(request, body=encoded.body, signing_key=self.signing_key,
                                  now_s=int(time.time()), version=version, job_id=request.request_id)
        started = self._now_ms()
        began = time.perf_counter()
        if request.target is None:
            self._inflight[request.run.id] = request.control
        try:
            status, reply_headers, body = await self._post(url, encoded.body, headers)
        except httpx.HTTPError as exc:
            return InvocationResult(error=ErrorInfo(
                "SDKUnreachable", f"POST {url} failed: {type(exc).__name__}: {exc or 'no answer'}; the app may be "
                "down or restarting — retried while the function has retries left", ""),
                detail={"http": {"url": url, "error": str(exc), "started_at": started,
                                 "duration_ms": round((time.perf_counter() - began) * 1000, 1)}})
        finally:
            if request.target is None and self._inflight.get(request.run.id) is request.control:
                del self._inflight[request.run.id]
        result = parse_response(status, reply_headers, body, now_ms=self._now_ms(), url=url)
        if isinstance(result.detail.get("request_version"), int) and result.detail["request_version"] > 0:
            self._versions[app] = result.detail["request_version"]
        result.detail = {"http": {**result.detail, "url": url, "started_at": started, "use_api": encoded.use_api,
                                  "duration_ms": round((time.perf_counter() - began) * 1000, 1)}}
        return result

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """POST and read the reply, refusing to buffer more than an SDK may send (plus one byte, so
        the parser can say it was too long)."""
        async with self._client.stream("POST", url, content=body, headers=headers) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > wire.MAX_RESPONSE_BYTES:
                    break
            return response.status_code, dict(response.headers), b"".join(chunks)

    # ---- checkpoints from SDKs that run steps inline -----------------------------------------

    async def checkpoint(self, run_id: str, ops: list[Op]) -> dict[str, StepState]:
        """Commit the steps an SDK reports mid-request; ``CheckpointRefused`` when no discovery
        request of that run is in flight (a stale or finished run), or once they are committed when
        the run is being cancelled: the SDK stops on the 409, at that step boundary."""
        control = self._inflight.get(run_id)
        if control is None:
            raise CheckpointRefused(f"run {run_id} has no request in flight to checkpoint")
        try:
            states = await control.checkpoint(ops)
        except RunStopped as exc:
            raise CheckpointRefused(str(exc)) from None
        if control.stopping():
            raise CheckpointRefused(f"run {run_id} is being cancelled: stop at this step")
        return states

    def describe(self, function_id: str) -> dict[str, Any] | None:
        fn = self._functions.get(function_id)
        return None if fn is None else {"url": fn.url, "config": dict(fn.config), "fn_uuid": fn.fn_uuid}
