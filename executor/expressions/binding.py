"""Binding a wait's ``event.*`` references to the trigger's values, and the ``match`` shorthand.

Inngest interpolates the run's trigger event into a wait or cancel expression when the wait is
created; what is stored then only needs the candidate (``async``) event.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, Final

import lark

from executor.errors import ExpressionError

from .cel import _IDENT, _INT64, _KEYWORDS, MAX_DEPTH, compile_expression
from .tree import MACROS, bare_name, macro_parts, reference


def match_to_expression(match: str) -> str:
    """Expand the SDK's ``match="data.x"`` shorthand to ``event.data.x == async.data.x``.

    The path is relative to the event, as in Inngest's SDKs, so a leading ``event.``/``async.``
    is a mistake worth reporting rather than a longer path.
    """
    segments = match.split(".") if isinstance(match, str) else []
    if not segments or not all(_IDENT.fullmatch(s) and s not in _KEYWORDS for s in segments):
        raise ExpressionError(
            str(match), 'match must be a dotted field path of the event, such as "data.invoiceId"'
        )
    if segments[0] in ("event", "async"):
        raise ExpressionError(
            match, f'match is relative to the event: write "{".".join(segments[1:]) or "data.x"}"'
        )
    return f"event.{match} == async.{match}"


def bind_event(source: str, event: Mapping[str, object]) -> str:
    """Replace every ``event.<path>`` with the CEL literal of its value in ``event``.

    Inngest binds ``event`` when a wait is created, so the stored wait only needs the incoming
    ``async`` event, and its equalities become ``async.x == literal`` keys an index can use. The
    replacement works on parse-tree spans, so text inside string literals is never touched. A
    missing path binds ``null``, which is how a missing field compares anyway.
    """
    compiled = compile_expression(source)
    replacements = []
    for node, path, receiver in _event_references(compiled._tree):
        literal = _cel_literal(_resolve(event, path), source, path)
        # `event.data.n.string()` must not become `5.string()`, which lexes as the float `5.`.
        replacements.append((node.meta.start_pos, node.meta.end_pos, f"({literal})" if receiver else literal))
    if not replacements:
        return source
    pieces, position = [], 0
    for start, end, text in sorted(replacements):
        pieces += [source[position:start], text]
        position = end
    pieces.append(source[position:])
    bound = "".join(pieces)
    try:
        compile_expression(bound)
    except ExpressionError as error:
        raise ExpressionError(source, f"after binding the event's values: {error.reason}") from error
    return bound


_Reference = tuple[lark.Tree, tuple[str | int, ...], bool]


def _event_references(tree: lark.Tree) -> Iterator[_Reference]:
    """Yield the outermost ``event`` references as (node, path, is the receiver of `.`/`[]`),
    skipping those under a macro variable that shadows ``event``."""

    def visit(node: Any, shadowed: bool, receiver: bool) -> Iterator[_Reference]:
        if not isinstance(node, lark.Tree):
            return
        if node.data == "member":
            found = reference(node)
            if found is not None and found[0] == "event" and (found[1] or not shadowed):
                yield node, found[2], receiver
                return
        if node.data == "member_dot_arg" and str(node.children[1]) in MACROS:
            target, _, arguments = macro_parts(node)
            yield from visit(target, shadowed, True)
            yield from visit(arguments[1], shadowed or bare_name(arguments[0]) == "event", False)
            return
        selects = node.data in ("member_dot", "member_dot_arg", "member_index")
        for position, child in enumerate(node.children):
            yield from visit(child, shadowed, selects and position == 0)

    return visit(tree, False, False)


def _resolve(event: Mapping[str, object], path: tuple[str | int, ...]) -> object:
    node: object = event
    for segment in path:
        if isinstance(segment, str) and isinstance(node, Mapping) and segment in node:
            node = node[segment]
        elif isinstance(segment, int) and isinstance(node, (list, tuple)) and 0 <= segment < len(node):
            node = node[segment]
        else:
            return None
    return node


_STRING_ESCAPES: Final = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _string_literal(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def _cel_literal(value: object, source: str, path: tuple[str | int, ...], depth: int = 0) -> str:
    where = "event" + "".join(f".{s}" if isinstance(s, str) else f"[{s}]" for s in path)
    if depth > MAX_DEPTH:
        raise ExpressionError(source, f"the value of {where} is nested too deeply to bind")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value not in _INT64:
            raise ExpressionError(source, f"the value of {where} is outside the 64-bit integer range")
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        return 'double("nan")' if math.isnan(value) else f'double("{"-" if value < 0 else ""}inf")'
    if isinstance(value, str):
        return _string_literal(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_cel_literal(item, source, path, depth + 1) for item in value) + "]"
    if isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise ExpressionError(source, f"the value of {where} has a non-string key {key!r}")
            items.append(f"{_string_literal(key)}: {_cel_literal(item, source, path, depth + 1)}")
        return "{" + ", ".join(items) + "}"
    raise ExpressionError(source, f"the value of {where} is a {type(value).__name__}, not JSON")
