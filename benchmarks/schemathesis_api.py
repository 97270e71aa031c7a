"""Fuzz the HTTP API from its own OpenAPI document with schemathesis (issue #14's acceptance).

Schemathesis has its own virtual environment (``.venv-schemathesis``, created on first use) so
its dependencies never meet the project's. The script starts ``durable-tui serve`` on the bundled
sample functions, once without a key and once with one, runs every schemathesis check against
``/openapi.json`` and exits non-zero if any run found a server error or a conformance failure::

    python benchmarks/schemathesis_api.py                  # 100 cases per operation and mode
    python benchmarks/schemathesis_api.py --max-examples 30

``GET /v1/stream`` is left out: a Server-Sent Events stream never ends, so no request to it does.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-schemathesis"
SCHEMATHESIS = "schemathesis==4.32.5"
#: Per-operation settings: which refusals of schema-valid bodies are the protocol's (see the file).
CONFIG = Path(__file__).with_name("schemathesis.toml")


def schemathesis() -> Path:
    st = VENV / "bin" / "st"
    if not st.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", SCHEMATHESIS], check=True)
    return st


def serve(key: str | None, folder: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DURABLE_TUI_KEY", None)
    args = [sys.executable, "-m", "console.cli", "serve", str(ROOT / "sample_functions"), "--port", "0",
            "--db", str(folder / "state.db")]
    if key:
        args += ["--key", key]
    with open(folder / "serve.log", "w") as log:   # the server's tracebacks, shown when a check fails
        proc = subprocess.Popen(args, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("listening on "):
            return proc, line.split()[2]
    raise SystemExit("durable-tui serve did not start")


def run(st: Path, key: str | None, max_examples: int) -> tuple[int, int]:
    """One schemathesis run; returns (its exit status, test cases generated)."""
    with tempfile.TemporaryDirectory() as folder:
        proc, url = serve(key, Path(folder))
        try:
            command = [str(st), "--config-file", str(CONFIG), "run", f"{url}/openapi.json", "--checks", "all", "--max-examples", str(max_examples),
                       "--exclude-path", "/v1/stream", "--request-timeout", "30", "--seed", "14",
                       "--no-color", "--suppress-health-check", "too_slow,filter_too_much"]
            if key:
                command += ["-H", f"Authorization: Bearer {key}"]
            print(f"$ {' '.join(command)}", flush=True)
            result = subprocess.run(command, text=True, capture_output=True)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            errors = (Path(folder) / "serve.log").read_text(errors="replace")
    print(result.stdout[-6000:], result.stderr[-2000:], sep="\n", flush=True)
    if result.returncode and "Traceback" in errors:
        print("the server's log from its first traceback:\n" + errors[errors.index("Traceback"):][:8000], flush=True)
    found = re.search(r"(\d+) generated", result.stdout)
    return result.returncode, int(found.group(1)) if found else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100, help="cases per operation and mode (default 100)")
    args = parser.parse_args()
    st = schemathesis()
    outcomes = [("no key", *run(st, None, args.max_examples)), ("with a key", *run(st, "fuzz-key", args.max_examples))]
    for name, code, cases in outcomes:
        print(f"schemathesis, {name}: {cases} test cases, {'no failures' if code == 0 else f'exit status {code}'}")
    return max(code for _, code, _ in outcomes)


if __name__ == "__main__":
    sys.exit(main())
