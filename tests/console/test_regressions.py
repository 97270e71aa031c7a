"""Regression tests for what the console showed wrong (issue 12), each driven from the keyboard on
the real embedded executor (virtual clock) and read off what is drawn."""

from __future__ import annotations

import re

import pytest
from textual.widgets import RichLog

from console import backends
from console.app import DurableConsole
from console.backends.remote import RemoteBackend
from console.screens.dialogs import ConfirmScreen
from console.screens.form import JsonFormScreen
from console.screens.functions import FunctionsScreen
from console.screens.run_detail import RunDetailScreen
from console.screens.runs import RunsScreen
from console.widgets.step_tree import StepTree
from executor import Context, Executor, VirtualClock, create_function
from executor.drivers.local.loader import LoadError, load_paths
from executor.service.api import LoadStatus, create_app
from executor.service.server import ApiServer, bind

from tests.console.support import (
    BROKEN_FILE,
    FUNCTIONS,
    advance,
    drawn_row,
    greet,
    log_text,
    make_console,
    notifications,
    pane_text,
    row_text,
    run_is,
    send,
    started,
    step_is,
    step_status,
    table,
    until,
)

pytestmark = pytest.mark.timeout(30)


@create_function(id="parent", trigger="app/parent")
async def parent(ctx: Context) -> object:
    return await ctx.step.invoke("child", function="greet", data={"name": "kid"}, timeout="2h")


MORE = [*FUNCTIONS, parent]

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
    """All the test functions live in one file; it fails to load: each keeps its last good version
    and each row says so (GET /v1/functions flags them all too)."""
    broken = LoadError(greet.source_file, 9, "SyntaxError: invalid syntax")
    app, backend, clock = make_console(load_errors=[broken, BROKEN_FILE])
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("1")
        await until(lambda: table(app).row_count == len(FUNCTIONS) + 1, what="the functions and the other broken file")
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


# ---- 5: an attached console whose server died ----------------------------------------------------

async def test_attached_console_says_it_is_disconnected_once_keeps_stale_data_and_comes_back(monkeypatch):
    monkeypatch.setattr(backends.remote, "RECONNECT_FIRST", 0.1)
    monkeypatch.setattr(backends.remote, "RECONNECT_MAX", 0.2)
    async with Executor(":memory:", FUNCTIONS, clock=VirtualClock(), backoff=lambda attempt: 1.0) as ex:
        sock = bind("127.0.0.1", 0)
        port = sock.getsockname()[1]
        api = await ApiServer(create_app(ex), sock).start()
        backend = RemoteBackend(api.url)
        app = DurableConsole(backend, live_interval=0.02, tick_seconds=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot, app)
            [event_id] = await ex.send({"name": "app/greet", "data": {}})
            [run] = await ex.runs(event_id=event_id)
            await until(lambda: "▶ Running" in row_text(app, run.id) and "sleeping until" in row_text(app, run.id),
                        what="the run over SSE")
            shown = row_text(app, run.id)

            await api.stop()
            await until(lambda: not app.link.connected, what="the console to notice")
            live = str(app.screen.query_one("#live").content)
            assert live.startswith("✕ disconnected, retrying"), live
            assert app.screen.has_class("-stale") and app.screen.query_one("#stale").display
            assert "⚠ stale: disconnected since" in str(app.screen.query_one("#stale").content)
            await pilot.pause(1.0)                       # several attempts fail meanwhile
            assert notifications(app).count("Lost the connection") == 1, "one notice, not one per attempt"
            assert log_text(app).count("lost the connection") == 1, "one log line, not two per attempt"
            assert "refreshing" not in notifications(app), "no toast per failed read"
            app._tick()                                   # a second passes: running rows stand still
            assert row_text(app, run.id) == shown, "the last data stays, and does not tick"
            await pilot.press("3")
            await until(lambda: "Not loaded: the executor does not answer" in str(app.screen.query_one("#empty").content),
                        what="the Waits view to say why it is empty")

            api = await ApiServer(create_app(ex), bind("127.0.0.1", port)).start()
            try:
                await until(lambda: app.link.connected, what="the console to reconnect")
                assert "Reconnected" in notifications(app)
                await until(lambda: table(app).row_count == 1, what="Waits to load once back")
                assert not app.screen.has_class("-stale") and str(app.screen.query_one("#live").content) == "● live"
            finally:
                await api.stop()


# ---- 8: keys typed in the wrong place ------------------------------------------------------------

async def test_number_keys_show_the_list_not_a_run_opened_there_earlier():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        fanout = (await send(backend, "app/fanout")).started[0]
        greet = (await send(backend, "app/greet")).started[0]
        await until(lambda: table(app).row_count == 2)
        table(app).move_to(fanout)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("1", "2")
        assert isinstance(app.screen, RunsScreen), "2 shows the Runs list"
        await pilot.press("slash", *"fn:greet")          # lands in the filter, fires nothing
        await until(lambda: table(app).keys() == [greet], what="the filter as typed")
        assert not isinstance(app.screen, (ConfirmScreen, JsonFormScreen))
        assert len(await backend.runs()) == 2, "no rerun, no invoke, no demo"
        await pilot.press("escape", "escape")


async def test_slash_and_o_say_so_where_they_do_nothing():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/fanout")).started[0]
        await until(lambda: table(app).has_row(run_id))
        app.open_run(run_id)
        await until(lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("slash")
        assert "/ filters the list; there is none in a run (esc goes back to the list)" in notifications(app)
        await pilot.press("o")
        assert "o sorts the Runs list; there is none in a run" in notifications(app)
        await pilot.press("5", "o")
        assert "o sorts the Runs list; there is none in the Log view (2 shows the Runs list)" in notifications(app)
        await pilot.press("3", "o")
        assert "o sorts the Runs list; there is none in the Waits view" in notifications(app)


# ---- 9: the smaller ones -------------------------------------------------------------------------

async def test_vim_keys_move_in_the_step_tree():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/greet")).started[0]
        await until(lambda: step_status(backend, run_id, "nap"))
        app.open_run(run_id)
        await until(lambda: isinstance(app.screen, RunDetailScreen) and len(app.screen._steps) == 2)
        tree = app.screen.query_one(StepTree)
        await pilot.press("j")
        assert tree.selected.step_id == "load-name"
        await pilot.press("G")
        assert tree.selected.step_id == "nap"
        await pilot.press("k")
        assert tree.selected.step_id == "load-name"
        await pilot.press("g")
        assert tree.selected is app.screen._run or tree.cursor_line == 0


async def test_the_runs_list_is_current_at_once_after_esc():
    """While a run is open, another run finishes and time passes: back on the list, both show
    at once, without waiting for the next change or tick."""
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        sleeper = (await send(backend, "app/greet")).started[0]
        other = (await send(backend, "app/greet")).started[0]
        await until(lambda: step_is(backend, sleeper, "nap", "Sleeping"))
        await until(lambda: step_is(backend, other, "nap", "Sleeping"))
        await until(lambda: "▶ Running" in row_text(app, sleeper) and "▶ Running" in row_text(app, other))
        app.open_run(sleeper)
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen._run is not None)
        await backend.cancel(other)
        await until(lambda: run_is(backend, other, "Cancelled"))
        await advance(backend, clock, 5 * 60_000)        # no commit: nothing reaches the feed
        await pilot.pause(0.1)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        await until(lambda: "Cancelled" in row_text(app, other), timeout=0.5, what="the cancelled run at once")
        assert "5m00s" in row_text(app, sleeper), "the running run's time moved on at once"


async def test_a_long_detail_label_keeps_a_space_before_its_value():
    app, backend, clock = make_console(MORE)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        parent = (await send(backend, "app/parent")).started[0]
        await until(lambda: step_status(backend, parent, "child"))
        app.open_run(parent)
        await until(lambda: isinstance(app.screen, RunDetailScreen) and len(app.screen._steps) == 1)
        tree = app.screen.query_one(StepTree)
        tree.move_cursor(tree.root.children[0])
        await until(lambda: "child" in pane_text(app).splitlines()[0], what="the step's details")
        assert re.search(r"child run id +\S", pane_text(app)), pane_text(app)


async def test_log_lines_show_in_time_order_whatever_order_they_arrive_in():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("5")
        now = backend.now_ms()
        app.logbook.add(now + 2000, "PRINT", "stdout", "printed second")
        app.note("noted third", ts=now + 3000)
        await until(lambda: "noted third" in "\n".join(log_lines(app)))
        app.logbook.add(now + 1000, "INFO", "engine", "logged first, delivered last")
        app.note("noted fourth", ts=now + 4000)
        await until(lambda: "noted fourth" in "\n".join(log_lines(app)))
        lines = [line for line in log_lines(app) if "first" in line or "second" in line or "third" in line
                 or "fourth" in line]
        assert ["first" in lines[0], "second" in lines[1], "third" in lines[2], "fourth" in lines[3]] == [True] * 4


def log_lines(app: DurableConsole) -> list[str]:
    """What the Log view shows, line by line."""
    return [strip.text for strip in app.screen.query_one(RichLog).lines]
