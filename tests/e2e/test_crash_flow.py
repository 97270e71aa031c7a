"""Crash safety of flow control: SIGKILL an executor while runs are debouncing and batching,
restart it on the same database, and every event still reaches exactly one run — the debounce's
run starts once with the last event, the batch's run receives every event of its batch.

The child (``crash_flow_child.py``) is killed right after its events are committed, long before any
debounce or batch could end; after the restart it sends one more event per key, which must join the
debounce and the batch the first process opened.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("crash_flow_child.py")
KEYS, PER_KEY = 5, 4


def spawn(db: Path, phase: str, out: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as sink:
        return subprocess.Popen([sys.executable, str(CHILD), str(db), phase], stdout=sink, stderr=subprocess.STDOUT)


@pytest.mark.timeout(120)
def test_sigkill_mid_debounce_and_mid_batch_loses_no_event(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    first_out, again_out = tmp_path / "first.out", tmp_path / "again.out"
    first = spawn(db, "first", first_out)
    deadline = time.monotonic() + 30
    while "sent" not in first_out.read_text():
        if first.poll() is not None or time.monotonic() > deadline:
            first.kill()
            pytest.fail(f"the child never sent its events:\n{first_out.read_text()}")
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL
    with contextlib.closing(sqlite3.connect(db)) as conn:
        pending = conn.execute("SELECT kind, COUNT(*), SUM(size) FROM pending_starts GROUP BY kind").fetchall()
    assert sorted(pending) == [("batch", KEYS, KEYS * PER_KEY), ("debounce", KEYS, KEYS * PER_KEY)], \
        "the kill was meant to land with every debounce and batch still open"

    again = spawn(db, "again", again_out)
    try:
        code = again.wait(timeout=90)
    except subprocess.TimeoutExpired:
        again.kill()
        pytest.fail(f"the restarted child never finished:\n{again_out.read_text()}")
    assert code == 0, again_out.read_text()

    with contextlib.closing(sqlite3.connect(db)) as conn:
        runs = conn.execute("SELECT function_id, status, output FROM runs").fetchall()
        left = conn.execute("SELECT COUNT(*) FROM pending_starts").fetchone()[0]
    assert left == 0
    debounced = sorted(json.loads(out)["key"] + ":" + str(json.loads(out)["n"]) for fn, _, out in runs
                       if fn == "debounced")
    assert debounced == [f"k{k}:{PER_KEY}" for k in range(KEYS)], "one run per key, with the last event"
    batches = [json.loads(out) for fn, _, out in runs if fn == "batched"]
    assert sorted(batches) == [list(range(PER_KEY + 1))] * KEYS, "one batch per key holding every event"
    assert {status for _, status, _ in runs} == {"Completed"}
