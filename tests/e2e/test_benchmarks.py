"""Every benchmark script still runs (on tiny sizes; nothing here is timed or compared): a script
that broke when the code moved would otherwise go unnoticed until someone wants its numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SMOKE = {
    "bench_engine.py": ["--quick", "--only", "c"],
    "bench_wait_routing.py": ["--waits", "500", "--routings", "5"],
    "bench_reload.py": ["--saves", "2", "--files", "1", "--debounce", "20", "--patterns", "write"],
    "bench_console.py": ["--runs", "100", "--rate", "5", "--seconds", "0.5"],
    "bench_flow.py": ["--runs", "60", "--keys", "5", "--gate-depths", "10", "20", "--cycles", "200"],
    "bench_http_driver.py": ["--steps", "3", "--repeat", "1"],
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("script", sorted(SMOKE))
def test_benchmark_script_runs(script: str) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *SMOKE[script]], cwd=ROOT,
                         capture_output=True, text=True, timeout=170)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert lines, f"{script} printed no JSON results:\n{out.stdout[-2000:]}"
