"""Pilot tests of every view on the real embedded executor (virtual clock): what each shows, how
it follows live changes, and how it collapses at 80x24."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from console.app import DurableConsole
from console.backends.embedded import EmbeddedBackend
from console.screens.events import EventsScreen
from console.screens.functions import FunctionsScreen
from console.screens.log import LogScreen
from console.screens.run_detail import RunDetailScreen
from console.screens.runs import RunsScreen
from console.screens.waits import WaitsScreen
from console.widgets.format import clock_time
from console.widgets.step_tree import GroupNode, StepTree
from executor import StepState, VirtualClock

from tests.console.support import (
    BROKEN_FILE,
    advance,
    log_text,
    make_console,
    notifications,
    pane_text,
    row_text,
    run_is,
    run_status,
    send,
    started,
    step_status,
    table,
    table_text,
    until,
    view,
)

pytestmark = pytest.mark.timeout(30)

FUNCTION_FILE = """
from executor import create_function

@create_function(id="{id}", trigger="app/{id}")
async def handler(ctx):
    return "{id}"
"""


async def test_runs_view_lists_runs_with_glyph_and_word_and_updates_rows_in_place():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        assert isinstance(app.screen, RunsScreen)
        result = await send(backend, "app/greet", {"name": "bo"})
        [run_id] = result.started
        await until(lambda: "sleeping until" in row_text(app, run_id) and "Running" in row_text(app, run_id))
        assert row_text(app, run_id).startswith("▶ Running | greet | ")
        assert row_text(app, run_id).endswith(f"| sleeping until {clock_time(clock.now_ms() + 3_600_000)}")
        assert "app/greet" in row_text(app, run_id)
        version = table(app)._versions[run_id]
        await until(lambda: step_status(backend, run_id, "nap"), what="the sleep")
        await advance(backend, clock, 3_600_000)
        await until(lambda: "Completed" in row_text(app, run_id), what="completion on screen")
        assert row_text(app, run_id).startswith("✔ Completed | greet")
        assert table(app).keys() == [run_id] and table(app)._versions[run_id] > version, "patched in place"


async def test_runs_cursor_stays_on_its_run_while_new_runs_arrive():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        first = (await send(backend, "app/fanout")).started[0]
        second = (await send(backend, "app/fanout")).started[0]
        await until(lambda: table(app).row_count == 2)
        assert table(app).keys() == [second, first], "newest first"
        await pilot.press("down")
        assert table(app).cursor_key == first
        for _ in range(3):
            await send(backend, "app/fanout")
        await until(lambda: table(app).row_count == 5)
        assert table(app).cursor_key == first
        assert table(app).keys()[-1] == first


async def test_runs_filter_by_status_and_function_and_text():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        failed = (await send(backend, "app/broken")).started[0]
        ok = (await send(backend, "app/fanout")).started[0]
        await until(lambda: run_status(backend, failed))
        await until(lambda: "Failed" in row_text(app, failed) and table(app).row_count == 2)
        await pilot.press("slash", *"status:fail", "enter")
        await until(lambda: table(app).keys() == [failed], what="only the failed run")
        box = app.screen.query_one("#filter", Input)
        await pilot.press("slash")
        box.value = "fn:fanout"
        await pilot.press("enter")
        await until(lambda: table(app).keys() == [ok], what="only fanout")
        await pilot.press("slash")
        box.value = "broken"
        await pilot.press("enter")
        await until(lambda: table(app).keys() == [failed], what="free text")
        await pilot.press("slash", "escape")
        await until(lambda: table(app).row_count == 2, what="filter cleared")
        await pilot.press("slash")
        box.value = "status:nonsense"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert table(app).row_count == 2, "a bad filter changes nothing and says why"


async def test_runs_sort_cycles_columns():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        a = (await send(backend, "app/broken")).started[0]
        b = (await send(backend, "app/fanout")).started[0]
        await until(lambda: table(app).row_count == 2 and "Failed" in row_text(app, a))
        await until(lambda: "Completed" in row_text(app, b))
        assert table(app).keys() == [b, a]
        await pilot.press("o")                     # by status: Completed before Failed
        assert table(app).keys() == [b, a]
        await pilot.press("o")                     # by function: broken before fanout
        assert table(app).keys() == [a, b]
        assert table(app)._labels["function"] == "function ▼"


async def test_runs_empty_state_says_what_to_press():
    app, backend, clock = make_console(demo_events=[{"name": "app/greet", "data": {}}])
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        empty = view(app).query_one("#empty")
        assert empty.display
        assert "Press e to send an event, d to send the demo events" in str(empty.content)


async def test_no_functions_still_opens_and_says_how_to_add_some():
    app, backend, clock = make_console(functions=[])
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await until(lambda: "No functions loaded" in str(view(app).query_one("#empty").content))
        await until(lambda: "@create_function" in notifications(app), what="the hint")


async def test_run_detail_shows_steps_groups_detail_and_goes_back():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/fanout")).started[0]
        await until(lambda: "Completed" in row_text(app, run_id))
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen._run is not None)
        tree = app.screen.query_one(StepTree)
        [group] = tree.root.children
        assert isinstance(group.data, GroupNode) and len(group.children) == 3
        assert "parallel" in str(group.label)
        assert "fanout" in pane_text(app) and "output" in pane_text(app) and "6" in pane_text(app)
        await pilot.press("down", "down")
        assert isinstance(tree.selected, StepState) and tree.selected.step_id == "part-a"
        assert "part-a" in pane_text(app) and "Completed" in pane_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_run_detail_shows_error_with_stack_and_live_countdown():
    app, backend, clock = make_console(tick_seconds=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        failed = (await send(backend, "app/broken")).started[0]
        await until(lambda: run_is(backend, failed, "Failed"))
        app.open_run(failed)
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen._run is not None
                    and app.screen._run.status == "Failed")
        text = pane_text(app)
        assert "NonRetriableError: the widget is on fire" in text
        assert "Traceback" in text or "explode" in text, "the stack is shown"
        await pilot.press("escape")

        sleeper = (await send(backend, "app/greet")).started[0]
        await until(lambda: step_status(backend, sleeper, "nap"))
        app.open_run(sleeper)
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen._run is not None
                    and app.screen._run.id == sleeper and len(app.screen._steps) == 2)
        nap = app.screen.query_one(StepTree).root.children[1]
        await until(lambda: "in 1h00m" in str(nap.label), what="the countdown")
        await advance(backend, clock, 30 * 60_000 - 5)  # still sleeping: no change reaches the feed
        await until(lambda: "in 30m00s" in str(nap.label), what="the countdown ticking")


async def test_waits_view_lists_sleeps_event_and_signal_waits_by_deadline_and_opens_the_run():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        approval = (await send(backend, "app/invoice.created", {"invoiceId": "inv-1"})).started[0]
        sleeper = (await send(backend, "app/greet")).started[0]
        signaller = (await send(backend, "app/task.started", {"taskId": "9"})).started[0]
        await pilot.press("3")
        assert isinstance(app.screen, WaitsScreen)
        await until(lambda: table(app).row_count == 3, what="three waits")
        lines = table_text(app).splitlines()
        assert lines[0].startswith("◷ sleep | greet") and "in 1h00m" in lines[0]
        assert lines[1].startswith("⚑ signal | task") and "task-9" in lines[1] and "in 2h00m" in lines[1]
        assert lines[2].startswith("⋯ event | approval") and "app/invoice.approved" in lines[2]
        assert "data.invoiceId" in lines[2] and "in 7d00h" in lines[2]
        await pilot.press("home", "down", "enter")
        await until(lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == signaller
        await pilot.press("escape")
        assert isinstance(app.screen, WaitsScreen)
        await advance(backend, clock, 3_600_000)
        await until(lambda: table(app).row_count == 2, what="the sleep ended")
        assert {approval, sleeper, signaller}


async def test_events_view_newest_first_with_started_runs_and_opens_the_run():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        first = await send(backend, "app/fanout")
        second = await send(backend, "app/invoice.created", {"invoiceId": "inv-2"})
        await pilot.press("4")
        assert isinstance(app.screen, EventsScreen)
        await until(lambda: table(app).row_count >= 2)
        keys = table(app).keys()
        assert keys.index(second.event_id) < keys.index(first.event_id)
        assert f"▶ 1 started: {second.started[0][-8:]}" in row_text(app, second.event_id)
        table(app).move_to(second.event_id)
        await pilot.pause()
        assert "inv-2" in pane_text(app)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == second.started[0]


async def test_events_view_shows_runs_an_event_resumed():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        waiting = (await send(backend, "app/invoice.created", {"invoiceId": "inv-3"})).started[0]
        await until(lambda: step_status(backend, waiting, "wait-approval"))
        approved = await send(backend, "app/invoice.approved", {"invoiceId": "inv-3"})
        assert approved.resumed == (waiting,) and approved.started == ()
        await pilot.press("4")
        await until(lambda: table(app).has_row(approved.event_id))
        assert f"↻ 1 resumed: {waiting[-8:]}" in row_text(app, approved.event_id)


async def test_functions_view_shows_triggers_counts_files_and_load_errors():
    app, backend, clock = make_console(load_errors=[BROKEN_FILE])
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await send(backend, "app/broken")
        await send(backend, "app/fanout")
        await pilot.press("1")
        assert isinstance(app.screen, FunctionsScreen)
        await until(lambda: table(app).has_row("broken") and "✘1" in row_text(app, "broken"))
        assert row_text(app, "greet").startswith("greet | app/greet | 0 | support.py")
        assert "invoke only" in row_text(app, "compute")
        error_key = "file:functions/half_written.py"
        assert row_text(app, error_key).startswith("⚠ half_written.py | load error")
        table(app).move_to(error_key)
        await pilot.pause()
        assert "functions/half_written.py:3: SyntaxError: invalid syntax" in pane_text(app)
        table(app).move_to("fanout")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunsScreen) and table(app).row_count == 1)
        assert "fanout" in table_text(app)


async def test_hot_reload_shows_new_functions_and_load_errors_as_files_change(tmp_path):
    (tmp_path / "alpha.py").write_text(FUNCTION_FILE.format(id="alpha"))
    backend = EmbeddedBackend(":memory:", paths=[str(tmp_path)], clock=VirtualClock())
    app = DurableConsole(backend, live_interval=0.02, tick_seconds=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("1")
        await until(lambda: table(app).keys() == ["alpha"], what="the first load")
        (tmp_path / "beta.py").write_text(FUNCTION_FILE.format(id="beta"))
        # A file watch and a reload: slower than a commit on a loaded machine, so a longer bound.
        await until(lambda: table(app).has_row("beta"), timeout=30, what="the new file's function")
        (tmp_path / "gamma.py").write_text("def broken(:\n")
        error_row = f"file:{tmp_path / 'gamma.py'}"
        await until(lambda: table(app).has_row(error_row), timeout=30, what="the load error")
        assert row_text(app, error_row).startswith("⚠ gamma.py | load error")
        await until(lambda: "gamma.py:1: SyntaxError" in log_text(app), what="the error in the log")
        assert "reload" in log_text(app)


async def test_log_view_shows_load_errors_executor_logging_and_prints():
    app, backend, clock = make_console(load_errors=[BROKEN_FILE])
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("5")
        assert isinstance(app.screen, LogScreen)
        print("a line printed by a step")
        await until(lambda: "a line printed by a step" in log_text(app))
        await until(lambda: app.screen._last_seq == max(line.seq for line in app.logbook.since(0)),
                    what="log view caught up")
        assert "ERROR loader functions/half_written.py:3: SyntaxError: invalid syntax" in log_text(app)


async def test_help_shows_the_keys_of_the_current_view():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await pilot.press("question_mark")
        from console.screens.dialogs import HelpScreen

        assert isinstance(app.screen, HelpScreen)
        [(own, own_keys), (shared, shared_keys)] = app.screen.sections
        assert (own, shared) == ("Runs", "everywhere"), "the view's own keys come first"
        own_keys = {key: (what, binding_id) for key, what, binding_id in own_keys}
        shared_keys = {key: (what, binding_id) for key, what, binding_id in shared_keys}
        assert own_keys["/"] == ("Filter the list as you type (esc in the filter clears it)", "list.filter")
        assert own_keys["o"] == ("Sort the runs by the next column", "runs.sort")
        assert own_keys["space"] == ("Mark or unmark the run under the cursor", "runs.mark")
        assert own_keys["↓ j"] == ("Down", "table.down"), "a binding without a long form shows its short one"
        assert shared_keys["e"][1] == "send.event" and shared_keys["q"] == ("Quit the console", "quit")
        assert shared_keys["3"] == ("Show the Waits list", "view.waits")
        assert "/" not in shared_keys, "a key the view binds is listed once, under the view"
        assert "status:failed" in app.screen._notes and "keys.toml" in app.screen._notes
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_number_keys_switch_views_and_escape_goes_back():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        for key, kind in (("1", FunctionsScreen), ("3", WaitsScreen), ("4", EventsScreen), ("5", LogScreen),
                          ("2", RunsScreen)):
            await pilot.press(key)
            assert isinstance(app.screen, kind)
        await pilot.press("escape")
        assert isinstance(app.screen, LogScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, EventsScreen)


async def test_narrow_terminal_collapses_columns_and_stacks_run_detail():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/greet")).started[0]
        await until(lambda: table(app).has_row(run_id))
        assert [c.key for c in table(app).specs] == ["status", "function", "started", "duration", "state"]
        assert app.screen.has_class("-narrow")
        await pilot.resize_terminal(120, 40)
        await until(lambda: "event" in [c.key for c in table(app).specs])
        assert table(app).has_row(run_id), "rows survive a relayout"
        await pilot.resize_terminal(80, 24)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunDetailScreen))
        body = app.screen.query_one("#run-body")
        await pilot.pause()
        assert body.styles.layout.name == "vertical"
