"""What ``vs_dbos.py`` and its two case runners agree on: the five cases, their sizes, the command
line of a runner and the one JSON line it prints.

Standard library only: the DBOS runner imports this from DBOS's own venv, where our package is
not installed. Each runner measures one case on a fresh database in a fresh process, so neither
side inherits the other's threads, caches or garbage.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
from typing import Any

#: The five cases of issue #13, in the order they are run and printed.
CASES = ("steps", "fanout", "latency", "sleep", "signal")

SIZES: dict[str, dict[str, int]] = {
    # steps: one run of this many trivial steps; fanout: runs x steps started together;
    # latency / signal: samples, one at a time; sleeps: 1 ms durable sleeps in a row in one run.
    "full": {"steps": 1000, "fanout_runs": 500, "fanout_steps": 10, "latency_samples": 200,
             "sleeps": 100, "signal_samples": 100},
    "quick": {"steps": 200, "fanout_runs": 100, "fanout_steps": 10, "latency_samples": 50,
              "sleeps": 30, "signal_samples": 30},
}

#: The steps of a run in the latency case ("event -> result of a 3-step run").
LATENCY_STEPS = 3
#: The durable sleep of the sleep case, in milliseconds.
SLEEP_MS = 1
#: No case should take this long; reaching it means a side stalled.
STALL_S = 600


def runner_args(argv: list[str], description: str) -> argparse.Namespace:
    """The command line both runners take: ``CASE --workdir DIR --size full|quick`` plus the
    side's own knob (``--durability`` for ours, ``--style``/``--poll`` for DBOS)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--workdir", required=True, help="folder for this run's database files")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--durability", choices=["normal", "full"], default="normal",
                        help="ours: the executor's durability setting")
    parser.add_argument("--style", choices=["sync", "async"], default="sync",
                        help="DBOS: sync workflows and steps, or async workflows with steps in a thread")
    parser.add_argument("--poll", type=float, default=0.01,
                        help="DBOS: notification_listener_polling_interval_sec (its default is 1.0)")
    parser.add_argument("--samples", type=int, help="override the latency or signal case's sample count")
    args = parser.parse_args(argv)
    args.sizes = dict(SIZES[args.size])
    if args.samples:
        args.sizes.update(latency_samples=args.samples, signal_samples=args.samples)
    return args


def arrival_delays(samples: int, poll_s: float) -> list[float]:
    """Seconds to wait, once a run is blocked, before the signal is sent: uniform over one DBOS poll
    interval (at least 10 ms), seeded so both sides wait alike. A signal from outside arrives at a
    random moment; sent back to back, each one would land just after the poller's last look and
    wait almost a full interval."""
    rng = random.Random(13)
    return [rng.uniform(0, max(poll_s, 0.01)) for _ in range(samples)]


#: Buckets of how long the process sat idle before a signal arrived (ms), for ``by_idle``.
IDLE_BUCKETS = ((0.0, 2.0), (2.0, 6.0), (6.0, math.inf))


def by_idle(delays_s: list[float], latencies_ms: list[float]) -> dict[str, float]:
    """p50 latency by how long the process idled before each sample: the same work costs more
    after a longer sleep on a shared machine (caches gone cold, the CPU clocked down), which the
    signal case's random arrivals include and a back-to-back case does not."""
    out = {}
    for low, high in IDLE_BUCKETS:
        picked = [lat for delay, lat in zip(delays_s, latencies_ms) if low <= delay * 1000 < high]
        if picked:
            label = f"{low:g}–{high:g} ms" if high != math.inf else f"≥ {low:g} ms"
            out[label] = round(statistics.median(picked), 3)
    return out


def latency_summary(latencies_ms: list[float]) -> dict[str, Any]:
    """p50, p99 (nearest rank) and max, plus the samples so a caller can pool several runs."""
    ordered = sorted(latencies_ms)
    return {"samples": len(ordered), "p50_ms": round(statistics.median(ordered), 3),
            "p99_ms": round(percentile(ordered, 0.99), 3), "max_ms": round(ordered[-1], 3),
            "latencies_ms": [round(x, 3) for x in ordered]}


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank: the smallest sample with at least ``q`` of all samples at or below it."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)
