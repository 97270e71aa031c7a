"""Stored strings never put escape sequences on the terminal (issue #14, item 6): a function's
step ids, error messages and log lines are shown with control characters as visible symbols, in
the console and in the command line's tables."""

from __future__ import annotations

import pytest

from console.cli import _runs_table
from console.logbook import log_text as render_log_line
from console.screens.run_detail import RunDetailScreen
from console.widgets.step_tree import StepTree
from executor import NonRetriableError, create_function
from executor.service.printable import printable

from tests.console.support import make_console, pane_text, row_text, run_is, send, started, until

pytestmark = pytest.mark.timeout(30)

ESCAPES = "\x1b[2J\x1b]0;pwned\x07\x9b31m"


@create_function(id="evil", trigger="app/evil", retries=0)
async def evil(ctx):
    await ctx.step.run(f"step{ESCAPES}", lambda: "ok")
    ctx.logger.error("logged %s", ESCAPES)
    raise NonRetriableError(f"boom {ESCAPES}")


def clean(text: str) -> bool:
    return not any(char in text for char in "\x1b\x07\x9b")


def test_printable_keeps_length_and_shows_every_control_character():
    shown = printable(ESCAPES)
    assert len(shown) == len(ESCAPES) and clean(shown) and shown.startswith("␛[2J")
    assert printable("a\nb\tc", multiline=True) == "a\nb\tc" and printable("a\nb") == "a␊b"


async def test_the_console_shows_escape_sequences_instead_of_running_them():
    app, backend, _ = make_console([evil])
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/evil")).started[0]
        await until(lambda: run_is(backend, run_id, "Failed"))
        await until(lambda: "Failed" in row_text(app, run_id))
        assert clean(row_text(app, run_id))
        app.open_run(run_id)
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen._run is not None
                    and app.screen._run.status == "Failed")
        text = pane_text(app)
        assert "boom ␛[2J␛]0;pwned" in text and clean(text)
        labels = [str(node.label) for node in app.screen.query_one(StepTree).root.children]
        assert any("step␛[2J" in label for label in labels) and all(clean(label) for label in labels)
        app.notify(f"note {ESCAPES}")
        assert all(clean(n.message) for n in app._notifications)
        for line in app.logbook.since(0):
            assert clean(render_log_line(line, 0).plain)


def test_the_command_line_tables_show_escapes_as_symbols():
    rows = [{"id": "r1", "function_id": f"fn{ESCAPES}", "status": "Failed", "created_at": None,
             "started_at": None, "ended_at": None}]
    assert not clean(_runs_table(rows))          # the table itself is plain text …
    assert clean(printable(_runs_table(rows), multiline=True))   # … and main() prints it through printable
