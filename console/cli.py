"""The ``durable-tui`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from executor.store import SchemaError

DEFAULT_DB = os.path.join(".durable-tui", "state.db")
DEMO_FILE = "demo_events.json"


def _default_paths() -> list[str]:
    return ["sample_functions"] if Path("sample_functions").is_dir() else []


def _demo_events(paths: list[str]) -> list[dict]:
    """Sample events shipped next to the function files (``demo_events.json``)."""
    events: list[dict] = []
    for path in paths:
        candidate = Path(path) / DEMO_FILE if Path(path).is_dir() else Path(path).with_name(DEMO_FILE)
        if candidate.is_file():
            events.extend(json.loads(candidate.read_text()))
    return events


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="durable-tui",
        description="Run durable step functions from Python files and watch their runs live.")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run functions headless, reading events as JSON lines from stdin (default)")
    for p in (parser, run):
        p.add_argument("paths", nargs="*", help="function files or folders (default: ./sample_functions)")
        p.add_argument("--db", default=DEFAULT_DB, help=f"SQLite database file, or :memory: (default {DEFAULT_DB})")
        p.add_argument("--demo", action="store_true", help="send the sample events in demo_events.json at start")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = args.paths or _default_paths()
    if not paths:
        print("durable-tui: no function files given and no ./sample_functions folder here; "
              "pass a .py file or a folder of them", file=sys.stderr)
        return 2
    if args.db != ":memory:":
        Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    from .headless import run_headless

    try:
        return asyncio.run(run_headless(paths, args.db, _demo_events(paths) if args.demo else []))
    except SchemaError as exc:
        print(f"durable-tui: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
