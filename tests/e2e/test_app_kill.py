"""Crash safety of ``durable-tui app``: SIGKILL the app process while our server has runs in flight
through it, start it again on the same port, lose nothing.

The server (our own, in this process, on a real clock) syncs the app, which runs a function file
whose steps append ``run step`` lines to a side-effect log file, with a sleep in the middle so some
runs are parked when the app dies. Its steps run inline and are checkpointed as they finish. After
the kill the server's requests fail and are retried; once the app is back every run completes with
the right output, every step the server had committed ran exactly once, and only a step whose
request was in flight at the kill may have run a second time.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from executor import Executor, RunStatus
from executor.service.api import create_app
from executor.service.server import ApiServer
from executor.service.sockets import bind

RUNS = 20
STEPS = 5
SEED = 20261129
pytestmark = pytest.mark.timeout(90)
START_TIMEOUT_S = 20
FINISH_TIMEOUT_S = 45

FUNCTION_FILE = f'''
import asyncio, os
from executor import create_function

LOG = os.environ["KILL_LOG"]


@create_function(id="work", trigger="kill/work", retries=20)
async def work(ctx):
    i = ctx.event.data["i"]

    def step(k):
        async def handler():
            with open(LOG, "a") as log:
                log.write(f"{{ctx.run_id}} s{{k}}\\n")
            await asyncio.sleep(0.005 + 0.02 * (i % 5))     # runs drift apart
            return i * 10 + k
        return handler

    total = 0
    for k in range({STEPS}):
        total += await ctx.step.run(f"s{{k}}", step(k))
        if k == 1:
            await ctx.step.sleep("pause", "500ms")
    return {{"i": i, "total": total}}
'''


def expected(i: int) -> dict[str, int]:
    return {"i": i, "total": sum(i * 10 + k for k in range(STEPS))}


class App:
    """``durable-tui app`` as a child process, its banner and log in ``out``."""

    def __init__(self, functions: Path, server: str, log: Path, out: Path) -> None:
        self.functions, self.server, self.log, self.out = functions, server, log, out
        self.proc: asyncio.subprocess.Process | None = None

    def _synced(self) -> int:
        return len(re.findall(r"synced with", self.out.read_text())) if self.out.exists() else 0

    async def start(self, port: int) -> None:
        seen = self._synced()
        with self.out.open("ab") as sink:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "console.cli", "app", str(self.functions), "--app-id", "killed",
                "--port", str(port), "--server", self.server, stdout=sink, stderr=sink,
                env={**os.environ, "KILL_LOG": str(self.log)})
        async with asyncio.timeout(START_TIMEOUT_S):
            while self._synced() == seen:
                if self.proc.returncode is not None:
                    pytest.fail(f"the app exited ({self.proc.returncode}):\n{self.out.read_text()}")
                await asyncio.sleep(0.02)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def ran(log: Path) -> collections.Counter[tuple[str, str]]:
    lines = log.read_text().splitlines() if log.exists() else []
    return collections.Counter(tuple(line.split()) for line in lines)       # type: ignore[misc]


async def test_sigkill_of_the_app_mid_run_loses_nothing(tmp_path: Path) -> None:
    functions, log = tmp_path / "functions", tmp_path / "side-effects.log"
    functions.mkdir()
    (functions / "work.py").write_text(FUNCTION_FILE)
    with bind("127.0.0.1", 0) as probe:             # a free port for the app, the same after the restart
        port = probe.getsockname()[1]
    ex = Executor(db=str(tmp_path / "state.db"), backoff=lambda attempt: 0.25)
    await ex.start()
    server = await ApiServer(create_app(ex), bind("127.0.0.1", 0)).start()
    app = App(functions, server.url, log, tmp_path / "app.out")
    try:
        await app.start(port)
        [info] = [a for a in ex.apps.list() if a.name == "killed"]
        assert info.error is None
        async with httpx.AsyncClient(timeout=10) as http:
            sent = await http.post(f"{server.url}/e/key", json=[{"name": "kill/work", "data": {"i": i}}
                                                               for i in range(RUNS)])
        assert sent.status_code == 200, sent.text
        run_ids = {}
        async with asyncio.timeout(START_TIMEOUT_S):
            while len(run_ids) < RUNS:
                run_ids = {r.id: r for r in await ex.runs(function_id="killed-work")}
                await asyncio.sleep(0.01)

        # Die with requests in flight, somewhere in the middle of the work.
        target = random.Random(SEED).randint(RUNS * STEPS // 3, RUNS * STEPS * 2 // 3)
        async with asyncio.timeout(START_TIMEOUT_S):
            while sum(ran(log).values()) < target:
                await asyncio.sleep(0.002)
        await app.kill()
        before_kill = ran(log)
        committed = {(s.run_id, s.step_id) for run_id in run_ids for s in await ex.steps(run_id)
                     if s.status == "Completed" and s.step_id.startswith("s")}
        assert committed <= set(before_kill), "a step was committed without its body having run"
        assert len(committed) < RUNS * STEPS, "the kill landed after all work was done; nothing was tested"

        await app.start(port)
        async with asyncio.timeout(FINISH_TIMEOUT_S):
            finished = [await ex.wait_for_run(run_id, timeout=FINISH_TIMEOUT_S) for run_id in run_ids]
        events = {e.id: e for e in await ex.events(name="kill/work")}
        for run in finished:
            assert run.status == RunStatus.COMPLETED, (run.id, run.error)
            assert run.output == expected(events[run.event_id].data["i"])
        after = ran(log)
        assert set(after) == {(run_id, f"s{k}") for run_id in run_ids for k in range(STEPS)}
        for key, count in after.items():
            if key in committed:
                assert count == 1, f"step {key} was committed before the kill and ran again"
            else:
                assert count <= 2, f"step {key} ran {count} times"
    finally:
        await app.stop()
        await server.stop()
        await ex.close()
