"""CEL compile/evaluate with Inngest's semantics, the match shorthand and event binding."""

from __future__ import annotations

import sys

import pytest

from executor.errors import ExpressionError
from executor.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    Equality,
    bind_event,
    compile_expression,
    match_to_expression,
    prepare_variables,
)


def evaluate(source: str, data: object, name: str = "async") -> bool:
    return compile_expression(source).evaluate({name: {"name": "app/x", "data": data}})


# --- comparisons ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ("async.data.n == 5", {"n": 5.0}, True),
        ("async.data.n == 5.0", {"n": 5}, True),
        ("async.data.n != 5", {"n": 5.0}, False),
        ("async.data.n > 100.5", {"n": 150}, True),
        ("async.data.n < 100.5", {"n": 150}, False),
        ("async.data.n >= 5", {"n": 5.0}, True),
        ("async.data.n <= 4.9", {"n": 5}, False),
        ("async.data.n == 5u", {"n": 5}, True),
        ("async.data.n == 9007199254740993", {"n": 9007199254740992.0}, False),
    ],
)
def test_numbers_compare_across_int_and_float(source: str, data: object, expected: bool) -> None:
    assert evaluate(source, data) is expected


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ("async.data.v == 'a'", {"v": 1}, False),
        ("async.data.v != 'a'", {"v": 1}, True),
        ("async.data.v == '5'", {"v": 5}, False),
        ("async.data.v == 1", {"v": True}, False),
        ("async.data.v == true", {"v": True}, True),
        ("async.data.v == [1, 2.0]", {"v": [1.0, 2]}, True),
        ("async.data.v == {'a': 1}", {"v": {"a": 1.0}}, True),
        ("async.data.v == {'a': 1}", {"v": {"a": "1"}}, False),
        ("async.data.v == null", {"v": 0}, False),
    ],
)
def test_different_types_are_unequal_not_errors(source: str, data: object, expected: bool) -> None:
    assert evaluate(source, data) is expected


@pytest.mark.parametrize(
    "source",
    ["async.data.v > 'a'", "async.data.v < 'a'", "async.data.v >= null", "async.data.v <= [1]"],
)
def test_ordering_across_incompatible_types_is_false(source: str) -> None:
    assert evaluate(source, {"v": 5}) is False
    # The negation is true: the comparison is false, not an error that poisons the expression.
    assert evaluate(f"!({source})", {"v": 5}) is True


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("5 in [5.0]", True),
        ("'5' in [5]", False),
        ("async.data.n in [1, 'a', 2]", True),
        ("async.data.n in {'a': 1}", False),
        ("'a' in {'a': 1}", True),
        ("async.data.missing in [null]", True),
        ("1 in async.data.missing", False),
        ("1 in 'abc'", False),
    ],
)
def test_in_uses_the_same_equality(source: str, expected: bool) -> None:
    assert evaluate(source, {"n": 2.0}) is expected


def test_strings_order_lexicographically() -> None:
    assert evaluate("async.data.v < 'b'", {"v": "a"}) is True
    assert evaluate("async.data.v > 'b'", {"v": "a"}) is False


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ("async.data.missing == null", {}, True),
        ("async.data.missing != 5", {}, True),
        ("async.data.missing == 5", {}, False),
        ("async.data.missing > 5", {}, False),
        ("async.data.a.b.c == null", {}, True),
        ("async.data.a.b == null", {"a": "text"}, True),
        ("async.data.items[3] == null", {"items": [1]}, True),
        ("async.data['k'] == null", {}, True),
        ("async.data.missing == async.data.other", {}, True),
    ],
)
def test_missing_field_behaves_like_null(source: str, data: object, expected: bool) -> None:
    assert evaluate(source, data) is expected


def test_real_errors_do_not_become_null() -> None:
    # Division by zero is not a missing field: it must not equal null and so match.
    assert evaluate("async.data.n / 0 == null", {"n": 1}) is False
    # An undeclared variable is a bug in the expression, not an absent field.
    assert evaluate("nope == null", {}) is False


@pytest.mark.parametrize(
    "source", ["async.data.n", "async.data.n + 1", "'yes'", "async.data.missing", "[true]", "null"]
)
def test_non_bool_result_is_no_match(source: str) -> None:
    assert evaluate(source, {"n": 1}) is False


def test_evaluation_never_raises_on_odd_data() -> None:
    compiled = compile_expression("async.data.n == 1")
    assert compiled.evaluate({"async": {"data": {"n": 2**70}}}) is False  # int64 overflow
    assert compiled.evaluate({"async": {"data": {"n": b"bytes"}}}) is False  # not JSON
    assert compiled.evaluate({"async": "not a map"}) is False
    assert compiled.evaluate({}) is False
    deep: object = 1
    for _ in range(sys.getrecursionlimit() * 2):
        deep = [deep]
    assert compiled.evaluate({"async": {"data": {"n": deep}}}) is False


def test_logic_and_functions_work_with_the_custom_comparisons() -> None:
    data = {"plan": "pro", "tags": ["a", "b"], "total": 12.5, "email": "x@example.com"}
    assert evaluate(
        "async.data.plan == 'pro' && async.data.total > 10 && 'a' in async.data.tags"
        " && async.data.email.endsWith('@example.com') && size(async.data.tags) == 2"
        " && async.data.tags.exists(t, t == 'b') && has(async.data.plan) && !has(async.data.nope)",
        data,
    )
    assert evaluate("async.data.plan == 'free' || async.data.total >= 12.5", data)
    assert evaluate("async.data.total > 100 ? false : true", data)


def test_prepared_variables_can_be_reused_across_expressions() -> None:
    prepared = prepare_variables({"async": {"data": {"id": "a", "n": 3}}})
    assert compile_expression("async.data.id == 'a'").evaluate(prepared) is True
    assert compile_expression("async.data.n == 3.0").evaluate(prepared) is True
    assert compile_expression("async.data.id == 'b'").evaluate(prepared) is False
    assert compile_expression("async.data.id == 'a'").evaluate(prepared) is True
    # Only the fields an expression reads are converted: one CEL cannot hold spoils only those.
    unconvertible = prepare_variables({"async": {"data": {"n": 2**64, "id": "a"}}})
    verdict = compile_expression("async.data.n > 0").check(unconvertible)
    assert not verdict.matched and "async.data.n holds an integer outside the 64-bit range" in verdict.cutoff
    assert compile_expression("async.data.id == 'a'").check(unconvertible).matched


# --- compile errors and limits ---------------------------------------------------------------------


def test_syntax_error_quotes_expression_with_position_and_expected_tokens() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("event.data.x ==")
    error = caught.value
    assert (error.line, error.column) == (1, 16)
    assert error.expression == "event.data.x =="
    message = str(error)
    assert message.startswith('invalid expression "event.data.x ==" at line 1, column 16: ')
    assert "unexpected end of expression" in message
    assert "expected one of: " in message and "a number" in message and "a string" in message


def test_syntax_error_on_a_later_line_names_the_offending_token() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("async.data.a == 1 &&\n  async.data.b == == 2")
    error = caught.value
    assert (error.line, error.column) == (2, 19)
    assert "unexpected \"==\"" in error.reason
    assert '\\n' in str(error)  # the quoted expression stays on one line


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("async.data.a = 1", "did you mean '=='?"),
        ("async.data.a == 'open", "unterminated string"),
        ("", "empty"),
        ("   ", "empty"),
        ("foo(1) == 2", "unknown function 'foo'"),
        ("async.data.s.startswith('a')", "unknown function 'startswith'"),
        ("[1].reduce(r, i, 0, r + i) == 1", "unknown function 'reduce'"),
        ("async.data.l.all(1, true)", "takes a variable name and an expression"),
    ],
)
def test_invalid_expressions_explain_themselves(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_non_string_expression_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="must be a string"):
        compile_expression(42)  # type: ignore[arg-type]


def test_length_limit() -> None:
    at_limit = "async.data.s == '" + "a" * (MAX_LENGTH - 18) + "'"
    assert len(at_limit) == MAX_LENGTH
    assert compile_expression(at_limit).source == at_limit
    with pytest.raises(ExpressionError) as caught:
        compile_expression(at_limit + " ")
    assert f"{MAX_LENGTH + 1} characters long (limit {MAX_LENGTH})" in caught.value.reason
    assert len(str(caught.value)) < 400  # the message does not repeat 4 kB of source


def test_depth_limit() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("(" * 40 + "true" + ")" * 40)
    assert f"limit {MAX_DEPTH}" in caught.value.reason
    assert caught.value.line is None
    # Ordinary nesting is well within the limit.
    assert compile_expression("(" * 5 + "true" + ")" * 5).evaluate({}) is True


def test_length_is_checked_before_parsing_deep_input() -> None:
    # 5000 parentheses would take long to parse and overflow a recursive depth check.
    with pytest.raises(ExpressionError, match="characters long"):
        compile_expression("(" * 2500 + "1" + ")" * 2500)


@pytest.mark.parametrize(
    "source",
    [
        "async.data.a.all(x, async.data.b.exists(y, y == x))",
        "async.data.a.exists(x, x.map(y, y).size() > 0)",
        "async.data.a.filter(x, async.data.b.exists_one(y, y == x)).size() > 0",
    ],
)
def test_nested_comprehensions_are_rejected(source: str) -> None:
    with pytest.raises(ExpressionError, match="nested comprehensions"):
        compile_expression(source)


def test_chained_comprehensions_are_allowed() -> None:
    compiled = compile_expression("async.data.a.filter(x, x > 1).all(y, y < 10)")
    assert compiled.evaluate({"async": {"data": {"a": [1, 5, 9]}}}) is True
    assert compiled.evaluate({"async": {"data": {"a": [1, 50]}}}) is False


def test_compile_is_cached_by_source() -> None:
    assert compile_expression("async.data.cache == 1") is compile_expression("async.data.cache == 1")


def test_variables_excludes_macro_variables() -> None:
    compiled = compile_expression("event.data.a == async.data.a && async.data.l.exists(x, x == 1)")
    assert compiled.variables == frozenset({"event", "async"})


def test_equalities_are_top_level_equality_conjuncts_with_literals() -> None:
    compiled = compile_expression(
        "async.data.plan == 'pro' && 5 == async.data.n && (async.data['a-b'] == 1.5 && x > 1)"
        " && async.data.x != 1 && async.data.y == async.data.z && async.name == null"
    )
    assert compiled.equalities("async") == (
        Equality(("data", "plan"), "pro"),
        Equality(("data", "n"), 5),
        Equality(("data", "a-b"), 1.5),
        Equality(("name",), None),
    )
    assert compile_expression("async.data.a == 1 || async.data.b == 2").equalities("async") == ()
    assert compile_expression("!(async.data.a == 1)").equalities("async") == ()


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("0x10", 16),
        ("3u", 3),
        ("-2.5e3", -2500.0),
        (r"r'a\n'", r"a\n"),
        (r"'\u00e9\x41\101'", "éAA"),
        ("false", False),
        ("null", None),
    ],
)
def test_equality_literals_decode_as_evaluation_does(literal: str, value: object) -> None:
    compiled = compile_expression(f"async.data.v == {literal}")
    assert compiled.equalities("async") == (Equality(("data", "v"), value),)
    assert compiled.evaluate({"async": {"data": {"v": value}}}) is True


def test_multiline_literal_key_follows_cel_python_dropping_newlines() -> None:
    # cel-python 0.5.0 drops raw newlines inside '''...''' strings; the key must agree with it.
    compiled = compile_expression("async.data.v == '''multi\nline'''")
    assert compiled.equalities("async") == (Equality(("data", "v"), "multiline"),)
    assert compiled.evaluate({"async": {"data": {"v": "multiline"}}}) is True


def test_out_of_range_literal_is_not_a_key() -> None:
    compiled = compile_expression("async.data.v == 9223372036854775808")
    assert compiled.equalities("async") == ()
    assert compiled.evaluate({"async": {"data": {"v": 1}}}) is False


# --- match shorthand --------------------------------------------------------------------------------


def test_match_to_expression() -> None:
    assert match_to_expression("data.invoiceId") == "event.data.invoiceId == async.data.invoiceId"
    assert match_to_expression("user.id") == "event.user.id == async.user.id"


@pytest.mark.parametrize(
    "match", ["", "data.", ".data", "data..x", "data.invoice-id", "data.x == 1", "data.in", "1data"]
)
def test_match_rejects_what_is_not_a_dotted_path(match: str) -> None:
    with pytest.raises(ExpressionError, match="dotted field path"):
        match_to_expression(match)


@pytest.mark.parametrize("match", ["event.data.x", "async.data.x"])
def test_match_is_relative_to_the_event(match: str) -> None:
    with pytest.raises(ExpressionError, match='write "data.x"'):
        match_to_expression(match)


@pytest.mark.parametrize(
    ("created", "incoming", "expected"),
    [
        ({"invoiceId": "inv-1"}, {"invoiceId": "inv-1"}, True),
        ({"invoiceId": "inv-1"}, {"invoiceId": "inv-2"}, False),
        ({"invoiceId": 7}, {"invoiceId": 7.0}, True),
        ({"invoiceId": 7}, {"invoiceId": "7"}, False),
        ({}, {}, True),
        ({}, {"invoiceId": "inv-1"}, False),
    ],
)
def test_match_and_the_equivalent_if_agree(created: dict, incoming: dict, expected: bool) -> None:
    trigger = {"name": "app/invoice.created", "data": created}
    event = {"name": "app/invoice.paid", "data": incoming}
    variables = {"event": trigger, "async": event}
    from_match = compile_expression(match_to_expression("data.invoiceId"))
    written = compile_expression("event.data.invoiceId == async.data.invoiceId")
    bound = compile_expression(bind_event(match_to_expression("data.invoiceId"), trigger))
    assert from_match.evaluate(variables) is expected
    assert written.evaluate(variables) is expected
    assert bound.evaluate({"async": event}) is expected


# --- binding ----------------------------------------------------------------------------------------

TRICKY_STRINGS = [
    'he said "hi"',
    "it's",
    "back\\slash\\",
    "\\\"",
    "line\nbreak\r\ttab",
    "é 日本語 😀",
    "nul\x00 bell\x07 del\x7f",
    "\u2028\u2029",
    "\ud800 lone surrogate",
    "event.data.x",
    "",
    "${event.data.x}",
]


@pytest.mark.parametrize("text", TRICKY_STRINGS)
def test_bind_event_strings_round_trip(text: str) -> None:
    bound = bind_event("async.data.s == event.data.s", {"data": {"s": text}})
    compiled = compile_expression(bound)
    assert compiled.variables == frozenset({"async"})
    assert compiled.evaluate({"async": {"data": {"s": text}}}) is True
    assert compiled.evaluate({"async": {"data": {"s": text + "x"}}}) is False
    assert compiled.equalities("async") == (Equality(("data", "s"), text),)


def test_bind_event_leaves_string_literals_alone() -> None:
    source = (
        "event.data.x == async.data.x && async.data.note == \"event.data.x\""
        " && 'event.data.x' != event.data.x"
    )
    bound = bind_event(source, {"data": {"x": 1}})
    assert bound == '1 == async.data.x && async.data.note == "event.data.x" && \'event.data.x\' != 1'


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (5, "5"),
        (-5, "-5"),
        (2.5, "2.5"),
        (1e16, "1e+16"),
        (True, "true"),
        (None, "null"),
        ([1, "a", [None]], '[1, "a", [null]]'),
        ({"a": {"b": [1.5]}}, '{"a": {"b": [1.5]}}'),
        ({}, "{}"),
    ],
)
def test_bind_event_values_become_cel_literals(value: object, literal: str) -> None:
    bound = bind_event("async.data.v == event.data.v", {"data": {"v": value}})
    assert bound == f"async.data.v == {literal}"
    assert compile_expression(bound).evaluate({"async": {"data": {"v": value}}}) is True


def test_bind_event_special_floats() -> None:
    bound = bind_event("async.data.v < event.data.v", {"data": {"v": float("inf")}})
    assert bound == 'async.data.v < double("inf")'
    assert compile_expression(bound).evaluate({"async": {"data": {"v": 1e308}}}) is True


def test_bind_event_missing_paths_become_null() -> None:
    event = {"data": {"list": [1], "text": "s"}}
    bound = bind_event(
        "event.data.nope == async.data.a && event.data.text.deeper == async.data.b"
        " && event.data.list[5] == async.data.c && event.nothing.at.all == null",
        event,
    )
    assert bound == "null == async.data.a && null == async.data.b && null == async.data.c && null == null"
    assert compile_expression(bound).evaluate({"async": {"data": {}}}) is True


def test_bind_event_index_paths_and_method_receivers() -> None:
    event = {"data": {"items": [{"sku": "A-1"}], "weird key": 3, "n": 5, "s": "Abc"}}
    bound = bind_event(
        "event.data.items[0].sku == async.data.sku && event.data['weird key'] == async.data.k"
        " && event.data.n.string() == '5' && event.data.s.startsWith('A')",
        event,
    )
    assert bound == (
        '"A-1" == async.data.sku && 3 == async.data.k && (5).string() == \'5\' && ("Abc").startsWith(\'A\')'
    )
    assert compile_expression(bound).evaluate({"async": {"data": {"sku": "A-1", "k": 3}}}) is True


def test_bind_event_whole_objects_and_computed_indexes() -> None:
    event = {"data": {"m": {"x": 1}}}
    bound = bind_event("event.data.m[async.data.key] == 1 && async.data.m == event.data.m", event)
    assert bound == '({"x": 1})[async.data.key] == 1 && async.data.m == {"x": 1}'
    assert compile_expression(bound).evaluate({"async": {"data": {"key": "x", "m": {"x": 1.0}}}}) is True


def test_bind_event_respects_a_macro_variable_named_event() -> None:
    bound = bind_event("async.data.l.exists(event, event == 1) && event.data.a == 2", {"data": {"a": 2}})
    assert bound == "async.data.l.exists(event, event == 1) && 2 == 2"


def test_bind_event_without_event_references_returns_source() -> None:
    assert bind_event("async.data.a == 1", {"data": {}}) == "async.data.a == 1"


def test_bind_event_refuses_values_that_cannot_be_bound() -> None:
    with pytest.raises(ExpressionError, match="outside the 64-bit integer range"):
        bind_event("async.data.n == event.data.n", {"data": {"n": 2**64}})
    with pytest.raises(ExpressionError, match="not JSON"):
        bind_event("async.data.n == event.data.n", {"data": {"n": b"x"}})
    with pytest.raises(ExpressionError, match="after binding.*characters long"):
        bind_event("async.data.s == event.data.s", {"data": {"s": "x" * MAX_LENGTH}})


def test_bind_event_rejects_an_invalid_template() -> None:
    with pytest.raises(ExpressionError) as caught:
        bind_event("event.data.x ==", {"data": {"x": 1}})
    assert caught.value.column == 16
