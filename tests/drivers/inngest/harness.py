"""Helpers for driving the real inngest-py SDK with our protocol layer, with no Inngest server.

``SDKApp`` serves inngest-py functions with FastAPI in this process (reached through
``httpx.ASGITransport``, so no socket) and sends it requests built by ``encode_request`` and friends,
returning what ``parse_response`` makes of the reply. ``RunState`` plays the executor's part for one
run just far enough to replay: it turns ops into memos the way the engine stores them.
``StubServer`` is the bit of an Inngest server the SDK itself calls (``/fn/register``, ``/e/{key}``,
``/v0/runs/{id}/batch|actions``), on 127.0.0.1 at a free port, recording what it got.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import fastapi
import httpx
import inngest
import inngest.fast_api
import uvicorn

from executor.drivers.inngest import (SyncError, encode_request, parse_register_body, parse_response, register_reply,
                                      request_headers, request_url)
from executor.drivers.inngest.signing import bearer_token_valid
from executor.ops import InvocationRequest, InvocationResult, Op, Opcode
from executor.records import Event, Limits, Run, RunStatus, StepState, StepStatus

NOW_MS = 1_767_225_600_000          # 2026-01-01T00:00:00Z: the "now" our side passes in
APP = "myapp"
APP_ORIGIN = "http://app.test"
SIGNING_KEY = "signkey-test-" + "12ab" * 16
OTHER_KEY = "signkey-test-" + "34cd" * 16


class NoControl:
    """The HTTP protocol never checkpoints through the engine; calling this is a test failure."""

    async def checkpoint(self, ops: Sequence[Op]) -> dict[str, StepState]:
        raise AssertionError("the Inngest protocol layer must not checkpoint")

    def stopping(self) -> bool:
        return False

    def step_started(self, op: Op) -> None:
        raise AssertionError("the Inngest protocol layer must not report step starts")


def slug(fn_id: str) -> str:
    """A function's id as the SDK registers it: ``<app>-<fn>``."""
    return f"{APP}-{fn_id}"


def real_now_ms() -> int:
    """The wall clock, for what the SDK computes from its own clock (sleep and retry-after times)."""
    return int(time.time() * 1000)


def event(name: str = "app/go", data: dict[str, Any] | None = None, event_id: str = "01EVENT") -> Event:
    return Event(id=event_id, name=name, data=data if data is not None else {"id": 1}, ts=NOW_MS - 1000)


@dataclass
class RunState:
    """One run as the executor knows it: the trigger and the memo of each finished step."""

    function_id: str
    trigger: Event = field(default_factory=event)
    run_id: str = "01JRUN00000000000000000000"
    steps: dict[str, StepState] = field(default_factory=dict)
    state_bytes: int = 0

    def request(self, *, target: str | None = None, attempt: int = 0, max_attempts: int = 5,
                disable_immediate_execution: bool = False, request_id: str = "") -> InvocationRequest:
        run = Run(id=self.run_id, function_id=self.function_id, event_id=self.trigger.id,
                  status=RunStatus.RUNNING, created_at=NOW_MS, state_bytes=self.state_bytes)
        return InvocationRequest(run=run, function_id=self.function_id, event=self.trigger, events=[self.trigger],
                                 steps=dict(self.steps), now_ms=NOW_MS, attempt=attempt, max_attempts=max_attempts,
                                 limits=Limits(), control=NoControl(), target=target,
                                 disable_immediate_execution=disable_immediate_execution, request_id=request_id)

    def memoize(self, op: Op, memo: Any = None) -> None:
        """Store what the engine would for ``op``: ``StepRun`` data as ``{"data": …}``, a failed step as
        ``{"error": …}``, and for sleeps, waits and invokes the memo the test hands in."""
        if op.op == Opcode.STEP_RUN:
            memo = {"data": op.data}
        elif op.op == Opcode.STEP_FAILED:
            memo = {"error": op.error.to_dict()}
        seq = len(self.steps)
        self.steps[op.id] = StepState(run_id=self.run_id, hashed_id=op.id, step_id=op.step_id,
                                      name=op.display_name, op=op.kind, seq=seq, status=StepStatus.COMPLETED,
                                      memo=memo, ended_at=NOW_MS + seq)


class SDKApp:
    """inngest-py functions served in-process; ``call`` is one execution request, ours end to end."""

    def __init__(self, client: inngest.Inngest, functions: list[inngest.Function[Any]], **serve: Any) -> None:
        self.client = client
        app = fastapi.FastAPI()
        inngest.fast_api.serve(app, client, functions, **serve)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP_ORIGIN)
        self.url = f"{APP_ORIGIN}/api/inngest"
        self.requests = 0

    def function_url(self, slug: str) -> str:
        """The URL the SDK registers for a function (``slug`` is ``<app>-<fn>``)."""
        return f"{self.url}?fnId={slug}&stepId=step"

    async def call(self, state: RunState, *, signing_key: str | None = None, **request: Any) -> InvocationResult:
        result, _ = await self.exchange(state, signing_key=signing_key, **request)
        return result

    async def exchange(self, state: RunState, *, signing_key: str | None = None,
                       **request: Any) -> tuple[InvocationResult, httpx.Response]:
        invocation = state.request(**request)
        encoded = encode_request(invocation, fn_uuid=None)
        url = request_url(self.function_url(state.function_id), invocation.target)
        headers = request_headers(invocation, body=encoded.body, signing_key=signing_key, now_s=NOW_MS // 1000)
        reply = await self.http.post(url, content=encoded.body, headers=headers)
        self.requests += 1
        return parse_response(reply.status_code, reply.headers, reply.content, now_ms=NOW_MS, url=url), reply

    async def close(self) -> None:
        await self.http.aclose()


class StubServer:
    """The Inngest endpoints an SDK calls on its own, recording each call."""

    def __init__(self, signing_key: str | None = None) -> None:
        self.registered: list[dict[str, Any]] = []    # {"body", "headers", "query", "app" | "error"}
        self.sent: list[Any] = []
        self.batches: dict[str, list[dict[str, Any]]] = {}
        self.actions: dict[str, dict[str, Any]] = {}
        self.api_calls: list[tuple[str, str | None]] = []
        self._signing_key = signing_key
        self.port = _free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(self._app(), host="127.0.0.1", port=self.port,
                                                     log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, name="inngest-stub", daemon=True)

    def _app(self) -> fastapi.FastAPI:
        app = fastapi.FastAPI()

        @app.post("/fn/register")
        async def register(request: fastapi.Request) -> fastapi.responses.JSONResponse:
            body = await request.json()
            record: dict[str, Any] = {"body": body, "headers": dict(request.headers),
                                      "query": dict(request.query_params)}
            self.registered.append(record)
            try:
                app_sync = parse_register_body(body, request.headers, deploy_id=request.query_params.get("deployId"))
            except SyncError as exc:
                record["error"] = str(exc)
                return fastapi.responses.JSONResponse({"error": str(exc)}, status_code=400)
            record["app"] = app_sync
            return fastapi.responses.JSONResponse(register_reply(app_sync, modified=True, sync_id="sync-1"))

        @app.post("/e/{key}")
        async def send(key: str, request: fastapi.Request) -> dict[str, Any]:
            events = await request.json()
            self.sent.extend(events)
            return {"ids": [f"01SENT{n}" for n in range(len(events))], "status": 200}

        @app.get("/v0/runs/{run_id}/batch")
        async def batch(run_id: str, request: fastapi.Request) -> Any:
            self._check_auth(request)
            return self.batches[run_id]

        @app.get("/v0/runs/{run_id}/actions")
        async def actions(run_id: str, request: fastapi.Request) -> Any:
            self._check_auth(request)
            return self.actions[run_id]

        return app

    def _check_auth(self, request: fastapi.Request) -> None:
        authorization = request.headers.get("authorization")
        self.api_calls.append((request.url.path, authorization))
        if self._signing_key and not bearer_token_valid(authorization, [self._signing_key]):
            raise fastapi.HTTPException(401, "bad bearer token")

    def start(self) -> "StubServer":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the stub Inngest server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
