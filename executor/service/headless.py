"""``durable-tui run``: the executor on function files with a plain-text live log.

It reads events as JSON, one per line, from standard input and prints every run and step
transition as it commits — the quickest way to watch the engine work before (or without)
the full-screen console.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from executor import Change, EventValidationError, Executor
from executor.drivers.local.reload import FunctionWatcher
from executor.service.printable import printable
from executor.store import Durability
from executor.util.durations import format_ms


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S")


async def _print_changes(ex: Executor, out: TextIO) -> None:
    """Turn the change feed into one readable line per run or step transition."""
    with ex.subscribe() as sub:
        while True:
            for change in await sub.get_batch():
                line = await _describe(ex, change)
                if line:
                    print(f"{_stamp(ex.clock.now_ms())} {printable(line)}", file=out, flush=True)


async def _describe(ex: Executor, change: Change) -> str | None:
    if change.kind == "log":
        return f"log    {change.data.get('message')}"
    if change.kind == "event":
        return f"event  {change.data.get('name')} {change.id}"
    if change.kind == "run":
        run = await ex.run(change.id)
        if run is None:
            return None
        tail = ""
        if run.status == "Completed":
            tail = f" -> {json.dumps(run.output)[:200]}"
        elif run.status == "Failed" and run.error:
            tail = f" !! {run.error.get('name')}: {run.error.get('message')}"
        return f"run    {run.function_id} {run.id[-8:]} {change.status}{tail}"
    if change.kind == "step" and change.run_id:
        hashed = change.id.split("/", 1)[1]
        for step in await ex.steps(change.run_id):
            if step.hashed_id == hashed:
                extra = ""
                if step.due_at and step.status in ("Sleeping", "Waiting", "Retrying"):
                    left = max(step.due_at - ex.clock.now_ms(), 0)
                    extra = f" until {datetime.fromtimestamp(step.due_at / 1000):%Y-%m-%d %H:%M:%S} (in {format_ms(left)})"
                return f"  step {step.step_id} ({step.op}) {step.status}{extra}  [run {change.run_id[-8:]}]"
    return None


async def _read_events(ex: Executor, stream: TextIO, out: TextIO) -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, stream.readline)
        if not line:
            return
        if not line.strip():
            continue
        try:
            ids = await ex.send(json.loads(line))
            print(f"sent {', '.join(ids)}", file=out, flush=True)
        except json.JSONDecodeError as exc:
            print(f"not JSON ({exc}); type an event like {{\"name\": \"demo/hello\", \"data\": {{}}}}", file=out)
        except EventValidationError as exc:
            print(f"event refused: {printable(str(exc))}", file=out, flush=True)


async def run_headless(paths: Sequence[str], db: str, demo_events: list[dict], stdin: TextIO = sys.stdin,
                       out: TextIO = sys.stdout, durability: Durability = "normal") -> int:
    async with Executor(db=db, backoff=lambda attempt: min(2.0 ** attempt, 30.0), durability=durability) as ex:
        # Hot reload: a saved function file is live at once; reload notices print as log lines.
        async with FunctionWatcher(ex, paths) as watcher:
            for err in watcher.errors:
                print(f"load error {printable(err.describe(), multiline=True)}", file=out)
            names = ", ".join(sorted(ex.functions)) or "none"
            print(f"durable-tui: {len(ex.functions)} function(s) from {', '.join(paths)}: {names}", file=out)
            print(f"database: {db} (durability {durability}). Type an event as JSON, one per line (Ctrl-D to stop).", file=out, flush=True)
            printer = asyncio.create_task(_print_changes(ex, out))
            try:
                if demo_events:
                    await ex.send(demo_events)
                await _read_events(ex, stdin, out)
                if demo_events and not stdin.isatty():
                    await _wait_idle(ex)
            finally:
                printer.cancel()
                await asyncio.gather(printer, return_exceptions=True)
    return 0


async def _wait_idle(ex: Executor, quiet_seconds: float = 0.5) -> None:
    """With piped input, stay until nothing is due soon, so the demo's runs are seen through."""
    while any(item["due_at"] <= ex.clock.now_ms() + 5_000 for item in ex.pending()):
        await asyncio.sleep(quiet_seconds)
