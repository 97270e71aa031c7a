"""SQLite persistence through aiosqlite: schema, migrations and every query.

One writer connection behind an asyncio lock (WAL mode): each engine transition is one
transaction, so a crash leaves the database at a transition boundary. File databases get a
second, read-only connection so listings for the console and API never queue behind the engine.
The ``durability`` setting picks SQLite's ``synchronous`` level (WAL in both): ``"normal"``
survives a killed process (the case the crash test covers), and an operating-system crash or
power loss can drop the last transactions; ``"full"`` syncs the WAL to disk on every commit, so a
committed transition survives power loss too, at the cost of one fsync per commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Literal

import aiosqlite

from executor.records import Event, QueueItem, Run, RunStatus, StepState, Wait
from executor.util import jsonvalues

SCHEMA_VERSION = 2

Durability = Literal["normal", "full"]
#: ``durability`` value → the ``PRAGMA synchronous`` level that gives it.
_SYNCHRONOUS: dict[str, str] = {"normal": "NORMAL", "full": "FULL"}
DURABILITIES: tuple[str, ...] = tuple(_SYNCHRONOUS)

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        data BLOB NOT NULL,
        ts INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        user BLOB,
        v TEXT
    );
    CREATE INDEX events_name ON events(name, seq);
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        function_id TEXT NOT NULL,
        event_id TEXT,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        ended_at INTEGER,
        output BLOB,
        error BLOB,
        invocations INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0,
        step_count INTEGER NOT NULL DEFAULT 0,
        state_bytes INTEGER NOT NULL DEFAULT 0,
        function_version TEXT,
        finished_version TEXT,
        nondeterminism BLOB,
        current_step TEXT,
        parent_run_id TEXT,
        parent_step TEXT,
        mode TEXT NOT NULL
    );
    CREATE INDEX runs_status ON runs(status, id);
    CREATE INDEX runs_function ON runs(function_id, id);
    CREATE INDEX runs_event ON runs(event_id);
    CREATE TABLE steps (
        run_id TEXT NOT NULL,
        hashed_id TEXT NOT NULL,
        step_id TEXT NOT NULL,
        name TEXT NOT NULL,
        op TEXT NOT NULL,
        seq INTEGER NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        memo BLOB,
        error BLOB,
        started_at INTEGER,
        ended_at INTEGER,
        due_at INTEGER,
        detail BLOB,
        grp TEXT,
        PRIMARY KEY (run_id, hashed_id)
    ) WITHOUT ROWID;
    CREATE TABLE queue (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        payload BLOB
    );
    CREATE INDEX queue_run ON queue(run_id);
    CREATE TABLE waits (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        function_id TEXT NOT NULL,
        hashed_id TEXT,
        step_id TEXT,
        kind TEXT NOT NULL,
        event_name TEXT,
        expression TEXT,
        source TEXT,
        signal TEXT,
        child_run_id TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        deadline INTEGER,
        created_at INTEGER NOT NULL,
        index_key BLOB
    );
    CREATE INDEX waits_run ON waits(run_id);
    CREATE INDEX waits_kind ON waits(kind, deadline);
    """,
    # v2: every event is stored under its own internal id (an event id seen before is stored again,
    # as on Inngest; a function's runs are deduplicated by idempotency keys instead), and apps
    # synced over Inngest's protocol survive a restart.
    2: """
    CREATE TABLE events_v2 (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        internal_id TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        data BLOB NOT NULL,
        ts INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        user BLOB,
        v TEXT,
        notes BLOB
    );
    INSERT INTO events_v2 (seq, internal_id, id, name, data, ts, received_at, user, v)
        SELECT seq, id, id, name, data, ts, received_at, user, v FROM events;
    DROP TABLE events;
    ALTER TABLE events_v2 RENAME TO events;
    CREATE INDEX events_name ON events(name, seq);
    CREATE INDEX events_id ON events(id);
    CREATE INDEX events_internal ON events(internal_id);
    CREATE TABLE idempotency (
        function_id TEXT NOT NULL,
        key TEXT NOT NULL,
        run_id TEXT,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (function_id, key)
    ) WITHOUT ROWID;
    INSERT INTO idempotency (function_id, key, run_id, expires_at)
        SELECT function_id, event_id, MIN(id), 9223372036854775807 FROM runs
        WHERE event_id IS NOT NULL GROUP BY function_id, event_id;
    CREATE TABLE apps (
        name TEXT PRIMARY KEY,
        url TEXT,
        sync BLOB,
        error TEXT,
        synced_at INTEGER,
        created_at INTEGER NOT NULL
    );
    """,
}


class SchemaError(RuntimeError):
    """The database was written by a newer durable-tui, or is not ours."""


def _j(value: Any) -> bytes | None:
    return None if value is None else jsonvalues.dumps(value)


def _jl(raw: bytes | None) -> Any:
    return None if raw is None else jsonvalues.loads(raw)


_RUN_COLUMNS = ("id, function_id, event_id, status, created_at, started_at, ended_at, output, error, "
                "invocations, attempt, step_count, state_bytes, function_version, finished_version, "
                "nondeterminism, current_step, parent_run_id, parent_step, mode")
_WAIT_COLUMNS = ("id, run_id, function_id, hashed_id, step_id, kind, event_name, expression, source, signal, "
                 "child_run_id, active, deadline, created_at, index_key")
_STEP_COLUMNS = ("run_id, hashed_id, step_id, name, op, seq, status, attempts, memo, error, "
                 "started_at, ended_at, due_at, detail, grp")


def _where(conditions: Sequence[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """A WHERE clause from ``(sql, value)`` pairs, skipping those whose value is None;
    a tuple value fills an ``IN (?, …)`` placeholder group."""
    parts: list[str] = []
    params: list[Any] = []
    for sql, value in conditions:
        if value is None:
            continue
        if isinstance(value, tuple):
            parts.append(sql.replace("(?)", f"({','.join('?' * len(value))})"))
            params.extend(value)
        else:
            parts.append(sql)
            params.append(value)
    return (f"WHERE {' AND '.join(parts)}" if parts else ""), params


def _run_from_row(row: Sequence[Any]) -> Run:
    return Run(
        id=row[0], function_id=row[1], event_id=row[2], status=row[3], created_at=row[4],
        started_at=row[5], ended_at=row[6], output=_jl(row[7]), error=_jl(row[8]),
        invocations=row[9], attempt=row[10], step_count=row[11], state_bytes=row[12],
        function_version=row[13], finished_version=row[14], nondeterminism=_jl(row[15]) or [],
        current_step=row[16], parent_run_id=row[17], parent_step=row[18], mode=row[19],
    )


def _step_from_row(row: Sequence[Any]) -> StepState:
    return StepState(
        run_id=row[0], hashed_id=row[1], step_id=row[2], name=row[3], op=row[4], seq=row[5],
        status=row[6], attempts=row[7], memo=_jl(row[8]), error=_jl(row[9]), started_at=row[10],
        ended_at=row[11], due_at=row[12], detail=_jl(row[13]) or {}, group=row[14],
    )


def _wait_from_row(row: Sequence[Any]) -> Wait:
    return Wait(id=row[0], run_id=row[1], function_id=row[2], hashed_id=row[3], step_id=row[4], kind=row[5],
                event_name=row[6], expression=row[7], source=row[8], signal=row[9], child_run_id=row[10],
                active=bool(row[11]), deadline=row[12], created_at=row[13], index_key=_jl(row[14]))


_EVENT_COLUMNS = "id, name, data, ts, user, v, internal_id, received_at, notes"


def _event_from_row(row: Sequence[Any]) -> Event:
    return Event(id=row[0], name=row[1], data=_jl(row[2]) or {}, ts=row[3], user=_jl(row[4]), v=row[5],
                 internal_id=row[6], received_at=row[7], notes=_jl(row[8]))


class Tx:
    """The statements one engine transition may make; only valid inside ``Store.tx()``."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def insert_events(self, events: Iterable[Event], received_at: int) -> set[str]:
        """Store events; returns the internal ids not seen before. A client that retries a send
        with the same seed repeats the ids: the copies are stored (as Inngest does) but only new
        ids are routed."""
        new: set[str] = set()
        for ev in events:
            cur = await self._db.execute("SELECT 1 FROM events WHERE internal_id = ? LIMIT 1", (ev.internal_id,))
            if await cur.fetchone() is None:
                new.add(ev.internal_id)
            await self._db.execute(
                "INSERT INTO events (internal_id, id, name, data, ts, received_at, user, v) VALUES (?,?,?,?,?,?,?,?)",
                (ev.internal_id, ev.id, ev.name, _j(ev.data), ev.ts, received_at, _j(ev.user), ev.v),
            )
        return new

    async def claim_key(self, function_id: str, key: str, run_id: str, now: int, ttl_ms: int) -> bool:
        """Take ``key`` for ``function_id`` (one run per key while it lives); False if it is taken."""
        await self._db.execute("DELETE FROM idempotency WHERE function_id = ? AND key = ? AND expires_at <= ?",
                               (function_id, key, now))
        cur = await self._db.execute(
            "INSERT OR IGNORE INTO idempotency (function_id, key, run_id, expires_at) VALUES (?,?,?,?)",
            (function_id, key, run_id, now + ttl_ms))
        return cur.rowcount == 1
    async def add_event_notes(self, internal_id: str, notes: Sequence[str]) -> None:
        """Record what routing could not evaluate for this event (kept with the event)."""
        await self._db.execute("UPDATE events SET notes = ? WHERE internal_id = ?", (_j(list(notes)), internal_id))

    async def insert_run(self, run: Run) -> None:
        await self._db.execute(
            f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({','.join('?' * 20)})",
            (run.id, run.function_id, run.event_id, run.status, run.created_at, run.started_at,
             run.ended_at, _j(run.output), _j(run.error), run.invocations, run.attempt, run.step_count,
             run.state_bytes, run.function_version, run.finished_version, _j(run.nondeterminism or None),
             run.current_step, run.parent_run_id, run.parent_step, run.mode),
        )

    async def update_run(self, run_id: str, **fields: Any) -> None:
        json_fields = {"output", "error", "nondeterminism"}
        sets, params = [], []
        for key, value in fields.items():
            sets.append(f"{key} = ?")
            params.append(_j(value) if key in json_fields else value)
        params.append(run_id)
        await self._db.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", params)

    async def add_run_usage(self, run_id: str, steps: int, state_bytes: int, current_step: str | None,
                            now: int) -> None:
        """Count a committed step against the run's limits and mark the run as started."""
        await self._db.execute(
            "UPDATE runs SET step_count = step_count + ?, state_bytes = state_bytes + ?, "
            "current_step = COALESCE(?, current_step), "
            "status = CASE WHEN status = ? THEN ? ELSE status END, "
            "started_at = COALESCE(started_at, ?) WHERE id = ?",
            (steps, state_bytes, current_step, RunStatus.QUEUED, RunStatus.RUNNING, now, run_id),
        )

    async def save_step(self, step: StepState) -> None:
        await self._db.execute(
            f"INSERT OR REPLACE INTO steps ({_STEP_COLUMNS}) VALUES ({','.join('?' * 15)})",
            (step.run_id, step.hashed_id, step.step_id, step.name, step.op, step.seq, step.status,
             step.attempts, _j(step.memo), _j(step.error), step.started_at, step.ended_at, step.due_at,
             _j(step.detail or None), step.group),
        )

    async def get_step(self, run_id: str, hashed_id: str) -> StepState | None:
        cur = await self._db.execute(f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? AND hashed_id = ?",
                                     (run_id, hashed_id))
        row = await cur.fetchone()
        return _step_from_row(row) if row else None

    async def get_run(self, run_id: str) -> Run | None:
        """The run as this transaction sees it (the engine decides from this, never from a reader)."""
        cur = await self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        row = await cur.fetchone()
        return _run_from_row(row) if row else None

    async def group_steps(self, run_id: str, group: str) -> list[StepState]:
        cur = await self._db.execute(f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? AND grp = ?",
                                     (run_id, group))
        return [_step_from_row(r) for r in await cur.fetchall()]

    async def enqueue(self, item: QueueItem) -> QueueItem:
        await self._db.execute(
            "INSERT INTO queue (id, run_id, due_at, kind, payload) VALUES (?,?,?,?,?)",
            (item.id, item.run_id, item.due_at, item.kind, _j(item.payload or None)),
        )
        return item

    async def dequeue(self, item_id: str) -> None:
        await self._db.execute("DELETE FROM queue WHERE id = ?", (item_id,))

    async def add_wait(self, wait: Wait) -> None:
        await self._db.execute(
            f"INSERT OR REPLACE INTO waits ({_WAIT_COLUMNS}) VALUES ({','.join('?' * 15)})",
            (wait.id, wait.run_id, wait.function_id, wait.hashed_id, wait.step_id, wait.kind, wait.event_name,
             wait.expression, wait.source, wait.signal, wait.child_run_id, int(wait.active), wait.deadline,
             wait.created_at, _j(wait.index_key)),
        )

    async def save_app(self, name: str, url: str | None, sync: Any, error: str | None, synced_at: int | None,
                       now: int) -> None:
        """An app as last synced (``sync``: the register body, re-read at start) or its sync error."""
        await self._db.execute(
            "INSERT INTO apps (name, url, sync, error, synced_at, created_at) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET url = excluded.url, sync = COALESCE(excluded.sync, apps.sync), "
            "error = excluded.error, synced_at = COALESCE(excluded.synced_at, apps.synced_at)",
            (name, url, _j(sync), error, synced_at, now))

    async def delete_app(self, name: str) -> bool:
        cur = await self._db.execute("DELETE FROM apps WHERE name = ?", (name,))
        return cur.rowcount > 0

    async def get_queue_item(self, item_id: str) -> QueueItem | None:
        cur = await self._db.execute("SELECT id, run_id, due_at, kind, payload FROM queue WHERE id = ?", (item_id,))
        r = await cur.fetchone()
        return QueueItem(id=r[0], run_id=r[1], due_at=r[2], kind=r[3], payload=_jl(r[4]) or {}) if r else None

    async def get_wait(self, wait_id: str) -> Wait | None:
        cur = await self._db.execute(f"SELECT {_WAIT_COLUMNS} FROM waits WHERE id = ?", (wait_id,))
        row = await cur.fetchone()
        return _wait_from_row(row) if row else None

    async def remove_wait(self, wait_id: str) -> None:
        await self._db.execute("DELETE FROM waits WHERE id = ?", (wait_id,))

    async def deactivate_wait(self, wait_id: str) -> None:
        await self._db.execute("UPDATE waits SET active = 0 WHERE id = ?", (wait_id,))

    async def remove_run_waits(self, run_id: str) -> list[str]:
        cur = await self._db.execute("DELETE FROM waits WHERE run_id = ? RETURNING id", (run_id,))
        return [row[0] for row in await cur.fetchall()]

    async def find_queue_item(self, run_id: str, kind: str, hashed_id: str | None) -> QueueItem | None:
        cur = await self._db.execute("SELECT id, run_id, due_at, kind, payload FROM queue WHERE run_id = ? AND kind = ?",
                                     (run_id, kind))
        for r in await cur.fetchall():
            item = QueueItem(id=r[0], run_id=r[1], due_at=r[2], kind=r[3], payload=_jl(r[4]) or {})
            if item.payload.get("step") == hashed_id:
                return item
        return None

    async def dequeue_run(self, run_id: str) -> list[str]:
        cur = await self._db.execute("DELETE FROM queue WHERE run_id = ? RETURNING id", (run_id,))
        return [row[0] for row in await cur.fetchall()]


class Store:
    def __init__(self, path: str, durability: Durability = "normal") -> None:
        if durability not in _SYNCHRONOUS:
            raise ValueError(f"durability must be one of {', '.join(map(repr, DURABILITIES))}, not {durability!r}: "
                             "'normal' survives a killed process, 'full' also an OS crash or power loss")
        self.path = path
        self.durability = durability
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock: Any = None

    @property
    def in_memory(self) -> bool:
        return self.path == ":memory:" or self.path.startswith("file::memory:")

    async def open(self) -> None:
        self._lock = asyncio.Lock()
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        await self._writer.execute("PRAGMA busy_timeout = 10000")
        if not self.in_memory:
            await self._writer.execute("PRAGMA journal_mode = WAL")
        await self._writer.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[self.durability]}")
        await self._migrate()
        if self.in_memory:
            self._reader = self._writer
        else:
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            await self._reader.execute("PRAGMA busy_timeout = 10000")
            await self._reader.execute("PRAGMA query_only = 1")

    async def close(self) -> None:
        if self._reader is not None and self._reader is not self._writer:
            await self._reader.close()
        if self._writer is not None:
            await self._writer.close()
        self._reader = self._writer = None

    async def _migrate(self) -> None:
        assert self._writer is not None
        await self._writer.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        cur = await self._writer.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        row = await cur.fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise SchemaError(
                f"{self.path} has schema version {current}, newer than this durable-tui "
                f"understands ({SCHEMA_VERSION}); upgrade durable-tui or use another --db file"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
                        await self._writer.execute(statement)
                await self._writer.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(version),)
                )
                await self._writer.execute("COMMIT")
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise

    @contextlib.asynccontextmanager
    async def tx(self) -> AsyncIterator[Tx]:
        """One engine transition: all its statements commit together or not at all."""
        assert self._writer is not None and self._lock is not None
        async with self._lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                yield Tx(self._writer)
            except BaseException:
                # Also on cancellation, even one that lands while BEGIN is still running in
                # aiosqlite's thread: the ROLLBACK is queued behind it, so the connection never
                # stays inside a half-done transaction.
                await asyncio.shield(self._rollback())
                raise
            await self._writer.execute("COMMIT")

    async def _rollback(self) -> None:
        assert self._writer is not None
        try:
            await self._writer.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass   # BEGIN never ran: nothing to undo

    # ---- reads -------------------------------------------------------------------------

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """One round trip per query: a cursor left between execute and fetch would hold a read
        transaction open, and overlapping reads would then see data from before later commits."""
        assert self._reader is not None
        return list(await self._reader.execute_fetchall(sql, params))

    async def get_run(self, run_id: str) -> Run | None:
        rows = await self._all(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        return _run_from_row(rows[0]) if rows else None

    async def list_runs(self, *, status: str | None = None, function_id: str | None = None,
                        event_id: str | None = None, parent_run_id: str | None = None,
                        limit: int = 100, before: str | None = None) -> list[Run]:
        """Newest first; ``before`` is a run id cursor (ULIDs sort by creation time)."""
        by_event = "(event_id = ? OR event_id IN (SELECT internal_id FROM events WHERE id = ?))"
        clause, params = _where([("status = ?", status), ("function_id = ?", function_id),
                                 (by_event, (event_id, event_id) if event_id is not None else None),
                                 ("parent_run_id = ?", parent_run_id),
                                 ("id < ?", before)])
        rows = await self._all(f"SELECT {_RUN_COLUMNS} FROM runs {clause} ORDER BY id DESC LIMIT ?",
                               (*params, limit))
        return [_run_from_row(r) for r in rows]

    async def unfinished_runs(self) -> list[Run]:
        rows = await self._all(f"SELECT {_RUN_COLUMNS} FROM runs WHERE status IN (?, ?)",
                               (RunStatus.QUEUED, RunStatus.RUNNING))
        return [_run_from_row(r) for r in rows]

    async def count_runs(self) -> dict[str, int]:
        rows = await self._all("SELECT status, COUNT(*) FROM runs GROUP BY status")
        return {status: n for status, n in rows}

    async def steps(self, run_id: str) -> list[StepState]:
        rows = await self._all(f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? ORDER BY seq", (run_id,))
        return [_step_from_row(r) for r in rows]

    async def steps_from_writer(self, run_id: str) -> list[StepState]:
        """The memo as the engine must see it: read on the writer so nothing committed is missed."""
        assert self._writer is not None
        rows = await self._writer.execute_fetchall(
            f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? ORDER BY seq", (run_id,))
        return [_step_from_row(r) for r in rows]

    async def get_event(self, event_id: str) -> Event | None:
        """By internal id, or else the first event stored with that id."""
        rows = await self._all(f"SELECT {_EVENT_COLUMNS} FROM events WHERE internal_id = ? ORDER BY seq LIMIT 1",
                               (event_id,))
        if not rows:
            rows = await self._all(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = ? ORDER BY seq LIMIT 1",
                                   (event_id,))
        return _event_from_row(rows[0]) if rows else None

    async def list_events(self, *, name: str | None = None, limit: int = 100,
                          before: str | None = None) -> list[Event]:
        """Newest first by arrival; ``before`` is an event id cursor."""
        clause, params = _where([("name = ?", name), ("seq < (SELECT MIN(seq) FROM events WHERE internal_id = ?)", before)])
        rows = await self._all(
            f"SELECT {_EVENT_COLUMNS} FROM events {clause} ORDER BY seq DESC LIMIT ?", (*params, limit))
        return [_event_from_row(r) for r in rows]

    async def waits(self, kinds: Sequence[str] | None = None, run_id: str | None = None) -> list[Wait]:
        """Pending waits, soonest deadline first (no deadline last)."""
        clause, params = _where([("kind IN (?)", tuple(kinds) if kinds else None), ("run_id = ?", run_id)])
        rows = await self._all(f"SELECT {_WAIT_COLUMNS} FROM waits {clause} "
                               "ORDER BY deadline IS NULL, deadline, created_at", params)
        return [_wait_from_row(r) for r in rows]

    async def get_wait(self, wait_id: str) -> Wait | None:
        rows = await self._all(f"SELECT {_WAIT_COLUMNS} FROM waits WHERE id = ?", (wait_id,))
        return _wait_from_row(rows[0]) if rows else None

    async def retries(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Retry backoffs in progress, shaped like the waits listing (``kind`` "retry"), soonest first."""
        clause, params = _where([("q.kind = ?", "retry"), ("q.run_id = ?", run_id)])
        rows = await self._all(
            "SELECT q.id, q.run_id, r.function_id, q.due_at, q.payload, s.step_id, s.error FROM queue q "
            "JOIN runs r ON r.id = q.run_id "
            "LEFT JOIN steps s ON s.run_id = q.run_id AND s.hashed_id = json_extract(q.payload, '$.step') "
            f"{clause} ORDER BY q.due_at", params)
        return [{"id": r[0], "run_id": r[1], "function_id": r[2], "kind": "retry", "deadline": r[3],
                 "step_id": r[5], "attempt": (_jl(r[4]) or {}).get("attempt"), "error": _jl(r[6]),
                 "event": None, "expression": None, "signal": None, "child_run_id": None, "active": True,
                 "created_at": None} for r in rows]

    async def apps(self) -> list[dict[str, Any]]:
        rows = await self._all("SELECT name, url, sync, error, synced_at, created_at FROM apps ORDER BY name")
        return [{"name": r[0], "url": r[1], "sync": _jl(r[2]), "error": r[3], "synced_at": r[4], "created_at": r[5]}
                for r in rows]

    async def queue_items(self) -> list[QueueItem]:
        rows = await self._all("SELECT id, run_id, due_at, kind, payload FROM queue")
        return [QueueItem(id=r[0], run_id=r[1], due_at=r[2], kind=r[3], payload=_jl(r[4]) or {}) for r in rows]
