"""Why a run is not moving (issue 12): the Runs view's state column, retry backoffs in the Waits
view with "retry now", a signal wait superseded by on_conflict="replace", and the toast after an
event resumes a run — embedded and attached."""

from __future__ import annotations


import pytest

from console.app import DurableConsole
from console.backends.remote import RemoteBackend
from console.run_state import RunContext, bound_condition, run_state
from console.screens.form import JsonFormScreen
from console.screens.runs import RunsScreen
from console.screens.waits import WaitsScreen
from console.widgets.format import clock_time
from executor import Event, Run

from tests.console.support import (
    FUNCTIONS,
    advance,
    make_console,
    notifications,
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


def state_of(app: DurableConsole, run_id: str) -> str:
    return row_text(app, run_id).rsplit(" | ", 1)[-1]


async def test_the_state_column_says_why_each_run_is_not_moving():
    app, backend, clock = make_console()
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot, app)
        now = clock.now_ms()
        greet = (await send(backend, "app/greet", {"name": "ada"})).started[0]
        approval = (await send(backend, "app/invoice.created", {"invoiceId": "inv-7"})).started[0]
        task = (await send(backend, "app/task.started", {"taskId": "7"})).started[0]
        flaky = (await send(backend, "app/flaky", {"card": "4000"})).started[0]
        broken = (await send(backend, "app/broken")).started[0]
        await until(lambda: state_of(app, greet) == f"sleeping until {clock_time(now + 3_600_000, now)}",
                    what="the sleep")
        await until(lambda: state_of(app, approval) == 'waiting for app/invoice.approved (data.invoiceId == "inv-7")',
                    what="the event wait, bound to the run's own invoice")
        await until(lambda: state_of(app, task) == "waiting for signal task-7", what="the signal wait")
        await until(lambda: state_of(app, flaky).startswith("retry 1/3 in 1.0s: ValueError: card 4000 declined"),
                    what="the retry backoff")
        await until(lambda: state_of(app, broken) == "Failed: NonRetriableError: the widget is on fire",
                    what="the failure")

        await backend.on_executor(lambda ex: ex.set_functions([f for f in FUNCTIONS if f.id != "greet"]))
        await until(lambda: state_of(app, greet).endswith("· function greet not loaded"), what="unloaded")
        await advance(backend, clock, 3_600_000)
        await until(lambda: state_of(app, greet) == "parked: function greet not loaded", what="parked")


def test_a_match_is_shown_bound_to_the_runs_values_and_an_if_with_its_values_in_place():
    trigger = Event(id="e", name="app/invoice.created", data={"invoiceId": "inv-7", "limit": 3})
    assert bound_condition("data.invoiceId", trigger) == 'data.invoiceId == "inv-7"'
    assert bound_condition("event.data.limit < async.data.n", trigger) == "3 < async.data.n"
    assert bound_condition("data.missing", trigger) == "data.missing == null"
    assert bound_condition("not ( valid", trigger) == "not ( valid", "unreadable: as written"
    queued = Run(id="r", function_id="fn", event_id="e", status="Queued", created_at=0)
    assert run_state(queued, RunContext(functions_known=False), 0).plain == "queued"


async def test_retry_backoffs_are_listed_with_the_waits_and_f_retries_now():
    app, backend, clock = make_console()
    async with app.run_test(size=(200, 40)) as pilot:
        await started(pilot, app)
        flaky = (await send(backend, "app/flaky")).started[0]
        await until(lambda: step_is(backend, flaky, "charge", "Retrying"))
        await pilot.press("3")
        assert isinstance(app.screen, WaitsScreen)
        await until(lambda: table(app).row_count == 1)
        row = row_text(app, table(app).cursor_key)
        assert row.startswith("↻ retry | flaky") and "attempt 2: ValueError: card 4242 declined" in row
        await pilot.press("f")
        await until(lambda: "Fire now: retry now charge" in str(app.screen.query_one("#dialog-title").content))
        await pilot.press("y")
        await until(lambda: _attempts(backend, flaky, 2), what="the second attempt, without moving the clock")
        assert "fired charge" in notifications(app)
        await until(lambda: "attempt 3" in row_text(app, table(app).cursor_key or ""), what="the next backoff")


async def _attempts(backend, run_id: str, count: int) -> bool:
    steps = {s.step_id: s for s in await backend.steps(run_id)}
    return "charge" in steps and steps["charge"].attempts >= count


async def test_a_superseded_signal_wait_says_so_and_s_does_not_prefill_it():
    app, backend, clock = make_console()
    async with app.run_test(size=(200, 40)) as pilot:
        await started(pilot, app)
        first = (await send(backend, "app/task.started", {"taskId": "7"})).started[0]
        await until(lambda: step_status(backend, first, "wait-done"))
        second = (await send(backend, "app/task.started", {"taskId": "7"})).started[0]
        await until(lambda: step_status(backend, second, "wait-done"))
        await until(lambda: state_of(app, first).startswith("superseded: signal task-7 now goes to another run"))
        await until(lambda: state_of(app, second) == "waiting for signal task-7", what="the second run's row")
        await pilot.press("3")
        await until(lambda: table(app).row_count == 2)
        waits = app.screen.rows
        old = next(key for key, wait in waits.items() if wait.run_id == first)
        assert "task-7 (superseded)" in row_text(app, old)
        table(app).move_to(old)
        await until(lambda: "This wait ends at its timeout, or now with f" in _pane(app), what="the explanation")
        await pilot.press("s")
        await until(lambda: isinstance(app.screen, JsonFormScreen))
        hint = str(app.screen.query_one("#form-known").content)
        assert "superseded" in hint and f"resumes run {second[-8:]}" in hint and "or with f" in hint
        assert app.screen.query_one("#form-name").value == "", "not pre-filled with a signal that goes elsewhere"
        await pilot.press("escape")
        await pilot.press("f", "y")                       # what ends it: f times it out
        await until(lambda: run_is(backend, first, "Completed"))
        assert await run_is(backend, second, "Running")


def _pane(app) -> str:
    from tests.console.support import pane_text
    return pane_text(app)


async def test_attached_the_toast_names_the_run_an_event_resumed(server):
    url, ex = server
    backend = RemoteBackend(url)
    app = DurableConsole(backend, live_interval=0.02, tick_seconds=0)
    async with app.run_test(size=(200, 40)) as pilot:
        await started(pilot, app)
        run = await ex.invoke("approval", {"invoiceId": "inv-9"})
        await until(lambda: 'waiting for app/invoice.approved (data.invoiceId == "inv-9")' in row_text(app, run.id),
                    what="the wait, bound, over HTTP")
        assert isinstance(app.screen, RunsScreen)
        table(app).move_to(run.id)
        await pilot.press("3")
        await until(lambda: table(app).row_count == 1)
        await pilot.press("e")
        await until(lambda: isinstance(app.screen, JsonFormScreen))
        await pilot.press("ctrl+s")
        await until(lambda: "resumed approval" in notifications(app), what="the toast naming the resumed run")
        assert "no run was waiting" not in notifications(app)
        assert f"sent app/invoice.approved: resumed approval {run.id[-8:]}" in notifications(app)
        await until(lambda: run_is(backend, run.id, "Completed"))
