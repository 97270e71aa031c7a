"""What the console (attached) and the command line need from the API beyond Inngest's event
endpoint: a send that says which runs each event started and resumed, the functions of SDK apps
among the functions, and the apps themselves (list, add by URL, sync again, remove)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from console.cli import EXIT_REFUSED, EXIT_USAGE, main
from executor.service.client import ApiRequestError
from executor.service.server import bind
from tests.service.support import JSON, pending_waits

pytestmark = pytest.mark.timeout(30)


def shop_body(url: str = "http://127.0.0.1:9/api/inngest") -> dict[str, Any]:
    """A register body as an SDK app posts it to /fn/register (the app itself need not be up)."""
    return {"appName": "shop", "url": url, "sdk": "js:v4.24.0", "framework": "nodejs", "appVersion": "2026.1",
            "functions": [{"id": "shop-checkout", "name": "Checkout", "triggers": [{"event": "shop/order.placed"}],
                           "steps": {"step": {"id": "step", "name": "step", "retries": {"attempts": 2},
                                              "runtime": {"type": "http", "url": f"{url}?fnId=shop-checkout"}}}}]}


async def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_v1_events_answers_the_runs_each_event_started_and_resumed(served):
    waiting = await served.ex.invoke("approver", {"signal": "unused"})
    napping = await served.ex.invoke("napper", {})
    await pending_waits(served, 2)
    routed = await served.client.send_and_route([{"name": "test/greet", "data": {"name": "ada"}},
                                                 {"name": "test/nothing"}])
    first, second = routed.ids
    [greet] = await served.ex.runs(event_id=first)
    assert routed.started == {first: [greet.id], second: []} and routed.resumed == {first: [], second: []}
    assert waiting.id not in routed.started[first] and napping.id not in routed.started[first]


async def test_v1_events_reports_a_resumed_wait(serve_app):
    from executor import create_function

    @create_function(id="approval", trigger="test/invoice")
    async def approval(ctx):
        return await ctx.step.wait_for_event("wait", event="test/approved", match="data.invoiceId", timeout="1d")

    s = await serve_app()
    s.ex.set_functions([*s.ex.functions.values(), approval])
    run = await s.ex.invoke("approval", {"invoiceId": "inv-7"})
    await pending_waits(s, 1)
    routed = await s.client.send_and_route({"name": "test/approved", "data": {"invoiceId": "inv-7"}})
    [event_id] = routed.ids
    assert routed.resumed == {event_id: [run.id]} and routed.started == {event_id: []}
    assert (await s.ex.wait_for_run(run.id, timeout=5)).status == "Completed"


async def test_v1_events_stores_all_or_nothing_and_takes_event_sized_bodies(served):
    with pytest.raises(ApiRequestError) as refused:
        await served.client.send_and_route([{"name": "test/greet"}, {"name": ""}])
    assert refused.value.status == 400 and "name" in refused.value.message
    assert await served.ex.events() == []
    big = {"name": "test/nothing", "data": {"text": "x" * 200_000}}      # over the 64 KiB of other /v1 writes
    assert len((await served.client.send_and_route(big)).ids) == 1
    response = await served.http.post("/v1/events", content=b"{nope", headers=JSON)
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


async def test_functions_of_sdk_apps_are_listed_with_their_app(served):
    await served.ex.apps.register(shop_body())
    listing = await served.client.functions()
    sdk = next(f for f in listing.functions if f["id"] == "shop-checkout")
    assert (sdk["app"], sdk["name"], sdk["retries"], sdk["mode"]) == ("shop", "Checkout", 2, "sdk")
    assert sdk["triggers"] == [{"event": "shop/order.placed"}] and sdk["url"].startswith("http://127.0.0.1:9/")
    assert next(f for f in listing.functions if f["id"] == "greet")["app"] is None


async def test_apps_through_the_client(served):
    await served.ex.apps.register(shop_body())
    [app] = await served.client.apps()
    assert (app["name"], app["sdk_language"], app["sdk_version"], app["framework"], app["function_count"]) == (
        "shop", "js", "v4.24.0", "nodejs", 1)
    synced = await served.client.sync_app("shop")              # nothing answers at its URL: said on the app
    assert synced["name"] == "shop" and "127.0.0.1:9" in synced["error"]
    await served.client.remove_app("shop")
    assert await served.client.apps() == []
    with pytest.raises(ApiRequestError) as missing:
        await served.client.sync_app("shop")
    assert missing.value.status == 404 and "no app named 'shop'" in missing.value.message


async def test_apps_on_the_command_line(served, capsys):
    await served.ex.apps.register(shop_body())
    code, out, _ = await cli(capsys, "apps", "--url", served.url)
    header, row = out.splitlines()
    assert code == 0 and header.split() == ["APP", "SDK", "FRAMEWORK", "FUNCTIONS", "SYNCED", "URL", "ERROR"]
    assert row.split()[:4] == ["shop", "js:v4.24.0", "nodejs", "1"]
    code, out, _ = await cli(capsys, "apps", "--url", served.url, "--json")
    assert code == 0 and [a["name"] for a in json.loads(out)] == ["shop"]

    sock = bind("127.0.0.1", 0)
    dead = f"http://127.0.0.1:{sock.getsockname()[1]}/api/inngest"
    sock.close()
    code, out, _ = await cli(capsys, "apps", "add", dead, "--url", served.url)
    assert code == 0 and out.startswith(f"app {dead} did not sync: ")
    code, out, _ = await cli(capsys, "apps", "sync", "shop", "--url", served.url)
    assert code == 0 and out.startswith("app shop did not sync: ")
    code, out, _ = await cli(capsys, "apps", "remove", "shop", "--url", served.url)
    assert (code, out.strip()) == (0, "removed app shop; its runs wait until it syncs again")
    assert [a["name"] for a in await served.client.apps()] == [dead]

    code, _, err = await cli(capsys, "apps", "remove", "shop", "--url", served.url)
    assert code == EXIT_REFUSED and "no app named 'shop'" in err
    code, _, err = await cli(capsys, "apps", "sync", "--url", served.url)
    assert code == EXIT_USAGE and "apps sync needs the app's name" in err


async def test_a_servers_log_lines_reach_the_stream_tagged_with_their_run_and_step(serve_app):
    from executor import create_function
    from executor.service.logfeed import forward_logs

    @create_function(id="chatty", trigger="test/chatty")
    async def chatty(ctx):
        def work() -> int:
            ctx.logger.warning("working hard")
            return 1
        return await ctx.step.run("work", work)

    s = await serve_app()
    s.ex.set_functions([*s.ex.functions.values(), chatty])
    with forward_logs(s.ex):
        async with s.client.stream() as changes:
            run = await s.ex.invoke("chatty", {})
            async for change in changes:
                if change["kind"] == "log":
                    break
    assert change["run_id"] == run.id
    data = change["data"]
    assert (data["level"], data["source"], data["message"]) == ("WARNING", "functions.chatty", "working hard")
    assert (data["run_id"], data["function_id"], data["step_id"]) == (run.id, "chatty", "work")
