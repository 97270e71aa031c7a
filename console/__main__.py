"""``python -m console [PATH ...] [--db FILE] [--port N] [--demo] [--durability normal|full] [--attach URL] [--key KEY]``.

The console on its own, for development and for ``textual serve``; ``durable-tui`` (console/cli.py)
wires the same ``run_console``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from executor import DURABILITIES
from executor.service.settings import DEFAULT_DB

from .app import run_console



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console", description="durable-tui's operations console")
    parser.add_argument("paths", nargs="*", help="function files or folders (default: ./sample_functions)")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"SQLite database, or :memory: (default {DEFAULT_DB})")
    parser.add_argument("--port", type=int, default=8288, help="HTTP API port (0: none; default 8288)")
    parser.add_argument("--demo", action="store_true", help="send the sample events at start")
    parser.add_argument("--durability", choices=DURABILITIES, default="normal",
                        help="normal: survives a killed process; full: an fsync per commit (default normal)")
    parser.add_argument("--attach", metavar="URL", help="attach to a running durable-tui serve instead")
    parser.add_argument("--key", help="the server's key (with --attach)")
    args = parser.parse_args(argv)
    paths = args.paths or (["sample_functions"] if Path("sample_functions").is_dir() else [])
    return run_console(paths, args.db, args.port, args.demo, args.attach, args.key, args.durability)


if __name__ == "__main__":
    sys.exit(main())
