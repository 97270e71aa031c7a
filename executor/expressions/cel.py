"""CEL expressions (``if``, ``match``, wait and cancel conditions) with Inngest's semantics.

cel-python alone does not behave like Inngest: its comparisons are strict (``1 == 1.0`` and a missing
field are errors), it has no budget for untrusted expressions, and a compiled tree costs ~16 KB. This
module wraps it so that every caller gets the same rules:

* numbers compare across int/float, values of different types are unequal (never an error), ordering
  across incompatible types is false, and a missing field behaves like ``null``;
* evaluation answers ``True`` only for a CEL ``true``; anything else, including an error, is no match;
* an expression is checked when it is compiled (length, nesting, nested comprehensions, unknown
  functions), so a bad expression fails at load or wait creation with a message that quotes it.
"""

from __future__ import annotations

import functools
import logging
import operator
import re
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import celpy
import lark
from celpy import celtypes
from celpy.evaluation import CELEvalError, base_functions
from lark.exceptions import UnexpectedCharacters, UnexpectedToken

from executor.errors import ExpressionError
from executor.errors import quote_expression as _quote

from .budget import (
    MAX_COST,
    BudgetExceeded,
    Meter,
    MeteredRunner,
    PreparedVariables,
    Unconvertible,
    charge,
    metered_functions,
)
from .cost import Analysis, analyse
from .tree import MACROS, NOT_LITERAL, bare_name, conjuncts, depth, field_path, literal_value, macro_parts, unwrap

# At DEBUG, cel-python logs ~14 KB per evaluation and runs 4x slower; an application that turns on
# debug logging globally must not pay that on every event.
logging.getLogger("celpy").setLevel(logging.WARNING)

MAX_LENGTH: Final = 4096
"""Parsing cost grows with length (a 10 kB expression takes 0.1-0.3 s), so refuse long ones."""

MAX_DEPTH: Final = 128
"""Parse-tree depth limit. The interpreter recurses ~5 Python frames per tree level, so 128 levels
stay far below the recursion limit (2500) even when the caller is deep in its own stack; past ~500
levels evaluation dies with RecursionError."""

_CACHE_SIZE: Final = 4096

_GLOBAL_FUNCTIONS: Final = frozenset(
    {name for name in base_functions if name.isidentifier()} | {"has", "dyn"}
)
_METHODS: Final = frozenset({name for name in base_functions if name.isidentifier()} | MACROS)
_KEYWORDS: Final = frozenset({"true", "false", "null", "in"})
_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT64 = range(-(2**63), 2**63)

Scalar = str | int | float | bool | None

# --- comparisons with Inngest's rules -------------------------------------------------------------


def _is_missing(error: CELEvalError) -> bool:
    """Whether an operand error means "this field is absent" (which Inngest treats as null).

    Only absent keys, out-of-range indexes and field selection on a non-map count; anything else
    (division by zero, an undeclared variable, a bad overload) stays an error so it cannot quietly
    turn into a match.
    """
    message = str(error.args[0]) if error.args else ""
    cause = error.args[1] if len(error.args) > 1 else None
    if cause is KeyError:
        return not message.startswith("undeclared reference")
    if cause is IndexError:
        return True
    return cause is TypeError and "does not support field selection" in message


def _kind(value: Any) -> str:
    # BoolType subclasses int, so booleans must be told apart before numbers.
    if value is None:
        return "null"
    if isinstance(value, (bool, celtypes.BoolType)):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def _plain(value: Any, kind: str) -> Any:
    """Strip the celtypes wrapper: celtypes refuse to compare an IntType with a DoubleType."""
    if kind == "number":
        return float(value) if isinstance(value, float) else int(value)
    if kind == "bool":
        return bool(value)
    if kind == "string":
        return str(value)
    if kind == "bytes":
        return bytes(value)
    return value


def _equal(left: Any, right: Any) -> bool:
    charge(1, "comparing values")
    kind = _kind(left)
    if kind != _kind(right):
        return False
    if kind == "list":
        return len(left) == len(right) and all(map(_equal, left, right))
    if kind == "map":
        try:
            return len(left) == len(right) and all(
                key in right and _equal(value, right[key]) for key, value in left.items()
            )
        except TypeError:
            return False
    try:
        return bool(_plain(left, kind) == _plain(right, kind))
    except TypeError:
        return False


def _operands(left: Any, right: Any) -> tuple[Any, Any] | CELEvalError:
    values = []
    for value in (left, right):
        if isinstance(value, CELEvalError):
            if not _is_missing(value):
                return value
            value = None
        values.append(value)
    return values[0], values[1]


def _cel_eq(left: Any, right: Any) -> Any:
    operands = _operands(left, right)
    if isinstance(operands, CELEvalError):
        return operands
    return celtypes.BoolType(_equal(*operands))


def _cel_ne(left: Any, right: Any) -> Any:
    operands = _operands(left, right)
    if isinstance(operands, CELEvalError):
        return operands
    return celtypes.BoolType(not _equal(*operands))


def _ordering(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    def compare(left: Any, right: Any) -> Any:
        operands = _operands(left, right)
        if isinstance(operands, CELEvalError):
            return operands
        kind = _kind(operands[0])
        if kind != _kind(operands[1]) or kind in ("null", "list", "map"):
            return celtypes.BoolType(False)
        try:
            return celtypes.BoolType(test(_plain(operands[0], kind), _plain(operands[1], kind)))
        except TypeError:
            return celtypes.BoolType(False)

    return compare


def _cel_in(item: Any, container: Any) -> Any:
    """``in`` uses the same equality as ``==``, so `5 in [5.0]` agrees with `5 == 5.0`."""
    operands = _operands(item, container)
    if isinstance(operands, CELEvalError):
        return operands
    element, collection = operands
    if _kind(collection) not in ("list", "map"):
        return celtypes.BoolType(False)
    return celtypes.BoolType(any(_equal(element, member) for member in collection))


_ALL_FUNCTIONS: Final = {
    **metered_functions(base_functions),
    "_in_": _cel_in,
    "_==_": _cel_eq,
    "_!=_": _cel_ne,
    "_<_": _ordering(operator.lt),
    "_<=_": _ordering(operator.le),
    "_>_": _ordering(operator.gt),
    "_>=_": _ordering(operator.ge),
}


# --- the shared environment -------------------------------------------------------------------------

_lock = threading.Lock()
_environment: celpy.Environment | None = None


def _parse(source: str) -> lark.Tree:
    """Parse with the one shared environment (its Lark parser costs ~190 ms to build).

    The lock exists because cel-python's parser keeps the text being parsed on a shared object.
    """
    global _environment
    with _lock:
        if _environment is None:
            # Environment() sets the recursion limit to 2500; never lower a limit the host raised.
            limit = sys.getrecursionlimit()
            _environment = celpy.Environment()
            sys.setrecursionlimit(max(limit, sys.getrecursionlimit()))
        return _environment.compile(source)


def _program(tree: lark.Tree) -> MeteredRunner:
    assert _environment is not None  # a tree only exists after _parse created the environment
    return MeteredRunner(_environment, tree, _ALL_FUNCTIONS)


# --- compiled expressions --------------------------------------------------------------------------


@dataclass(frozen=True)
class Equality:
    """A top-level conjunct ``<variable>.<path> == <literal>``: a necessary condition for a match."""

    path: tuple[str, ...]
    value: Scalar


@dataclass(frozen=True)
class Computed:
    """The value of an expression used as a key or a number (flow control), as plain JSON values:
    ``value`` is None for a missing field; ``problem`` says why there is no value (an error, the
    budget), None when the evaluation succeeded."""

    value: Any = None
    problem: str | None = None


@dataclass(frozen=True)
class Verdict:
    """The outcome of one evaluation: ``matched`` only for a CEL ``true``; ``cutoff`` says why the
    expression could not be evaluated (over its budget, data CEL cannot hold), None otherwise."""

    matched: bool
    cutoff: str | None = None


class CompiledExpression:
    """A checked, ready-to-run expression. Obtain one with :func:`compile_expression`.

    ``variables`` holds the top-level names it reads (``event``, ``async``; not macro variables),
    so a holder can refuse an expression that needs data it will never supply; ``minimum_cost``
    is what it costs at least, in budget units, whatever the data.
    """

    __slots__ = ("source", "variables", "minimum_cost", "_tree", "_paths", "_program")

    def __init__(self, source: str, tree: lark.Tree, variables: frozenset[str], analysis: Analysis) -> None:
        self.source = source
        self.variables = variables
        self.minimum_cost = analysis.minimum_cost
        self._tree = tree
        self._paths = analysis.paths
        self._program = _program(tree)

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r})"

    def evaluate(self, variables: Mapping[str, object] | PreparedVariables) -> bool:
        """True only for a CEL ``true``; see ``check`` for why a false may be a cut-off."""
        return self.check(variables).matched

    def check(self, variables: Mapping[str, object] | PreparedVariables, *,
              max_cost: int = MAX_COST) -> Verdict:
        """Evaluate within the budget: a waiting run must not resume on an error or a non-bool.

        Never raises, because the data is untrusted and one odd event must not break routing for
        everyone else; an evaluation stopped by its budget says so in ``cutoff``.
        """
        prepared = variables if isinstance(variables, PreparedVariables) else PreparedVariables(variables)
        meter = Meter(max_cost)
        try:
            result = self._program.evaluate_within(prepared.activation(self._paths, meter), meter)
        except BudgetExceeded as exc:
            return Verdict(False, str(exc))
        except Unconvertible as exc:
            return Verdict(False, str(exc))
        except RecursionError:
            return Verdict(False, "the data is nested too deeply to evaluate")
        # cel-python raises CELEvalError for ordinary failures but also internal exceptions for
        # malformed data; all of them mean "no match".
        except Exception:
            return Verdict(False)
        return Verdict(isinstance(result, (bool, celtypes.BoolType)) and bool(result))

    def compute(self, variables: Mapping[str, object] | PreparedVariables, *,
                max_cost: int = MAX_COST) -> Computed:
        """The expression's value within the budget (``check`` only answers true or false).

        Never raises, for the reason ``check`` does not; a missing field is a null value, as in
        Inngest's keys, while any other error is a ``problem``.
        """
        prepared = variables if isinstance(variables, PreparedVariables) else PreparedVariables(variables)
        meter = Meter(max_cost)
        try:
            result = self._program.evaluate_within(prepared.activation(self._paths, meter), meter)
        except (BudgetExceeded, Unconvertible) as exc:
            return Computed(problem=str(exc))
        except RecursionError:
            return Computed(problem="the data is nested too deeply to evaluate")
        except CELEvalError as exc:
            return Computed() if _is_missing(exc) else Computed(problem=_eval_problem(exc))
        except Exception as exc:
            return Computed(problem=f"{type(exc).__name__}: {exc}")
        if isinstance(result, CELEvalError):
            return Computed() if _is_missing(result) else Computed(problem=_eval_problem(result))
        return Computed(_to_python(result))

    def equalities(self, variable: str) -> tuple[Equality, ...]:
        """The ``&&``-level equalities between a field of ``variable`` and a literal.

        Each is a necessary condition for the whole expression to be true (CEL's ``&&`` is true
        only when both sides are), which is what lets an index skip full evaluation.
        """
        found = []
        for conjunct in conjuncts(self._tree):
            node = unwrap(conjunct)
            if node.data != "relation" or len(node.children) != 2:
                continue
            operator_node, right = node.children
            if operator_node.data != "relation_eq":
                continue
            left = operator_node.children[0]
            for field, other in ((left, right), (right, left)):
                path = field_path(field, variable)
                value = literal_value(other)
                if path and value is not NOT_LITERAL:
                    found.append(Equality(path, value))
                    break
        return tuple(found)


def _eval_problem(error: CELEvalError) -> str:
    return str(error.args[0]) if error.args else "the expression could not be evaluated"


def _to_python(value: Any) -> Any:
    """CEL values back to JSON values (a key is compared and shown as plain data)."""
    kind = _kind(value)
    if kind == "list":
        return [_to_python(item) for item in value]
    if kind == "map":
        return {str(key): _to_python(item) for key, item in value.items()}
    if kind in ("number", "bool", "string", "null"):
        return _plain(value, kind)
    return str(value)


def compile_expression(source: str) -> CompiledExpression:
    """Compile once per distinct expression; raise :class:`ExpressionError` for a bad one.

    The cache is bounded: callers that hold many expressions (the wait index) keep their own
    references, and a server running for weeks must not keep every expression it ever saw.
    """
    if not isinstance(source, str):
        raise ExpressionError(repr(source), f"an expression must be a string, not {type(source).__name__}")
    return _compile_cached(source)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile_cached(source: str) -> CompiledExpression:
    if not source.strip():
        raise ExpressionError(source, "the expression is empty")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(source, f"the expression is {len(source)} characters long (limit {MAX_LENGTH})")
    try:
        tree = _parse(source)
    except celpy.CELParseError as error:
        raise _syntax_error(source, error) from None
    deepest = depth(tree)
    if deepest > MAX_DEPTH:
        raise ExpressionError(
            source,
            f"the expression nests too deeply (parse-tree depth {deepest}, limit {MAX_DEPTH}); "
            "use fewer nested parentheses, brackets or chained operators",
        )
    variables = _check(source, tree)
    return CompiledExpression(source, tree, variables, analyse(source, tree))


# --- syntax errors ----------------------------------------------------------------------------------

_TOKEN_NAMES: Final = {
    "IDENT": "a name",
    "INT_LIT": "a number",
    "UINT_LIT": "a number",
    "FLOAT_LIT": "a number",
    "STRING_LIT": "a string",
    "MLSTRING_LIT": "a string",
    "BYTES_LIT": "a bytes literal",
    "BOOL_LIT": "true/false",
    "NULL_LIT": "null",
    "$END": "end of expression",
}


def _token_name(terminal: str) -> str:
    if terminal in _TOKEN_NAMES:
        return _TOKEN_NAMES[terminal]
    parser = celpy.CELParser.CEL_PARSER
    assert parser is not None  # a parse error means the parser was built
    pattern = parser.get_terminal(terminal).pattern
    return f"'{pattern.value}'" if pattern.type == "str" else terminal


def _expected(terminals: set[str] | frozenset[str] | None) -> str:
    names = sorted({_token_name(t) for t in terminals or ()}, key=lambda n: (n.startswith("'"), n))
    return f"; expected one of: {', '.join(names)}" if names else ""


def _syntax_error(source: str, error: celpy.CELParseError) -> ExpressionError:
    cause = error.__context__
    line, column = error.line, error.column
    if isinstance(cause, UnexpectedToken):
        if cause.token.type == "$END":
            # Lark reports the position of the last token; the reader needs the end of the input.
            lines = source.split("\n")
            line, column = len(lines), len(lines[-1]) + 1
            reason = "unexpected end of expression"
        else:
            reason = f"unexpected {_quote(str(cause.token), 40)}"
        reason += _expected(cause.expected)
    elif isinstance(cause, UnexpectedCharacters):
        reason = f"unexpected character {_quote(cause.char)}"
        if cause.char in "'\"":
            reason += " (unterminated string?)"
        elif cause.char == "=":
            reason += " (did you mean '=='?)"
        reason += _expected(cause.allowed)
    else:
        reason = str(error).splitlines()[0] if str(error) else "syntax error"
    return ExpressionError(source, reason, line, column)


def _check(source: str, tree: lark.Tree) -> frozenset[str]:
    """Reject what would fail or run away at evaluation; return the free top-level names.

    Unknown functions are caught here because at evaluation they are just an error, i.e. a wait
    that silently never matches. Nested comprehensions are refused because their cost is the
    product of list sizes that come from untrusted events, and cel-python has no budget.
    """
    free: set[str] = set()

    def fail(node: lark.Tree, reason: str) -> ExpressionError:
        return ExpressionError(source, reason, node.meta.line, node.meta.column)

    def visit(node: Any, bound: frozenset[str], in_macro: bool) -> None:
        if not isinstance(node, lark.Tree):
            return
        if node.data in ("ident", "dot_ident"):
            name = str(node.children[0])
            if node.data == "dot_ident" or name not in bound:
                free.add(name)
            return
        if node.data == "dot_ident_arg":
            raise fail(node, "calls with a leading dot are not supported")
        if node.data == "ident_arg" and str(node.children[0]) not in _GLOBAL_FUNCTIONS:
            raise fail(node, f"unknown function {str(node.children[0])!r}")
        if node.data == "member_dot_arg":
            receiver, name, arguments = macro_parts(node)
            if name not in _METHODS:
                raise fail(node, f"unknown function {name!r}")
            if name in MACROS:
                if in_macro:
                    raise fail(
                        node, f"{name}() inside another comprehension is not allowed (nested comprehensions)"
                    )
                variable = bare_name(arguments[0]) if len(arguments) == 2 else None
                if variable is None:
                    raise fail(
                        node, f"{name}() takes a variable name and an expression, e.g. {name}(x, x > 0)"
                    )
                visit(receiver, bound, in_macro)
                visit(arguments[1], bound | {variable}, True)
                return
        for child in node.children:
            visit(child, bound, in_macro)

    visit(tree, frozenset(), False)
    return frozenset(free)
