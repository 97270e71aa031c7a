"""What an app built with an Inngest SDK calls on its dev server, answered as Inngest's does:
``POST /fn/register`` (sync), ``POST /v1/checkpoint/{run}/async`` (steps run inline by the
TypeScript SDK, each durable before the reply), ``GET /v0/runs/{run}/batch`` and ``/actions`` (a run's
events and memo, fetched when its state was too large to send), and ``GET /dev``; plus the apps
listing and management under ``/v1/apps`` the console and the command line use.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from executor.apps import Apps
from executor.drivers.inngest.driver import CheckpointRefused
from executor.drivers.inngest.sync import SyncError, server_kind_mismatch
from executor.drivers.inngest.wire import WireError, op_from_wire
from executor.errors import NotFoundError
from executor.executor import Executor
from executor.ops import Opcode
from executor.service.openapi import JSON_OBJECT_BODY, REGISTER_BODY, checkpoint_body

VERSION = "durable-tui"


class AppUrlIn(BaseModel):
    url: str = Field(min_length=1, pattern=r"^https?://[^\s/?#]+", max_length=2048,
                     description="the app's Inngest endpoint, e.g. http://127.0.0.1:3000/api/inngest")


def add_devserver_routes(app: FastAPI, ex: Executor) -> None:
    sdk = APIRouter(tags=["inngest dev server"])

    @sdk.post("/fn/register", summary="Sync an app (what an Inngest SDK posts when it is PUT to)",
              openapi_extra=REGISTER_BODY)
    async def register(request: Request) -> JSONResponse:
        mismatch = server_kind_mismatch(request.headers)
        if mismatch:
            return JSONResponse({"ok": False, "error": mismatch}, status_code=400)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            return JSONResponse({"ok": False, "error": f"the register body is not valid JSON ({exc})"}, status_code=400)
        try:
            reply = await ex.apps.register(body, dict(request.headers), deploy_id=request.query_params.get("deployId"))
        except SyncError as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        return JSONResponse(reply)

    @sdk.post("/v1/checkpoint/{run_id}/async", summary="Steps an SDK ran inline (TypeScript SDK checkpointing)",
              openapi_extra=checkpoint_body([code.value for code in Opcode]))
    async def checkpoint(run_id: str, request: Request) -> JSONResponse:
        try:
            body = orjson.loads(await request.body())
            raw_steps = body.get("steps") if isinstance(body, dict) else None
            if not isinstance(raw_steps, list):
                raise WireError("the checkpoint body needs a 'steps' array")
            ops = [op_from_wire(step) for step in raw_steps]
        except (orjson.JSONDecodeError, WireError) as exc:
            return JSONResponse({"error": f"run {run_id}: a checkpoint that cannot be read: {exc}"}, status_code=400)
        try:
            states = await ex.checkpoint(run_id, ops)
        except CheckpointRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        # Inngest's SDKs ignore the body; ours reads each step's memo (a step the server failed —
        # say, for the size of its output — is then a StepError where the function awaits it).
        return JSONResponse({"steps": {h: s.memo for h, s in states.items() if s.has_memo}})

    @sdk.get("/v0/runs/{run_id}/batch", summary="A run's events (for an SDK told to fetch its state)")
    async def batch(run_id: str) -> JSONResponse:
        return await _or_404(ex.run_events(run_id))

    @sdk.get("/v0/runs/{run_id}/actions", summary="A run's step results, by hashed step id")
    async def actions(run_id: str) -> JSONResponse:
        return await _or_404(ex.run_memo(run_id))

    @sdk.get("/dev", summary="What this dev server is and runs")
    async def dev() -> dict[str, Any]:
        return {"version": VERSION, "apps": [a.to_dict() for a in ex.apps.list()],
                "functions": [{"id": s.id, "name": s.display_name, "app": s.app, "driver": s.driver}
                              for s in ex.specs().values()]}

    app.include_router(sdk)
    app.include_router(_app_routes(ex.apps))


def _app_routes(apps: Apps) -> APIRouter:
    v1 = APIRouter(prefix="/v1/apps", tags=["apps"])

    @v1.get("", summary="Apps synced from an Inngest SDK, and URLs waiting to sync")
    async def list_apps() -> dict[str, Any]:
        return {"data": [a.to_dict() for a in apps.list()]}

    @v1.post("", summary="Add an app by its URL and sync it")
    async def add_app(body: AppUrlIn) -> JSONResponse:
        try:
            info = await apps.add_url(body.url)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"data": info.to_dict()})

    @v1.post("/{name:path}/sync", summary="Sync an app again from its URL", openapi_extra=JSON_OBJECT_BODY)
    async def resync(name: str) -> JSONResponse:
        try:
            return JSONResponse({"data": (await apps.resync(name)).to_dict()})
        except NotFoundError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)

    @v1.delete("/{name:path}", summary="Remove an app (its runs wait until it syncs again)")
    async def remove(name: str) -> JSONResponse:
        try:
            await apps.remove(name)
        except NotFoundError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse({"data": {"name": name, "removed": True}})

    return v1


async def _or_404(read: Awaitable[Any]) -> JSONResponse:
    try:
        return JSONResponse(await read)
    except NotFoundError as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
