"""What an expression costs, worked out from its parse tree when it is compiled, before any event.

Three answers, each used by ``cel``:

* ``paths``: the fields of each variable the expression can read. Evaluation converts only those to
  CEL values, so ``event.data.kind == "x"`` stays cheap on an event that also carries a 3 MB list.
* a lower bound of its cost: the nodes evaluated at least once. An expression that is over the
  budget before reading any data would be cut off on every event, so it is refused at load.
* comprehensions whose cost is quadratic in the event's size (``items.all(x, x in items)``, a scan
  of a whole event field for every element) are refused at load: they are cheap in tests and cut
  off in production, and no budget makes that useful.

What remains is linear in the data and bounded at evaluation by ``budget``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import lark

from executor.errors import ExpressionError
from executor.errors import quote_expression as _quote

from .budget import MAX_COST, NODE_COST
from .tree import MACROS, PASS_THROUGH, bare_name, literal_value, macro_parts

#: Fields read from one value: field name -> what is read below it; None: the whole value.
Paths = dict[str, "Paths | None"]

_SCANS: Final = frozenset({"contains", "startsWith", "endsWith", "matches"})

_Chain = tuple[str, tuple[str, ...]]


@dataclass(frozen=True)
class Analysis:
    paths: Paths
    minimum_cost: int


def analyse(source: str, tree: lark.Tree) -> Analysis:
    """Raise ``ExpressionError`` for an expression no event could afford; else what it reads."""
    walker = _Walker(source)
    walker.record(walker.visit(tree, frozenset(), None))
    minimum = walker.nodes * NODE_COST
    if minimum > MAX_COST:
        raise ExpressionError(
            source, f"the expression is too costly to evaluate: at least {minimum:,} cost units for every "
                    f"event, over the budget of {MAX_COST:,}; split it, or test fewer alternatives")
    return Analysis(walker.paths, minimum)


class _Walker:
    def __init__(self, source: str) -> None:
        self.source = source
        self.paths: Paths = {}
        self.nodes = 0   # nodes outside comprehension bodies: evaluated at least once

    def record(self, chain: _Chain | None) -> None:
        """The value at ``chain`` is used as a whole (compared, passed, iterated)."""
        if chain is None:
            return
        keys = (chain[0], *chain[1])
        level: Paths = self.paths
        for key in keys[:-1]:
            if key in level and level[key] is None:
                return
            level = level.setdefault(key, {})  # type: ignore[assignment]
        level[keys[-1]] = None

    def visit(self, node: Any, bound: frozenset[str], comprehension: str | None) -> _Chain | None:
        """Walk ``node``; return the plain reference it is (``event.data.x``), if it is one and its
        root is a free variable, leaving it to the caller to extend or record."""
        if not isinstance(node, lark.Tree):
            return None
        if comprehension is None:
            self.nodes += 1
        kind = node.data
        if kind in ("ident", "dot_ident"):
            name = str(node.children[0])
            return None if kind == "ident" and name in bound else (name, ())
        if kind == "member_dot":
            chain = self.visit(node.children[0], bound, comprehension)
            return (chain[0], (*chain[1], str(node.children[1]))) if chain else None
        if kind == "member_index":
            chain = self.visit(node.children[0], bound, comprehension)
            key = literal_value(node.children[1])
            if chain is not None and isinstance(key, str):
                return chain[0], (*chain[1], key)
            self.record(chain)
            self.use(node.children[1], bound, comprehension)
            return None
        if kind == "member_dot_arg":
            self.call(node, bound, comprehension)
            return None
        if kind == "relation" and len(node.children) == 2 and getattr(node.children[0], "data", "") == "relation_in":
            self.use(node.children[0], bound, comprehension)
            right = self.visit(node.children[1], bound, comprehension)
            self.refuse_scan(right, "'in'", node, comprehension)
            self.record(right)
            return None
        if (kind in PASS_THROUGH or kind == "paren_expr") and len(node.children) == 1:
            return self.visit(node.children[0], bound, comprehension)
        for child in node.children:
            self.use(child, bound, comprehension)
        return None

    def use(self, node: Any, bound: frozenset[str], comprehension: str | None) -> None:
        self.record(self.visit(node, bound, comprehension))

    def call(self, node: lark.Tree, bound: frozenset[str], comprehension: str | None) -> None:
        receiver, name, arguments = macro_parts(node)
        if name in MACROS and len(arguments) == 2:
            self.use(receiver, bound, comprehension)
            variable = bare_name(arguments[0])
            self.use(arguments[1], bound | {variable} if variable else bound, name)
            return
        chain = self.visit(receiver, bound, comprehension)
        if name in _SCANS:
            self.refuse_scan(chain, f"{name}()", node, comprehension)
        self.record(chain)
        for argument in arguments:
            self.use(argument, bound, comprehension)

    def refuse_scan(self, chain: _Chain | None, operation: str, node: lark.Tree, comprehension: str | None) -> None:
        """A scan of a whole field of the event for every element costs the square of its size."""
        if chain is None or comprehension is None:
            return
        reference = ".".join((chain[0], *chain[1]))
        raise ExpressionError(
            self.source,
            f"{operation} over {_quote(reference, 60)} inside {comprehension}() scans that whole field once "
            "for every element, so its cost grows with the square of the event's size; compare "
            "against a literal list, or test the field outside the comprehension",
            node.meta.line, node.meta.column)
