"""The database's shape: the schema and its migrations, and how rows become records.

Each schema version is one migration applied in its own transaction; a database written by a newer
durable-tui is refused rather than misread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from executor.records import Event, Run, StepState, Wait
from executor.store.flowrows import FLOW_SCHEMA
from executor.util import jsonvalues

SCHEMA_VERSION = 3

Durability = Literal["normal", "full"]
#: ``durability`` value → the ``PRAGMA synchronous`` level that gives it.
SYNCHRONOUS: dict[str, str] = {"normal": "NORMAL", "full": "FULL"}
DURABILITIES: tuple[str, ...] = tuple(SYNCHRONOUS)

MIGRATIONS: dict[int, str] = {
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
    3: FLOW_SCHEMA,
}


class SchemaError(RuntimeError):
    """The database was written by a newer durable-tui, or is not ours."""


def to_json(value: Any) -> bytes | None:
    return None if value is None else jsonvalues.dumps(value)


def from_json(raw: bytes | None) -> Any:
    return None if raw is None else jsonvalues.loads(raw)


RUN_COLUMNS = ("id, function_id, event_id, status, created_at, started_at, ended_at, output, error, "
                "invocations, attempt, step_count, state_bytes, function_version, finished_version, "
                "nondeterminism, current_step, parent_run_id, parent_step, mode, skip_reason")
WAIT_COLUMNS = ("id, run_id, function_id, hashed_id, step_id, kind, event_name, expression, source, signal, "
                 "child_run_id, active, deadline, created_at, index_key")
STEP_COLUMNS = ("run_id, hashed_id, step_id, name, op, seq, status, attempts, memo, error, "
                 "started_at, ended_at, due_at, detail, grp")


def where_clause(conditions: Sequence[tuple[str, Any]]) -> tuple[str, list[Any]]:
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


def run_from_row(row: Sequence[Any]) -> Run:
    return Run(
        id=row[0], function_id=row[1], event_id=row[2], status=row[3], created_at=row[4],
        started_at=row[5], ended_at=row[6], output=from_json(row[7]), error=from_json(row[8]),
        invocations=row[9], attempt=row[10], step_count=row[11], state_bytes=row[12],
        function_version=row[13], finished_version=row[14], nondeterminism=from_json(row[15]) or [],
        current_step=row[16], parent_run_id=row[17], parent_step=row[18], mode=row[19], skip_reason=row[20],
    )


def step_from_row(row: Sequence[Any]) -> StepState:
    return StepState(
        run_id=row[0], hashed_id=row[1], step_id=row[2], name=row[3], op=row[4], seq=row[5],
        status=row[6], attempts=row[7], memo=from_json(row[8]), error=from_json(row[9]), started_at=row[10],
        ended_at=row[11], due_at=row[12], detail=from_json(row[13]) or {}, group=row[14],
    )


def wait_from_row(row: Sequence[Any]) -> Wait:
    return Wait(id=row[0], run_id=row[1], function_id=row[2], hashed_id=row[3], step_id=row[4], kind=row[5],
                event_name=row[6], expression=row[7], source=row[8], signal=row[9], child_run_id=row[10],
                active=bool(row[11]), deadline=row[12], created_at=row[13], index_key=from_json(row[14]))


EVENT_COLUMNS = "id, name, data, ts, user, v, internal_id, received_at, notes"


def event_from_row(row: Sequence[Any]) -> Event:
    return Event(id=row[0], name=row[1], data=from_json(row[2]) or {}, ts=row[3], user=from_json(row[4]), v=row[5],
                 internal_id=row[6], received_at=row[7], notes=from_json(row[8]))


