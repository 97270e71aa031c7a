"""Flow-control keys: CEL over a run's trigger event, turned into the values limits are counted by.

Inngest evaluates a key and counts by its value (``fmt.Sprintf("%v")``), so ``event.data.userId``
gives one limit per user. A key that cannot be evaluated (a missing field is not an error — it is
null, like Inngest's) counts under "null" and the reason is noted on the event, so one odd event
neither crashes routing nor escapes into a limit of its own. Each run's keys are computed once and
kept in ``FlowState`` until the run ends; after a restart they are computed again from the event,
which gives the same values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from executor.engine.gate import Claim, LaneRule
from executor.errors import quote_expression
from executor.expressions import compile_expression
from executor.flowcontrol import PRIORITY_RANGE_S, FlowControl
from executor.util import jsonvalues

_PATH = re.compile(r"^event(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_UNREAD = object()
_INT64 = (-(2 ** 63), 2 ** 63 - 1)


@dataclass(frozen=True)
class KeyValue:
    value: str        # what a limit is counted by
    label: str        # "userId=u-42", for people


@dataclass(frozen=True)
class RunFlow:
    """What a run's event means for its calls: its place in queues (``score``: earlier first), the
    concurrency limits each call needs a slot of, and the throttle lane its start passes."""

    score: int
    claims: tuple[Claim, ...]
    lane: LaneRule | None


def key_value(function_id: str, what: str, expression: str | None, event: dict[str, Any],
              notes: list[str] | None) -> KeyValue:
    """The value of a key expression for ``event`` ("" without an expression)."""
    if expression is None:
        return KeyValue("", "")
    path = _PATH.match(expression) is not None
    value = field_at(event, expression.split(".")[1:]) if path else _UNREAD
    if value is _UNREAD:
        computed = compile_expression(expression).compute({"event": event})
        if computed.problem is not None and notes is not None:
            notes.append(f"function {function_id!r}: {what} key {quote_expression(expression)} could not be "
                         f"evaluated ({computed.problem}); the run counts under the key null")
        value = computed.value
    text = value if isinstance(value, str) else jsonvalues.dumps(value).decode()
    name = expression.rsplit(".", 1)[-1] if path else expression
    return KeyValue(text, f"{name}={text}")


def field_at(event: Any, names: list[str]) -> Any:
    """A plain field path (``event.data.userId``, the usual key) read straight from the event: the
    value CEL computes (null when a field is missing), without the interpreter's cost — every event
    that starts a run computes its keys inside its routing transaction. ``_UNREAD`` when the path
    meets anything but objects and scalars (a field of a string, a list, an int too large for
    CEL): CEL then decides, and explains its error."""
    value = event
    for name in names:
        if not isinstance(value, dict):
            return _UNREAD
        value = value.get(name)
    if value is None or isinstance(value, (str, bool, float)) or (isinstance(value, int) and _INT64[0] <= value <= _INT64[1]):
        return value
    return _UNREAD


def priority_of(function_id: str, flow: FlowControl, event: dict[str, Any], notes: list[str] | None) -> int:
    """The run's priority factor in seconds, clamped to ±600 (0 when it is not an integer)."""
    if flow.priority is None or flow.priority.run is None:
        return 0
    computed = compile_expression(flow.priority.run).compute({"event": event})
    value = computed.value
    if computed.problem is not None or isinstance(value, bool) or not isinstance(value, (int, float)):
        if notes is not None:
            why = computed.problem or f"it gave {jsonvalues.dumps(value).decode()}, not a number of seconds"
            notes.append(f"function {function_id!r}: priority {quote_expression(flow.priority.run)} was not "
                         f"applied ({why}); the run has priority 0")
        return 0
    return max(-PRIORITY_RANGE_S, min(PRIORITY_RANGE_S, int(value)))


def run_flow(function_id: str, flow: FlowControl, created_at: int, event: dict[str, Any],
             notes: list[str] | None = None) -> RunFlow:
    claims = []
    for limit in flow.concurrency:
        key = key_value(function_id, "concurrency", limit.key, event, notes)
        if limit.scope == "fn":
            slot = ("fn", function_id, f"{limit.key}={key.value}" if limit.key else "")
        else:
            slot = ("env", "", key.value)
        claims.append(Claim(slot, limit.limit, key.label))
    lane = None
    if flow.throttle is not None:
        t = flow.throttle
        key = key_value(function_id, "throttle", t.key, event, notes)
        # As many may start at once as the limit plus the burst (Inngest's GCRA capacity).
        lane = LaneRule((function_id, key.value), int(t.period), t.limit, t.limit + (t.burst or 0), key.label)
    score = created_at - priority_of(function_id, flow, event, notes) * 1000
    return RunFlow(score, tuple(claims), lane)
