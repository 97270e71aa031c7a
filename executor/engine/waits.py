"""The engine's in-memory view of pending waits, rebuilt from the ``waits`` table on start.

Event waits and cancel-on rules are routed through ``WaitIndex``; a signal has at most one
active waiter (``on_conflict="replace"`` hands the signal to the newer one); every wait is
reachable by id for timeouts, "fire now" and a finished child run resuming its parent.
The database is the truth: this registry is only changed after the transaction that changed
the rows has committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from executor.errors import quote_expression
from executor.expressions.index import IndexedWait, WaitIndex, key_from_json, key_to_json
from executor.records import Wait, WaitKind


class WaitRegistry:
    def __init__(self) -> None:
        self._by_id: dict[str, Wait] = {}
        self._index = WaitIndex()
        self._signal_owner: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def load(self, waits: Iterable[Wait]) -> None:
        for wait in sorted(waits, key=lambda w: w.created_at):
            self.add(wait)

    def add(self, wait: Wait) -> None:
        self._by_id[wait.id] = wait
        if wait.kind in (WaitKind.EVENT, WaitKind.CANCEL) and wait.event_name:
            indexed = IndexedWait(wait.id, wait.event_name, wait.expression)
            if wait.index_key is None:
                self._index.add(indexed)
            else:
                self._index.add(indexed, key_from_json(wait.index_key["key"]))
        elif wait.kind == WaitKind.SIGNAL and wait.active and wait.signal is not None:
            self._signal_owner[wait.signal] = wait.id

    def remove(self, wait_id: str) -> None:
        wait = self._by_id.pop(wait_id, None)
        if wait is None:
            return
        self._index.remove(wait_id)
        if wait.signal is not None and self._signal_owner.get(wait.signal) == wait_id:
            del self._signal_owner[wait.signal]

    def deactivate(self, wait_id: str) -> None:
        """A newer waiter took the signal: this one only keeps its timeout."""
        wait = self._by_id.get(wait_id)
        if wait is not None:
            wait.active = False
            if wait.signal is not None and self._signal_owner.get(wait.signal) == wait_id:
                del self._signal_owner[wait.signal]

    def get(self, wait_id: str) -> Wait | None:
        return self._by_id.get(wait_id)

    def signal_owner(self, signal: str) -> Wait | None:
        wait_id = self._signal_owner.get(signal)
        return self._by_id.get(wait_id) if wait_id else None

    def matching(self, event: Mapping[str, object], notes: list[str] | None = None) -> list[Wait]:
        """Event waits and cancel rules this event satisfies, oldest first. ``notes`` (when given)
        receives a sentence for each one whose expression could not be evaluated (its budget)."""
        cutoffs: list[tuple[str, str]] = []
        matched = [self._by_id[w] for w in self._index.matches(event, cutoffs) if w in self._by_id]
        if notes is not None:
            notes += [_cutoff_note(self._by_id[w], why) for w, why in cutoffs if w in self._by_id]
        return matched

    def stats(self) -> dict[str, int]:
        return {**self._index.stats(), "signals": len(self._signal_owner), "all": len(self._by_id)}


def index_key_of(expression: str | None) -> dict[str, object]:
    """What ``Wait.index_key`` stores: computed once when the wait is created (this also
    rejects an expression that cannot be indexed safely)."""
    return {"key": key_to_json(WaitIndex.key_for(expression))}


def _cutoff_note(wait: Wait, why: str) -> str:
    what = "its cancel rule" if wait.kind == WaitKind.CANCEL else f"the wait of step {wait.step_id!r}"
    return (f"function {wait.function_id!r}, run {wait.run_id}: {what} "
            f"{quote_expression(wait.source or wait.expression or '')} was not evaluated: {why}")
