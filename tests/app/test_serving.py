"""The app as a user starts it: ``inngest_app(paths)``, hot reload that re-syncs, ``durable-tui app``'s
refusals — against our own server over loopback sockets."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.cli import main
from executor import Executor, FunctionDefinitionError, RunStatus
from executor.drivers.local.reload import FunctionWatcher
from executor.service.api import create_app
from executor.service.inngest_app import inngest_app
from executor.service.inngest_app.upstream import UpstreamError
from executor.service.server import ApiServer
from executor.service.sockets import bind

pytestmark = pytest.mark.timeout(30)

ONE = '''
from executor import create_function

@create_function(id="greet", trigger="hot/greet")
async def greet(ctx):
    return await ctx.step.run("say", lambda: "hello " + ctx.event.data["who"])
'''
TWO = ONE + '''

@create_function(id="shout", trigger="hot/shout")
async def shout(ctx):
    return await ctx.step.run("say", lambda: ctx.event.data["who"].upper())
'''


async def test_a_saved_file_resyncs_the_app(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "hot.py").write_text(ONE)
    ex = Executor(db=":memory:")
    await ex.start()
    server = await ApiServer(create_app(ex), bind("127.0.0.1", 0)).start()
    app = inngest_app(functions, app_id="hot", server=server.url)
    sock = bind("127.0.0.1", 0)
    app.url = f"{server.url.rsplit(':', 1)[0]}:{sock.getsockname()[1]}/api/inngest"
    served = await ApiServer(app, sock, shutdown_timeout=1).start()
    try:
        async with FunctionWatcher(app, [functions], debounce_ms=10) as watcher:
            await app.wait_synced()
            assert "hot-greet" in ex.specs() and "hot-shout" not in ex.specs()
            syncs = app.syncs
            generation = watcher.generation
            (functions / "hot.py").write_text(TWO)
            await watcher.wait_for_reload(after=generation)
            await app.wait_synced()
            assert app.syncs == syncs + 1
            assert "hot-shout" in ex.specs()
            [event_id] = await ex.send({"name": "hot/shout", "data": {"who": "ada"}})
            [run] = await ex.runs(event_id=event_id)
            run = await ex.wait_for_run(run.id, timeout=10)
            assert run.status == RunStatus.COMPLETED and run.output == "ADA"
    finally:
        await served.stop()
        await app.aclose()
        await server.stop()
        await ex.close()


def test_load_errors_are_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def oops(:\n")
    with pytest.raises(FunctionDefinitionError, match="broken.py"):
        inngest_app(tmp_path, app_id="x")


def test_an_app_needs_an_id() -> None:
    with pytest.raises(ValueError, match="app id"):
        inngest_app([], app_id=" ")


def test_the_command_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with bind("127.0.0.1", 0) as taken:
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "f.py").write_text(ONE)
        assert main(["app", str(tmp_path / "f.py"), "--port", str(port)]) == 2
    assert "cannot listen" in capsys.readouterr().err


async def test_a_sync_that_cannot_reach_the_server_says_where(tmp_path: Path) -> None:
    (tmp_path / "f.py").write_text(ONE)
    app = inngest_app(tmp_path, app_id="early", server="http://127.0.0.1:9")
    app.url = "http://127.0.0.1:1/api/inngest"
    with pytest.raises(UpstreamError, match="could not sync with http://127.0.0.1:9/"):
        await app.sync()
    await app.aclose()
