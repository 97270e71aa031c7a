"""Who owns a database file: one writer per SQLite file.

``durable-tui serve`` claims its database with an exclusive OS lock on ``<db>.lock`` and writes its
address into that file. A console started on the same database reads the address and attaches to the
server over HTTP instead of opening the file as a second writer, whose transactions and timers would
race the server's. The lock is the kernel's (``flock``), so it disappears with the process however
that process ends: a crashed server never leaves the database "owned".
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from types import TracebackType
from typing import Any

#: A probe (``current_owner``) holds a shared lock for microseconds; a claim retries this long before
#: deciding the lock is really held.
_CLAIM_RETRIES = 3
_CLAIM_RETRY_SECONDS = 0.02


class DatabaseOwnedError(RuntimeError):
    """Another process serves this database; ``url`` is where to reach it (None if it did not say)."""

    def __init__(self, db_path: str, owner: dict[str, Any] | None) -> None:
        self.db_path = db_path
        self.owner = owner or {}
        self.url: str | None = self.owner.get("url")
        pid = self.owner.get("pid")
        if self.url:
            by = f"durable-tui serve (pid {pid}) at {self.url}"
        else:
            by = f"another durable-tui (pid {pid})" if pid else "another process"
        super().__init__(f"database {db_path} is in use by {by}")


def lock_path(db_path: str) -> str:
    return f"{db_path}.lock"


class Ownership:
    """A held claim on a database; ``release()`` (or leaving the ``with`` block) gives it up."""

    def __init__(self, db_path: str, fd: int, record: dict[str, Any]) -> None:
        self.db_path = db_path
        self.record = record
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Empty the lock file, then unlock. The file itself stays: deleting it would let a new
        claimant lock a fresh file while a slower one still locks the unlinked old one."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> "Ownership":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def claim(db_path: str, url: str | None) -> Ownership:
    """Take the database for this process, recording ``url`` for consoles that want to attach
    (None for an owner without an HTTP API, such as the headless runner).

    Raises ``DatabaseOwnedError`` (with the owner's ``url``) when another process holds it.
    """
    fd = os.open(lock_path(db_path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for attempt in range(_CLAIM_RETRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == _CLAIM_RETRIES - 1:
                    raise DatabaseOwnedError(db_path, _read_record(fd)) from None
                time.sleep(_CLAIM_RETRY_SECONDS)
        record = {"pid": os.getpid(), "url": url, "started_at": int(time.time() * 1000)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    return Ownership(db_path, fd, record)


def current_owner(db_path: str) -> dict[str, Any] | None:
    """The owner's record ``{"pid", "url", "started_at"}``, or None when nobody holds the database
    (including a lock file left by a process that has since exited). ``{}`` while an owner is
    between taking the lock and writing its record."""
    try:
        fd = os.open(lock_path(db_path), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_record(fd) or {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_record(fd: int) -> dict[str, Any] | None:
    raw = os.pread(fd, 64 * 1024, 0)
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
