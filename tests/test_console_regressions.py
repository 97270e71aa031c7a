"""Regression tests for what the console showed wrong (issue 12), each driven from the keyboard on
the real embedded executor (virtual clock) and read off what is drawn."""

from __future__ import annotations

import pytest

from console.backends.remote import RemoteBackend
from console.screens.functions import FunctionsScreen
from console.screens.runs import RunsScreen
from executor import Executor, VirtualClock
from executor.drivers.local.loader import LoadError, load_paths
from executor.service.api import LoadStatus, create_app
from executor.service.server import ApiServer, bind

from .test_console_support import (
    BROKEN_FILE,
    FUNCTIONS,
    advance,
    drawn_row,
    greet,
    make_console,
    pane_text,
    row_text,
    run_is,
    send,
    started,
    step_status,
    table,
    until,
)

pytestmark = pytest.mark.timeout(30)

PAIR_FILE = """
from executor import create_function

@create_function(id="one", trigger="app/one")
async def one(ctx):
    return 1

@create_function(id="two", trigger="app/two")
async def two(ctx):
    return 2
"""


async def test_a_row_hidden_by_a_filter_and_shown_again_is_drawn_as_it_is_now():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/greet")).started[0]
        await until(lambda: step_status(backend, run_id, "nap"), what="the sleep")
        await until(lambda: "▶ Running" in drawn_row(app, run_id), what="the running row drawn")
        await pilot.press("slash", *"status:failed", "enter")
        await until(lambda: not table(app).has_row(run_id), what="the filter to hide it")
        await advance(backend, clock, 3_600_000)
        await until(lambda: run_is(backend, run_id, "Completed"))
        await pilot.press("slash", "escape")
        await until(lambda: table(app).has_row(run_id), what="the filter cleared")
        assert "✔ Completed" in drawn_row(app, run_id), "drawn from its current cells, not its first life's"
        assert "Running" not in drawn_row(app, run_id)


async def test_a_functions_runs_shown_then_unfiltered_are_drawn_as_they_are_now():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        sleeper = (await send(backend, "app/greet")).started[0]
        await until(lambda: step_status(backend, sleeper, "nap"))
        await until(lambda: "▶ Running" in drawn_row(app, sleeper))
        await pilot.press("1")
        await until(lambda: isinstance(app.screen, FunctionsScreen) and table(app).has_row("fanout"))
        table(app).move_to("fanout")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunsScreen) and not table(app).has_row(sleeper))
        await advance(backend, clock, 3_600_000)
        await until(lambda: run_is(backend, sleeper, "Completed"))
        await pilot.press("slash", "escape")
        await until(lambda: table(app).has_row(sleeper))
        assert "✔ Completed" in drawn_row(app, sleeper) and "Completed" in row_text(app, sleeper)


async def test_every_function_of_a_broken_file_is_flagged_and_listed_first():
    """All six test functions live in one file; it fails to load: each keeps its last good version
    and each row says so (GET /v1/functions flags them all too)."""
    broken = LoadError(greet.source_file, 9, "SyntaxError: invalid syntax")
    app, backend, clock = make_console(load_errors=[broken, BROKEN_FILE])
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("1")
        await until(lambda: table(app).row_count == 7, what="six functions and the other broken file")
        keys = table(app).keys()
        assert keys[0] == "file:functions/half_written.py", "a file with nothing loaded comes first"
        for fn in FUNCTIONS:
            assert row_text(app, fn.id).startswith(f"⚠ {fn.id} |"), f"{fn.id} is flagged"
        table(app).move_to("compute")
        await pilot.pause()
        assert "SyntaxError: invalid syntax" in pane_text(app)
        assert "runs the last version that loaded" in pane_text(app)


async def test_attached_console_flags_every_function_of_a_broken_file(tmp_path):
    good = tmp_path / "pair.py"
    good.write_text(PAIR_FILE)
    loaded = load_paths([str(tmp_path)])
    assert not loaded.errors and len(loaded.functions) == 2
    status = LoadStatus([LoadError(str(good), 2, "SyntaxError: invalid syntax")])
    async with Executor(":memory:", loaded.functions, clock=VirtualClock()) as ex:
        api = await ApiServer(create_app(ex, load_status=status), bind("127.0.0.1", 0)).start()
        try:
            backend = RemoteBackend(api.url)
            await backend.start()
            try:
                infos = await backend.functions()
            finally:
                await backend.close()
        finally:
            await api.stop()
    assert sorted((i.id, bool(i.error), i.loaded) for i in infos) == [("one", True, True), ("two", True, True)]
