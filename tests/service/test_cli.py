"""The command line's server commands against a real server on a free loopback port.

``main`` runs ``asyncio.run`` itself, so each call goes to a worker thread while the server keeps
serving on the test's event loop.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from console.cli import EXIT_NO_SERVER, EXIT_REFUSED, EXIT_USAGE, main
from executor.drivers.local.loader import LoadError
from executor import LoadStatus
from executor.service.server import bind
from tests.service.support import finished, pending_waits

pytestmark = pytest.mark.timeout(30)


async def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def cli_json(capsys, s, *argv: str) -> Any:
    code, out, err = await cli(capsys, *argv, "--url", s.url, "--json")
    assert code == 0, err
    return json.loads(out)


async def test_send_prints_the_event_id(served, capsys):
    code, out, _ = await cli(capsys, "send", "test/greet", "--data", '{"name": "fi"}', "--url", served.url)
    [run] = await served.ex.runs(event_id=out.strip())
    assert code == 0 and (await finished(served, run.id))["output"] == "hello FI"


async def test_send_data_from_a_file_as_json(served, capsys, tmp_path):
    (tmp_path / "data.json").write_text('{"name": "gus"}')
    body = await cli_json(capsys, served, "send", "test/greet", "--data", f"@{tmp_path / 'data.json'}")
    [event_id] = body["ids"]
    assert (await served.ex.event(event_id)).data == {"name": "gus"}


@pytest.mark.parametrize("argv, code, message", [
    (["send", "test/x", "--data", "{nope"], EXIT_USAGE, "--data is not valid JSON"),
    (["send", "test/x", "--data", "@/no/such/file.json"], EXIT_USAGE, "cannot read --data from /no/such/file.json"),
    (["send", "test/x", "--data", "[1]"], EXIT_REFUSED, "'data' must be a JSON object, not list (HTTP 400)"),
    (["send", "inngest/x"], EXIT_REFUSED, "the 'inngest/' name prefix is reserved"),
    (["signal", "nobody"], EXIT_REFUSED, "no run is waiting for signal 'nobody' (HTTP 404)"),
    (["runs", "--status", "Sleeping"], EXIT_REFUSED, "query.status: Input should be 'Queued'"),
    (["run", "01JZZZZZZZZZZZZZZZZZZZZZZZ"], EXIT_REFUSED, "no run with id '01JZZZZZZZZZZZZZZZZZZZZZZZ'"),
    (["cancel", "nope"], EXIT_REFUSED, "no run with id 'nope'"),
    (["fire", "nope"], EXIT_REFUSED, "nope"),
    (["invoke", "nope"], EXIT_REFUSED, "no function with id 'nope'"),
])
async def test_refusals_and_bad_input_exit_non_zero_with_the_reason(served, capsys, argv, code, message):
    got, out, err = await cli(capsys, *argv, "--url", served.url)
    assert got == code and out == "" and message in err


async def test_signal_resumes_the_waiting_run(served, capsys):
    run = await served.ex.invoke("approver", {"signal": "ship-it"})
    await pending_waits(served, 1)
    code, out, _ = await cli(capsys, "signal", "ship-it", "--data", '"yes"', "--url", served.url)
    assert (code, out.strip()) == (0, f"resumed run {run.id}")
    assert (await finished(served, run.id))["output"] == "yes"


async def test_runs_table_and_json(served, capsys):
    done = await served.ex.invoke("greet", {})
    await served.ex.wait_for_run(done.id, timeout=5)
    napping = await served.ex.invoke("napper", {})
    await pending_waits(served, 1)
    code, out, _ = await cli(capsys, "runs", "--url", served.url)
    header, *rows = out.splitlines()
    assert code == 0 and header.split() == ["RUN", "FUNCTION", "STATUS", "CREATED", "TOOK"]
    assert [row.split()[:3] for row in rows] == [[napping.id, "napper", "Running"], [done.id, "greet", "Completed"]]
    assert [r["id"] for r in await cli_json(capsys, served, "runs", "--status", "Completed")] == [done.id]
    assert [r["id"] for r in await cli_json(capsys, served, "runs", "--function", "napper")] == [napping.id]


async def test_runs_when_there_are_none(served, capsys):
    assert await cli(capsys, "runs", "--url", served.url) == (0, "(none)\n", "")


async def test_run_shows_steps_and_pending_sleep(served, capsys):
    run = await served.ex.invoke("napper", {})
    await pending_waits(served, 1)
    code, out, _ = await cli(capsys, "run", run.id, "--url", served.url)
    assert code == 0 and f"run       {run.id}" in out and "status    Running" in out
    assert any(line.split()[:3] == ["nap", "sleep", "Sleeping"] and "until" in line for line in out.splitlines())
    assert any(line.split()[1:2] == ["sleep"] for line in out.splitlines() if line.startswith(run.id))
    detail = await cli_json(capsys, served, "run", run.id)
    assert detail["id"] == run.id and detail["steps"][0]["id"] == "nap"


async def test_run_of_a_completed_run(served, capsys):
    run = await served.ex.invoke("greet", {"name": "hal"})
    await served.ex.wait_for_run(run.id, timeout=5)
    code, out, _ = await cli(capsys, "run", run.id, "--url", served.url)
    assert 'result    "hello HAL"' in out
    assert [line.split()[:4] for line in out.splitlines() if line.startswith(("load-name", "shout"))] == [
        ["load-name", "run", "Completed", "1"], ["shout", "run", "Completed", "1"]]


async def test_cancel(served, capsys):
    run = await served.ex.invoke("napper", {})
    await pending_waits(served, 1)
    code, out, _ = await cli(capsys, "cancel", run.id, "--url", served.url)
    assert code == 0 and run.id in out
    assert (await finished(served, run.id))["status"] == "Cancelled"
    code, _, err = await cli(capsys, "cancel", run.id, "--url", served.url)
    assert code == EXIT_REFUSED and "already finished (Cancelled)" in err and "HTTP 409" in err


async def test_functions_table_with_load_errors(serve_app, capsys):
    s = await serve_app(load_status=LoadStatus([LoadError("broken.py", 4, "NameError: name 'x' is not defined")]))
    code, out, _ = await cli(capsys, "functions", "--url", s.url)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["FUNCTION", "NAME", "TRIGGERS", "SOURCE"]
    assert [line.split()[:3] for line in lines[1:4]] == [
        ["approver", "approver", "test/approve"], ["greet", "greet", "test/greet"], ["napper", "napper", "test/nap"]]
    assert lines[-1] == "load error broken.py:4: NameError: name 'x' is not defined"
    body = await cli_json(capsys, s, "functions")
    assert {f["id"] for f in body["functions"]} == {"approver", "greet", "napper"} and len(body["load_errors"]) == 1


async def test_invoke_rerun_events_waits_and_fire(served, capsys):
    started = await cli_json(capsys, served, "invoke", "greet", "--data", '{"name": "ivy"}')
    assert (await finished(served, started["run_id"]))["output"] == "hello IVY"
    again = await cli_json(capsys, served, "rerun", started["run_id"])
    assert (await finished(served, again["run_id"]))["output"] == "hello IVY"
    await cli_json(capsys, served, "send", "test/other")
    assert [e["name"] for e in await cli_json(capsys, served, "events", "--name", "test/other")] == ["test/other"]
    code, out, _ = await cli(capsys, "events", "--url", served.url)
    assert out.splitlines()[0].split() == ["EVENT", "NAME", "TIME", "DATA"] and "test/other" in out
    napping = await served.ex.invoke("napper", {})
    [wait] = await pending_waits(served, 1)
    code, out, _ = await cli(capsys, "waits", "--url", served.url)
    assert out.splitlines()[1].split()[:4] == [wait["id"], "sleep", napping.id, "nap"]
    code, out, _ = await cli(capsys, "fire", wait["id"], "--url", served.url)
    assert (code, out.strip()) == (0, f"fired wait {wait['id']}")
    assert (await finished(served, napping.id))["output"] == "rested"


async def test_key_from_the_flag_or_the_environment(serve_app, capsys, monkeypatch):
    s = await serve_app(key="k3y")
    code, _, err = await cli(capsys, "runs", "--url", s.url)
    assert code == EXIT_REFUSED and "this server needs a key" in err and "HTTP 401" in err
    code, _, err = await cli(capsys, "send", "test/x", "--url", s.url, "--key", "wrong")
    assert code == EXIT_REFUSED and "event key not accepted" in err
    assert (await cli(capsys, "send", "test/x", "--url", s.url, "--key", "k3y"))[0] == 0
    monkeypatch.setenv("DURABLE_TUI_KEY", "k3y")
    monkeypatch.setenv("DURABLE_TUI_URL", s.url)
    code, out, _ = await cli(capsys, "runs", "--json")
    assert code == 0 and json.loads(out) == []


async def test_every_command_says_so_when_no_server_answers(served, capsys):
    sock = bind("127.0.0.1", 0)
    dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    for argv in (["send", "test/x"], ["signal", "s"], ["runs"], ["run", "01JZZZZZZZZZZZZZZZZZZZZZZZ"],
                 ["cancel", "r"], ["functions"], ["waits"]):
        code, out, err = await cli(capsys, *argv, "--url", dead)
        assert code == EXIT_NO_SERVER and out == ""
        assert f"no durable-tui server answers at {dead}" in err and "durable-tui serve" in err


async def test_send_while_the_server_is_stopped(served, capsys):
    assert (await cli(capsys, "send", "test/x", "--url", served.url))[0] == 0
    await served.server.stop()
    code, _, err = await cli(capsys, "send", "test/x", "--url", served.url)
    assert code == EXIT_NO_SERVER and f"durable-tui send: no durable-tui server answers at {served.url}" in err


def test_every_command_explains_itself_in_its_own_help(capsys):
    for command in ("console", "attach", "headless", "serve", "send", "signal", "runs", "run", "cancel", "rerun",
                    "functions", "invoke", "events", "waits", "fire"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        description = out.split("\n\n")[1]
        assert description[0].isupper() and description.rstrip().endswith("."), f"{command}: {description!r}"
    with pytest.raises(SystemExit):
        main(["functions", "--help"])
    assert "List loaded functions and load errors, on the server at --url." in capsys.readouterr().out
