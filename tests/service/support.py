"""Functions and helpers the HTTP API tests share (the server fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from executor import Executor, create_function
from executor.service.client import Client
from executor.service.server import ApiServer


@create_function(id="greet", trigger="test/greet")
async def greet(ctx):
    name = await ctx.step.run("load-name", lambda: ctx.event.data.get("name", "world"))
    shout = await ctx.step.run("shout", str.upper, name)
    return f"hello {shout}"


@create_function(id="napper", trigger="test/nap")
async def napper(ctx):
    await ctx.step.sleep("nap", "1h")
    return "rested"


@create_function(id="approver", trigger="test/approve")
async def approver(ctx):
    got = await ctx.step.wait_for_signal("approval", signal=ctx.event.data["signal"], timeout="1d",
                                         on_conflict="replace")
    return got.data if got else "timed out"


FUNCTIONS = [greet, napper, approver]


@dataclass
class Served:
    ex: Executor
    server: ApiServer
    url: str
    http: httpx.AsyncClient
    client: Client


#: /v1 writes must say they send JSON (a web page cannot, without a CORS preflight).
JSON = {"Content-Type": "application/json"}


async def post_events(s: Served, body: Any, key: str = "any-key") -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    response = await s.http.post(f"/e/{key}", content=raw, headers={"Content-Type": "application/json"})
    return response.status_code, response.json()


async def finished(s: Served, run_id: str) -> dict[str, Any]:
    await s.ex.wait_for_run(run_id, timeout=5)
    return (await s.http.get(f"/v1/runs/{run_id}")).json()["data"]


async def pending_waits(s: Served, count: int) -> list[dict[str, Any]]:
    """The server's wait list once it holds ``count`` waits (runs park asynchronously)."""
    async with asyncio.timeout(5):
        while len(waits := (await s.http.get("/v1/waits")).json()["data"]) < count:
            await asyncio.sleep(0.01)
    return waits
