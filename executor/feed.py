"""The change feed: typed notifications published after each commit.

The console (in-process) and the HTTP SSE stream (remote) subscribe here instead of polling
the database. A subscriber may live on another thread's event loop (the console runs the
executor off its UI loop), so delivery goes through that loop's ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Change:
    kind: str                 # "run" | "step" | "event" | "wait" | "function" | "log"
    id: str
    run_id: str | None = None
    status: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[str, str]:
        """Changes with the same key supersede each other when a consumer coalesces."""
        return (self.kind, self.id)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "run_id": self.run_id, "status": self.status, "data": self.data}


class Subscription:
    """An ordered, bounded stream of changes. On overflow the oldest are dropped and
    ``overflowed`` is set, telling the consumer to reload instead of trusting the deltas."""

    def __init__(self, feed: "ChangeFeed", maxsize: int) -> None:
        self._feed = feed
        self._loop = asyncio.get_running_loop()
        self._items: deque[Change] = deque()
        self._maxsize = maxsize
        self._ready = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def _push_many(self, changes: list[Change]) -> None:
        self._items.extend(changes)
        while len(self._items) > self._maxsize:
            self._items.popleft()
            self.overflowed = True
        self._ready.set()

    def deliver(self, changes: list[Change]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._push_many(changes)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._push_many, changes)

    async def get_batch(self, max_items: int = 1000) -> list[Change]:
        """Wait for at least one change, then take what is there (oldest first)."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        batch = []
        while self._items and len(batch) < max_items:
            batch.append(self._items.popleft())
        return batch

    async def __aiter__(self) -> AsyncIterator[Change]:
        while not self.closed:
            for change in await self.get_batch():
                yield change

    def close(self) -> None:
        self.closed = True
        self._feed._remove(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ChangeFeed:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()

    def subscribe(self, maxsize: int = 100_000) -> Subscription:
        sub = Subscription(self, maxsize)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, changes: Iterable[Change]) -> None:
        batch = list(changes)
        if not batch:
            return
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.deliver(batch)
