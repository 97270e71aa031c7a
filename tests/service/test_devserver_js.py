"""The TypeScript SDK (``inngest`` 4.24.0 on node) against our dev server: the app in ``js/app.mjs`` syncs,
runs its steps inline and checkpoints each one (``POST /v1/checkpoint/{run}/async``), sleeps, waits
for an event (``match``) and for a signal (our ``POST /v1/signals``), invokes, runs steps in
parallel with ``Promise.all``, sends events, retries after ``RetryAfterError`` and stops at
``NonRetriableError``.

The package is installed once into ``~/.cache/durable-tui/`` (``npm install`` needs the registry the
first time, ~30-60 s) and never into the repository. Without node ≥ 20 and npm, or when the
install fails, these tests skip and say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from executor.service.sockets import bind, url_of
from tests.helpers import eventually
from tests.service.sdkapps import SERVE_PATH, DevServer

INNGEST_JS = "4.24.0"
APP = Path(__file__).with_name("js") / "app.mjs"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "durable-tui" / f"inngest-js-{INNGEST_JS}"
NPM_TIMEOUT_S = 240
#: The first test also waits for the install (once per cache); the tests themselves take seconds.
pytestmark = pytest.mark.timeout(NPM_TIMEOUT_S + 60)


def _install() -> Path:
    """``node_modules`` with inngest-js, installed into the cache once (atomically, one installer at a time)."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not on PATH: the inngest-js tests need node >= 20")
    major = subprocess.run(["node", "-p", "process.versions.node.split('.')[0]"], capture_output=True, text=True)
    if major.returncode != 0 or int(major.stdout.strip() or 0) < 20:
        pytest.skip(f"inngest-js {INNGEST_JS} needs node >= 20 (found {major.stdout.strip() or 'none'})")
    ready = CACHE / "node_modules" / "inngest" / "package.json"
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with open(CACHE.parent / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return CACHE / "node_modules"
        staging = Path(tempfile.mkdtemp(dir=CACHE.parent, prefix=".staging-"))
        (staging / "package.json").write_text(json.dumps({"private": True, "dependencies": {"inngest": INNGEST_JS}}))
        try:
            done = subprocess.run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "--fetch-retries=1",
                                   "--loglevel=error"],
                                  cwd=staging, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            done = None
        if done is None or done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            why = "timed out" if done is None else done.stderr.strip()[-500:]
            pytest.skip(f"npm install inngest@{INNGEST_JS} failed (is the npm registry reachable?): {why}")
        shutil.rmtree(CACHE, ignore_errors=True)
        os.replace(staging, CACHE)
    return CACHE / "node_modules"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    return _install()


@dataclass
class JsApp:
    url: str
    origin: str
    http: httpx.AsyncClient

    async def stats(self) -> dict[str, Any]:
        return (await self.http.get(f"{self.origin}/stats")).json()


@pytest.fixture
async def js_app(devserver: DevServer, node_modules: Path, tmp_path: Path) -> AsyncIterator[JsApp]:
    """``js/app.mjs`` on node, on a free port, synced to ``devserver``."""
    (tmp_path / "node_modules").symlink_to(node_modules, target_is_directory=True)
    shutil.copy(APP, tmp_path / "app.mjs")
    sock = bind("127.0.0.1", 0)
    origin = url_of(sock)
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "INNGEST_DEV": "1", "INNGEST_BASE_URL": devserver.url, "APP_PORT": str(port)}
    for name in ("INNGEST_SIGNING_KEY", "INNGEST_EVENT_KEY", "INNGEST_API_BASE_URL", "INNGEST_EVENT_API_BASE_URL"):
        env.pop(name, None)
    log = tmp_path / "app.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec("node", "app.mjs", cwd=tmp_path, env=env, stdout=sink,
                                                    stderr=subprocess.STDOUT)
    app = JsApp(origin + SERVE_PATH, origin, devserver.http)
    try:
        async with asyncio.timeout(20):
            while True:
                if proc.returncode is not None:
                    pytest.fail(f"the node app exited ({proc.returncode}):\n{log.read_text()}")
                with contextlib.suppress(httpx.HTTPError):
                    await app.stats()
                    break
                await asyncio.sleep(0.05)
        reply = await devserver.http.put(app.url)
        assert reply.status_code == 200, reply.text
        yield app
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await proc.wait()


async def run_of(dev: DevServer, name: str, data: dict[str, Any] | None = None) -> str:
    reply = await dev.http.post(f"{dev.url}/e/key", json={"name": f"js/{name}", "data": data or {}})
    [event_id] = reply.json()["ids"]
    [run] = await dev.ex.runs(event_id=event_id)
    return run.id


async def test_the_js_app_syncs_and_checkpoints_steps_it_runs_inline(devserver, js_app):
    [app] = (await devserver.http.get(f"{devserver.url}/v1/apps")).json()["data"]
    assert (app["name"], app["sdk"], app["framework"], app["error"]) == ("js-app", "js:v4.24.0", "nodejs", None)
    assert app["function_count"] == 11

    run = await devserver.finish(await run_of(devserver, "steps", {"n": 1}))
    assert (run.status, run.output) == ("Completed", {"a": {"n": 1, "nil": None}, "b": 2})
    assert await devserver.step_memos(run.id) == {"a": {"data": {"n": 1, "nil": None}}, "b": {"data": 2}}
    stats = await js_app.stats()
    assert stats["requests"]["js-app-steps"] == 1, "both steps ran in one request"
    assert {k: stats["effects"][k] for k in ("steps:body", "steps:a", "steps:b")} == dict.fromkeys(
        ("steps:body", "steps:a", "steps:b"), 1)
    assert devserver.calls.count(("POST", f"/v1/checkpoint/{run.id}/async")) == 2, "one checkpoint per step"


async def test_the_js_app_sleeps_and_waits_for_an_event_and_a_signal(devserver, js_app):
    sleeper = await run_of(devserver, "sleeper")
    waiter = await run_of(devserver, "waiter", {"id": "order-1"})
    signaled = await run_of(devserver, "signaled", {"signal": f"approve-{waiter}"})
    for run_id in (waiter, signaled):
        await eventually(lambda run_id=run_id: devserver.ex.waits(run_id))
    await devserver.http.post(f"{devserver.url}/e/key", json=[{"name": "js/approved", "data": {"id": "order-2"}}])
    reply = await devserver.http.post(f"{devserver.url}/e/key", json={"name": "js/approved", "data": {"id": "order-1"}})
    [matching] = reply.json()["ids"]
    sent = await devserver.http.post(f"{devserver.url}/v1/signals",
                                     json={"signal": f"approve-{waiter}", "data": {"by": "ana"}})
    assert sent.json() == {"data": {"run_id": signaled}}

    waited = await devserver.finish(waiter)
    assert (waited.status, waited.output) == ("Completed", {"id": matching, "data": {"id": "order-1"}})
    signal_run = await devserver.finish(signaled)
    assert (signal_run.status, signal_run.output) == ("Completed", {"signal": f"approve-{waiter}",
                                                                   "data": {"by": "ana"}})
    slept = await devserver.finish(sleeper)
    assert slept.status == "Completed" and 1000 <= slept.output["slept_ms"] < 5000


async def test_the_js_app_invokes_runs_steps_in_parallel_and_sends_events(devserver, js_app):
    ok, failing, parallel, sender = [await run_of(devserver, name, data) for name, data in (
        ("invoker", {}), ("invoker", {"fail": True}), ("parallel", {}), ("sender", {}))]
    assert (await devserver.finish(ok)).output == {"doubled": 42}
    assert (await devserver.finish(failing)).output == {"caught": "NonRetriableError", "message": "child refused"}

    par = await devserver.finish(parallel)
    assert (par.status, par.output) == ("Completed", {"parts": [1, 2, 3], "sum": 6})
    stats = await js_app.stats()
    assert all(stats["effects"][f"parallel:{s}"] == 1 for s in ("p1", "p2", "p3", "sum"))
    # plan p1-p3 | p1 | p2 | p3 | "sum" inline, checkpointed, and the run's end
    assert stats["requests"]["js-app-parallel"] == 5

    sent = await devserver.finish(sender)
    assert sent.status == "Completed" and len(sent.output["ids"]) == 2
    outputs = []
    for event_id in sent.output["ids"]:
        [child] = await devserver.ex.runs(event_id=event_id)
        outputs.append((await devserver.finish(child.id)).output)
    assert outputs == [{"k": 1}, {"k": 2}]


async def test_the_js_app_retries_after_retry_after_and_stops_at_non_retriable(devserver, js_app):
    retried = await devserver.finish(await run_of(devserver, "retried"))
    assert (retried.status, retried.output) == ("Completed", "second time lucky")
    refused = await devserver.finish(await run_of(devserver, "refused"))
    assert refused.status == "Failed"
    assert (refused.error["name"], refused.error["message"]) == ("NonRetriableError", "never")
    stats = await js_app.stats()
    first, second = stats["times"]["retried:flaky"]
    assert 900 <= second - first < 3000, f"RetryAfterError('1s') retried after {second - first} ms"
    assert stats["effects"]["refused:refuse"] == 1
