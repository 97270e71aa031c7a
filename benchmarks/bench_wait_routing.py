"""Route one incoming event through many pending waits: indexed versus brute force.

    python benchmarks/bench_wait_routing.py [--waits 100000] [--brute-sample N] [--routings 200]

Every wait is what ``wait_for_event("app/invoice.paid", match="data.invoiceId")`` stores for a run
about its own invoice: the match shorthand expanded and ``event.*`` bound. Brute force evaluates
every wait's compiled expression (with the event converted once, its best case); ``--brute-sample N``
times N of them and extrapolates, since the full pass takes tens of seconds and ~16 KB per compiled
wait. Prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

# Benchmark this checkout, not whatever copy of the package happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from executor.expressions import (  # noqa: E402
    CompiledExpression,
    bind_event,
    compile_expression,
    match_to_expression,
    prepare_variables,
)
from executor.expressions.index import IndexedWait, WaitIndex  # noqa: E402

EVENT_NAME = "app/invoice.paid"


def invoice_id(n: int) -> str:
    return f"inv-{n:07d}"


def incoming(n: int) -> dict:
    return {
        "name": EVENT_NAME,
        "id": f"evt-{n}",
        "ts": 1_700_000_000_000,
        "data": {"invoiceId": invoice_id(n), "amount": 120.5, "currency": "EUR"},
    }


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--waits", type=int, default=100_000, help="pending waits to build")
    parser.add_argument(
        "--brute-sample", type=int, default=None, metavar="N",
        help="time N brute-force evaluations and extrapolate (default: evaluate every wait)",
    )
    parser.add_argument("--routings", type=int, default=200, help="events routed through the index")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    brute_count = args.waits if args.brute_sample is None else min(args.brute_sample, args.waits)
    rng = random.Random(args.seed)

    template = match_to_expression("data.invoiceId")
    index = WaitIndex()
    compiled: list[CompiledExpression] = []
    started = time.perf_counter()
    for n in range(args.waits):
        trigger = {"name": "app/invoice.created", "data": {"invoiceId": invoice_id(n)}}
        bound = bind_event(template, trigger)
        index.add(IndexedWait(f"wait-{n}", EVENT_NAME, bound))
        if n < brute_count:
            compiled.append(compile_expression(bound))
    emit(
        metric="setup", waits=args.waits, seconds=round(time.perf_counter() - started, 2),
        index=index.stats(), template=template, example_bound=bind_event(template, incoming(0)),
    )

    # Indexed: different invoices each time, so the compile cache does not flatter the result.
    samples = []
    for _ in range(args.routings):
        target = rng.randrange(args.waits)
        event = incoming(target)
        started = time.perf_counter()
        matched = index.matches(event)
        samples.append(time.perf_counter() - started)
        assert matched == [f"wait-{target}"], matched
    indexed_ms = statistics.median(samples) * 1e3
    emit(
        metric="indexed", waits=args.waits, routings=args.routings,
        median_ms=round(indexed_ms, 4), mean_ms=round(statistics.fmean(samples) * 1e3, 4),
        max_ms=round(max(samples) * 1e3, 4),
    )

    target = rng.randrange(brute_count)
    event = incoming(target)
    started = time.perf_counter()
    variables = prepare_variables({"async": event})
    hits = [n for n, expression in enumerate(compiled) if expression.evaluate(variables)]
    elapsed = time.perf_counter() - started
    assert hits == [target], hits
    brute_ms = elapsed / brute_count * args.waits * 1e3
    emit(
        metric="brute_force", waits=args.waits, evaluated=brute_count,
        extrapolated=brute_count < args.waits, ms=round(brute_ms, 1),
        per_wait_us=round(elapsed / brute_count * 1e6, 1),
    )
    emit(metric="ratio", waits=args.waits, brute_over_indexed=round(brute_ms / indexed_ms))


if __name__ == "__main__":
    main()
