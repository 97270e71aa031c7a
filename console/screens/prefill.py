"""Pre-filling the send dialog so an event satisfies a selected wait in two keystrokes.

A wait's ``match`` (``"data.invoiceId"``) or ``if`` expression is bound to the waiting run's
trigger event, exactly as the executor binds it, and every ``async.data.… == literal``
equality it then contains becomes a field of the pre-filled ``data``. An expression with
other conditions (``>``, ``in``…) pre-fills what it can; the operator edits the rest.
"""

from __future__ import annotations

from typing import Any

from executor import Event
from executor.expressions import ExpressionError, bind_event, compile_expression, match_to_expression


def _as_expression(text: str) -> str:
    """A wait records ``match`` as written (a dotted path) or an ``if`` expression."""
    try:
        return match_to_expression(text)
    except ExpressionError:
        return text


def data_for_expression(expression: str | None, trigger: Event | None) -> dict[str, Any]:
    """The event ``data`` the expression's equalities ask for; ``{}`` when it asks for none."""
    if not expression:
        return {}
    try:
        bound = bind_event(_as_expression(expression), trigger.to_dict() if trigger else {})
        equalities = compile_expression(bound).equalities("async")
    except ExpressionError:
        return {}
    data: dict[str, Any] = {}
    for equality in equalities:
        if len(equality.path) < 2 or equality.path[0] != "data":
            continue
        *parents, leaf = equality.path[1:]
        node = data
        for key in parents:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[leaf] = equality.value
    return data
