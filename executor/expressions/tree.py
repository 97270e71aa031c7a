"""Questions about a CEL parse tree (cel-python's Lark grammar) that the checks, the index, the
binding of ``event`` and the cost analysis all ask.

The grammar is left-recursive and wraps every operand in single-child rules: ``a == b`` is
``expr > conditionalor > conditionaland > relation ...``, so structural questions ("is this side
a literal?") must look through those wrappers.
"""

from __future__ import annotations

from typing import Any, Final

import lark
from celpy import celtypes
from celpy.evaluation import celstr

MACROS: Final = frozenset({"all", "exists", "exists_one", "map", "filter"})

PASS_THROUGH: Final = frozenset(
    {"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication",
     "unary", "member", "primary"}
)

def depth(tree: lark.Tree) -> int:
    """Iterative on purpose: the tree being measured may be too deep to recurse over."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, lark.Tree))
    return deepest


def unwrap(node: Any) -> Any:
    while isinstance(node, lark.Tree) and (
        node.data == "paren_expr" or (node.data in PASS_THROUGH and len(node.children) == 1)
    ):
        node = node.children[0]
    return node


def macro_parts(node: lark.Tree) -> tuple[lark.Tree, str, list[lark.Tree]]:
    receiver, name = node.children[0], node.children[1]
    arguments = node.children[2].children if len(node.children) > 2 else []
    return receiver, str(name), arguments


def bare_name(node: lark.Tree) -> str | None:
    node = unwrap(node)
    if isinstance(node, lark.Tree) and node.data == "ident":
        return str(node.children[0])
    return None



def conjuncts(tree: lark.Tree) -> list[lark.Tree]:
    """The operands of the top-level ``&&`` chain, in source order, looking into parentheses."""
    node = unwrap(tree)
    if not isinstance(node, lark.Tree) or node.data != "conditionaland":
        return [node] if isinstance(node, lark.Tree) else []
    # `a && b && c` is conditionaland(conditionaland(conditionaland(a), b), c): walk the left spine.
    right_operands = []
    while isinstance(node, lark.Tree) and node.data == "conditionaland" and len(node.children) == 2:
        right_operands.append(node.children[1])
        node = node.children[0]
    operands = [node, *reversed(right_operands)]
    return [part for operand in operands for part in conjuncts(operand)]


def reference(node: Any) -> tuple[str, bool, tuple[str | int, ...]] | None:
    """Decompose ``name.a["b"][0]`` into (root name, rooted with a leading dot, path).

    Only field names and literal string/int indexes belong to a path; anything else (a method
    call, a computed index) ends it, so the caller sees the longest plain reference.
    """
    segments: list[str | int] = []
    node = unwrap(node)
    while isinstance(node, lark.Tree):
        if node.data == "member_dot":
            segments.append(str(node.children[1]))
            node = unwrap(node.children[0])
        elif node.data == "member_index":
            key = literal_value(node.children[1])
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                return None
            segments.append(key)
            node = unwrap(node.children[0])
        elif node.data in ("ident", "dot_ident"):
            return str(node.children[0]), node.data == "dot_ident", tuple(reversed(segments))
        else:
            return None
    return None


def field_path(node: Any, variable: str) -> tuple[str, ...] | None:
    found = reference(node)
    if found is None or found[0] != variable:
        return None
    path = found[2]
    if not all(isinstance(segment, str) for segment in path):
        return None
    return tuple(str(segment) for segment in path)


NOT_LITERAL: Final = object()


def literal_value(node: Any) -> Any:
    """The Python value of a scalar literal operand, or ``NOT_LITERAL``.

    Decoding goes through cel-python's own converters, the ones its evaluator uses, so escapes,
    raw strings and hex ints mean exactly what they mean at evaluation (running the evaluator on
    the literal would cost ~0.1 ms per wait).
    """
    node = unwrap(node)
    if not isinstance(node, lark.Tree) or node.data != "literal":
        return NOT_LITERAL
    token = node.children[0]
    try:
        if token.type in ("STRING_LIT", "MLSTRING_LIT"):
            return str(celstr(token))
        if token.type == "INT_LIT":
            return int(celtypes.IntType(token.value))
        if token.type == "UINT_LIT":
            return int(celtypes.UintType(token.value[:-1]))
        if token.type == "FLOAT_LIT":
            return float(celtypes.DoubleType(token.value))
    except ValueError:  # out of range for its CEL type: an error at evaluation, not a key
        return NOT_LITERAL
    if token.type == "BOOL_LIT":
        return token.value == "true"
    if token.type == "NULL_LIT":
        return None
    return NOT_LITERAL
