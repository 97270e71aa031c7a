"""End to end: the console in a real terminal (tmux), driven by keystrokes, read off the screen.

Launches ``durable-tui`` (``python -m console.cli``, what the installed script runs) on a function
file in a temporary folder, sends an event with the keyboard and waits until the run's
completion shows on the captured screen.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

FUNCTION_FILE = '''
from executor import create_function

@create_function(id="e2e-hello", trigger="app/e2e")
async def hello(ctx):
    name = await ctx.step.run("pick-name", lambda: ctx.event.data.get("name", "tmux"))
    return f"hello {name}"
'''


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True, timeout=10).stdout


@pytest.fixture
def session(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "hello.py").write_text(FUNCTION_FILE)
    name = f"durable-tui-e2e-{uuid.uuid4().hex[:8]}"
    # COLUMNS/LINES (pytest may set them) would override the pane's real size for the app.
    command = (f"unset COLUMNS LINES; cd {tmp_path} && TEXTUAL_ANIMATIONS=none {sys.executable} -m console.cli "
               f"flows --db {tmp_path / 'state.db'} --port 0")
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", command)
    try:
        yield name
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True, timeout=10)


def alive(name: str) -> bool:
    return subprocess.run(["tmux", "has-session", "-t", name], capture_output=True, timeout=10).returncode == 0


def screen(name: str) -> str:
    return tmux("capture-pane", "-p", "-t", name)


def wait_for(name: str, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen(name)
        if text in shown:
            return shown
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen(name)}")


def test_send_an_event_with_the_keyboard_and_see_the_run_complete(session: str):
    wait_for(session, "No runs yet")
    tmux("send-keys", "-t", session, "e")
    wait_for(session, "Send an event")
    tmux("send-keys", "-t", session, "-l", "app/e2e")
    tmux("send-keys", "-t", session, "Enter")
    shown = wait_for(session, "✔ Completed")
    [row] = [line for line in shown.splitlines() if "✔ Completed" in line]
    assert "e2e-hello" in row
    assert '→ "hello tmux"' in row, "the state column says what it returned"
    tmux("send-keys", "-t", session, "Enter")
    shown = wait_for(session, "pick-name")                                    # the run view
    assert '"hello tmux"' in shown and "app/e2e" in shown
    tmux("send-keys", "-t", session, "q")
    wait_for(session, "Quit durable-tui?")          # it runs the executor: q asks first
    tmux("send-keys", "-t", session, "y")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and alive(session):
        time.sleep(0.1)
    assert not alive(session), "q quit the console (and with it the tmux session)"
