"""Pilot tests of what issue 12 added: the header strip, the command palette, remapped keys,
filtering every list as you type (free text found in outputs, errors and event data) and bulk
cancel and rerun of marked or matching runs."""

from __future__ import annotations

import pytest
from textual.command import CommandInput, CommandPalette
from textual.widgets import Input, Sparkline

from console.screens.dialogs import ConfirmScreen
from console.screens.events import EventsScreen
from console.screens.form import JsonFormScreen
from console.screens.functions import FunctionsScreen
from console.screens.runs import RunsScreen
from console.screens.waits import WaitsScreen
from console.widgets.status_strip import counts_text

from tests.console.support import (
    BROKEN_FILE,
    make_console,
    notifications,
    row_text,
    run_is,
    send,
    started,
    step_status,
    table,
    until,
    view,
)

pytestmark = pytest.mark.timeout(30)


def strip_text(app) -> str:
    return str(view(app).query_one("#counts").content)


# ---- counts and trends ---------------------------------------------------------------------------

async def test_header_strip_counts_runs_per_status_and_charts_started_and_failed_at_80_columns():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        for _ in range(3):
            await send(backend, "app/fanout")
        failed = (await send(backend, "app/broken")).started[0]
        await until(lambda: run_is(backend, failed, "Failed"))
        await until(lambda: app.stats.counts.get("Completed") == 3 and app.stats.counts.get("Failed") == 1,
                    what="the counts")
        assert strip_text(app).startswith("runs ◌0 ▶0 ✔3 ✘1 ⊘0"), strip_text(app)
        assert sum(app.stats.started) == 4 and sum(app.stats.failed) == 1, "runs created and failed, per second"
        started_spark = view(app).query_one("#started-spark", Sparkline)
        assert started_spark.region.width >= 10, "the sparkline is visible at 80 columns"
        assert started_spark.region.right <= 80
        assert list(started_spark.data)[-1] == 4
        await pilot.resize_terminal(120, 40)
        await until(lambda: "✔ 3 completed" in strip_text(app), what="words when wide")
        assert "✘ 1 failed" in strip_text(app)


def test_counts_read_as_glyph_and_number_and_say_when_not_counted_yet():
    from console.stats import Stats

    assert counts_text(Stats(), words=True).plain == "runs counting…"
    text = counts_text(Stats({"Running": 2, "Failed": 1}, counted=True), words=False).plain
    assert text.startswith("runs ◌0 ▶2 ✔0 ✘1 ⊘0")


# ---- the command palette -------------------------------------------------------------------------

async def test_palette_lists_the_views_actions_with_their_keys_and_runs_them():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/greet")).started[0]
        await until(lambda: step_status(backend, run_id, "nap"))
        await until(lambda: table(app).cursor_key == run_id)
        await pilot.press("ctrl+p")
        await until(lambda: isinstance(app.screen, CommandPalette), what="ctrl+p to open the palette")
        await pilot.press(*"cancel the run")
        await until(lambda: app.screen.query_one(CommandInput).value == "cancel the run")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, ConfirmScreen), what="the command to run on the run")
        assert "Cancel run" in app.screen._question
        await pilot.press("y")
        await until(lambda: run_is(backend, run_id, "Cancelled"))

        await pilot.press("colon")
        await until(lambda: isinstance(app.screen, CommandPalette), what=": to open it too")
        await pilot.press(*"waits list", "enter")
        await until(lambda: isinstance(app.screen, WaitsScreen), what="a view from the palette")


async def test_palette_offers_what_works_here_each_with_its_key():
    from console.commands import entries

    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        runs = {entry.title: entry.key for entry in entries(app.screen)}
        assert runs["Filter the list as you type (esc in the filter clears it)"] == "/"
        assert runs["Mark or unmark the run under the cursor"] == "space"
        assert runs["Cancel every listed run, all that match the filter (asks first, says how many)"] == "C"
        assert runs["Send an event (pre-filled to satisfy the event wait under the cursor)"] == "e"
        assert runs["Show the Waits list"] == "3"
        titles = list(runs)
        assert titles.index("Sort the runs by the next column") < titles.index("Quit the console"), \
            "the view's own first"
        await pilot.press("5")
        log = {entry.title for entry in entries(app.screen)}
        assert "Fire now: end the sleep or time out the wait under the cursor (asks first)" not in log
        assert "Sort the runs by the next column" not in log


# ---- remapped keys -------------------------------------------------------------------------------

async def test_keys_remapped_from_the_config_file_and_mistakes_reported(tmp_path):
    keys = tmp_path / "keys.toml"
    keys.write_text('"send.event" = "E"\nlist.filter = "ctrl+f,slash"\n"send.evnt" = "x"\n"pause" = 3\n')
    app, backend, clock = make_console(keys_file=keys)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await pilot.press("e")
        await pilot.pause(0.2)
        assert isinstance(app.screen, RunsScreen), "e no longer sends an event"
        await pilot.press("E")
        await until(lambda: isinstance(app.screen, JsonFormScreen), what="E to send an event")
        await pilot.press("escape")
        await pilot.press("ctrl+f")
        assert app.screen.query_one("#filter", Input).has_focus
        await pilot.press("escape")
        assert "no key has the id 'send.evnt' (did you mean 'send.event'?)" in notifications(app)
        assert "pause = 3 is not a key" in notifications(app)
        await pilot.press("question_mark")
        keys_shown = {binding_id: key for _, rows in app.screen.sections for key, _, binding_id in rows}
        assert keys_shown["send.event"] == "E" and keys_shown["list.filter"] in ("^f /", "/ ^f")


# ---- `/` filters every list as you type ----------------------------------------------------------

async def type_filter(pilot, text: str) -> None:
    await pilot.press("slash", *text)


async def test_runs_filter_as_you_type_finds_words_in_outputs_errors_and_event_data():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        waiting = (await send(backend, "app/invoice.created", {"invoiceId": "inv-7731"})).started[0]
        failed = (await send(backend, "app/broken")).started[0]
        summed = (await send(backend, "app/fanout")).started[0]
        await until(lambda: run_is(backend, failed, "Failed"))
        await until(lambda: table(app).row_count == 3 and "Completed" in row_text(app, summed))
        await type_filter(pilot, "on fire")                # the error's message, no enter
        await until(lambda: table(app).keys() == [failed], what="the failed run by its error")
        box = app.screen.query_one("#filter", Input)
        box.value = "inv-7731"                              # the event's data
        await until(lambda: table(app).keys() == [waiting], what="the run by its event's data")
        box.value = "6"                                     # fanout's output (1 + 2 + 3), and ids with a 6
        await until(lambda: summed in table(app).keys(), what="the run by its output")
        box.value = "status:"                               # half typed: a word for now
        box.value = "status:xyz"
        await until(lambda: "unknown status 'xyz'" in str(app.screen.query_one("#filter-error").content),
                    what="what is wrong, under the line, while typing")
        await pilot.press("escape")
        await until(lambda: table(app).row_count == 3, what="esc clears it")


@pytest.mark.parametrize("key, screen, found, missing", [
    ("1", FunctionsScreen, "approval", "greet"),
    ("3", WaitsScreen, "wait-approval", "nap"),
    ("4", EventsScreen, "app/invoice.created", "app/greet"),
])
async def test_every_list_filters_as_you_type(key, screen, found, missing):
    app, backend, clock = make_console(load_errors=[BROKEN_FILE])
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        greeting = (await send(backend, "app/greet")).started[0]
        approval = (await send(backend, "app/invoice.created", {"invoiceId": "inv-42"})).started[0]
        await until(lambda: step_status(backend, greeting, "nap"))
        await until(lambda: step_status(backend, approval, "wait-approval"))
        await pilot.press(key)
        assert isinstance(app.screen, screen)
        await until(lambda: table(app).row_count >= 2)
        await type_filter(pilot, {"1": "invoice", "3": "approval", "4": "inv-42"}[key])
        await until(lambda: table(app).row_count == 1, what="one row left")
        text = row_text(app, table(app).keys()[0])
        assert found in text and missing not in text
        await pilot.press("enter")
        assert table(app).has_focus, "enter keeps the filter and goes back to the rows"
        await pilot.press("slash", "escape")
        await until(lambda: table(app).row_count >= 2, what="esc clears it")


# ---- bulk ----------------------------------------------------------------------------------------

async def test_space_marks_runs_and_c_cancels_the_marked_ones_after_saying_how_many():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        ids = [(await send(backend, "app/greet")).started[0] for _ in range(3)]
        done = (await send(backend, "app/fanout")).started[0]
        for run_id in ids:
            await until(lambda: step_status(backend, run_id, "nap"))
        await until(lambda: table(app).row_count == 4 and "Completed" in row_text(app, done))
        await pilot.press("home", "space", "space", "space")     # newest first: fanout, then two sleepers
        assert table(app).marks == {done, ids[2], ids[1]}
        assert "■ 3 marked" in str(app.screen.query_one("#marks").content)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen._question == "Cancel 2 runs (marked)?"
        assert app.screen._detail == ("They stop at the next step boundary; finished steps stay. 1 other run marked "
                                      "has already finished and is left alone.")
        await pilot.press("y")
        await until(lambda: run_is(backend, ids[2], "Cancelled"))
        await until(lambda: run_is(backend, ids[1], "Cancelled"))
        assert await run_is(backend, ids[0], "Running"), "the unmarked run goes on"
        await until(lambda: "cancelled 2 runs" in notifications(app))
        assert not table(app).marks, "marks are cleared once acted on"


async def test_R_reruns_every_run_matching_the_filter_after_saying_how_many():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        for _ in range(2):
            await send(backend, "app/broken")
        await send(backend, "app/fanout")
        await until(lambda: table(app).row_count == 3)
        await until(lambda: sum(1 for k in table(app).keys() if "Failed" in row_text(app, k)) == 2)
        await pilot.press("slash", *"status:failed", "enter")
        await until(lambda: table(app).row_count == 2)
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen._question == "Rerun 2 runs (matching “status:failed”)?"
        await pilot.press("y")
        await until(lambda: len(app._dirty.runs) == 0 and table(app).row_count == 4, what="two new failed runs")
        assert len(await backend.runs(function_id="broken")) == 4
        assert len(await backend.runs(function_id="fanout")) == 1, "what the filter left out is left alone"
        await until(lambda: "reran 2 runs" in notifications(app))
