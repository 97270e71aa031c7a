"""What committing one step costs by each way of reaching SQLite from asyncio, at both durabilities.

    python benchmarks/bench_commit_paths.py [--quick]

A step's commit here is what the engine writes for it: one ``steps`` row (with a small memo)
and one ``runs`` counter update, in one transaction. The ways measured:

  direct         sqlite3 in the calling thread: the floor (and what blocking the loop would cost)
  per-statement  aiosqlite, one await per statement (BEGIN, INSERT, UPDATE, COMMIT): 4 thread round trips
  one-hop        the whole transaction as one function on the writer's thread: 1 round trip
  group-64       64 concurrent writers; one committer takes everything pending and commits it as
                 one transaction in one round trip (group commit)

plus the cost of ``asyncio.to_thread`` for a trivial handler (a sync step's hop). Concurrent
cases run 64 writers at once, as 500 runs started together do under ``concurrency=64``.
Engine-independent on purpose: it tells what each design can reach on this disk, so engine
numbers can be judged against it. Prints one JSON line per measurement; quote ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiosqlite

SCHEMA = """
CREATE TABLE runs (id TEXT PRIMARY KEY, step_count INTEGER NOT NULL DEFAULT 0);
CREATE TABLE steps (run_id TEXT NOT NULL, hashed_id TEXT NOT NULL, status TEXT NOT NULL, memo BLOB,
                    PRIMARY KEY (run_id, hashed_id)) WITHOUT ROWID;
"""
INSERT_STEP = "INSERT OR REPLACE INTO steps (run_id, hashed_id, status, memo) VALUES (?, ?, 'Completed', ?)"
BUMP_RUN = "UPDATE runs SET step_count = step_count + 1 WHERE id = ?"
MEMO = b'{"data": 12345}'
WRITERS = 64


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def open_sync(path: Path, durability: str) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute(f"PRAGMA synchronous = {durability.upper()}")
    con.executescript(SCHEMA)
    con.executemany("INSERT INTO runs (id) VALUES (?)", [(f"run-{w}",) for w in range(WRITERS)])
    return con


def write_steps(con: sqlite3.Connection, rows: list[tuple[str, str]]) -> None:
    """One transaction holding every (run, step) in ``rows``."""
    con.execute("BEGIN IMMEDIATE")
    for run_id, step in rows:
        con.execute(INSERT_STEP, (run_id, step, MEMO))
        con.execute(BUMP_RUN, (run_id,))
    con.execute("COMMIT")


class OneHop:
    """The writer connection on its own thread; a transaction is one function sent to it."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="writer")
        self.lock = asyncio.Lock()

    async def commit(self, run_id: str, step: str) -> None:
        async with self.lock:
            await asyncio.get_running_loop().run_in_executor(self.pool, write_steps, self.con, [(run_id, step)])


class GroupCommit(OneHop):
    """Writers queue their rows and wait; one committer writes all that is pending in one transaction."""

    def __init__(self, con: sqlite3.Connection) -> None:
        super().__init__(con)
        self.pending: list[tuple[tuple[str, str], asyncio.Future[None]]] = []
        self.wake = asyncio.Event()
        self.batches = 0
        self.task = asyncio.get_running_loop().create_task(self._committer())

    async def commit(self, run_id: str, step: str) -> None:
        done = asyncio.get_running_loop().create_future()
        self.pending.append(((run_id, step), done))
        self.wake.set()
        await done

    async def _committer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            batch, self.pending = self.pending, []
            if not batch:
                continue
            await loop.run_in_executor(self.pool, write_steps, self.con, [rows for rows, _ in batch])
            self.batches += 1
            for _, done in batch:
                done.set_result(None)


class PerStatement:
    """Today's pattern: aiosqlite, each statement its own await, the writer lock held across them."""

    def __init__(self, con: aiosqlite.Connection) -> None:
        self.con = con
        self.lock = asyncio.Lock()

    async def commit(self, run_id: str, step: str) -> None:
        async with self.lock:
            await self.con.execute("BEGIN IMMEDIATE")
            await self.con.execute(INSERT_STEP, (run_id, step, MEMO))
            await self.con.execute(BUMP_RUN, (run_id,))
            await self.con.execute("COMMIT")


async def drive(commit: Callable[[str, str], Awaitable[None]], writers: int, per_writer: int) -> float:
    """``writers`` concurrent writers, each committing ``per_writer`` steps one after another;
    returns the wall time in seconds."""
    async def writer(w: int) -> None:
        for k in range(per_writer):
            await commit(f"run-{w}", f"step-{k}")

    t0 = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return time.perf_counter() - t0


async def measure(workdir: Path, durability: str, commits: int) -> None:
    def result(way: str, writers: int, wall: float, **extra: Any) -> None:
        emit({"way": way, "durability": durability, "writers": writers, "commits": commits,
              "us_per_commit": round(wall * 1e6 / commits, 1), "commits_per_s": round(commits / wall), **extra})

    con = open_sync(workdir / f"direct-{durability}.db", durability)
    t0 = time.perf_counter()
    for k in range(commits):
        write_steps(con, [("run-0", f"step-{k}")])
    result("direct", 1, time.perf_counter() - t0)
    con.close()

    for writers in (1, WRITERS):
        open_sync(workdir / f"aio-{durability}-{writers}.db", durability).close()
        async with aiosqlite.connect(workdir / f"aio-{durability}-{writers}.db", isolation_level=None) as aio:
            await aio.execute(f"PRAGMA synchronous = {durability.upper()}")
            result("per-statement", writers, await drive(PerStatement(aio).commit, writers, commits // writers))

        hop = OneHop(open_sync(workdir / f"hop-{durability}-{writers}.db", durability))
        result("one-hop", writers, await drive(hop.commit, writers, commits // writers))
        hop.pool.shutdown()

    group = GroupCommit(open_sync(workdir / f"group-{durability}.db", durability))
    wall = await drive(group.commit, WRITERS, commits // WRITERS)
    result(f"group-{WRITERS}", WRITERS, wall, transactions=group.batches)
    group.task.cancel()
    group.pool.shutdown()


async def handler_hop(calls: int) -> None:
    def trivial(k: int) -> int:
        return k

    t0 = time.perf_counter()
    for k in range(calls):
        trivial(k)
    direct = time.perf_counter() - t0
    t0 = time.perf_counter()
    for k in range(calls):
        await asyncio.to_thread(trivial, k)
    hopped = time.perf_counter() - t0
    emit({"way": "sync handler", "calls": calls, "direct_us": round(direct * 1e6 / calls, 2),
          "to_thread_us": round(hopped * 1e6 / calls, 1)})


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer commits, for a smoke run")
    args = parser.parse_args(argv)
    commits = WRITERS * (4 if args.quick else 16)
    emit({"sqlite": sqlite3.sqlite_version, "aiosqlite": aiosqlite.__version__, "commits": commits})
    with tempfile.TemporaryDirectory(prefix="bench-commit-") as tmp:
        for durability in ("normal", "full"):
            await measure(Path(tmp), durability, commits)
    await handler_hop(500 if args.quick else 2000)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
