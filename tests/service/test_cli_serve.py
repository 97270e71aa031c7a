"""``durable-tui serve`` (and the default ``run``) as real processes: banner, refusals, one owner
per database, a clean stop on SIGTERM or Ctrl-C, state kept across restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from console.cli import _ACTIONS, _with_default_command, build_parser
from executor.service.client import Client
from executor.service.ownership import current_owner
from executor.service.server import is_loopback

pytestmark = pytest.mark.timeout(60)

HELLO = '''
from executor import create_function

@create_function(id="hello", trigger="app/hello")
async def hello(ctx):
    return await ctx.step.run("say", lambda: "hi " + ctx.event.data.get("who", "you"))
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with ./sample_functions (the default PATH): one good file and one broken one."""
    functions = tmp_path / "sample_functions"
    functions.mkdir()
    (functions / "hello.py").write_text(HELLO)
    (functions / "broken.py").write_text("def oops(:\n")
    return tmp_path


class Serve:
    """A ``durable-tui serve`` child process and the lines it printed until it listened."""

    def __init__(self, proc: asyncio.subprocess.Process, banner: list[str], url: str | None) -> None:
        self.proc, self.banner, self.url = proc, banner, url

    @classmethod
    async def start(cls, cwd: Path, *args: str, env: dict[str, str] | None = None) -> "Serve":
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "console.cli", "serve", "--port", "0", *args, cwd=cwd,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
            env={**os.environ, **(env or {})})
        banner: list[str] = []
        async with asyncio.timeout(20):
            while line := (await proc.stdout.readline()).decode():
                banner.append(line.rstrip("\n"))
                if line.startswith("listening on "):
                    return cls(proc, banner, line.split()[2])
        await proc.wait()
        return cls(proc, banner, None)

    async def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        async with asyncio.timeout(20):
            rest = (await self.proc.stdout.read()).decode()
            return await self.proc.wait(), rest


async def test_serve_end_to_end_with_one_owner_and_a_clean_stop(project):
    server = await Serve.start(project, "--db", "state.db", env={"DURABLE_TUI_KEY": "k"})
    try:
        assert server.url is not None, server.banner
        assert any(line.startswith("durable-tui serve: 1 function(s) from sample_functions: hello")
                   for line in server.banner)
        assert any(line.startswith("load error ") and "broken.py:1" in line for line in server.banner)
        owner = current_owner(str(project / "state.db"))
        assert owner["url"] == server.url and owner["pid"] == server.proc.pid
        async with httpx.AsyncClient(base_url=server.url) as anonymous:
            assert (await anonymous.get("/v1/runs")).status_code == 401
        async with Client(server.url, "k") as client:
            [event_id] = await client.send({"name": "app/hello", "data": {"who": "ann"}})
            run_id = await _completed_run(client, event_id)
            listing = await client.functions()
            assert [f["id"] for f in listing.functions] == ["hello"] and "broken.py" in listing.load_errors[0]["file"]

        second = await Serve.start(project, "--db", "state.db", env={"DURABLE_TUI_KEY": "k"})
        code, _ = await second.stop()
        out = "\n".join(second.banner)
        assert second.url is None and code == 2 and f"is in use by durable-tui serve (pid {server.proc.pid}) at {server.url}" in out
        headless = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "console.cli", "headless", "--db", "state.db", cwd=project,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out = (await headless.communicate())[0].decode()
        assert headless.returncode == 2 and f"use the command line against {server.url}" in out
    finally:
        code, rest = await server.stop(signal.SIGTERM)
    assert code == 0 and "durable-tui serve: stopped" in rest
    assert current_owner(str(project / "state.db")) is None

    restarted = await Serve.start(project, "--db", "state.db", env={"DURABLE_TUI_KEY": "k"})
    try:
        async with Client(restarted.url, "k") as client:
            assert (await client.run(run_id))["output"] == "hi ann"
    finally:
        await restarted.stop(signal.SIGINT)


async def _completed_run(client: Client, event_id: str) -> str:
    async with asyncio.timeout(10):
        while True:
            runs = await client.event_runs(event_id)
            if runs and runs[0]["status"] == "Completed":
                return runs[0]["id"]
            await asyncio.sleep(0.02)


async def test_serve_in_memory_claims_nothing_and_stops_on_ctrl_c_with_a_stream_open(project):
    server = await Serve.start(project, "sample_functions/hello.py", "--db", ":memory:")
    assert server.url and any(line.startswith("durable-tui serve: 1 function(s) from sample_functions/hello.py")
                                  for line in server.banner)
    async with Client(server.url) as client, client.stream() as changes:
        code, rest = await server.stop(signal.SIGINT)
        assert [c async for c in changes] == []   # an attached console's stream ends; it does not hold the stop
    assert code == 0 and "stopped" in rest
    assert not (project / ".durable-tui").exists()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
async def test_serve_refuses_a_reachable_address_without_a_key(project, host):
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_TUI_KEY"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console.cli", "serve", "--host", host, "--db", ":memory:", cwd=project, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 2 and out == b""
    assert f"refusing to listen on {host} without a key" in err.decode() and "--key" in err.decode()


async def test_serve_says_when_the_port_is_taken(project):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "console.cli", "serve", "--port", str(port), "--db", "state.db", cwd=project,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
    assert proc.returncode == 2 and f"cannot listen on 127.0.0.1:{port}: Address already in use" in err.decode()
    assert current_owner(str(project / "state.db")) is None


async def test_headless_runner_loads_the_paths(project):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console.cli", "headless", "sample_functions", "--db", ":memory:", cwd=project,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out = (await proc.communicate())[0].decode()
    assert proc.returncode == 0 and "1 function(s) from sample_functions: hello" in out


async def test_headless_takes_a_durability_and_refuses_an_unknown_one(project):
    async def headless(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "console.cli", "headless", "--db", "state.db", *args, cwd=project,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out = (await proc.communicate())[0].decode()
        return proc.returncode, out

    code, out = await headless("--durability", "full")
    assert code == 0 and "database: state.db (durability full)" in out
    code, out = await headless("--durability", "fsync")
    assert code == 2 and "argument --durability: invalid choice: 'fsync' (choose from 'normal', 'full')" in out


@pytest.mark.parametrize("command", ["console", "serve", "headless"])
def test_every_hosting_command_takes_a_durability(command):
    assert build_parser().parse_args([command]).durability == "normal"
    assert build_parser().parse_args([command, "--durability", "full"]).durability == "full"


async def test_no_paths_and_no_sample_functions_folder(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console.cli", "headless", cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 2 and "no function files given and no ./sample_functions folder here" in err.decode()


@pytest.mark.parametrize("argv, command", [
    ([], "console"),
    (["sample_functions", "--demo"], "console"),
    (["--db", "x.db"], "console"),
    (["attach", "http://127.0.0.1:8288"], "attach"),
    (["headless", "sample_functions"], "headless"),
    (["run", "01JABCDEFGHJKMNPQRSTVWXYZ0"], "run"),
    (["runs"], "runs"),
])
def test_bare_paths_mean_the_console(argv, command):
    commands = ("console", "attach", "headless", "serve", *_ACTIONS)
    assert build_parser().parse_args(_with_default_command(argv, commands)).command == command


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.5.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.1", False), ("my-laptop", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


async def test_serve_with_only_sdk_apps_syncs_them_at_start_and_runs_their_functions(tmp_path):
    """`durable-tui serve -u URL` with no function files: a dev server for an app built with the
    Inngest SDK, as Inngest's own dev server is started."""
    import fastapi
    import inngest
    import inngest.fast_api

    from executor.service.server import ApiServer, bind

    sock = bind("127.0.0.1", 0)
    app_url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/inngest"
    serve = await Serve.start(tmp_path, "--db", ":memory:", "-u", app_url, "--no-poll")
    client = inngest.Inngest(app_id="sdk-only", is_production=False, api_base_url=serve.url,
                             event_api_base_url=serve.url)

    @client.create_function(fn_id="greet", trigger=inngest.TriggerEvent(event="app/greet"))
    async def greet(ctx: inngest.Context) -> str:
        return await ctx.step.run("shout", lambda: ctx.event.data["who"].upper())

    web = fastapi.FastAPI()
    inngest.fast_api.serve(web, client, [greet])
    app = await ApiServer(web, sock).start()
    try:
        async with Client(serve.url) as api:
            async with asyncio.timeout(20):   # the first sync happens at start; the app may not be up yet
                while not any(a["name"] == "sdk-only" for a in await api.apps()):
                    await asyncio.sleep(0.2)
                    await api.add_app(app_url)
            [synced] = [a for a in await api.apps() if a["name"] == "sdk-only"]
            assert synced["functions"] == ["sdk-only-greet"] and synced["error"] is None
            [event_id] = await api.send({"name": "app/greet", "data": {"who": "ada"}})
            async with asyncio.timeout(10):
                while not (runs := await api.event_runs(event_id)) or runs[0]["status"] != "Completed":
                    await asyncio.sleep(0.1)
            assert runs[0]["output"] == "ADA"
    finally:
        await app.stop()
        await serve.stop()
