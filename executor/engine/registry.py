"""The functions the engine knows, as specs grouped by where they come from (``FunctionSpec.group``:
our SDK's function files, or one synced app).

Each group is replaced at once (a hot reload of the function files, an app's sync), so one app
re-syncing never disturbs another's functions. Trigger lookup is by event name first
(exact names in a dict, wildcards in a short list), so an event is matched against the functions
that could want it, not against all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from executor.engine.events import name_matches
from executor.errors import FunctionDefinitionError
from executor.records import QueueItem
from executor.specs import FunctionSpec, TriggerEvent


class Registry:
    def __init__(self) -> None:
        self._by_group: dict[str, dict[str, FunctionSpec]] = {}
        self._all: dict[str, FunctionSpec] = {}
        self._exact: dict[str, list[tuple[FunctionSpec, TriggerEvent]]] = {}
        self._wildcard: list[tuple[FunctionSpec, TriggerEvent]] = []
        self.parked: dict[str, list[QueueItem]] = {}

    def __contains__(self, function_id: str) -> bool:
        return function_id in self._all

    def __len__(self) -> int:
        return len(self._all)

    def get(self, function_id: str) -> FunctionSpec | None:
        return self._all.get(function_id)

    def all(self) -> dict[str, FunctionSpec]:
        return dict(self._all)

    def of_group(self, group: str) -> dict[str, FunctionSpec]:
        return dict(self._by_group.get(group, {}))

    def check(self, group: str, specs: Iterable[FunctionSpec]) -> dict[str, FunctionSpec]:
        """``specs`` by id, or ``FunctionDefinitionError`` for an id defined twice or owned by
        another group (changes nothing)."""
        mine: dict[str, FunctionSpec] = {}
        for spec in specs:
            owner = self._all.get(spec.id)
            if owner is not None and owner.group != group:
                where = f"app {owner.app!r}" if owner.app else f"the {owner.driver} functions"
                raise FunctionDefinitionError(f"function id {spec.id!r} is already defined by {where} ({owner.source})")
            if spec.id in mine:
                raise FunctionDefinitionError(
                    f"function id {spec.id!r} is defined twice ({mine[spec.id].source} and {spec.source})")
            mine[spec.id] = spec
        return mine

    def replace(self, group: str, specs: Iterable[FunctionSpec]) -> list[QueueItem]:
        """Swap ``group``'s functions for ``specs``; returns parked queue items whose function is
        back, for the caller to schedule."""
        mine = self.check(group, specs)
        if mine:
            self._by_group[group] = mine
        else:
            self._by_group.pop(group, None)
        self._all = {fid: s for group in self._by_group.values() for fid, s in group.items()}
        self._index()
        back: list[QueueItem] = []
        for function_id in [f for f in self.parked if f in self._all]:
            back += self.parked.pop(function_id)
        return back

    def _index(self) -> None:
        self._exact, self._wildcard = {}, []
        for spec in self._all.values():
            for trigger in spec.event_triggers:
                if "*" in trigger.event:
                    self._wildcard.append((spec, trigger))
                else:
                    self._exact.setdefault(trigger.event, []).append((spec, trigger))

    def candidates(self, name: str) -> Iterator[tuple[FunctionSpec, TriggerEvent]]:
        """The (function, trigger) pairs whose event name matches ``name``; expressions are the
        caller's to evaluate."""
        yield from self._exact.get(name, ())
        for spec, trigger in self._wildcard:
            if name_matches(trigger.event, name):
                yield spec, trigger

    def park(self, item: QueueItem, function_id: str) -> None:
        self.parked.setdefault(function_id, []).append(item)

    def parked_counts(self) -> dict[str, int]:
        """Function ids that runs are waiting for (deleted or not yet loaded), with run counts."""
        return {fid: len({i.run_id for i in items}) for fid, items in self.parked.items()}
