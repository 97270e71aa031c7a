"""SVG snapshots of every view at 80x24 and 120x40 (pytest-textual-snapshot).

Deterministic by construction: a virtual clock at a fixed instant, ids from a counter instead of
ULIDs, UTC, no ticking, no animations, and each run driven to a steady state before the next
event is sent (so ids are handed out in the same order every time). Regenerate with
``pytest tests/test_console_snapshots.py --snapshot-update`` only after looking at the report.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable

import pytest
from textual.command import CommandInput, CommandPalette
from textual.pilot import Pilot

import executor.util.ids
from console.backend import connection_change
from console.backends.embedded import EmbeddedBackend
from console.messages import Link
from console.screens.run_detail import RunDetailScreen
from console.widgets.step_tree import StepTree
from executor import VirtualClock

from tests.console.support import BROKEN_FILE, make_console, row_text, send, started, table, until

pytestmark = pytest.mark.timeout(60)

SIZES = [(80, 24), (120, 40)]
START = 1_767_225_600_000 + 9 * 3_600_000   # 2026-01-01 09:00:00 UTC


class CountingUlid:
    """Stands in for ``ulid.ULID``: ids that sort by creation and never change between runs."""

    counter = itertools.count(1)

    def __init__(self) -> None:
        self.value = f"01KDEMO{next(self.counter):019d}"

    def __str__(self) -> str:
        return self.value


@pytest.fixture(autouse=True)
def deterministic(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(CountingUlid, "counter", itertools.count(1))
    monkeypatch.setattr(executor.util.ids, "ULID", CountingUlid)
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
            ("task", "app/task.started", {"taskId": "7"}, 1))


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


async def settled(pilot: Pilot) -> None:
    app = pilot.app

    def quiet() -> bool:
        shown = app.visible_view
        return not app._dirty and shown is not None and not shown._pending and not shown._busy

    await until(quiet, what="settled")
    await pilot.pause(0.15)
    await until(quiet, what="settled")


def scenario(then: Callable[[Pilot, dict[str, str]], Awaitable[None]]) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        runs = await populate(pilot)
        pilot.app._count_runs()
        await until(lambda: sum(pilot.app.stats.counts.values()) == len(runs), what="the header's counts")
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
        await until(lambda: table(pilot.app).row_count == 5)
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
        await until(lambda: table(pilot.app).row_count == 3)
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
        await until(lambda: table(pilot.app).row_count == 5)
        await press(pilot, "home", "colon")
        await until(lambda: isinstance(pilot.app.screen, CommandPalette))
        pilot.app.screen.query_one(CommandInput).cursor_blink = False
        await pilot.press(*"run")
        await pilot.pause(0.5)
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_of_the_runs_view(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await until(lambda: table(pilot.app).row_count == 5)
        await press(pilot, "home", "question_mark")
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs_marked_filtered_and_the_bulk_question(snap_compare, size):
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await until(lambda: table(pilot.app).row_count == 5)
        await press(pilot, "slash", *"a", "enter")          # every function here has an "a" somewhere
        await press(pilot, "home", "space", "down", "space")
        await press(pilot, "c")
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_disconnected(snap_compare, size):
    """As an attached console shows a server that stopped answering (the feed's connection
    change, fed in directly: the layout is the same whichever backend lost its executor)."""
    async def then(pilot: Pilot, runs: dict[str, str]) -> None:
        await until(lambda: table(pilot.app).row_count == 5)
        await press(pilot, "home")
        app = pilot.app
        app._follow_connection(connection_change(False, 5.0, "no server at http://127.0.0.1:9 (connection refused)"))
        app.link = Link(False, app.link.since_ms, None, app.link.error)    # "retrying now": no moving countdown
        await pilot.pause(0.2)
    assert snap_compare(console(), terminal_size=size, run_before=scenario(then))
