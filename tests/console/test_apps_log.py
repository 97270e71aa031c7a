"""Apps served by an Inngest SDK in the console (issue 10): the Apps view, runs of an SDK app shown
like local ones with the app named, each HTTP request under its step; and the Log view of issue 12
(run and step tags, level and run filters, following, finished runs), replaying an event."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import pytest

from console.screens.apps import AppsScreen
from console.screens.dialogs import ConfirmScreen, PromptScreen
from console.screens.event_detail import EventDetailScreen
from console.screens.events import EventsScreen
from console.screens.log import LogScreen
from console.screens.run_detail import RunDetailScreen
from console.widgets.step_tree import AttemptNode, StepTree
from executor.service.server import ApiServer, bind

from tests.console.support import (
    make_console,
    notifications,
    pane_text,
    plain,
    row_text,
    run_is,
    send,
    started,
    table,
    until,
    view,
)

pytestmark = pytest.mark.timeout(40)


def shop(base: str) -> fastapi.FastAPI:
    client = inngest.Inngest(app_id="shop", is_production=False, api_base_url=base, event_api_base_url=base)

    @client.create_function(fn_id="checkout", trigger=inngest.TriggerEvent(event="shop/order"), retries=0)
    async def checkout(ctx: inngest.Context) -> Any:
        async def total() -> int:
            return 42

        async def email() -> str:
            return "sent"

        return {"total": await ctx.step.run("total", total), "email": await ctx.step.run("email", email)}

    web = fastapi.FastAPI()
    inngest.fast_api.serve(web, client, [checkout])
    return web


@pytest.fixture
async def sdk_app() -> AsyncIterator[str]:
    """inngest-py serving one function on a free loopback port; yields its URL."""
    sock = bind("127.0.0.1", 0)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = await ApiServer(shop(base), sock).start()
    try:
        yield f"{base}/api/inngest"
    finally:
        await server.stop()


def register_body(url: str) -> dict[str, Any]:
    """What inngest-py posts to /fn/register for that app."""
    return {"appName": "shop", "url": url, "sdk": "py:v0.5.19", "framework": "fast_api",
            "functions": [{"id": "shop-checkout", "name": "checkout", "triggers": [{"event": "shop/order"}],
                           "steps": {"step": {"id": "step", "name": "step", "retries": {"attempts": 0},
                                              "runtime": {"type": "http",
                                                          "url": f"{url}?fnId=shop-checkout&stepId=step"}}}}]}


async def test_runs_of_an_sdk_app_show_their_app_and_each_request_under_its_step(sdk_app):
    app, backend, clock = make_console()
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot, app)
        await backend.on_executor(lambda ex: ex.apps.register(register_body(sdk_app)))
        await until(lambda: "shop-checkout" in app.functions, what="the app's function among the functions")
        run_id = (await send(backend, "shop/order")).started[0]
        await until(lambda: run_is(backend, run_id, "Completed"), timeout=20)
        await until(lambda: row_text(app, run_id).startswith("✔ Completed | shop-checkout · shop |"))
        run = await backend.run(run_id)
        assert run.mode == "sdk"

        app.open_run(run_id)
        await until(lambda: isinstance(app.screen, RunDetailScreen) and len(app.screen._steps) == 2)
        tree = app.screen.query_one(StepTree)
        await until(lambda: all(len(node.children) == 1 for node in tree.root.children), what="a request per step")
        request = tree.root.children[0].children[0]
        assert isinstance(request.data, AttemptNode)
        assert str(request.label).startswith("✔ attempt 1") and " HTTP 206 · " in str(request.label)
        assert "app shop" in plain(app.screen.headline.content)

        await pilot.press("6")
        assert isinstance(app.screen, AppsScreen)
        await until(lambda: table(app).row_count == 1)
        row = row_text(app, "shop")
        assert row.startswith("shop | py v0.5.19 | fast_api | http://127.0.0.1:") and "| 1 |" in row
        assert row.endswith("✔ synced")
        await until(lambda: "shop-checkout" in pane_text(app))
        await pilot.press("enter")                                  # its functions
        await until(lambda: view(app).VIEW == "functions" and table(app).row_count == 1)
        assert table(app).keys() == ["shop-checkout"] and "app shop" in row_text(app, "shop-checkout")


async def test_apps_are_added_by_url_synced_again_and_removed():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("6")
        await until(lambda: "No apps." in str(app.screen.query_one("#empty").content))
        sock = bind("127.0.0.1", 0)
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/api/inngest"
        sock.close()
        await pilot.press("a")
        await until(lambda: isinstance(app.screen, PromptScreen))
        await pilot.press(*dead, "enter")
        await until(lambda: isinstance(app.screen, AppsScreen) and table(app).row_count == 1)
        assert row_text(app, dead).split(" | ")[-1].startswith("✘ ")
        await until(lambda: f"app {dead} did not sync" in notifications(app))
        await pilot.press("S")
        await until(lambda: notifications(app).count(f"app {dead} did not sync") == 2, what="a second sync tried")
        await pilot.press("x")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: table(app).row_count == 0 and f"removed app {dead}" in notifications(app))
        assert await backend.apps() == []


async def test_the_log_tags_lines_with_their_run_and_step_filters_by_level_and_run_and_follows():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        first = (await send(backend, "app/order", {"orderId": "o-1"})).started[0]
        broken = (await send(backend, "app/broken")).started[0]
        await until(lambda: run_is(backend, first, "Completed"))
        await until(lambda: run_is(backend, broken, "Failed"))
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, LogScreen)

        def shown() -> str:
            return "".join(line.text for line in screen.log_widget.lines)

        await until(lambda: "broken failed: NonRetriableError: the widget is on fire" in shown())
        assert f"[{first[-8:]}/price] pricing 2 items" in shown(), "tagged with the run and the step"
        assert f"[{first[-8:]}] order completed" in shown()
        await pilot.press("slash", *"level:error", "enter")
        await until(lambda: "pricing" not in shown())
        assert "broken failed" in shown()
        await pilot.press("slash", "ctrl+a", "ctrl+k", *f"run:{first[-8:]}", "enter")
        await until(lambda: "broken failed" not in shown() and "pricing 2 items" in shown())
        assert "filter: run:" in str(screen.status_line.content)
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"level:loud", "enter")
        assert "unknown level 'loud'" in notifications(app)
        await pilot.press("escape")

        await pilot.press("f")
        assert not screen.following and "not following" in str(screen.status_line.content)
        await pilot.press("f")
        assert screen.following


async def test_replay_an_event_from_the_events_view_and_its_runs_from_the_event():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        first = (await send(backend, "app/fanout", {"seed": 1})).started[0]
        await until(lambda: run_is(backend, first, "Completed"))
        await pilot.press("4")
        assert isinstance(app.screen, EventsScreen)
        await until(lambda: any("app/fanout" in row_text(app, key) for key in table(app).keys()))
        event_id = next(key for key in table(app).keys() if "app/fanout" in row_text(app, key))
        table(app).move_to(event_id)
        await pilot.press("r")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: "replayed app/fanout: started fanout" in notifications(app))
        runs = await backend.runs(function_id="fanout")
        assert len(runs) == 2
        replayed = next(r for r in runs if r.id != first)
        assert (await backend.event(replayed.event_id)).event.data == {"seed": 1}

        await send(backend, "app/task.started", {"taskId": "9"})
        await send(backend, "app/greet", {"name": "x"})
        both = await backend.send([{"name": "app/invoice.created", "data": {"invoiceId": "i"}}])
        await until(lambda: table(app).has_row(both[0].event_id))
        table(app).move_to(both[0].event_id)
        await pilot.press("enter")                   # one run: opens it
        await until(lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("E")                       # its trigger event, with every run it touched
        await until(lambda: isinstance(app.screen, EventDetailScreen) and app.screen.info is not None)
        assert app.screen.table.keys() == list(both[0].started)
        assert "invoiceId" in pane_text(app)


async def stream_open(app: Any, logger: logging.Logger) -> None:
    """Until the attached console's stream is open: a server line logged before then never reaches it."""
    def seen() -> bool:
        logger.info("console attached?")
        return any("console attached?" in line.message for line in app.logbook.since(0))
    await until(seen, what="the server's stream open")


async def test_attached_the_log_shows_the_servers_lines_tagged_and_the_run_its_own(server):
    from console.app import DurableConsole
    from console.backends.remote import RemoteBackend
    from executor.service.logfeed import forward_logs

    url, ex = server
    with forward_logs(ex):
        app = DurableConsole(RemoteBackend(url), live_interval=0.02, tick_seconds=0)
        async with app.run_test(size=(120, 40)) as pilot:
            await started(pilot, app)
            await stream_open(app, logging.getLogger("durable_tui.test"))
            run = await ex.invoke("order", {"orderId": "o-9"})
            await until(lambda: run_is(app.backend, run.id, "Completed"))
            app.open_run(run.id)
            await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen._run is not None)
            await pilot.press("l")
            log = app.screen.run_log
            await until(lambda: log.shown == 3, what="the function's two lines and the run's end")
            text = "".join(line.text for line in log.lines)
            assert "placing order o-9" in text and "[price] pricing 2 items" in text
