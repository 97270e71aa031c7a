"""Regression tests for what the console showed wrong (issue 12), each driven from the keyboard on
the real embedded executor (virtual clock) and read off what is drawn."""

from __future__ import annotations

import pytest

from console.screens.functions import FunctionsScreen
from console.screens.runs import RunsScreen

from .test_console_support import (
    advance,
    drawn_row,
    make_console,
    row_text,
    run_is,
    send,
    started,
    step_status,
    table,
    until,
)

pytestmark = pytest.mark.timeout(30)


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
