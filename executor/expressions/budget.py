"""The evaluation budget: how much work and memory one CEL evaluation may use.

cel-python has no budget of its own, and its inputs are untrusted: evaluation runs on the event loop
that also serves HTTP, inside the write transaction, over event data anyone with the event key can
send. A comprehension over a 5,000-item list costs about a second there, and ``s + s`` over a 3 MB
string allocates megabytes per step. So every evaluation carries a ``Meter``: each parse-tree node
visited, each element compared, each KiB scanned, copied or converted costs units, and each string,
bytes or list built counts against a memory allowance. Past either limit evaluation stops with
``BudgetExceeded``, which callers report as "cut off" (never as a match).

Units are deterministic, so the same expression and event always get the same verdict however busy
the machine is. They are calibrated so that one unit is roughly one microsecond of cel-python on the
development machine (``benchmarks/bench_cel_budget.py`` measures the ratio); ``MAX_COST`` is then a
few milliseconds of the event loop per evaluation.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Final

import lark
from celpy import InterpretedRunner, celtypes
from celpy.evaluation import Evaluator

NODE_COST: Final = 12
"""One visit of a parse-tree node: cel-python spends ~10-15 us per visit."""

MAX_COST: Final = 5_000
"""Units one evaluation may spend, about 5 ms here."""

MAX_ALLOCATED_BYTES: Final = 4 * 1024 * 1024
"""Bytes of strings, bytes and lists one evaluation may build (what it reads is not counted)."""

BYTES_PER_UNIT: Final = 1024
"""Copying or scanning this many bytes (or characters) costs one unit."""


class BudgetExceeded(Exception):
    """Evaluation was stopped; the message says which limit and where it was spent.

    Deliberately not a ``CELEvalError``, ``ValueError`` or ``TypeError``: cel-python turns those
    into values and carries on evaluating.
    """


class Meter:
    """The spending of one evaluation (including converting the data it reads)."""

    __slots__ = ("spent", "allocated", "max_cost", "max_bytes")

    def __init__(self, max_cost: int = MAX_COST, max_bytes: int = MAX_ALLOCATED_BYTES) -> None:
        self.spent = 0
        self.allocated = 0
        self.max_cost = max_cost
        self.max_bytes = max_bytes

    def charge(self, units: int, what: str = "evaluating it") -> None:
        self.spent += units
        if self.spent > self.max_cost:
            raise BudgetExceeded(
                f"it used up its evaluation budget ({self.max_cost:,} units, a few milliseconds) {what}")

    def allocate(self, size: int, what: str) -> None:
        self.allocated += size
        if self.allocated > self.max_bytes:
            raise BudgetExceeded(
                f"it would build more than {self.max_bytes // 1024:,} KiB of values ({what})")


_meter: ContextVar[Meter | None] = ContextVar("cel_meter", default=None)


def charge(units: int, what: str = "evaluating it") -> None:
    """Charge the evaluation running now; a function called outside one costs nothing."""
    meter = _meter.get()
    if meter is not None:
        meter.charge(units, what)


def _allocate(size: int, what: str) -> None:
    meter = _meter.get()
    if meter is not None:
        meter.allocate(size, what)
        meter.charge(size // BYTES_PER_UNIT, what)


# --- the metered interpreter ------------------------------------------------------------------------


class _MeteredEvaluator(Evaluator):
    """cel-python's interpreter, charging every node it visits. Macro bodies run in sub-evaluators,
    which share the meter, so a comprehension pays per element."""

    def __init__(self, ast: lark.Tree, activation: Any, meter: Meter) -> None:
        super().__init__(ast, activation)
        self._meter = meter

    def sub_evaluator(self, ast: lark.Tree) -> Evaluator:
        return _MeteredEvaluator(ast, self.activation, self._meter)

    def _visit_tree(self, tree: lark.Tree) -> Any:
        # Lark's own _visit_tree, inlined with the charge: this runs for every node evaluated.
        meter = self._meter
        meter.spent += NODE_COST
        if meter.spent > meter.max_cost:
            meter.charge(0)
        method = getattr(self, tree.data)
        wrapper = getattr(method, "visit_wrapper", None)
        if wrapper is not None:
            return method.visit_wrapper(method, tree.data, tree.children, tree.meta)
        return method(tree)


class MeteredRunner(InterpretedRunner):
    """A compiled program whose evaluations each run within a ``Meter``."""

    def evaluate_within(self, activation: Mapping[str, Any], meter: Meter) -> Any:
        token = _meter.set(meter)
        try:
            return _MeteredEvaluator(self.ast, self.new_activation(), meter).evaluate(activation)
        finally:
            _meter.reset(token)


# --- functions that scan or build in proportion to their operands ----------------------------------

_SEQUENCES = (str, bytes, list)


def _add(left: Any, right: Any) -> Any:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        items = len(left) + len(right)
        _allocate(items * 8 if isinstance(left, list) else items, "concatenating with +")
    return operator.add(left, right)


def _scanning(function: Callable[..., Any], name: str, bytes_per_unit: int = BYTES_PER_UNIT) -> Callable[..., Any]:
    """``function`` costs time in proportion to its receiver (a string scanned, a list compared)."""

    def metered(receiver: Any, *arguments: Any) -> Any:
        if isinstance(receiver, (str, bytes)):
            charge(len(receiver) // bytes_per_unit, f"in {name}()")
        elif isinstance(receiver, (list, dict)):
            charge(len(receiver), f"in {name}()")
        return function(receiver, *arguments)

    return metered


_SCALARS = (str, bytes, int, float, celtypes.TimestampType, celtypes.DurationType)


def _to_string(value: Any) -> Any:
    """``string()`` of a scalar only: cel-python would render a list or map as its Python repr,
    many times the data's size."""
    if not isinstance(value, _SCALARS):
        raise TypeError(f"string() takes a scalar, not {type(value).__name__}")
    result = celtypes.StringType(value)
    _allocate(len(result), "in string()")
    return result


def _to_bytes(value: Any) -> Any:
    if not isinstance(value, (str, bytes)):
        raise TypeError(f"bytes() takes a string, not {type(value).__name__}")
    result = celtypes.BytesType(value)
    _allocate(len(result), "in bytes()")
    return result


def metered_functions(base: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The overrides that make ``base`` (cel-python's functions plus ours) chargeable."""
    return {
        "_+_": _add,
        "contains": _scanning(base["contains"], "contains"),
        "startsWith": _scanning(base["startsWith"], "startsWith"),
        "endsWith": _scanning(base["endsWith"], "endsWith"),
        # re2 is linear in the text but slower per byte than a plain scan.
        "matches": _scanning(base["matches"], "matches", BYTES_PER_UNIT // 8),
        "int": _scanning(base["int"], "int"),
        "uint": _scanning(base["uint"], "uint"),
        "double": _scanning(base["double"], "double"),
        "timestamp": _scanning(base["timestamp"], "timestamp"),
        "duration": _scanning(base["duration"], "duration"),
        "string": _to_string,
        "bytes": _to_bytes,
    }


# --- converting the variables an expression reads ----------------------------------------------------


class Unconvertible(Exception):
    """The data holds a value CEL cannot represent (an integer outside int64)."""


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def convert(value: Any, meter: Meter, where: str) -> Any:
    """JSON to CEL values, charging one unit per value (and per KiB of strings) before the work.

    cel-python's own ``json_to_cel`` costs ~10 us per value, so a 300k-item list took 4 s before
    anything was evaluated; this one costs about a tenth of that, and stops at the budget.
    """
    kind = type(value)
    if kind is str:
        meter.charge(1 + len(value) // BYTES_PER_UNIT, f"reading {where}")
        return celtypes.StringType(value)
    if kind is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise Unconvertible(f"{where} holds an integer outside the 64-bit range CEL can hold")
        return int.__new__(celtypes.IntType, value)
    if kind is bool:
        return celtypes.BoolType(value)
    if kind is float:
        return float.__new__(celtypes.DoubleType, value)
    if value is None:
        return None
    if kind is list or kind is tuple:
        meter.charge(len(value), f"reading {where}")
        return celtypes.ListType([convert(item, meter, where) for item in value])
    if kind is dict:
        meter.charge(2 * len(value), f"reading {where}")   # a key and a value per entry
        converted = celtypes.MapType()
        dict.update(converted, {celtypes.StringType(key): convert(item, meter, where)
                                for key, item in value.items()})
        return converted
    for plain in (bool, int, float, str):   # subclasses (an IntEnum, a str subclass) read as their base
        if isinstance(value, plain):
            return convert(plain(value), meter, where)
    if isinstance(value, Mapping):
        return convert(dict(value), meter, where)
    raise Unconvertible(f"{where} holds a {kind.__name__}, which is not JSON")


class PreparedVariables:
    """The variables of one evaluation or of many against the same event (``{"async": event}``).

    Only the fields an expression reads are converted (``cost.Paths``), each at most once per
    event; each evaluation is still charged for every conversion it needs, cached or not, so its
    verdict never depends on which expression happened to run first.
    """

    __slots__ = ("_raw", "_converted")

    def __init__(self, variables: Mapping[str, object]) -> None:
        self._raw = variables
        self._converted: dict[tuple[str, ...], tuple[Any, int]] = {}

    def activation(self, paths: Mapping[str, Any], meter: Meter) -> dict[str, Any]:
        """CEL values for ``paths`` (field -> fields below it, None for the whole value); a
        variable the caller did not supply stays undeclared, as cel-python expects."""
        return {name: self._project((name,), self._raw[name], below, meter)
                for name, below in paths.items() if name in self._raw}

    def _project(self, path: tuple[str, ...], value: Any, below: Mapping[str, Any] | None, meter: Meter) -> Any:
        if below is not None and isinstance(value, dict):
            # Only selected into, never used whole: a map with just the fields read below.
            partial = celtypes.MapType()
            dict.update(partial, {celtypes.StringType(key): self._project((*path, key), value[key], deeper, meter)
                                  for key, deeper in below.items() if key in value})
            return partial
        cached = self._converted.get(path)
        if cached is not None:
            meter.charge(cached[1], f"reading {'.'.join(path)}")
            return cached[0]
        before = meter.spent
        converted = convert(value, meter, ".".join(path))
        self._converted[path] = (converted, meter.spent - before)
        return converted


def prepare_variables(variables: Mapping[str, object]) -> PreparedVariables:
    """Hold plain JSON-like values keyed by top-level name for evaluating many expressions."""
    return PreparedVariables(variables)
