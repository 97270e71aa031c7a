"""SQLite persistence through aiosqlite: schema, migrations and every query.

One writer connection behind an asyncio lock (WAL mode): each engine transition is one
transaction, so a crash leaves the database at a transition boundary. File databases get a
second, read-only connection so listings for the console and API never queue behind the engine.
The ``durability`` setting picks SQLite's ``synchronous`` level (WAL in both): ``"normal"``
survives a killed process (the case the crash test covers), and an operating-system crash or
power loss can drop the last transactions; ``"full"`` syncs the WAL to disk on every commit, so a
committed transition survives power loss too, at the cost of one fsync per commit.

WAL checkpoints (copying the log back into the database file, with an fsync) run on a connection
of their own in a worker thread, every ``CHECKPOINT_EVERY`` commits: made by the writer itself, as
SQLite does by default, one commit in a few dozen runs would stall the engine for the whole copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import aiosqlite

from executor.records import Event, PendingWait, QueueItem, Run, RunStatus, StepState, Wait
from executor.store.flowrows import FlowReads, FlowTx
from executor.store.runcache import RunCache
from executor.store.schema import (EVENT_COLUMNS, MIGRATIONS, RUN_COLUMNS, STEP_COLUMNS, SYNCHRONOUS, WAIT_COLUMNS,
                                   DURABILITIES, SCHEMA_VERSION, Durability, SchemaError, event_from_row, to_json, from_json,
                                   run_from_row, step_from_row, wait_from_row, where_clause)

log = logging.getLogger("durable_tui.store")

#: A batched run's events: each stored once per batch, read as first stored.
_RUN_EVENTS = (f"SELECT {', '.join('e.' + c for c in EVENT_COLUMNS.split(', '))} FROM run_events r JOIN events e "
               "ON e.seq = (SELECT MIN(seq) FROM events WHERE internal_id = r.event_id) WHERE r.run_id = ? ORDER BY r.seq")


#: Commits between two background WAL checkpoints (a transition writes a handful of pages).
CHECKPOINT_EVERY = 100
#: Once the log holds this many frames (pages), a background checkpoint makes sure it starts over.
RESTART_FRAMES = 8000
#: Before that, background passes copy what was committed during the last one, until it is this
#: little (the pause then costs about its two fsyncs) or after this many passes.
CATCH_UP_FRAMES = 64
CATCH_UP_PASSES = 4
#: The writer checkpoints by itself only once the log reaches this many pages: a safety net for
#: when the background checkpoints fall behind (SQLite's own default is 1,000).
WRITER_CHECKPOINT_PAGES = 20_000


_JSON_RUN_FIELDS = frozenset({"output", "error", "nondeterminism"})


def read_run(db: sqlite3.Connection, runs: RunCache, run_id: str) -> Run | None:
    """The run as the writer sees it: kept in ``runs`` or read (and then kept)."""
    run = runs.get(run_id)
    if run is None:
        row = db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        run = run_from_row(row)
        runs.put(run)
    return run


class Tx:
    """The statements one engine transition may make; only valid inside ``Store.tx()``.

    They run on the writer connection in the engine's own thread, with no hop to another thread:
    SQLite answers a statement in microseconds, far less than a hand-off would cost. (The methods
    stay ``async`` so a transition reads the same whether or not a statement ever waits.)"""

    def __init__(self, db: sqlite3.Connection, runs: RunCache) -> None:
        self._db = db
        self._runs = runs
        self.flow = FlowTx(db)

    async def insert_events(self, events: Iterable[Event], received_at: int) -> set[str]:
        """Store events; returns the internal ids not seen before. A client that retries a send
        with the same seed repeats the ids: the copies are stored (as Inngest does) but only new
        ids are routed."""
        new: set[str] = set()
        for ev in events:
            cur = self._db.execute("SELECT 1 FROM events WHERE internal_id = ? LIMIT 1", (ev.internal_id,))
            if cur.fetchone() is None:
                new.add(ev.internal_id)
            self._db.execute(
                "INSERT INTO events (internal_id, id, name, data, ts, received_at, user, v) VALUES (?,?,?,?,?,?,?,?)",
                (ev.internal_id, ev.id, ev.name, to_json(ev.data), ev.ts, received_at, to_json(ev.user), ev.v),
            )
        return new

    async def claim_key(self, function_id: str, key: str, run_id: str, now: int, ttl_ms: int) -> bool:
        """Take ``key`` for ``function_id`` (one run per key while it lives); False if it is taken."""
        self._db.execute("DELETE FROM idempotency WHERE function_id = ? AND key = ? AND expires_at <= ?",
                               (function_id, key, now))
        cur = self._db.execute(
            "INSERT OR IGNORE INTO idempotency (function_id, key, run_id, expires_at) VALUES (?,?,?,?)",
            (function_id, key, run_id, now + ttl_ms))
        return cur.rowcount == 1
    async def add_event_notes(self, internal_id: str, notes: Sequence[str]) -> None:
        """Record what routing could not evaluate for this event (kept with the event)."""
        self._db.execute("UPDATE events SET notes = ? WHERE internal_id = ?", (to_json(list(notes)), internal_id))

    async def insert_run(self, run: Run) -> None:
        self._db.execute(
            f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({','.join('?' * 21)})",
            (run.id, run.function_id, run.event_id, run.status, run.created_at, run.started_at,
             run.ended_at, to_json(run.output), to_json(run.error), run.invocations, run.attempt, run.step_count,
             run.state_bytes, run.function_version, run.finished_version, to_json(run.nondeterminism or None),
             run.current_step, run.parent_run_id, run.parent_step, run.mode, run.skip_reason),
        )
        self._runs.put(run)

    async def update_run(self, run_id: str, **fields: Any) -> None:
        stored = {key: to_json(value) if key in _JSON_RUN_FIELDS else value for key, value in fields.items()}
        self._db.execute(f"UPDATE runs SET {', '.join(f'{key} = ?' for key in stored)} WHERE id = ?",
                         [*stored.values(), run_id])
        status = fields.get("status")
        if status is not None and RunStatus(status).finished:
            self._runs.discard(run_id)        # a run that ended is not kept
            return
        # Kept as a read would give it back (a tuple comes back a list): the kept run must agree.
        kept = {key: from_json(value) if key in _JSON_RUN_FIELDS else value for key, value in stored.items()}
        if kept.get("nondeterminism", ()) is None:
            kept["nondeterminism"] = []
        self._runs.update(run_id, kept)

    async def add_run_usage(self, run_id: str, steps: int, state_bytes: int, current_step: str | None,
                            now: int | None) -> None:
        """Count a committed step against the run's limits and, with ``now``, mark the run as
        started. (Without it the status is not written at all: rewriting even an unchanged status
        rewrites its index entry, a page more in every step's commit.)"""
        self._runs.add_usage(run_id, steps, state_bytes, current_step, now)
        if now is None:
            self._db.execute(
                "UPDATE runs SET step_count = step_count + ?, state_bytes = state_bytes + ?, "
                "current_step = COALESCE(?, current_step) WHERE id = ?", (steps, state_bytes, current_step, run_id))
            return
        self._db.execute(
            "UPDATE runs SET step_count = step_count + ?, state_bytes = state_bytes + ?, "
            "current_step = COALESCE(?, current_step), "
            "status = CASE WHEN status = ? THEN ? ELSE status END, "
            "started_at = COALESCE(started_at, ?) WHERE id = ?",
            (steps, state_bytes, current_step, RunStatus.QUEUED, RunStatus.RUNNING, now, run_id),
        )

    async def save_step(self, step: StepState) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO steps ({STEP_COLUMNS}) VALUES ({','.join('?' * 15)})",
            (step.run_id, step.hashed_id, step.step_id, step.name, step.op, step.seq, step.status,
             step.attempts, to_json(step.memo), to_json(step.error), step.started_at, step.ended_at, step.due_at,
             to_json(step.detail or None), step.group),
        )

    async def get_step(self, run_id: str, hashed_id: str) -> StepState | None:
        cur = self._db.execute(f"SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ? AND hashed_id = ?",
                                     (run_id, hashed_id))
        row = cur.fetchone()
        return step_from_row(row) if row else None

    async def get_run(self, run_id: str) -> Run | None:
        """The run as this transaction sees it (the engine decides from this, never from a reader)."""
        return read_run(self._db, self._runs, run_id)

    async def group_steps(self, run_id: str, group: str) -> list[StepState]:
        cur = self._db.execute(f"SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ? AND grp = ?",
                                     (run_id, group))
        return [step_from_row(r) for r in cur.fetchall()]

    async def enqueue(self, item: QueueItem) -> QueueItem:
        self._db.execute(
            "INSERT INTO queue (id, run_id, due_at, kind, payload) VALUES (?,?,?,?,?)",
            (item.id, item.run_id, item.due_at, item.kind, to_json(item.payload or None)),
        )
        return item

    async def dequeue(self, item_id: str) -> None:
        self._db.execute("DELETE FROM queue WHERE id = ?", (item_id,))

    async def add_wait(self, wait: Wait) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO waits ({WAIT_COLUMNS}) VALUES ({','.join('?' * 15)})",
            (wait.id, wait.run_id, wait.function_id, wait.hashed_id, wait.step_id, wait.kind, wait.event_name,
             wait.expression, wait.source, wait.signal, wait.child_run_id, int(wait.active), wait.deadline,
             wait.created_at, to_json(wait.index_key)),
        )

    async def save_app(self, name: str, url: str | None, sync: Any, error: str | None, synced_at: int | None,
                       now: int) -> None:
        """An app as last synced (``sync``: the register body, re-read at start) or its sync error."""
        self._db.execute(
            "INSERT INTO apps (name, url, sync, error, synced_at, created_at) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET url = excluded.url, sync = COALESCE(excluded.sync, apps.sync), "
            "error = excluded.error, synced_at = COALESCE(excluded.synced_at, apps.synced_at)",
            (name, url, to_json(sync), error, synced_at, now))

    async def delete_app(self, name: str) -> bool:
        cur = self._db.execute("DELETE FROM apps WHERE name = ?", (name,))
        return cur.rowcount > 0

    async def get_queue_item(self, item_id: str) -> QueueItem | None:
        cur = self._db.execute("SELECT id, run_id, due_at, kind, payload FROM queue WHERE id = ?", (item_id,))
        r = cur.fetchone()
        return QueueItem(id=r[0], run_id=r[1], due_at=r[2], kind=r[3], payload=from_json(r[4]) or {}) if r else None

    async def get_wait(self, wait_id: str) -> Wait | None:
        cur = self._db.execute(f"SELECT {WAIT_COLUMNS} FROM waits WHERE id = ?", (wait_id,))
        row = cur.fetchone()
        return wait_from_row(row) if row else None

    async def remove_wait(self, wait_id: str) -> None:
        self._db.execute("DELETE FROM waits WHERE id = ?", (wait_id,))

    async def deactivate_wait(self, wait_id: str) -> None:
        self._db.execute("UPDATE waits SET active = 0 WHERE id = ?", (wait_id,))

    async def remove_run_waits(self, run_id: str) -> list[str]:
        cur = self._db.execute("DELETE FROM waits WHERE run_id = ? RETURNING id", (run_id,))
        return [row[0] for row in cur.fetchall()]

    async def find_queue_item(self, run_id: str, kind: str, hashed_id: str | None) -> QueueItem | None:
        cur = self._db.execute("SELECT id, run_id, due_at, kind, payload FROM queue WHERE run_id = ? AND kind = ?",
                                     (run_id, kind))
        for r in cur.fetchall():
            item = QueueItem(id=r[0], run_id=r[1], due_at=r[2], kind=r[3], payload=from_json(r[4]) or {})
            if item.payload.get("step") == hashed_id:
                return item
        return None

    async def dequeue_run(self, run_id: str) -> list[str]:
        cur = self._db.execute("DELETE FROM queue WHERE run_id = ? RETURNING id", (run_id,))
        return [row[0] for row in cur.fetchall()]


class Transaction:
    """One engine transition: all its statements take effect together or not at all, and the
    caller goes on only once they are durable.

    Group commit: transitions that are ready together share one SQLite transaction (each in
    its own savepoint, so a failing one undoes only itself) and one COMMIT — one fsync for all
    of them at ``durability="full"``. The lock keeps one transition's statements together;
    the commit waits until no transition is half done. ``on_done`` runs as soon as the
    transition's statements succeeded, before any other transition starts: the engine brings
    its in-memory mirrors up to date there, so the next transition in the group sees them.

    A class rather than an ``asynccontextmanager``: every transition enters one, and the
    generator machinery cost ~3 µs of a trivial step's ~300.
    """

    __slots__ = ("_store", "_on_done", "_opens", "_group")

    def __init__(self, store: "Store", on_done: Callable[[], None] | None) -> None:
        self._store = store
        self._on_done = on_done
        self._opens = False
        self._group: asyncio.Future[None] | None = None

    async def __aenter__(self) -> Tx:
        store = self._store
        assert store._writer is not None and store._lock is not None
        await store._lock.acquire()
        try:
            db = store._writer
            # The transition that opens a group is alone in it until it releases the lock: it
            # needs no savepoint (two statements fewer on the common, uncontended path).
            self._opens = store._group is None
            if self._opens:
                db.execute("BEGIN IMMEDIATE")
                store._group = asyncio.get_running_loop().create_future()
            else:
                db.execute("SAVEPOINT tx")
        except BaseException:
            store._lock.release()
            raise
        self._group = store._group
        return Tx(db, store._runs)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: object) -> bool:
        store, group = self._store, self._group
        assert store._writer is not None and group is not None
        db = store._writer
        try:
            if exc_type is not None:
                store._runs.clear()       # it may hold what the undone statements wrote
                if self._opens:
                    store._group = None
                    db.execute("ROLLBACK")
                    group.cancel()
                else:
                    db.execute("ROLLBACK TO tx")
                    db.execute("RELEASE tx")
                    store._schedule_flush()
                return False
            if not self._opens:
                db.execute("RELEASE tx")
            if self._on_done is not None:
                self._on_done()
            if store._lock._waiters:          # others are ready: they join this group
                store._schedule_flush()
            else:                             # nobody to wait for: commit now, one task switch less
                await store._commit(group)
        finally:
            store._lock.release()
        await asyncio.shield(group)
        return False


class Store:
    def __init__(self, path: str, durability: Durability = "normal") -> None:
        if durability not in SYNCHRONOUS:
            raise ValueError(f"durability must be one of {', '.join(map(repr, DURABILITIES))}, not {durability!r}: "
                             "'normal' survives a killed process, 'full' also an OS crash or power loss")
        self.path = path
        self.durability = durability
        self._writer: sqlite3.Connection | None = None
        self._reader: aiosqlite.Connection | None = None      # None for :memory: (the writer reads)
        self._lock: Any = None
        self._group: asyncio.Future[None] | None = None        # the open group transaction, if any
        self._flush_task: asyncio.Task[None] | None = None
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._commits = 0                                      # since the last background checkpoint
        #: Whether other work could use the loop while a commit waits for its fsync (the engine
        #: says: more than one run in hand). Only then is the thread hop worth its cost.
        self.others_busy: Callable[[], bool] = lambda: True
        self.flow = FlowReads(self._all)
        self._runs = RunCache()

    @property
    def in_memory(self) -> bool:
        return self.path == ":memory:" or self.path.startswith("file::memory:")

    async def open(self) -> None:
        self._lock = asyncio.Lock()
        self._writer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._writer.execute("PRAGMA busy_timeout = 10000")
        if not self.in_memory:
            self._writer.execute("PRAGMA journal_mode = WAL")
        self._writer.execute(f"PRAGMA synchronous = {SYNCHRONOUS[self.durability]}")
        self._migrate()
        if not self.in_memory:
            self._writer.execute(f"PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}")
            self._checkpointer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._checkpointer.execute("PRAGMA busy_timeout = 10000")
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            await self._reader.execute("PRAGMA busy_timeout = 10000")
            await self._reader.execute("PRAGMA query_only = 1")

    async def close(self) -> None:
        if self._flush_task is not None:
            await asyncio.gather(self._flush_task, return_exceptions=True)
        if self._checkpoint_task is not None:
            await asyncio.gather(self._checkpoint_task, return_exceptions=True)
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._reader is not None:
            await self._reader.close()
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    def _migrate(self) -> None:
        db = self._writer
        assert db is not None
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise SchemaError(
                f"{self.path} has schema version {current}, newer than this durable-tui "
                f"understands ({SCHEMA_VERSION}); upgrade durable-tui or use another --db file"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(version),))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def tx(self, on_done: Callable[[], None] | None = None) -> "Transaction":
        """One engine transition (``async with store.tx() as tx``); see ``Transaction``."""
        return Transaction(self, on_done)

    def _schedule_flush(self) -> None:
        if self._flush_task is None:
            self._flush_task = asyncio.get_running_loop().create_task(self._flush(), name="durable-commit")

    async def _flush(self) -> None:
        """COMMIT the open group once no transition is inside it; wake every transition in it."""
        async with self._lock:
            self._flush_task = None
            if self._group is not None:
                await self._commit(self._group)

    async def _commit(self, group: asyncio.Future[None]) -> None:
        """COMMIT the open group (the lock is held) and settle its future."""
        self._group = None
        assert self._writer is not None
        try:
            if self.durability == "full" and self.others_busy():
                # The fsync would stall every other task of this loop: it waits in a thread
                # instead, while the lock keeps the connection to itself. With nobody else to
                # serve, the thread hop would only add its own cost (it made a lone run's steps
                # ~1.3× slower), so the commit is then made in place.
                await asyncio.to_thread(self._writer.execute, "COMMIT")
            else:
                self._writer.execute("COMMIT")
        except BaseException as exc:
            self._runs.clear()
            with contextlib.suppress(sqlite3.Error):
                self._writer.execute("ROLLBACK")
            if not group.done():
                group.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        if not group.done():
            group.set_result(None)
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY and self._checkpointer is not None and self._checkpoint_task is None:
            self._commits = 0
            self._checkpoint_task = asyncio.get_running_loop().create_task(self._checkpoint(), name="wal-checkpoint")

    async def _checkpoint(self) -> None:
        """Copy the WAL into the database file without stopping the writer (PASSIVE: it takes what
        is committed and waits for no one). The writer starts the log over only once everything
        is copied, which commits made meanwhile prevent; so once the log is long, the few frames
        left are copied again with transitions held off (one short pause: SQLite would otherwise
        pause one commit for the whole copy, or let the log grow without end)."""
        try:
            frames, copied = await asyncio.to_thread(self._checkpoint_now)
            if frames < RESTART_FRAMES:
                return
            for _ in range(CATCH_UP_PASSES):     # what was committed meanwhile, while it is much
                previous, (frames, copied) = copied, await asyncio.to_thread(self._checkpoint_now)
                if copied - previous <= CATCH_UP_FRAMES:
                    break
            async with self._lock:
                if self._group is None:    # no transaction open: nothing can stop the restart
                    await asyncio.to_thread(self._checkpoint_now)
        except sqlite3.Error as exc:      # the writer's own checkpoint is the fallback: nothing is lost
            log.warning("background WAL checkpoint of %s failed: %s", self.path, exc)
        finally:
            self._checkpoint_task = None

    def _checkpoint_now(self) -> tuple[int, int]:
        """One PASSIVE checkpoint: the frames the log holds, and how many of them are copied."""
        assert self._checkpointer is not None
        _, frames, copied = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(frames), int(copied)

    # ---- reads -------------------------------------------------------------------------

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """One round trip per query: a cursor left between execute and fetch would hold a read
        transaction open, and overlapping reads would then see data from before later commits.
        A file database is read on its own connection (in aiosqlite's thread), so listings never
        wait for the engine; an in-memory one has only the writer."""
        if self._reader is None:
            assert self._writer is not None
            return self._writer.execute(sql, params).fetchall()
        return list(await self._reader.execute_fetchall(sql, params))

    async def get_run(self, run_id: str) -> Run | None:
        rows = await self._all(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        return run_from_row(rows[0]) if rows else None

    async def list_runs(self, *, status: str | None = None, function_id: str | None = None,
                        event_id: str | None = None, parent_run_id: str | None = None,
                        limit: int = 100, before: str | None = None) -> list[Run]:
        """Newest first; ``before`` is a run id cursor (ULIDs sort by creation time)."""
        by_event = "(event_id = ? OR event_id IN (SELECT internal_id FROM events WHERE id = ?))"
        clause, params = where_clause([("status = ?", status), ("function_id = ?", function_id),
                                 (by_event, (event_id, event_id) if event_id is not None else None),
                                 ("parent_run_id = ?", parent_run_id),
                                 ("id < ?", before)])
        rows = await self._all(f"SELECT {RUN_COLUMNS} FROM runs {clause} ORDER BY id DESC LIMIT ?",
                               (*params, limit))
        return [run_from_row(r) for r in rows]

    async def unfinished_runs(self) -> list[Run]:
        rows = await self._all(f"SELECT {RUN_COLUMNS} FROM runs WHERE status IN (?, ?)",
                               (RunStatus.QUEUED, RunStatus.RUNNING))
        return [run_from_row(r) for r in rows]

    async def count_runs(self) -> dict[str, int]:
        rows = await self._all("SELECT status, COUNT(*) FROM runs GROUP BY status")
        return {status: n for status, n in rows}

    async def count_runs_by_function(self) -> dict[str, dict[str, int]]:
        """Runs per function and status, counted in SQL: reading every run to count them took
        the console's Functions view most of a second at 10,000 runs."""
        counts: dict[str, dict[str, int]] = {}
        for function_id, status, n in await self._all(
                "SELECT function_id, status, COUNT(*) FROM runs GROUP BY function_id, status"):
            counts.setdefault(function_id, {})[status] = n
        return counts

    async def steps(self, run_id: str) -> list[StepState]:
        rows = await self._all(f"SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ? ORDER BY seq", (run_id,))
        return [step_from_row(r) for r in rows]

    # ---- the engine's own reads: on the writer, in its thread, seeing every commit --------------

    def writer_run(self, run_id: str) -> Run | None:
        assert self._writer is not None
        return read_run(self._writer, self._runs, run_id)

    def writer_steps(self, run_id: str) -> list[StepState]:
        assert self._writer is not None
        rows = self._writer.execute(f"SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ? ORDER BY seq", (run_id,))
        return [step_from_row(r) for r in rows.fetchall()]

    def writer_event(self, event_id: str) -> Event | None:
        assert self._writer is not None
        row = self._writer.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE internal_id = ? ORDER BY seq LIMIT 1",
                                   (event_id,)).fetchone()
        return event_from_row(row) if row else None

    def writer_run_events(self, run_id: str) -> list[Event]:
        """A batched run's events in arrival order (empty for a run of one event)."""
        assert self._writer is not None
        return [event_from_row(r) for r in self._writer.execute(_RUN_EVENTS, (run_id,)).fetchall()]

    async def run_events(self, run_id: str) -> list[Event]:
        return [event_from_row(r) for r in await self._all(_RUN_EVENTS, (run_id,))]

    async def get_event(self, event_id: str) -> Event | None:
        """By internal id, or else the first event stored with that id."""
        rows = await self._all(f"SELECT {EVENT_COLUMNS} FROM events WHERE internal_id = ? ORDER BY seq LIMIT 1",
                               (event_id,))
        if not rows:
            rows = await self._all(f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ? ORDER BY seq LIMIT 1",
                                   (event_id,))
        return event_from_row(rows[0]) if rows else None

    async def list_events(self, *, name: str | None = None, limit: int = 100,
                          before: str | None = None) -> list[Event]:
        """Newest first by arrival; ``before`` is an event id cursor."""
        clause, params = where_clause([("name = ?", name), ("seq < (SELECT MIN(seq) FROM events WHERE internal_id = ?)", before)])
        rows = await self._all(
            f"SELECT {EVENT_COLUMNS} FROM events {clause} ORDER BY seq DESC LIMIT ?", (*params, limit))
        return [event_from_row(r) for r in rows]

    async def waits(self, kinds: Sequence[str] | None = None, run_id: str | None = None) -> list[Wait]:
        """Pending waits, soonest deadline first (no deadline last)."""
        clause, params = where_clause([("kind IN (?)", tuple(kinds) if kinds else None), ("run_id = ?", run_id)])
        rows = await self._all(f"SELECT {WAIT_COLUMNS} FROM waits {clause} "
                               "ORDER BY deadline IS NULL, deadline, created_at, id", params)
        return [wait_from_row(r) for r in rows]

    async def get_wait(self, wait_id: str) -> Wait | None:
        rows = await self._all(f"SELECT {WAIT_COLUMNS} FROM waits WHERE id = ?", (wait_id,))
        return wait_from_row(rows[0]) if rows else None

    async def retries(self, run_id: str | None = None) -> list[PendingWait]:
        """Retry backoffs in progress, as lines of the waits listing (``kind`` "retry"), soonest first."""
        clause, params = where_clause([("q.kind = ?", "retry"), ("q.run_id = ?", run_id)])
        rows = await self._all(
            "SELECT q.id, q.run_id, r.function_id, q.due_at, q.payload, s.step_id, s.error FROM queue q "
            "JOIN runs r ON r.id = q.run_id "
            "LEFT JOIN steps s ON s.run_id = q.run_id AND s.hashed_id = json_extract(q.payload, '$.step') "
            f"{clause} ORDER BY q.due_at, q.id", params)
        return [PendingWait(id=r[0], run_id=r[1], function_id=r[2], kind="retry", deadline=r[3], step_id=r[5],
                            attempt=(from_json(r[4]) or {}).get("attempt"), error=from_json(r[6])) for r in rows]

    async def apps(self) -> list[dict[str, Any]]:
        rows = await self._all("SELECT name, url, sync, error, synced_at, created_at FROM apps ORDER BY name")
        return [{"name": r[0], "url": r[1], "sync": from_json(r[2]), "error": r[3], "synced_at": r[4], "created_at": r[5]}
                for r in rows]

    async def queue_items(self) -> list[QueueItem]:
        rows = await self._all("SELECT id, run_id, due_at, kind, payload FROM queue")
        return [QueueItem(id=r[0], run_id=r[1], due_at=r[2], kind=r[3], payload=from_json(r[4]) or {}) for r in rows]
