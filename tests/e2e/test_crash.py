"""Crash safety: SIGKILL an executor mid-work, restart it on the same database, lose nothing.

Acceptance: a child process runs 200 runs x 5 steps whose handlers append a line to a
side-effect log; it is SIGKILLed at a random moment, restarted on the same database, and every
run completes. Any step whose result was committed before the kill is not executed again; only
steps in flight at the kill may repeat. No run and no event is lost.

The child (``crash_child.py``) fsyncs each log line before its handler returns, so after the
kill the log holds every handler execution that started writing, and the database holds every
committed step. Comparing the two after the restart tells exactly which executions repeated.
The kill point comes from a seeded RNG: it changes how much work is redone, never the verdict.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("crash_child.py")
RUNS = 200
STEPS = 5
#: Each mode gets its own seed so the two kills land at different points.
SEEDS = {("checkpointing", "normal"): 20240501, ("replay", "normal"): 20240502,
         ("checkpointing", "full"): 20240503}
#: Bounds on the phases; a healthy run of either mode takes a few seconds each.
KILL_DEADLINE_S = 20
RESUME_TIMEOUT_S = 60
POLL_S = 0.002


def expected_output(i: int) -> dict[str, int]:
    """What the child's run for event ``evt-{i}`` returns: the sum of its steps' outputs
    ``i*10 + k``. A memo lost or garbled by the kill would change it."""
    return {"i": i, "total": sum(i * 10 + k for k in range(STEPS))}


def spawn(db: Path, log: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    """Start the child with this interpreter; its output goes to a file the failure message shows."""
    with out.open("wb") as sink:
        return subprocess.Popen([sys.executable, str(CHILD), str(db), str(log), *extra],
                                stdout=sink, stderr=subprocess.STDOUT)


def count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def log_pairs(path: Path) -> collections.Counter[tuple[str, str]]:
    """How many times each (run_id, step_id) handler ran, according to the side-effect log."""
    with path.open() as f:
        return collections.Counter((run_id, step_id) for run_id, step_id in map(str.split, f))


def committed_steps(db: Path) -> set[tuple[str, str]]:
    """(run_id, step_id) of every step whose result the database holds."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return set(conn.execute("SELECT run_id, step_id FROM steps WHERE status = 'Completed'"))


def kill_at(proc: subprocess.Popen[bytes], log: Path, target_lines: int, out: Path) -> None:
    """SIGKILL ``proc`` as soon as the side-effect log reaches ``target_lines`` lines."""
    deadline = time.monotonic() + KILL_DEADLINE_S
    while count_lines(log) < target_lines:
        if proc.poll() is not None:
            pytest.fail(f"child exited ({proc.returncode}) before the kill point:\n{out.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"log never reached {target_lines} lines in {KILL_DEADLINE_S}s:\n{out.read_text()}")
        time.sleep(POLL_S)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode, durability", list(SEEDS))
def test_sigkill_then_restart_loses_nothing_and_repeats_only_inflight_steps(tmp_path: Path, mode: str,
                                                                            durability: str) -> None:
    """Both modes at the default durability, and checkpointing at ``full`` (fsync per commit)."""
    db, log = tmp_path / "state.db", tmp_path / "side-effects.log"
    mode_flag = ["--replay"] if mode == "replay" else []
    mode_flag += ["--durability", durability]
    target = random.Random(SEEDS[mode, durability]).randint(100, 800)

    # Phase 1: send the events, start working, die mid-flight.
    first_out = tmp_path / "first.out"
    kill_at(spawn(db, log, first_out, "--send", str(RUNS), *mode_flag), log, target, first_out)
    committed = committed_steps(db)
    before_kill = log_pairs(log)
    # Logged but not committed: handlers that were running (or had just returned) at the kill.
    in_flight = set(before_kill) - committed
    assert committed <= set(before_kill), "a step was committed without its handler having run"
    assert len(committed) < RUNS * STEPS, "the kill landed after all work was done; nothing was tested"

    # Phase 2: restart on the same database without sending anything; it must resume everything.
    second_out = tmp_path / "second.out"
    resumed = spawn(db, log, second_out, *mode_flag)
    try:
        code = resumed.wait(timeout=RESUME_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        resumed.kill()
        pytest.fail(f"resumed child still running after {RESUME_TIMEOUT_S}s:\n{second_out.read_text()}")
    assert code == 0, f"resumed child exited {code}:\n{second_out.read_text()}"

    with contextlib.closing(sqlite3.connect(db)) as conn:
        # Only the triggers: the engine also records lifecycle events (inngest/function.*).
        stored = [eid for (eid,) in conn.execute("SELECT id FROM events WHERE name = 'crash/test'")]
        runs = conn.execute("SELECT r.id, e.id, r.status, r.output FROM runs r "
                            "JOIN events e ON e.internal_id = r.event_id").fetchall()
    events = set(stored)
    assert sorted(stored) == sorted(f"evt-{i}" for i in range(RUNS)), "an event was lost or duplicated"
    assert sorted(event_id for _, event_id, _, _ in runs) == sorted(events), "not exactly one run per event"
    assert {status for _, _, status, _ in runs} == {"Completed"}
    event_index = {f"evt-{i}": i for i in range(RUNS)}
    for run_id, event_id, _, output in runs:
        assert json.loads(output) == expected_output(event_index[event_id]), run_id

    executed = log_pairs(log)
    every_step = {(run_id, f"step-{k}") for run_id, _, _, _ in runs for k in range(STEPS)}
    assert set(executed) == every_step, "a step never ran, or a step ran for an unknown run"
    rerun_committed = {pair: n for pair, n in executed.items() if pair in committed and n != 1}
    assert not rerun_committed, f"steps committed before the kill ran again: {rerun_committed}"
    repeated = {pair for pair, n in executed.items() if n > 1}
    assert repeated <= in_flight, f"steps repeated that were not in flight at the kill: {repeated - in_flight}"
    assert all(executed[pair] == 2 for pair in repeated), "an in-flight step ran more than twice"
    # Each run executes its steps one after another, so at most one of its steps was in flight.
    assert len({run_id for run_id, _ in in_flight}) == len(in_flight)
    print(f"{mode} ({durability}): killed at {target} log lines; {len(committed)} steps committed, "
          f"{len(in_flight)} in flight, {len(repeated)} repeated after restart")

