"""Shared pieces of the console tests (no tests here): a small set of functions covering every
view, an app factory on the real embedded executor with a virtual clock, and polling helpers."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from console.app import DurableConsole
from console.backend import SendResult
from console.backends.embedded import EmbeddedBackend
from console.screens.base import ViewScreen
from console.widgets.details import DetailPane
from console.widgets.live_table import LiveTable
from executor import Context, NonRetriableError, VirtualClock, create_function
from executor.drivers.local.loader import LoadError

from tests.helpers import eventually


@create_function(id="greet", trigger="app/greet")
async def greet(ctx: Context) -> str:
    name = await ctx.step.run("load-name", lambda: str(ctx.event.data.get("name", "ada")).title())
    await ctx.step.sleep("nap", "1h")
    return f"hello {name}"


@create_function(id="approval", trigger="app/invoice.created")
async def approval(ctx: Context) -> dict[str, Any]:
    await ctx.step.run("record", lambda: ctx.event.data["invoiceId"])
    approved = await ctx.step.wait_for_event("wait-approval", event="app/invoice.approved", match="data.invoiceId",
                                             timeout="7d")
    return {"approved": approved is not None}


@create_function(id="task", trigger="app/task.started")
async def task(ctx: Context) -> Any:
    signal = await ctx.step.wait_for_signal("wait-done", signal=f"task-{ctx.event.data['taskId']}", timeout="2h",
                                            on_conflict="replace")
    return signal.data if signal is not None else None


@create_function(id="fanout", trigger="app/fanout")
async def fanout(ctx: Context) -> int:
    parts = await asyncio.gather(ctx.step.run("part-a", lambda: 1), ctx.step.run("part-b", lambda: 2),
                                 ctx.step.run("part-c", lambda: 3))
    return sum(parts)


def explode() -> None:
    raise NonRetriableError("the widget is on fire")


@create_function(id="broken", trigger="app/broken", retries=0)
async def broken(ctx: Context) -> None:
    await ctx.step.run("explode", explode)


@create_function(id="compute")
async def compute(ctx: Context) -> int:
    return await ctx.step.run("square", lambda: int(ctx.event.data.get("n", 2)) ** 2)


def charge(card: str, cents: int) -> None:
    raise ValueError(f"card {card} declined for {cents} cents")


@create_function(id="flaky", trigger="app/flaky", retries=3)
async def flaky(ctx: Context) -> None:
    await ctx.step.run("charge", charge, ctx.event.data.get("card", "4242"), 1250)


@create_function(id="order", trigger="app/order")
async def order(ctx: Context) -> dict[str, Any]:
    ctx.logger.info("placing order %s", ctx.event.data.get("orderId"))

    def price(items: list[int]) -> int:
        ctx.logger.info("pricing %d items", len(items))
        return sum(items)

    total = await ctx.step.run("price", price, ctx.event.data.get("items", [1, 2]))
    receipt = await ctx.step.invoke("receipt", function="compute", data={"n": total}, timeout="1h")
    return {"total": total, "receipt": receipt}


FUNCTIONS = [greet, approval, task, fanout, broken, compute, flaky, order]
BROKEN_FILE = LoadError("functions/half_written.py", 3, "SyntaxError: invalid syntax")
DEMO = [{"name": "app/greet", "data": {"name": "grace"}}, {"name": "app/fanout", "data": {}}]


def make_console(functions: Sequence[Any] = FUNCTIONS, *, clock: VirtualClock | None = None,
                 load_errors: Sequence[LoadError] = (), demo_events: Sequence[dict[str, Any]] = (),
                 tick_seconds: float = 0, **kwargs: Any) -> tuple[DurableConsole, EmbeddedBackend, VirtualClock]:
    """The console on the real executor (in memory, its own thread) with a virtual clock. Ticking
    is off unless asked for, so nothing on screen moves by itself."""
    clock = clock or VirtualClock()
    backend = EmbeddedBackend(":memory:", functions, clock=clock, backoff=lambda attempt: 1.0,
                              load_errors=load_errors)
    app = DurableConsole(backend, demo_events=demo_events, live_interval=0.02, tick_seconds=tick_seconds, **kwargs)
    return app, backend, clock


async def until(predicate: Callable[[], Any], timeout: float = 8.0, what: str = "") -> None:
    """Let the app run until ``predicate()`` holds (bounded in real time)."""
    try:
        await eventually(predicate, timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or predicate}") from None


async def send(backend: EmbeddedBackend, name: str, data: dict[str, Any] | None = None) -> SendResult:
    [result] = await backend.send([{"name": name, "data": data or {}}])
    return result


async def advance(backend: EmbeddedBackend, clock: VirtualClock, ms: int) -> None:
    """Move the virtual clock on the executor's own loop (its sleepers live there)."""
    await backend.on_executor(lambda ex: clock.advance(ms))


async def run_status(backend: EmbeddedBackend, run_id: str) -> str | None:
    run = await backend.run(run_id)
    return run.status if run is not None else None


async def run_is(backend: EmbeddedBackend, run_id: str, status: str) -> bool:
    return await run_status(backend, run_id) == status


async def step_status(backend: EmbeddedBackend, run_id: str, step_id: str) -> str | None:
    for step in await backend.steps(run_id):
        if step.step_id == step_id:
            return step.status
    return None


async def step_is(backend: EmbeddedBackend, run_id: str, step_id: str, status: str) -> bool:
    return await step_status(backend, run_id, step_id) == status


def view(app: DurableConsole) -> ViewScreen:
    screen = app.screen
    assert isinstance(screen, ViewScreen), f"not a view: {screen!r}"
    return screen


def table(app: DurableConsole) -> LiveTable:
    return view(app).query_one(LiveTable)


def row_text(app: DurableConsole, key: str) -> str:
    t = table(app)
    if not t.has_row(key):
        return ""
    return " | ".join(cell.plain.rstrip() for cell in t.row_cells(key).values())


def drawn_row(app: DurableConsole, key: str) -> str:
    """The row as the table draws it (through its line cache), or "" when it is not listed."""
    t = table(app)
    if not t.has_row(key):
        return ""
    strip = t.render_line(t.keys().index(key) + 1 - t.scroll_offset.y)
    return "".join(segment.text for segment in strip)


def table_text(app: DurableConsole) -> str:
    return "\n".join(row_text(app, key) for key in table(app).keys())


def plain(renderable: Any) -> str:
    console = Console(width=200, no_color=True, file=io.StringIO())
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def pane_text(app: DurableConsole) -> str:
    """What the visible view's detail pane says."""
    return plain(view(app).query_one(DetailPane).query_one(".detail-body", Static).content)


def log_text(app: DurableConsole) -> str:
    return "\n".join(f"{line.level} {line.source} {line.message}" for line in app.logbook.since(0))


def notifications(app: DurableConsole) -> str:
    return "\n".join(n.message for n in app._notifications)


async def started(pilot: Pilot, app: DurableConsole) -> None:
    """Wait until the console is up on its first view with its first load done."""
    await until(lambda: isinstance(app.screen, ViewScreen) and not view(app)._pending and not view(app)._busy
                and view(app).is_mounted, what="first load")
