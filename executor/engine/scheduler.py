"""The durable queue's in-memory mirror and its single timer.

Every due item (start or continue a run, end a sleep, retry after backoff, cancel) is a row
in the ``queue`` table; this scheduler keeps a heap of them and sleeps on the injected clock
until the earliest is due — no polling loop. Items of one run are handled one at a time, in
due order — except those that run one planned step (payload ``target``): the steps of a parallel
batch execute together, as they do on Inngest; and a flow-control deadline, which must be able to
cancel a run whose call is in progress. Different runs proceed concurrently up to
``concurrency``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from executor.records import QueueItem, QueueKind
from executor.util.clock import Clock

log = logging.getLogger("durable_tui.scheduler")


class Scheduler:
    def __init__(self, clock: Clock, handle: Callable[[QueueItem], Awaitable[None]], concurrency: int = 64) -> None:
        self._clock = clock
        self._handle = handle
        self._heap: list[tuple[int, int, str]] = []
        self._items: dict[str, QueueItem] = {}
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._per_run: dict[str, deque[QueueItem]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._targeted: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(concurrency)
        self._loop_task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def busy(self) -> bool:
        """Whether more than one run (or targeted step) is in hand at once."""
        return len(self._workers) + len(self._targeted) > 1

    def next_due(self) -> int | None:
        while self._heap and self._heap[0][2] not in self._items:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def push(self, items: Iterable[QueueItem]) -> None:
        """Items due already go straight to their run's worker (a run just created or woken
        starts without a round trip through the timer loop); later ones wait on the heap."""
        now = self._clock.now_ms()
        later = False
        for item in items:
            self._items[item.id] = item
            if item.due_at <= now and self._loop_task is not None:
                self._dispatch(item)
            else:
                heapq.heappush(self._heap, (item.due_at, next(self._seq), item.id))
                later = True
        if later:
            self._wake.set()

    def discard(self, item_ids: Iterable[str]) -> None:
        """Forget items whose rows were deleted (a run finished, a wait was satisfied)."""
        for item_id in item_ids:
            self._items.pop(item_id, None)

    def items(self) -> list[QueueItem]:
        return sorted(self._items.values(), key=lambda i: i.due_at)

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="durable-scheduler")

    async def stop(self) -> None:
        tasks = [t for t in (self._loop_task, *self._workers.values(), *self._targeted) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()

    async def _run(self) -> None:
        while True:
            now = self._clock.now_ms()
            while (due := self.next_due()) is not None and due <= now:
                _, _, item_id = heapq.heappop(self._heap)
                item = self._items.get(item_id)
                if item is not None:
                    self._dispatch(item)
            self._wake.clear()
            due = self.next_due()
            waiters: set[asyncio.Task[object]] = {asyncio.create_task(self._wake.wait())}
            if due is not None:
                waiters.add(asyncio.create_task(self._clock.sleep_until(due)))
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    def _dispatch(self, item: QueueItem) -> None:
        if item.payload.get("target") or item.kind == QueueKind.DEADLINE:
            task = asyncio.create_task(self._one(item), name=f"{item.kind} {item.payload.get('target', '')} of run "
                                                             f"{item.run_id}")
            self._targeted.add(task)
            task.add_done_callback(self._targeted.discard)
            return
        self._per_run.setdefault(item.run_id, deque()).append(item)
        if item.run_id not in self._workers:
            self._workers[item.run_id] = asyncio.create_task(self._drain(item.run_id))

    async def _drain(self, run_id: str) -> None:
        queue = self._per_run[run_id]
        try:
            while queue:
                await self._one(queue.popleft())
        finally:
            self._workers.pop(run_id, None)
            if not queue:
                self._per_run.pop(run_id, None)

    async def _one(self, item: QueueItem) -> None:
        if item.id not in self._items:
            return
        async with self.slots:
            try:
                await self._handle(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The row is still in the database; try again shortly rather than lose it.
                log.exception("queue item %s (%s) for run %s failed; retrying in 1s", item.id, item.kind, item.run_id,
                              extra={"run_id": item.run_id})
                self.push([QueueItem(item.id, item.run_id, self._clock.now_ms() + 1000, item.kind, item.payload)])
