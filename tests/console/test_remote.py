"""The console attached to a server over HTTP + SSE, and the "attach instead of a second writer"
rule: a console started on a database that a server owns goes to that server."""

from __future__ import annotations

import os

import pytest

from console.app import DurableConsole
from console.backends.remote import RemoteBackend
from console.launch import LaunchError, open_backend
from executor.service.ownership import claim

from tests.console.support import notifications, row_text, run_is, started, step_status, table, until

pytestmark = pytest.mark.timeout(30)


async def test_attached_console_shows_live_runs_and_acts_through_the_api(server):
    url, ex = server
    backend = RemoteBackend(url)
    app = DurableConsole(backend, live_interval=0.02, tick_seconds=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        assert app.screen.query_one("#connection").content == f"attached · {url}"
        [event_id] = await ex.send({"name": "app/greet", "data": {"name": "remo"}})
        [run] = await ex.runs(event_id=event_id)
        await until(lambda: "sleeping until" in row_text(app, run.id), what="the run over SSE")
        assert row_text(app, run.id).startswith("▶ Running | greet")
        await until(lambda: step_status(backend, run.id, "nap"), what="the sleep")
        await pilot.press("c", "y")
        await until(lambda: run_is(backend, run.id, "Cancelled"))
        await until(lambda: "Cancelled" in row_text(app, run.id))
        results = await backend.send([{"name": "app/fanout", "data": {}}])
        [fanout] = results[0].started
        await until(lambda: "Completed" in row_text(app, fanout))
        await pilot.press("3")
        assert table(app).row_count == 0
        await pilot.press("q")
        await until(lambda: app._exit, what="q to quit at once: the executor is the server's, it goes on")


async def test_console_on_an_owned_database_attaches_to_its_server(tmp_path, server):
    url, _ = server
    db = str(tmp_path / "state.db")
    with claim(db, url):
        backend = open_backend([], db, port=None)
        assert isinstance(backend, RemoteBackend) and backend.url == url
        assert "attached to it instead of opening the database as a second writer" in backend.announcement
        app = DurableConsole(backend, live_interval=0.02, tick_seconds=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot, app)
            await until(lambda: "attached to it instead" in notifications(app), what="the attach notice")
            # The owner may be a console as well as a serve: the notice names neither.
            assert f"in use by another durable-tui (pid {os.getpid()}), which serves it at {url}" in notifications(app)
            assert "durable-tui serve" not in notifications(app)


async def test_console_refuses_a_database_owned_by_a_process_without_an_api(tmp_path):
    db = str(tmp_path / "state.db")
    with claim(db, None):
        with pytest.raises(LaunchError, match="no HTTP API to attach to"):
            open_backend([], db, port=None)
