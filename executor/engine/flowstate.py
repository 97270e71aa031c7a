"""The engine's in-memory side of flow control: the gate items park at, each live run's keys, and
why a run whose start is deliberately later is not moving.

Like the other mirrors in ``Core`` it is rebuilt at start (throttle state from ``flow_limits``,
delayed starts from their queue items) and changed only after the transaction that justifies a
change has committed.
"""

from __future__ import annotations

from collections.abc import Iterable

from executor.engine.flowkeys import RunFlow
from executor.engine.gate import Gate, clock
from executor.records import QueueItem


class FlowState:
    def __init__(self) -> None:
        self.gate = Gate()
        self.runs: dict[str, RunFlow] = {}
        self._parked: dict[str, str] = {}        # run id -> its parked item
        self._delayed: dict[str, QueueItem] = {}  # run id -> its start item due later on purpose
        #: Runs whose debounce or batch this process has ended (so a parked start item that comes
        #: back does not try again).
        self.closed: set[str] = set()

    def note_items(self, items: Iterable[QueueItem]) -> None:
        for item in items:
            if item.payload.get("flow") == "priority":
                self._delayed[item.run_id] = item

    def parked(self, item: QueueItem) -> None:
        self._parked[item.run_id] = item.id

    def forget(self, run_id: str) -> None:
        self.runs.pop(run_id, None)
        self._parked.pop(run_id, None)
        self._delayed.pop(run_id, None)
        self.closed.discard(run_id)

    def started(self, run_id: str) -> None:
        self._delayed.pop(run_id, None)

    def functions_changed(self) -> list[QueueItem]:
        """Keys and limits may have changed: forget the keys computed for runs and hand back every
        parked item, to be admitted again under the new options."""
        self.runs.clear()
        return self.gate.unpark_all()

    def why(self, run_id: str, now: int) -> str | None:
        """Why the run is not moving, from memory; collecting runs are described from their rows
        (``flow.describe_runs``)."""
        item_id = self._parked.get(run_id)
        text = self.gate.why(item_id) if item_id is not None else None
        if text is not None:
            return text
        item = self._delayed.get(run_id)
        if item is not None and item.due_at > now:
            return f"delayed by priority until {clock(item.due_at)}"
        return None
