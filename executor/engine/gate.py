"""Where queue items wait for flow control: concurrency slots and throttle lanes, in memory.

An item that calls a function must hold a slot of each concurrency limit that applies to it (per
function, per key, or per key shared across the environment) for as long as the call lasts, so a
run that sleeps or waits holds none. An item that finds a limit full parks here, in a heap per
limit ordered by its run's score (older runs first, moved by priority); when a slot frees, the
best waiter is handed back to the scheduler — no polling, and the cost per item does not grow with
the number waiting. A run's first call also passes its throttle lane (GCRA): the first refused item
becomes the lane's head and the scheduler's timer brings it back when the lane admits again; the
rest wait behind it in the lane's heap.

Nothing here is durable, and nothing needs to be: a parked item keeps its row in the queue, so a
restart dispatches it again and it parks again. Only a throttle's state (``tat``) outlives the
process, written by the engine in the transaction that starts a run.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from executor.records import QueueItem
from executor.util.gcra import gcra

#: A concurrency limit's identity: ("fn", function id, key value) or ("env", "", key value).
SlotKey = tuple[str, str, str]
#: A throttle lane: (function id, key value).
LaneKey = tuple[str, str]


@dataclass(frozen=True)
class Claim:
    """One concurrency limit an item must pass; ``label`` names its key value for people."""

    key: SlotKey
    limit: int
    label: str = ""


@dataclass(frozen=True)
class LaneRule:
    key: LaneKey
    period_ms: int
    limit: int
    burst: int          # how many may start at once
    label: str = ""


@dataclass
class _Waiter:
    item: QueueItem
    on: SlotKey | LaneKey
    lane: bool
    woken_from: SlotKey | None = None
    until: int | None = None        # a lane head: when the lane admits it


@dataclass
class _Lane:
    tat: int | None = None
    head: str | None = None
    heap: list[tuple[int, int, str]] = field(default_factory=list)
    waiting: int = 0
    label: str = ""


@dataclass
class Admission:
    admitted: bool
    retry_at: int | None = None          # a throttled head: push the item back at this time
    woken: list[QueueItem] = field(default_factory=list)   # other items to hand to the scheduler now


class Gate:
    def __init__(self) -> None:
        self._in_use: dict[SlotKey, int] = {}
        self._limit: dict[SlotKey, int] = {}
        self._label: dict[SlotKey, str] = {}
        self._woken: dict[SlotKey, int] = {}
        self._heaps: dict[SlotKey, list[tuple[int, int, str]]] = {}
        self._waiting: dict[SlotKey, int] = {}
        self._holding: dict[str, tuple[SlotKey, ...]] = {}
        self._waiters: dict[str, _Waiter] = {}
        self._lanes: dict[LaneKey, _Lane] = {}
        self._seq = itertools.count()

    # ---- admission ---------------------------------------------------------------------------

    def admit(self, item: QueueItem, score: int, claims: Sequence[Claim], lane: LaneRule | None,
              now: int) -> Admission:
        """Take a slot of every claim (and pass the lane, for a run's start), or park the item."""
        result = Admission(False)
        waiter = self._waiters.pop(item.id, None)
        came_from = None
        if waiter is not None:
            came_from = waiter.woken_from
            if came_from is not None:
                self._woken[came_from] -= 1
        for claim in claims:
            self._limit[claim.key], self._label[claim.key] = claim.limit, claim.label
        blocked = next((c for c in claims if not self._free(c.key)), None)
        if blocked is not None:
            if waiter is not None and waiter.lane:
                self._leave_head(item.id, waiter.on, result)   # type: ignore[arg-type]
            self._park(item, blocked.key, score)
        elif lane is not None and not self._pass_lane(item, score, lane, now, result):
            pass
        else:
            for claim in claims:
                self._in_use[claim.key] = self._in_use.get(claim.key, 0) + 1
            self._holding[item.id] = tuple(c.key for c in claims)
            result.admitted = True
        if came_from is not None:
            result.woken += self._wake(came_from)
        return result

    def release(self, item_id: str) -> list[QueueItem]:
        """The item's call ended: free its slots; returns the waiters that may now go."""
        woken: list[QueueItem] = []
        for key in self._holding.pop(item_id, ()):
            left = self._in_use[key] - 1
            if left:
                self._in_use[key] = left
            else:
                del self._in_use[key]
            woken += self._wake(key)
        return woken

    def discard(self, item_ids: Iterable[str]) -> list[QueueItem]:
        """Forget parked items whose rows are gone (their run ended); returns waiters that may go
        in their place."""
        woken: list[QueueItem] = []
        for item_id in item_ids:
            waiter = self._waiters.pop(item_id, None)
            if waiter is None:
                continue
            if waiter.woken_from is not None:
                self._woken[waiter.woken_from] -= 1
                woken += self._wake(waiter.woken_from)
            elif waiter.lane:
                lane = self._lanes[waiter.on]   # type: ignore[index]
                if lane.head == item_id:
                    lane.head = None
                    woken += self._next_in_lane(lane)
                else:
                    lane.waiting -= 1
            else:
                self._waiting[waiter.on] -= 1   # type: ignore[index]
        return woken

    def unpark_all(self) -> list[QueueItem]:
        """Every parked item, to be dispatched again: the functions changed (a reload, a resync),
        so the limits they wait for may be different or gone. Throttle state is kept."""
        items = [w.item for w in self._waiters.values() if w.woken_from is None]
        self._waiters = {key: w for key, w in self._waiters.items() if w.woken_from is not None}
        self._heaps.clear()
        self._waiting.clear()
        for lane in self._lanes.values():
            lane.head, lane.heap, lane.waiting = None, [], 0
        return items

    def holds(self, item_id: str) -> bool:
        """Whether the item waits here for other runs (for a slot, or behind a lane's head). A
        lane's head waits for a time instead (its queue item is due then), so it is not held."""
        waiter = self._waiters.get(item_id)
        return waiter is not None and waiter.woken_from is None and waiter.until is None

    def load_lanes(self, tats: Iterable[tuple[LaneKey, int]]) -> None:
        for key, tat in tats:
            self._lanes.setdefault(key, _Lane()).tat = tat

    def lane_tat(self, key: LaneKey) -> int | None:
        lane = self._lanes.get(key)
        return lane.tat if lane is not None else None

    # ---- slots -------------------------------------------------------------------------------

    def _free(self, key: SlotKey) -> bool:
        return self._in_use.get(key, 0) + self._woken.get(key, 0) < self._limit[key]

    def _park(self, item: QueueItem, key: SlotKey, score: int) -> None:
        self._waiters[item.id] = _Waiter(item, key, lane=False)
        heapq.heappush(self._heaps.setdefault(key, []), (score, next(self._seq), item.id))
        self._waiting[key] = self._waiting.get(key, 0) + 1

    def _wake(self, key: SlotKey) -> list[QueueItem]:
        heap = self._heaps.get(key)
        woken: list[QueueItem] = []
        while heap and self._free(key):
            _, _, item_id = heapq.heappop(heap)
            waiter = self._waiters.get(item_id)
            if waiter is None or waiter.on != key or waiter.woken_from is not None:
                continue      # discarded, or parked again elsewhere since
            waiter.woken_from = key
            self._woken[key] = self._woken.get(key, 0) + 1
            self._waiting[key] -= 1
            woken.append(waiter.item)
        if heap is not None and not heap:
            del self._heaps[key]
        return woken

    # ---- throttle lanes ------------------------------------------------------------------------

    def _pass_lane(self, item: QueueItem, score: int, rule: LaneRule, now: int, result: Admission) -> bool:
        lane = self._lanes.setdefault(rule.key, _Lane())
        lane.label = rule.label
        if lane.head is not None and lane.head != item.id:
            self._waiters[item.id] = _Waiter(item, rule.key, lane=True)
            heapq.heappush(lane.heap, (score, next(self._seq), item.id))
            lane.waiting += 1
            return False
        verdict = gcra(lane.tat, now, rule.period_ms, rule.limit, rule.burst)
        if not verdict.admitted:
            lane.head = item.id
            self._waiters[item.id] = _Waiter(item, rule.key, lane=True, until=verdict.retry_at)
            result.retry_at = verdict.retry_at
            return False
        lane.tat = verdict.tat
        if lane.head == item.id:
            lane.head = None
        result.woken += self._next_in_lane(lane)
        return True

    def _leave_head(self, item_id: str, key: LaneKey, result: Admission) -> None:
        """A lane's head that now waits for a slot gives its turn to the next in the lane."""
        lane = self._lanes[key]
        if lane.head == item_id:
            lane.head = None
            result.woken += self._next_in_lane(lane)

    def _next_in_lane(self, lane: _Lane) -> list[QueueItem]:
        while lane.heap:
            _, _, item_id = heapq.heappop(lane.heap)
            waiter = self._waiters.pop(item_id, None)
            if waiter is not None and waiter.lane:
                lane.waiting -= 1
                return [waiter.item]
        return []

    # ---- what people see ----------------------------------------------------------------------

    def why(self, item_id: str) -> str | None:
        waiter = self._waiters.get(item_id)
        if waiter is None:
            return None
        if waiter.lane:
            lane = self._lanes[waiter.on]   # type: ignore[index]
            where = f" for {lane.label}" if lane.label else ""
            if waiter.until is not None and lane.head == item_id:
                return f"throttled until {clock(waiter.until)}{where}"
            return f"throttled: queued behind earlier runs{where}"
        key: SlotKey = waiter.on   # type: ignore[assignment]
        label = self._label.get(key, "")
        shared = " (env)" if key[0] == "env" else ""
        return (f"queued: concurrency {self._in_use.get(key, 0)}/{self._limit.get(key, 0)}{shared}"
                + (f" for {label}" if label else ""))

    def usage(self, function_id: str, shares_env: bool = False) -> dict[str, list[dict[str, object]]]:
        """Slots in use and items waiting per limit of one function (and the env-scoped limits in
        use, when it has one), and its throttle lanes that hold runs back."""
        keys = set(self._in_use) | {k for k, n in self._waiting.items() if n}
        slots = [{"key": self._label.get(k, ""), "scope": k[0], "in_use": self._in_use.get(k, 0),
                  "limit": self._limit.get(k, 0), "waiting": self._waiting.get(k, 0)}
                 for k in sorted(keys) if (k[0] == "fn" and k[1] == function_id) or (k[0] == "env" and shares_env)]
        lanes = [{"key": lane.label, "waiting": lane.waiting + (lane.head is not None),
                  "until": self._waiters[lane.head].until if lane.head in self._waiters else None}
                 for (fid, _), lane in sorted(self._lanes.items()) if fid == function_id and (lane.head or lane.waiting)]
        return {"concurrency": slots, "throttle": lanes}


def clock(ms: int) -> str:
    """A due time as an operator reads it next to a wall clock (local time)."""
    return time.strftime("%H:%M:%S", time.localtime(ms / 1000))
