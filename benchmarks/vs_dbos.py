"""Our engine against DBOS Transact 3.4 on SQLite, side by side, at both durabilities (issue #13).

    python benchmarks/vs_dbos.py --setup            # once: DBOS 3.4 into benchmarks/.dbos-venv, then run
    python benchmarks/vs_dbos.py [--quick] [--reps N] [--only CASE ...] [--dbos-style sync|async]

The five cases, the same work on both sides (sizes in vs_dbos_common.py):

  steps    one run x 1,000 trivial steps                         steps/s
  fanout   500 runs x 10 steps, started together                 runs/s
  latency  event -> result of a 3-step run, one at a time        p50 / p99 ms
  sleep    a 1 ms durable sleep, 100 in a row in one run         ms per sleep
  signal   wake a run blocked on a signal, from outside          p50 / p99 ms

Sides: ours at ``durability="normal"`` and ``"full"`` (vs_dbos_ours.py, this venv) and DBOS with its
default SQLite settings (vs_dbos_dbos.py in DBOS's own venv; rollback journal, synchronous=FULL;
its recv polls every 10 ms here, and once per run at its default 1 s for reference). Every
measurement is a fresh process on a fresh database, interleaved (ours normal, ours full, DBOS, the
order reversed on every other repetition; fanout, the longest, in the first repetition only), so the
machine's drift hits all sides alike. Beside them
the raw SQLite one-row commit rate of this disk in WAL+FULL (the fsync-bound ceiling for a
durable step), WAL+NORMAL and DBOS's rollback+FULL.

Prints one JSON line per measurement, then a table of medians (latencies pooled over the
repetitions) with ratios and each goal of the issue marked met or not. Absolute numbers vary
between runs on shared machines; quote the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vs_dbos_common import CASES, SIZES, emit, percentile

HERE = Path(__file__).resolve().parent
DBOS_VENV = HERE / ".dbos-venv"
DBOS_PYTHON = DBOS_VENV / "bin" / "python"
DBOS_REQUIREMENT = "dbos==3.4.*"
OURS, OURS_FULL, DBOS = "ours-normal", "ours-full", "dbos"
#: Measured in the first repetition only: 500 runs average themselves, and DBOS needs most of a
#: minute for them on a busy machine, which repeating would spend out of a five-minute budget.
ONCE = {"fanout"}
#: One-row commits timed for the raw rates; WAL+NORMAL never waits for the disk, so more of them.
RAW_COMMITS = {"wal-full": 300, "wal-normal": 3000, "rollback-full": 300}


class BenchError(Exception):
    """The benchmark cannot go on; the message says why and what to do."""


# ---- DBOS's venv ---------------------------------------------------------------------------------

def setup_dbos() -> None:
    """Create benchmarks/.dbos-venv and install DBOS 3.4 there (idempotent)."""
    if not DBOS_PYTHON.exists():
        print(f"creating {DBOS_VENV}", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True).create(DBOS_VENV)
    print(f"installing {DBOS_REQUIREMENT} into {DBOS_VENV}", file=sys.stderr, flush=True)
    done = subprocess.run([str(DBOS_PYTHON), "-m", "pip", "install", "-q", DBOS_REQUIREMENT],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"pip could not install {DBOS_REQUIREMENT} into {DBOS_VENV}:\n{done.stderr.strip()}")


def dbos_version() -> str:
    if not DBOS_PYTHON.exists():
        raise BenchError(f"no DBOS venv at {DBOS_VENV}; run `python benchmarks/vs_dbos.py --setup` once")
    done = subprocess.run([str(DBOS_PYTHON), "-c", "import importlib.metadata as m; print(m.version('dbos'))"],
                          capture_output=True, text=True)
    version = done.stdout.strip()
    if done.returncode != 0 or not version.startswith("3.4."):
        raise BenchError(f"{DBOS_VENV} does not hold DBOS 3.4 (found {version or 'none'}); "
                         "run `python benchmarks/vs_dbos.py --setup`")
    return version


# ---- measurements ----------------------------------------------------------------------------------

def raw_commit_rates(workdir: Path) -> dict[str, float]:
    """One-row commits per second straight through sqlite3: the ceiling a durable step can reach
    when it costs one commit."""
    rates = {}
    for mode, commits in RAW_COMMITS.items():
        journal, synchronous = ("WAL", mode.split("-")[1]) if mode.startswith("wal") else ("DELETE", "full")
        path = workdir / f"raw-{mode}.db"
        con = sqlite3.connect(path, isolation_level=None)
        con.execute(f"PRAGMA journal_mode = {journal}")
        con.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        con.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)")
        t0 = time.perf_counter()
        for i in range(commits):
            con.execute("BEGIN")
            con.execute("INSERT INTO t (v) VALUES (?)", (b"x" * 100,))
            con.execute("COMMIT")
        rates[mode] = round(commits / (time.perf_counter() - t0), 1)
        con.close()
    return rates


def run_case(case: str, side: str, args: argparse.Namespace, workdir: Path,
             extra: Sequence[str] = ()) -> dict[str, Any]:
    """One case on one side in a fresh process; its JSON line as a dict."""
    common = [case, "--workdir", str(workdir), "--size", "quick" if args.quick else "full", *extra]
    if side == DBOS:
        argv = [str(DBOS_PYTHON), str(HERE / "vs_dbos_dbos.py"), *common, "--style", args.dbos_style]
    else:
        argv = [sys.executable, str(HERE / "vs_dbos_ours.py"), *common, "--durability", side.split("-")[1]]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=HERE.parent)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise BenchError(f"case {case} on {side} failed (exit {done.returncode}): {' '.join(argv)}\n"
                         f"{done.stderr.strip()[-3000:]}")
    return json.loads(lines[-1])


def shown(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its raw samples, for the JSON line printed."""
    return {k: v for k, v in record.items() if k != "latencies_ms"}


# ---- the summary ---------------------------------------------------------------------------------

def summarize(results: dict[tuple[str, str], list[dict[str, Any]]], raws: list[dict[str, float]]) -> dict[str, Any]:
    """Medians over the repetitions (throughputs, cost per sleep); latencies pooled, then p50/p99."""
    summary: dict[str, Any] = {"raw": {mode: statistics.median(r[mode] for r in raws) for mode in RAW_COMMITS}}
    for (case, side), records in results.items():
        if "latencies_ms" in records[0]:
            pooled = sorted(x for r in records for x in r["latencies_ms"])
            value: Any = {"p50": statistics.median(pooled), "p99": percentile(pooled, 0.99), "n": len(pooled)}
        else:
            key = {"steps": "steps_per_s", "fanout": "runs_per_s", "sleep": "ms_per_sleep"}[case]
            value = statistics.median(r[key] for r in records)
        summary.setdefault(case, {})[side] = value
    idle = [r["p50_by_idle_ms"] for r in results.get(("signal", OURS), []) if "p50_by_idle_ms" in r]
    if idle:
        buckets = dict.fromkeys(b for r in idle for b in r)
        summary["signal_by_idle"] = {b: statistics.median(r[b] for r in idle if b in r) for b in buckets}
    return summary


def times(better: float, worse: float) -> str:
    return f"{better / worse:.1f}×" if worse else "-"


def table(summary: dict[str, Any], dbos_label: str) -> list[str]:
    """The issue's table: each case's DBOS figure, ours at both durabilities with the factor by
    which ours is better (>1) or worse (<1), the goal, and whether it is met."""
    rows = [f"| case | {dbos_label} | ours (NORMAL) | ours (FULL) | goal | met |", "|---|---|---|---|---|---|"]
    raw = summary["raw"]

    def row(case: str, cells: list[str], goal: str, *verdicts: bool) -> None:
        verdict = " · ".join("met" if ok else "NOT met" for ok in verdicts)
        rows.append(f"| {case} | {' | '.join(cells)} | {goal} | {verdict} |")

    if "steps" in summary:
        s = summary["steps"]
        d, n, f = s.get(DBOS), s.get(OURS), s.get(OURS_FULL)
        ceiling = raw["wal-full"]
        row("one run × N trivial steps (steps/s)",
            [fmt(d), f"{fmt(n)} ({times(n, d)})", f"{fmt(f)} ({times(f, d)}; {f / ceiling:.0%} of fsync rate)"],
            f"NORMAL ≥ 10× DBOS · FULL ≥ 85% of {ceiling:,.0f} commits/s (WAL+FULL)",
            n / d >= 10, f >= 0.85 * ceiling)
    if "fanout" in summary:
        s = summary["fanout"]
        d, n, f = s.get(DBOS), s.get(OURS), s.get(OURS_FULL)
        row("runs × 10 steps started together (runs/s)", [fmt(d), f"{fmt(n)} ({times(n, d)})", f"{fmt(f)} ({times(f, d)})"],
            "FULL ≥ 10× DBOS", f / d >= 10)
    if "latency" in summary:
        s = summary["latency"]
        d, n, f = s.get(DBOS), s.get(OURS), s.get(OURS_FULL)
        row("event → result of a 3-step run, p50 / p99 ms", [pct(d), pct(n, d), pct(f, d)],
            "NORMAL p50 ≤ 1.5 ms, p99 ≤ 5 ms", n["p50"] <= 1.5 and n["p99"] <= 5)
    if "sleep" in summary:
        s = summary["sleep"]
        d, n, f = s.get(DBOS), s.get(OURS), s.get(OURS_FULL)
        row("1 ms durable sleep, ms per sleep", [f"{d:.2f}", f"{n:.2f} ({times(d, n)})", f"{f:.2f} ({times(d, f)})"],
            "NORMAL ≤ 1/3 of DBOS", n <= d / 3)
    if "signal" in summary:
        s = summary["signal"]
        d, n, f = s.get(DBOS), s.get(OURS), s.get(OURS_FULL)
        slow = s.get(f"{DBOS}@1s")
        dbos_cell = pct(d) + (f" (10 ms poll; p50 {slow['p50']:.0f} ms at its default 1 s)" if slow else "")
        row("wake a run blocked on a signal, p50 / p99 ms", [dbos_cell, pct(n, d), pct(f, d)],
            "NORMAL p50 ≤ 1 ms", n["p50"] <= 1)
        idle = summary.get("signal_by_idle")
        if idle:
            rows.append("")
            rows.append("ours (NORMAL), signal p50 by how long the process sat idle before the signal came: "
                        + ", ".join(f"{bucket}: {p50:.2f} ms" for bucket, p50 in idle.items()))
    rows.append("")
    rows.append(f"raw SQLite one-row commits/s on this disk: WAL+FULL {raw['wal-full']:,.0f}, "
                f"WAL+NORMAL {raw['wal-normal']:,.0f}, rollback+FULL (DBOS's mode) {raw['rollback-full']:,.0f}; "
                f"per commit {1000 / raw['wal-full']:.3f} / {1000 / raw['wal-normal']:.3f} / "
                f"{1000 / raw['rollback-full']:.3f} ms")
    return rows


def fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def pct(value: dict[str, float], dbos: dict[str, float] | None = None) -> str:
    text = f"{value['p50']:.1f} / {value['p99']:.1f}"
    return f"{text} ({times(dbos['p50'], value['p50'])} / {times(dbos['p99'], value['p99'])})" if dbos else text


# ---- main ----------------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help=f"install {DBOS_REQUIREMENT} into {DBOS_VENV} first")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and one repetition, for a smoke run")
    parser.add_argument("--reps", type=int, help="repetitions of every measurement (default 2; 1 with --quick)")
    parser.add_argument("--only", nargs="+", choices=CASES, metavar="CASE", help=f"some of: {', '.join(CASES)}")
    parser.add_argument("--dbos-style", choices=["sync", "async"], default="sync",
                        help="DBOS's sync workflows and steps (default), or async workflows with steps "
                             "in a thread like ours")
    parser.add_argument("--workdir", help="where the databases go (default: a temporary folder, removed after)")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.quick else 2)
    cases = [c for c in CASES if not args.only or c in args.only]
    try:
        if args.setup:
            setup_dbos()
        version = dbos_version()
        emit({"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
                          "platform": platform.platform()},
              "dbos": version, "dbos_style": args.dbos_style, "reps": reps,
              "sizes": SIZES["quick" if args.quick else "full"]})
        with tempfile.TemporaryDirectory(prefix="vs-dbos-", dir=args.workdir) as tmp:
            summary = measure(args, cases, reps, Path(tmp))
    except BenchError as exc:
        print(f"vs_dbos: {exc}", file=sys.stderr)
        return 2
    print()
    print("\n".join(table(summary, f"DBOS {version} ({args.dbos_style})")))
    return 0


def measure(args: argparse.Namespace, cases: list[str], reps: int, workdir: Path) -> dict[str, Any]:
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    raws = []
    for rep in range(reps):
        raws.append(raw_commit_rates(workdir))
        emit({"raw_commits_per_s": raws[-1], "rep": rep})
        for case in cases:
            if case in ONCE and rep > 0:
                continue
            sides = [OURS, OURS_FULL, DBOS] if rep % 2 == 0 else [DBOS, OURS_FULL, OURS]
            for side in sides:
                record = run_case(case, side, args, workdir)
                results.setdefault((case, side), []).append(record)
                emit({**shown(record), "rep": rep})
            if case == "signal" and rep == 0:
                # DBOS's recv at its default poll (1 s) costs ~0.5 s a sample: a few, once, for reference.
                record = run_case(case, DBOS, args, workdir, ["--poll", "1.0", "--samples", "3" if args.quick else "10"])
                results[(case, f"{DBOS}@1s")] = [record]
                emit({**shown(record), "rep": rep})
    return summarize(results, raws)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
