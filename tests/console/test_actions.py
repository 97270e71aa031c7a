"""Pilot tests of every action, from the keyboard, on the real embedded executor."""

from __future__ import annotations

import pytest
from textual.widgets import Input, OptionList

from console.screens.dialogs import ConfirmScreen
from console.screens.form import JsonFormScreen
from console.screens.run_detail import RunDetailScreen
from console.screens.runs import RunsScreen
from console.screens.waits import WaitsScreen
from console.widgets.json_editor import JsonEditor
from console.widgets.step_tree import StepTree

from tests.console.support import (
    DEMO,
    log_text,
    make_console,
    notifications,
    row_text,
    run_is,
    send,
    started,
    step_status,
    table,
    until,
)

pytestmark = pytest.mark.timeout(30)


def dialog(app) -> JsonFormScreen:
    screen = app.screen
    assert isinstance(screen, JsonFormScreen), f"no dialog open: {screen!r}"
    return screen


async def open_dialog(pilot, app, key: str) -> JsonFormScreen:
    await pilot.press(key)
    await until(lambda: isinstance(app.screen, JsonFormScreen), what=f"the dialog of {key}")
    await pilot.pause()
    return dialog(app)


def set_data(app, text: str) -> None:
    dialog(app).query_one(JsonEditor).text_area.load_text(text)


async def test_send_event_from_the_keyboard_notifies_the_runs_it_started():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        form = await open_dialog(pilot, app, "e")
        assert "app/greet" in form.spec.suggestions and "app/invoice.created" in form.spec.suggestions
        await pilot.press(*"app/greet")
        set_data(app, '{"name": "lin"}')
        await pilot.press("ctrl+s")
        await until(lambda: isinstance(app.screen, RunsScreen), what="the dialog to close")
        await until(lambda: "sent app/greet: started greet" in notifications(app))
        assert "sent app/greet: started greet" in log_text(app)
        await until(lambda: table(app).row_count == 1 and "greet" in row_text(app, table(app).keys()[0]))


async def test_send_event_validates_json_live_and_refuses_bad_input_in_place():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        form = await open_dialog(pilot, app, "e")
        await pilot.press(*"app/greet")
        set_data(app, '{"name": ')
        await pilot.pause()
        assert "✗ line 1, column 10" in str(form.query_one(".json-status").content)
        await pilot.press("ctrl+s")
        assert "data is not valid" in str(form.query_one("#form-error").content)
        set_data(app, "[1, 2]")
        await pilot.pause()
        assert "must be a JSON object" in str(form.query_one(".json-status").content)
        set_data(app, "{}")
        await pilot.pause()
        assert "✓ valid JSON object" in str(form.query_one(".json-status").content)
        form.query_one("#form-name", Input).value = "inngest/nope"
        await pilot.press("ctrl+s")
        await until(lambda: "reserved" in str(form.query_one("#form-error").content), what="refusal")
        assert app.screen is form, "a refused event keeps the dialog open"
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_send_event_recalls_previous_events():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await send(backend, "app/fanout", {"first": 1})
        await send(backend, "app/greet", {"name": "kay"})
        form = await open_dialog(pilot, app, "e")
        assert [name for name, _ in form.spec.history] == ["app/greet", "app/fanout"]
        await pilot.press("up")
        assert form.query_one("#form-name", Input).value == "app/greet"
        assert form.query_one(JsonEditor).value == {"name": "kay"}
        await pilot.press("up")
        assert form.query_one("#form-name", Input).value == "app/fanout"
        assert form.query_one(JsonEditor).value == {"first": 1}
        await pilot.press("down")
        assert form.query_one("#form-name", Input).value == "app/greet"
        form.query_one(OptionList).focus()
        await pilot.press("down", "enter")
        assert form.query_one("#form-name", Input).value == "app/fanout"


async def test_e_on_an_event_wait_prefills_the_match_and_resumes_the_run_in_two_keys():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        waiting = (await send(backend, "app/invoice.created", {"invoiceId": "inv-77"})).started[0]
        await pilot.press("3")
        await until(lambda: table(app).row_count == 1)
        form = await open_dialog(pilot, app, "e")
        assert form.query_one("#form-name", Input).value == "app/invoice.approved"
        assert form.query_one(JsonEditor).value == {"invoiceId": "inv-77"}
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, WaitsScreen))
        await until(lambda: f"resumed approval {waiting[-8:]}" in notifications(app))
        await until(lambda: run_is(backend, waiting, "Completed"))
        run = await backend.run(waiting)
        assert run is not None and run.output == {"approved": True}


async def test_s_on_a_signal_wait_prefills_and_sends_the_signal():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        waiting = (await send(backend, "app/task.started", {"taskId": "5"})).started[0]
        await pilot.press("3")
        await until(lambda: table(app).row_count == 1)
        form = await open_dialog(pilot, app, "s")
        assert form.query_one("#form-name", Input).value == "task-5"
        set_data(app, '{"rows": 3}')
        await pilot.press("enter")
        await until(lambda: f"signal task-5 resumed task {waiting[-8:]}" in notifications(app))
        await until(lambda: run_is(backend, waiting, "Completed"))
        assert (await backend.run(waiting)).output == {"rows": 3}


async def test_signal_nobody_waits_for_is_refused_in_the_dialog():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        form = await open_dialog(pilot, app, "s")
        await pilot.press(*"nobody-home", "enter")
        await until(lambda: "nobody-home" in str(form.query_one("#form-error").content))
        assert app.screen is form


async def test_i_invokes_the_selected_function():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("1")
        await until(lambda: table(app).has_row("compute"))
        table(app).move_to("compute")
        form = await open_dialog(pilot, app, "i")
        assert form.query_one("#form-name", Input).value == "compute"
        set_data(app, '{"n": 7}')
        await pilot.press("ctrl+s")
        await until(lambda: "invoked compute: started run" in notifications(app))
        [run] = await backend.runs(function_id="compute")
        await until(lambda: run_is(backend, run.id, "Completed"))
        assert (await backend.run(run.id)).output == 49


async def test_c_cancels_the_selected_run_after_confirmation():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/greet")).started[0]
        await until(lambda: step_status(backend, run_id, "nap"))
        await until(lambda: table(app).cursor_key == run_id)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert isinstance(app.screen, RunsScreen)
        assert await run_is(backend, run_id, "Running")
        await pilot.press("c", "y")
        await until(lambda: run_is(backend, run_id, "Cancelled"))
        await until(lambda: "Cancelled" in row_text(app, run_id))
        await until(lambda: "cancelled" in notifications(app))
        await pilot.press("c")
        assert "has finished; there is nothing to cancel" in notifications(app)
        assert isinstance(app.screen, RunsScreen), "no confirmation for a finished run"


async def test_r_reruns_the_selected_run():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/fanout")).started[0]
        await until(lambda: table(app).cursor_key == run_id)
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmScreen), "r asks first"
        assert "A new run of the function starts on the same event" in str(app.screen._detail)
        await pilot.press("n")
        await pilot.pause(0.1)
        assert table(app).row_count == 1
        await pilot.press("r", "y")
        await until(lambda: table(app).row_count == 2)
        assert "rerun of" in notifications(app)
        assert table(app).cursor_key == run_id, "the cursor stays on the run it was on"


async def test_f_fires_a_sleep_now_after_confirmation_from_run_detail():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/greet")).started[0]
        await until(lambda: step_status(backend, run_id, "nap"))
        app.open_run(run_id)
        await until(lambda: isinstance(app.screen, RunDetailScreen) and len(app.screen._steps) == 2)
        await pilot.press("f")
        assert "Put the cursor on a sleeping or waiting step first." in notifications(app)
        app.screen.query_one(StepTree).move_cursor(app.screen.query_one(StepTree).root.children[1])
        await until(lambda: app.selection().wait is not None, what="the sleep's wait")
        await pilot.press("f")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(lambda: run_is(backend, run_id, "Completed"))
        await until(lambda: "fired nap" in notifications(app))


async def test_f_times_out_an_event_wait_from_the_waits_view():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/invoice.created", {"invoiceId": "inv-5"})).started[0]
        await pilot.press("3")
        await until(lambda: table(app).row_count == 1)
        await pilot.press("f", "enter")
        await until(lambda: run_is(backend, run_id, "Completed"))
        assert (await backend.run(run_id)).output == {"approved": False}
        await until(lambda: table(app).row_count == 0)


async def test_p_pauses_live_updates_and_resumes_them():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await pilot.press("p")
        assert app.paused
        run_id = (await send(backend, "app/fanout")).started[0]
        await until(lambda: app.held_back > 0, what="changes held back")
        await pilot.pause(0.2)
        assert table(app).row_count == 0
        assert "paused" in str(app.screen.query_one("#live").content)
        await pilot.press("p")
        await until(lambda: table(app).has_row(run_id), what="the held-back run")
        assert "live" in str(app.screen.query_one("#live").content)


async def test_y_copies_the_selected_id():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/fanout")).started[0]
        await until(lambda: table(app).cursor_key == run_id)
        await pilot.press("y")
        assert app.clipboard == run_id
        assert f"copied run id {run_id}" in notifications(app)


async def test_d_sends_the_demo_events_and_demo_flag_sends_them_at_start():
    app, backend, clock = make_console(demo_events=DEMO, send_demo=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await until(lambda: table(app).row_count == 2, what="the demo runs")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen), "d asks first"
        assert app.screen._question == "Send the 2 demo events?"
        await pilot.press("y")
        await until(lambda: table(app).row_count == 4)
        assert "sent app/greet: started greet" in log_text(app)


async def test_q_quits():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen), "the console runs the executor: q asks first"
        assert "every run and event is lost" in app.screen._detail
        await pilot.press("n")
        assert not app._exit
        await pilot.press("q", "y")
        await until(lambda: app._exit, what="exit")
