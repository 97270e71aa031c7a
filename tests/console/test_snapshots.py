"""SVG snapshots of every view at 80x24 and 120x40 (pytest-textual-snapshot).

Deterministic by construction: a virtual clock at a fixed instant, ids from a counter instead of
ULIDs, UTC, no ticking, no animations, and each run driven to a steady state before the next
event is sent (so ids are handed out in the same order every time). Regenerate with
``pytest tests/test_console_snapshots.py --snapshot-update`` only after looking at the report.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.command import CommandInput, CommandPalette
from textual.pilot import Pilot

import executor.util.ids
from console.backend import connection_change
from console.backends.embedded import EmbeddedBackend
from console.messages import Link
from console.screens.event_detail import EventDetailScreen
from console.screens.inspector import InspectorScreen
from console.screens.run_detail import RunDetailScreen
from console.widgets.step_tree import StepTree
from executor import Change, VirtualClock
from executor.errors import ErrorInfo

from tests.console.support import BROKEN_FILE, make_console, row_text, send, started, table, until

#: The project's folder, as stacks spell it (see ``deterministic``).
PROJECT = str(Path(__file__).resolve().parents[2]) + os.sep
EXECUTOR = str(Path(executor.__file__).resolve().parent) + os.sep

pytestmark = pytest.mark.timeout(60)

SIZES = [(80, 24), (120, 40)]
START = 1_767_225_600_000 + 9 * 3_600_000   # 2026-01-01 09:00:00 UTC


@pytest.fixture(autouse=True)
def deterministic(monkeypatch: pytest.MonkeyPatch):
    # Ids that sort by creation and never change between runs: what ``new_id`` spells, counted.
    counter = itertools.count(1)
    monkeypatch.setattr(executor.util.ids, "encode_ulid", lambda value: f"01KDEMO{next(counter):019d}")
    # A stack names files by absolute path and quotes the executor's own lines, so its length
    # (shown by the inspector) would change with the checkout's location and any edit to the
    # engine: the snapshots see the function's own frames, with paths relative to the project.
    formatted = ErrorInfo.from_exception.__func__

    def portable(cls: type[ErrorInfo], exc: BaseException) -> ErrorInfo:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(EXECUTOR)]
        stack = ("Traceback (most recent call last):\n" + "".join(traceback.format_list(frames))
                 + "".join(traceback.format_exception_only(type(exc), exc)))
        return dataclasses.replace(formatted(cls, exc), stack=stack.replace(PROJECT, ""))

    monkeypatch.setattr(ErrorInfo, "from_exception", classmethod(portable))
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


#: (run name, event, data, events stored once it settles: its own plus the lifecycle events of
#: a finished run, which the executor emits after the run's last commit)
SCENARIO = (("greet", "app/greet", {"name": "ada"}, 1), ("fanout", "app/fanout", {}, 2),
            ("broken", "app/broken", {}, 3), ("approval", "app/invoice.created", {"invoiceId": "inv-1"}, 1),
            ("task", "app/task.started", {"taskId": "7"}, 1), ("flaky", "app/flaky", {"card": "4000"}, 1),
            # order invokes compute: its own event, the invoke's, and both runs' finished events
            ("order", "app/order", {"orderId": "o-1", "items": [2, 3]}, 4),
            # the same task again: its signal wait supersedes the first one's (on_conflict="replace")
            ("task-again", "app/task.started", {"taskId": "7"}, 1))
#: Runs once the scenario settles: one per event, and order's invoked child.
RUNS = len(SCENARIO) + 1


async def settled_run(backend: EmbeddedBackend, run_id: str, events: int) -> bool:
    """The run's invocation is over and its events are stored: nothing more happens on its own."""
    run = await backend.run(run_id)
    return run is not None and run.invocations >= 1 and len(await backend.events(limit=100)) == events


async def populate(pilot: Pilot) -> dict[str, str]:
    """One run of each kind, each settled before the next, so ids come out in the same order."""
    backend = pilot.app.backend
    await started(pilot, pilot.app)
    runs, events = {}, 0
    for name, event, data, adds in SCENARIO:
        runs[name] = (await send(backend, event, data)).started[0]
        events += adds
        await until(lambda: settled_run(backend, runs[name], events), what=f"{name} to settle")
    return runs


async def caught_up(backend: EmbeddedBackend) -> None:
    """Every change the executor has published so far has reached the console's loop.

    The feed hands each batch to its subscribers in the order they subscribed, each through the
    loop it was made on; a subscription made here after the console's gets a marker published
    now only after the console's got everything before it. (Without this a loaded machine can
    take the snapshot before the last changes arrived: a fixed pause is only a guess.)"""
    ex = await backend.on_executor(lambda ex: ex)
    with ex.subscribe() as mine:
        await backend.on_executor(lambda ex: ex.feed.publish([Change("barrier", "caught-up")]))
        async with asyncio.timeout(10):
            while not any(change.kind == "barrier" for change in await mine.get_batch()):
                pass
    await asyncio.sleep(0)      # the console's pump takes its batch on the next turn of the loop


async def settled(pilot: Pilot) -> None:
    app = pilot.app
    if isinstance(app.backend, EmbeddedBackend):
        await caught_up(app.backend)

    def quiet() -> bool:
        shown = app.visible_view
        return not app._dirty and shown is not None and not shown._pending and not shown._busy

    await until(quiet, what="settled")
    await pilot.pause(0.15)
    await until(quiet, what="settled")


async def counted(pilot: Pilot) -> bool:
    """The header's counts are those of the settled scenario, read after it settled. (A count of
    the right total can still be one read while the last runs were moving, and the next read
    waits up to a second: the header's statuses then depend on how fast the machine is.)"""
    app = pilot.app
    if sum(app.stats.counts.values()) != RUNS:
        return False
    if app._counting or app._recount_timer is not None:
        return False
    truth = {k: v for k, v in (await app.backend.run_counts()).items() if v}
    if {k: v for k, v in app.stats.counts.items() if v} == truth:
        return True
    app._count_runs()
    return False


def scenario(then: Callable[[Pilot, dict[str, str]], Awaitable[None]]) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        runs = await populate(pilot)
        await until(lambda: counted(pilot), what="the header's counts")
        await then(pilot, runs)
        await settled(pilot)
    return run_before


def console():
    app, _, _ = make_console(clock=VirtualClock(start_ms=START), load_errors=[BROKEN_FILE])
    return app


async def press(pilot: Pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await settled(pilot)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_functions_view(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await press(pilot, "1")
        await until(lambda: "✘1" in row_text(pilot.app, "broken"))
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs_view(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await until(lambda: table(pilot.app).row_count == RUNS)
        await press(pilot, "home")
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_detail_view(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        pilot.app.open_run(runs["greet"])
        await until(lambda: isinstance(pilot.app.screen, RunDetailScreen)
                    and len(pilot.app.screen._steps) == 2)
        tree = pilot.app.screen.query_one(StepTree)
        tree.move_cursor(tree.root.children[1])
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_waits_view(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await press(pilot, "3")
        await until(lambda: table(pilot.app).row_count == 5)          # a sleep, two waits, a retry, a superseded one
        await press(pilot, "home")
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_events_view(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await press(pilot, "4")
        await until(lambda: table(pilot.app).row_count >= 5)
        await press(pilot, "home")
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_log_view(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await press(pilot, "5")
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_command_palette(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await until(lambda: table(pilot.app).row_count == RUNS)
        await press(pilot, "home", "colon")
        await until(lambda: isinstance(pilot.app.screen, CommandPalette))
        pilot.app.screen.query_one(CommandInput).cursor_blink = False
        await pilot.press(*"run")
        await pilot.pause(0.5)
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_of_the_runs_view(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await until(lambda: table(pilot.app).row_count == RUNS)
        await press(pilot, "home", "question_mark")
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs_marked_filtered_and_the_bulk_question(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await until(lambda: table(pilot.app).row_count == RUNS)
        await press(pilot, "slash", *"a", "enter")          # every function here has an "a" somewhere
        await press(pilot, "home", "space", "down", "space")
        await press(pilot, "c")
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_disconnected(snap_compare, size):
    """As an attached console shows a server that stopped answering (the feed's connection
    change, fed in directly: the layout is the same whichever backend lost its executor)."""
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await until(lambda: table(pilot.app).row_count == RUNS)
        await press(pilot, "home")
        app = pilot.app
        app._follow_connection(connection_change(False, 5.0, "no server at http://127.0.0.1:9 (connection refused)"))
        app.link = Link(False, app.link.since_ms, None, app.link.error)    # "retrying now": no moving countdown
        await pilot.pause(0.2)
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


# ---- issue 12 and 10: the timeline, the inspector, the run's log, an event, the Apps view ----------

async def open_run(pilot: Pilot, run_id: str, steps: int) -> RunDetailScreen:
    pilot.app.open_run(run_id)
    await until(lambda: isinstance(pilot.app.screen, RunDetailScreen) and len(pilot.app.screen._steps) == steps
                and len(pilot.app.screen.timeline.keys()) > steps)
    return pilot.app.screen


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_timeline_of_retries(snap_compare, size):
    """Three attempts a second apart with the backoffs between them, each attempt on its own row;
    beside the tree at 120x40, swapped in for it with t at 80x24."""
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        backend = pilot.app.backend
        for attempts in (2, 3):
            await backend.on_executor(lambda ex: ex.clock.advance(1000))   # the backoff is 1 s
            await until(lambda: attempts_made(backend, runs["flaky"], attempts), what=f"attempt {attempts}")
        await open_run(pilot, runs["flaky"], 1)
        if size == (80, 24):
            await press(pilot, "t")
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


async def attempts_made(backend: EmbeddedBackend, run_id: str, count: int) -> bool:
    [step] = await backend.steps(run_id)
    return step.attempts == count and step.status == "Retrying"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_timeline_of_an_invoke(snap_compare, size):
    """The invoked child run under its step; the cursor on the invoke step in the tree and the timeline."""
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        screen = await open_run(pilot, runs["order"], 2)
        await settled(pilot)
        screen.step_tree.move_cursor(screen.step_tree.root.children[1])
        if size == (80, 24):
            await press(pilot, "t")
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_inspector_of_a_failing_step(snap_compare, size):
    """Input, the error, the traceback with the user's frame first, the attempt history."""
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        screen = await open_run(pilot, runs["flaky"], 1)
        screen.step_tree.move_cursor(screen.step_tree.root.children[0])
        await press(pilot, "enter")
        await until(lambda: isinstance(pilot.app.screen, InspectorScreen) and pilot.app.screen._shown is not None)
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_inspector_search(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        screen = await open_run(pilot, runs["flaky"], 1)
        screen.step_tree.move_cursor(screen.step_tree.root.children[0])
        await press(pilot, "enter")
        await until(lambda: isinstance(pilot.app.screen, InspectorScreen) and pilot.app.screen._shown is not None)
        await press(pilot, "slash", *"declined", "enter")
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_log(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await open_run(pilot, runs["order"], 2)
        await press(pilot, "l")
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_event_of_a_run(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await open_run(pilot, runs["order"], 2)
        await press(pilot, "E")
        await until(lambda: isinstance(pilot.app.screen, EventDetailScreen) and pilot.app.screen.info is not None)
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_log_view_filtered(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await press(pilot, "5", "slash", *"level:warning", "enter")
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_command_palette_in_a_run(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await open_run(pilot, runs["order"], 2)
        await press(pilot, "colon")
        await until(lambda: isinstance(pilot.app.screen, CommandPalette))
        pilot.app.screen.query_one(CommandInput).cursor_blink = False
        await pilot.press(*"run")
        await pilot.pause(0.5)
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


SHOP = {"appName": "shop", "url": "http://127.0.0.1:9/api/inngest", "sdk": "js:v4.24.0", "framework": "nextjs",
        "appVersion": "2026.1",
        "functions": [{"id": "shop-checkout", "name": "Checkout", "triggers": [{"event": "shop/order.placed"}],
                       "steps": {"step": {"id": "step", "name": "step", "runtime": {
                           "type": "http", "url": "http://127.0.0.1:9/api/inngest?fnId=shop-checkout"}}}}]}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_apps_view(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await pilot.app.backend.on_executor(lambda ex: ex.apps.register(SHOP))
        await press(pilot, "6")
        await until(lambda: table(pilot.app).row_count == 1)
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))
