"""Crash safety as an Inngest dev server: SIGKILL ``durable-tui serve`` while a real inngest-py app has
runs in flight, restart it on the same database and port, lose nothing.

The app (served in this process) runs multi-step functions whose step bodies append
``(run id, step id)`` to a side-effect log, with a sleep in the middle so some runs are parked
when the server dies. After the kill the database says which steps were committed; after the
restart (the app is known from the database before anything syncs it) every run completes with
the right output, every step committed before the kill ran exactly once, and only a step whose
request was in flight at the kill may have run a second time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import random
import re
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import httpx
import inngest
import pytest

from tests.service.sdkapps import SDKApp

RUNS = 30
STEPS = 5
SEED = 20261129
#: How long the whole test may take; a healthy one takes a few seconds.
pytestmark = pytest.mark.timeout(90)
START_TIMEOUT_S = 20
FINISH_TIMEOUT_S = 45


def expected(i: int) -> dict[str, int]:
    return {"i": i, "total": sum(i * 10 + k for k in range(STEPS))}


class Serve:
    """``durable-tui serve`` as a child process, its banner and log in ``out``."""

    def __init__(self, db: Path, functions_dir: Path, out: Path) -> None:
        self.db, self.functions_dir, self.out = db, functions_dir, out
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    def _banners(self) -> list[str]:
        return re.findall(r"listening on (http://127\.0\.0\.1:\d+)", self.out.read_text()) if self.out.exists() else []

    async def start(self, port: int = 0) -> "Serve":
        """Start serving (on ``port``, or a free one) and return once it listens."""
        seen = len(self._banners())
        with self.out.open("ab") as sink:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "console.cli", "serve", str(self.functions_dir), "--db", str(self.db),
                "--port", str(port), stdout=sink, stderr=sink)
        async with asyncio.timeout(START_TIMEOUT_S):
            while len(found := self._banners()) == seen:
                if self.proc.returncode is not None:
                    pytest.fail(f"serve exited ({self.proc.returncode}):\n{self.out.read_text()}")
                await asyncio.sleep(0.02)
        self.url = found[-1]
        return self

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def committed_steps(db: Path) -> tuple[set[tuple[str, str]], int]:
    """(run id, step id) of every ``step.run`` whose result the database holds, and how many runs
    were asleep."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        done = set(conn.execute("SELECT run_id, step_id FROM steps WHERE status = 'Completed' AND op = 'run'"))
        [(asleep,)] = conn.execute("SELECT COUNT(DISTINCT run_id) FROM waits WHERE kind = 'sleep'")
    return done, asleep


def work_function(client: inngest.Inngest, log: list[tuple[str, str]]) -> inngest.Function:
    @client.create_function(fn_id="work", trigger=inngest.TriggerEvent(event="kill/work"), retries=3)
    async def work(ctx: inngest.Context) -> dict[str, int]:
        i = ctx.event.data["i"]

        def step(k: int):
            async def handler() -> int:
                log.append((ctx.run_id, f"s{k}"))
                await asyncio.sleep(0.005 + 0.02 * (i % 5))     # runs drift apart
                return i * 10 + k
            return handler

        total = 0
        for k in range(STEPS):
            total += await ctx.step.run(f"s{k}", step(k))
            if k == 1:
                await ctx.step.sleep("pause", datetime.timedelta(milliseconds=500))
        return {"i": i, "total": total}

    return work


async def test_sigkill_of_serve_with_sdk_runs_in_flight_loses_nothing(tmp_path: Path) -> None:
    db, functions_dir = tmp_path / "state.db", tmp_path / "functions"
    functions_dir.mkdir()
    log: list[tuple[str, str]] = []
    server = await Serve(db, functions_dir, tmp_path / "serve.out").start()
    client = inngest.Inngest(app_id="killed", is_production=False, api_base_url=server.url,
                             event_api_base_url=server.url)
    app = await SDKApp(client, [work_function(client, log)]).start()
    http = httpx.AsyncClient(timeout=10)
    try:
        assert (await http.put(app.url)).json()["ok"] is True
        sent = await http.post(f"{server.url}/e/key", json=[{"name": "kill/work", "id": f"work-{i}", "data": {"i": i}}
                                                           for i in range(RUNS)])
        assert sent.status_code == 200, sent.text

        # Phase 1: die with requests in flight, somewhere in the middle of the work.
        target = random.Random(SEED).randint(RUNS * STEPS // 2, RUNS * STEPS * 3 // 4)
        async with asyncio.timeout(START_TIMEOUT_S):
            while len(log) < target:
                await asyncio.sleep(0.002)
        await server.kill()
        committed, asleep = committed_steps(db)
        before_kill = collections.Counter(log)
        in_flight = set(before_kill) - committed
        assert committed <= set(before_kill), "a step was committed without its body having run"
        assert len(committed) < RUNS * STEPS, "the kill landed after all work was done; nothing was tested"

        # Phase 2: the same database and port; the app is listed before any PUT reaches it.
        await server.start(server.port)
        apps = (await http.get(f"{server.url}/v1/apps")).json()["data"]
        assert [(a["name"], a["functions"]) for a in apps] == [("killed", ["killed-work"])]
        outputs = await finished_outputs(http, server.url)
    finally:
        await http.aclose()
        await app.stop()
        await server.stop()

    assert outputs == {f"work-{i}": expected(i) for i in range(RUNS)}, "a run was lost, duplicated or wrong"
    executed = collections.Counter(log)
    run_ids = {run_id for run_id, _ in executed}
    assert set(executed) == {(r, f"s{k}") for r in run_ids for k in range(STEPS)} and len(run_ids) == RUNS
    again = {pair: n for pair, n in executed.items() if pair in committed and n != 1}
    assert not again, f"steps committed before the kill ran again: {again}"
    repeated = {pair for pair, n in executed.items() if n > 1}
    assert repeated <= in_flight and all(executed[p] == 2 for p in repeated), repeated - in_flight
    print(f"killed at {target} step executions: {len(committed)} steps committed, {len(in_flight)} in flight, "
          f"{asleep} runs asleep; {len(repeated)} steps repeated after the restart")


async def finished_outputs(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """Event id -> its run's output, once every run has ended (fails on a missing, extra or failed run)."""
    async with asyncio.timeout(FINISH_TIMEOUT_S):
        while True:
            runs = (await http.get(f"{url}/v1/runs", params={"function_id": "killed-work", "limit": 1000})).json()
            if all(r["status"] in ("Completed", "Failed", "Cancelled") for r in runs["data"]):
                break
            await asyncio.sleep(0.2)
    outputs: dict[str, Any] = {}
    for i in range(RUNS):
        [run] = (await http.get(f"{url}/v1/events/work-{i}/runs")).json()["data"]
        assert run["status"] == "Completed", run
        outputs[f"work-{i}"] = run["output"]
    assert len(runs["data"]) == RUNS, "a run too many"
    return outputs
