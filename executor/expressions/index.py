"""In-memory index of pending waits, so an incoming event is not checked against all of them.

Evaluating CEL costs ~0.35 ms per wait, i.e. ~35 s per event at 100k pending waits. Like Inngest,
we index each wait under one equality its expression requires (``async.data.invoiceId ==
"inv-1"``, available once ``event.*`` is bound): an event is looked up by its own value at that
path and only the waits found there, plus the few waits with no usable equality, are evaluated.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from executor.errors import ExpressionError
from executor.expressions import (
    CompiledExpression,
    Equality,
    PreparedVariables,
    Verdict,
    compile_expression,
    prepare_variables,
)

_Path = tuple[str, ...]
#: An index key: the path of one required ``async.<path> == literal`` equality and the literal's
#: canonical value. ``key_to_json``/``key_from_json`` store it with the wait.
IndexKey = tuple[_Path, Hashable]
_COMPUTE = object()


def key_to_json(key: IndexKey | None) -> list[Any] | None:
    return None if key is None else [list(key[0]), list(key[1])]  # type: ignore[arg-type]


def key_from_json(raw: list[Any] | None) -> IndexKey | None:
    return None if raw is None else (tuple(raw[0]), tuple(raw[1]))


@dataclass(frozen=True)
class IndexedWait:
    """A pending wait. ``expression`` is already bound (only ``async`` left); None matches any
    event of ``event_name``."""

    wait_id: str
    event_name: str
    expression: str | None


def _canonical(value: object) -> Hashable | None:
    """The index key of a JSON value under Inngest's equality, or None if no literal can equal it.

    5 and 5.0 share a key (Python's int/float equality and hashing already agree), "5" and
    True do not, matching the comparison rules of ``executor.expressions``. Lists and maps never
    equal a scalar literal, so they have no key.
    """
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, str):
        return ("string", str(value))
    return None


def _lookup(event: Mapping[str, object], path: _Path) -> object:
    """Mirror of CEL field selection where a missing field (or a non-map on the way) is null."""
    node: object = event
    for segment in path:
        if not isinstance(node, Mapping) or segment not in node:
            return None
        node = node[segment]
    return node


def _selectivity(equality: Equality) -> int:
    # `x == null` also matches every event without x, and a bool splits events only in two.
    if equality.value is None:
        return 2
    return 1 if isinstance(equality.value, bool) else 0


@dataclass(eq=False)
class _Entry:
    wait: IndexedWait
    order: int
    key: tuple[_Path, Hashable] | None
    # Kept only for unkeyed waits, which are evaluated for every event of their name. A compiled
    # tree costs ~16 KB, so keyed waits (the many) are recompiled through the bounded cache when
    # an event actually selects them.
    compiled: CompiledExpression | None


@dataclass
class _NameIndex:
    keyed: dict[_Path, dict[Hashable, dict[str, None]]]
    unkeyed: dict[str, None]


class WaitIndex:
    """Pending waits by event name, then by one required ``async.<path> == literal`` equality.

    The key is a necessary condition, never a sufficient one: ``matches`` still evaluates the
    whole expression of every candidate. Dicts double as ordered sets, and every wait carries its
    insertion order so matches come out oldest first (the first matching wait consumes the event).
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._names: dict[str, _NameIndex] = {}
        self._counter = 0

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key_for(expression: str | None) -> IndexKey | None:
        """The index key of a bound expression (None: no usable equality, evaluate it for every
        event of its name). Store it with the wait so a restart need not parse it again.

        Raises ExpressionError for an invalid expression or one that still reads ``event``: an
        unbound ``event.x`` would evaluate as null and match the wrong events.
        """
        if expression is None:
            return None
        compiled = compile_expression(expression)
        unbound = sorted(compiled.variables - {"async"})
        if unbound:
            raise ExpressionError(
                expression,
                f"a wait expression can only read `async`, but it reads {', '.join(unbound)}"
                " (bind `event` with bind_event when the wait is created)",
            )
        equalities = sorted(compiled.equalities("async"), key=_selectivity)
        if not equalities:
            return None
        return (equalities[0].path, _canonical(equalities[0].value))

    def add(self, wait: IndexedWait, key: IndexKey | None | object = _COMPUTE) -> None:
        """Index a wait; adding an id again replaces the earlier wait (it becomes the newest).
        ``key`` is what ``key_for`` returned for its expression, when already known."""
        if key is _COMPUTE:
            key = self.key_for(wait.expression)
        compiled = None
        if key is None and wait.expression is not None:
            compiled = compile_expression(wait.expression)
        self.remove(wait.wait_id)
        self._counter += 1
        entry = _Entry(wait, self._counter, key, compiled)  # type: ignore[arg-type]
        self._entries[wait.wait_id] = entry
        names = self._names.setdefault(wait.event_name, _NameIndex({}, {}))
        if key is None:
            names.unkeyed[wait.wait_id] = None
        else:
            path, value = key
            names.keyed.setdefault(path, {}).setdefault(value, {})[wait.wait_id] = None

    def remove(self, wait_id: str) -> None:
        """Forget a wait (matched, timed out, cancelled); unknown ids are ignored."""
        entry = self._entries.pop(wait_id, None)
        if entry is None:
            return
        names = self._names[entry.wait.event_name]
        if entry.key is None:
            del names.unkeyed[wait_id]
        else:
            path, value = entry.key
            by_value = names.keyed[path]
            del by_value[value][wait_id]
            if not by_value[value]:
                del by_value[value]
            if not by_value:
                del names.keyed[path]
        if not names.keyed and not names.unkeyed:
            del self._names[entry.wait.event_name]

    def candidates(self, event: Mapping[str, object]) -> list[str]:
        """Ids of the waits whose index key fits the event, oldest first; no CEL is run."""
        if not isinstance(event, Mapping):
            return []
        name = event.get("name")
        names = self._names.get(name) if isinstance(name, str) else None
        if names is None:
            return []
        found = list(names.unkeyed)
        for path, by_value in names.keyed.items():
            value = _canonical(_lookup(event, path))
            if value is not None:
                found.extend(by_value.get(value, ()))
        found.sort(key=lambda wait_id: self._entries[wait_id].order)
        return found

    def matches(self, event: Mapping[str, object], cutoffs: list[tuple[str, str]] | None = None) -> list[str]:
        """Ids of the waits the event truly satisfies, oldest first. Never raises on odd events.

        A candidate whose expression could not be evaluated within its budget does not match;
        ``cutoffs`` (when given) receives ``(wait id, why)`` for each, so the caller can say so.
        """
        found = self.candidates(event)
        if not found:
            return []
        variables = prepare_variables({"async": event})
        matched = []
        for wait_id in found:
            verdict = self._check(self._entries[wait_id], variables)
            if verdict.matched:
                matched.append(wait_id)
            elif verdict.cutoff is not None and cutoffs is not None:
                cutoffs.append((wait_id, verdict.cutoff))
        return matched

    def stats(self) -> dict[str, int]:
        """Counts for the console and logs; a high ``unkeyed`` count means slow routing."""
        unkeyed = sum(len(names.unkeyed) for names in self._names.values())
        return {
            "waits": len(self._entries),
            "keyed": len(self._entries) - unkeyed,
            "unkeyed": unkeyed,
            "event_names": len(self._names),
        }

    @staticmethod
    def _check(entry: _Entry, variables: PreparedVariables) -> Verdict:
        if entry.wait.expression is None:
            return Verdict(True)
        compiled = entry.compiled or compile_expression(entry.wait.expression)
        return compiled.check(variables)
