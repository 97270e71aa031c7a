"""Flow control in the console, on the real embedded executor (virtual clock): a run that is not
running says why in the runs list and the run view, and the function view shows its settings and
what it uses now."""

from __future__ import annotations

import asyncio
import re

import pytest

from console.screens.functions import FunctionsScreen
from console.screens.run_detail import RunDetailScreen
from console.screens.runs import RunsScreen
from executor import Batch, Concurrency, Context, Debounce, RateLimit, Throttle, create_function

from tests.console.support import make_console, pane_text, row_text, run_is, send, started, table, until

pytestmark = pytest.mark.timeout(30)


class Hold:
    """A step that lasts until the test lets it go; its ``asyncio.Event`` lives on the executor's loop."""

    def __init__(self) -> None:
        self.event: asyncio.Event | None = None

    async def wait(self) -> str:
        self.event = self.event or asyncio.Event()
        await self.event.wait()
        return "synced"


def functions(hold: Hold) -> list:
    @create_function(id="per-user", trigger="user/updated", concurrency=[Concurrency(limit=1, key="event.data.userId")])
    async def per_user(ctx: Context) -> str:
        return await ctx.step.run("sync", hold.wait)

    @create_function(id="rated", trigger="company/updated", rate_limit=RateLimit(limit=1, period="1h"))
    async def rated(ctx: Context) -> None:
        return None

    @create_function(id="ingest", trigger="row/added", batch_events=Batch(max_size=3, timeout="1m"))
    async def ingest(ctx: Context) -> int:
        return len(ctx.events)

    @create_function(id="reindex", trigger="doc/edited", debounce=Debounce(period="30s"))
    async def reindex(ctx: Context) -> None:
        return None

    @create_function(id="call-api", trigger="api/call", throttle=Throttle(limit=1, period="1m", burst=0))
    async def call_api(ctx: Context) -> None:
        return None

    return [per_user, rated, ingest, reindex, call_api]


async def test_runs_held_back_or_skipped_say_why_and_the_function_shows_its_flow_control():
    hold = Hold()
    app, backend, clock = make_console(functions(hold))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        assert isinstance(app.screen, RunsScreen)
        first = (await send(backend, "user/updated", {"userId": "u-42"})).started[0]
        await until(lambda: hold.event is not None, what="the first run's step")
        held = (await send(backend, "user/updated", {"userId": "u-42"})).started[0]
        await send(backend, "company/updated")
        skipped = (await send(backend, "company/updated")).started[0]
        batching = (await send(backend, "row/added")).started[0]
        debouncing = (await send(backend, "doc/edited")).started[0]
        await send(backend, "api/call")
        throttled = (await send(backend, "api/call")).started[0]
        # The list's last column says why, as much as fits (30 cells at 120 columns); the run view all of it.
        await until(lambda: "queued: concurrency 1/1 for" in row_text(app, held), what="the held run")
        await until(lambda: "skipped: rate limited" in row_text(app, skipped), what="the skipped run")
        assert row_text(app, skipped).startswith("⤼ Skipped")
        until_time = r"until \d\d:\d\d:\d\d"
        await until(lambda: re.search(f"batching 1/3 {until_time}", row_text(app, batching)), what="the batch")
        await until(lambda: re.search(f"debouncing {until_time}", row_text(app, debouncing)), what="the debounce")
        await until(lambda: re.search(f"throttled {until_time}", row_text(app, throttled)), what="the throttled run")

        table(app).move_to(held)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen._run is not None)
        assert "queued: concurrency 1/1 for userId=u-42" in pane_text(app)
        await pilot.press("escape")
        table(app).move_to(skipped)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen._run is not None
                    and app.screen._run.id == skipped)
        assert "skipped: rate limited" in pane_text(app)
        await pilot.press("escape")

        await pilot.press("1")
        assert isinstance(app.screen, FunctionsScreen)
        await until(lambda: table(app).has_row("per-user"))
        table(app).move_to("per-user")
        await until(lambda: '"in_use": 1' in pane_text(app) and '"waiting": 1' in pane_text(app),
                    what="the function's slots in use and queue")
        text = pane_text(app)
        assert "flow control" in text and "event.data.userId" in text

        await backend.on_executor(lambda ex: hold.event.set())
        await until(lambda: run_is(backend, first, "Completed"), what="the first run to end")
        await until(lambda: run_is(backend, held, "Completed"), what="the held run to go on")
        await pilot.press("2")
        await until(lambda: isinstance(app.screen, RunsScreen) and "Completed" in row_text(app, held))
        assert "queued" not in row_text(app, held)
