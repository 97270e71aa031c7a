"""The rows flow control keeps: runs that collect events before they start (a debounce, a batch),
the events of a batched run, the state of each throttle and rate limit (GCRA's theoretical arrival
time), and the run holding each singleton key.

Kept apart from ``store.py`` because they are one feature's tables; the ``Tx`` hands out a
``FlowTx`` (``tx.flow``) so every write still happens inside an engine transition.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: Schema version 3: flow control. A run that never ran records why (``skip_reason``).
FLOW_SCHEMA = """
    ALTER TABLE runs ADD COLUMN skip_reason TEXT;
    CREATE TABLE run_events (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE pending_starts (
        function_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        run_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        size INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        opened_at INTEGER NOT NULL,
        due_at INTEGER NOT NULL,
        deadline INTEGER,
        event_ts INTEGER,
        PRIMARY KEY (function_id, kind, key)
    ) WITHOUT ROWID;
    CREATE INDEX pending_starts_run ON pending_starts(run_id);
    CREATE TABLE flow_limits (
        function_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        tat INTEGER NOT NULL,
        PRIMARY KEY (function_id, kind, key)
    ) WITHOUT ROWID;
    CREATE TABLE singletons (
        function_id TEXT NOT NULL,
        key TEXT NOT NULL,
        run_id TEXT NOT NULL,
        PRIMARY KEY (function_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX singletons_run ON singletons(run_id)
"""


@dataclass(frozen=True)
class PendingStart:
    """A run collecting events before it starts: ``kind`` "debounce" (its event is the last one)
    or "batch" (``size`` events so far, ``bytes`` of them). ``item_id`` is its start item, due at
    ``due_at``; ``deadline`` caps how late a debounce may start; ``event_ts`` is the ``ts`` of the
    debounce's event, so an older event arriving late does not replace it."""

    function_id: str
    kind: str
    key: str
    run_id: str
    item_id: str
    size: int
    bytes: int
    opened_at: int
    due_at: int
    deadline: int | None = None
    event_ts: int | None = None


_PENDING_COLUMNS = "function_id, kind, key, run_id, item_id, size, bytes, opened_at, due_at, deadline, event_ts"


def _pending(row: Sequence[Any]) -> PendingStart:
    return PendingStart(*row)


class FlowTx:
    """Flow-control statements of one transition (``Tx.flow``), on the writer like ``Tx``'s."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    async def add_run_events(self, run_id: str, first_seq: int, event_ids: Iterable[str]) -> None:
        self._db.executemany("INSERT INTO run_events (run_id, seq, event_id) VALUES (?,?,?)",
                                   [(run_id, first_seq + i, e) for i, e in enumerate(event_ids)])

    async def pending(self, function_id: str, kind: str, key: str) -> PendingStart | None:
        cur = self._db.execute(f"SELECT {_PENDING_COLUMNS} FROM pending_starts "
                                     "WHERE function_id = ? AND kind = ? AND key = ?", (function_id, kind, key))
        row = cur.fetchone()
        return _pending(row) if row else None

    async def put_pending(self, p: PendingStart) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO pending_starts ({_PENDING_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (p.function_id, p.kind, p.key, p.run_id, p.item_id, p.size, p.bytes, p.opened_at, p.due_at,
             p.deadline, p.event_ts))

    async def close_pending(self, run_id: str) -> PendingStart | None:
        """The run stops collecting events (its start item is due, or it ended): later events
        open a new debounce or batch."""
        cur = self._db.execute(f"DELETE FROM pending_starts WHERE run_id = ? RETURNING {_PENDING_COLUMNS}",
                                     (run_id,))
        row = cur.fetchone()
        return _pending(row) if row else None

    async def tat(self, function_id: str, kind: str, key: str) -> int | None:
        cur = self._db.execute("SELECT tat FROM flow_limits WHERE function_id = ? AND kind = ? AND key = ?",
                                     (function_id, kind, key))
        row = cur.fetchone()
        return row[0] if row else None

    async def set_tat(self, function_id: str, kind: str, key: str, tat: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO flow_limits (function_id, kind, key, tat) VALUES (?,?,?,?)",
                               (function_id, kind, key, tat))

    async def singleton(self, function_id: str, key: str) -> str | None:
        cur = self._db.execute("SELECT run_id FROM singletons WHERE function_id = ? AND key = ?",
                                     (function_id, key))
        row = cur.fetchone()
        return row[0] if row else None

    async def hold_singleton(self, function_id: str, key: str, run_id: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO singletons (function_id, key, run_id) VALUES (?,?,?)",
                               (function_id, key, run_id))

    async def release_run(self, run_id: str) -> PendingStart | None:
        """A run ended: it holds no singleton key and collects no more events."""
        self._db.execute("DELETE FROM singletons WHERE run_id = ?", (run_id,))
        return await self.close_pending(run_id)


class FlowReads:
    """Flow-control reads for the API and the console, on the store's reader connection."""

    def __init__(self, fetch: Any) -> None:
        self._all = fetch

    async def pending_for(self, run_ids: Sequence[str]) -> dict[str, PendingStart]:
        if not run_ids:
            return {}
        rows = await self._all(f"SELECT {_PENDING_COLUMNS} FROM pending_starts "
                               f"WHERE run_id IN ({','.join('?' * len(run_ids))})", tuple(run_ids))
        return {row[3]: _pending(row) for row in rows}

    async def pending_of(self, function_id: str) -> list[PendingStart]:
        rows = await self._all(f"SELECT {_PENDING_COLUMNS} FROM pending_starts WHERE function_id = ? "
                               "ORDER BY due_at", (function_id,))
        return [_pending(row) for row in rows]

    async def limits(self, kind: str) -> list[tuple[str, str, int]]:
        """(function id, key, tat) of every throttle or rate limit with state."""
        return [tuple(row) for row in await self._all(
            "SELECT function_id, key, tat FROM flow_limits WHERE kind = ?", (kind,))]

    async def singletons_of(self, function_id: str) -> dict[str, str]:
        return {row[0]: row[1] for row in await self._all(
            "SELECT key, run_id FROM singletons WHERE function_id = ?", (function_id,))}
