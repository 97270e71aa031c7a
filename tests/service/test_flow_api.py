"""Flow control through the API and the command line: skipped runs listed with their reason, runs
held back saying why, and a function's settings with their current use."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from console.cli import main
from executor import Concurrency, RateLimit, RunStatus, StepStatus, create_function
from executor.service.api import create_app
from executor.service.server import ApiServer, bind
from tests.helpers import eventually, until_step

pytestmark = pytest.mark.timeout(30)
release = asyncio.Event()


@create_function(id="sync-company", trigger="company/updated",
                 rate_limit=RateLimit(limit=1, period="4h", key="event.data.company"))
async def sync_company(ctx):
    return ctx.event.data["company"]


@create_function(id="per-user", trigger="user/updated", concurrency=[Concurrency(limit=1, key="event.data.userId")])
async def per_user(ctx):
    await ctx.step.run("work", release.wait)


@pytest.fixture
async def server(make_executor):
    release.clear()
    ex = await make_executor([sync_company, per_user])
    api = await ApiServer(create_app(ex), bind("127.0.0.1", 0)).start()
    http = httpx.AsyncClient(base_url=api.url)
    yield ex, api.url, http
    release.set()
    await http.aclose()
    await api.stop()


async def cli(capsys, *argv: str) -> tuple[int, str]:
    code = await asyncio.to_thread(main, list(argv))
    return code, capsys.readouterr().out


async def test_skipped_runs_are_listed_with_their_reason(server, capsys):
    ex, url, http = server
    await ex.send([{"name": "company/updated", "data": {"company": "acme"}}] * 2)
    body = (await http.get("/v1/runs", params={"status": "Skipped"})).json()
    [skipped] = body["data"]
    assert skipped["status"] == "Skipped" and skipped["skip_reason"] == "rate limited (company=acme)"
    code, out = await cli(capsys, "runs", "--status", "Skipped", "--url", url)
    header, row = out.splitlines()
    assert code == 0 and header.split() == ["RUN", "FUNCTION", "STATUS", "CREATED", "TOOK", "NOTE"]
    assert row.split()[:3] == [skipped["id"], "sync-company", "Skipped"]
    assert row.endswith("skipped: rate limited (company=acme)")
    code, out = await cli(capsys, "run", skipped["id"], "--url", url)
    assert "why       skipped: rate limited (company=acme)" in out


async def test_a_held_back_run_and_the_function_flow_usage(server, capsys):
    ex, url, http = server
    [first_id] = [i for ids in (await ex.send_and_route({"name": "user/updated", "data": {"userId": "u-42"}})).values()
                  for i in ids]
    await until_step(ex, first_id, "work", StepStatus.RUNNING)
    [second_id] = [i for ids in (await ex.send_and_route({"name": "user/updated", "data": {"userId": "u-42"}})).values()
                   for i in ids]

    async def held() -> bool:
        return (await ex.run(second_id)).waiting_for is not None

    await eventually(held)
    run = (await http.get(f"/v1/runs/{second_id}")).json()["data"]
    assert run["status"] == RunStatus.QUEUED and run["waiting_for"] == "queued: concurrency 1/1 for userId=u-42"
    flow = (await http.get("/v1/functions/per-user/flow")).json()["data"]
    assert flow["settings"] == {"concurrency": [{"limit": 1, "key": "event.data.userId", "scope": "fn"}]}
    assert flow["concurrency"] == [{"key": "userId=u-42", "scope": "fn", "in_use": 1, "limit": 1, "waiting": 1}]
    listing = {f["id"]: f for f in (await http.get("/v1/functions")).json()["data"]}
    assert listing["per-user"]["flow_usage"]["queued"] == 1
    assert listing["sync-company"]["flow_control"] == {"rate_limit": {"limit": 1, "period": "4h",
                                                                      "key": "event.data.company"}}
    code, out = await cli(capsys, "runs", "--url", url, "--json")
    assert [r["waiting_for"] for r in json.loads(out) if r["id"] == second_id] == [run["waiting_for"]]
    assert (await http.get("/v1/functions/nope/flow")).status_code == 404
