"""The pending-wait index: keys, fallbacks, order, removal, and agreement with full CEL."""

from __future__ import annotations

import pytest

from executor.errors import ExpressionError
from executor.expressions import bind_event, compile_expression, match_to_expression
from executor.expressions.index import IndexedWait, WaitIndex

PAID = "app/invoice.paid"


def paid(**data: object) -> dict:
    return {"name": PAID, "id": "evt", "ts": 0, "data": data}


def wait_for_invoice(wait_id: str, invoice_id: object) -> IndexedWait:
    """What a `wait_for_event(PAID, match="data.invoiceId")` stores for a run about invoice_id."""
    trigger = {"name": "app/invoice.created", "data": {"invoiceId": invoice_id}}
    return IndexedWait(wait_id, PAID, bind_event(match_to_expression("data.invoiceId"), trigger))


def test_keyed_waits_route_by_value() -> None:
    index = WaitIndex()
    for n in range(100):
        index.add(wait_for_invoice(f"w{n}", f"inv-{n}"))
    assert index.stats() == {"waits": 100, "keyed": 100, "unkeyed": 0, "event_names": 1}
    assert index.candidates(paid(invoiceId="inv-42")) == ["w42"]
    assert index.matches(paid(invoiceId="inv-42")) == ["w42"]
    assert index.matches(paid(invoiceId="inv-100")) == []
    assert index.matches({"name": "app/other", "data": {"invoiceId": "inv-42"}}) == []


def test_literal_conjunct_is_used_as_key() -> None:
    index = WaitIndex()
    index.add(IndexedWait("pro", "app/upgraded", "async.data.plan == 'pro' && async.data.seats > 5"))
    index.add(IndexedWait("free", "app/upgraded", "'free' == async.data.plan"))
    event = {"name": "app/upgraded", "data": {"plan": "pro", "seats": 10}}
    assert index.stats()["keyed"] == 2
    assert index.candidates(event) == ["pro"]
    assert index.matches(event) == ["pro"]
    assert index.candidates({"name": "app/upgraded", "data": {"plan": "free"}}) == ["free"]


def test_key_is_necessary_not_sufficient() -> None:
    index = WaitIndex()
    index.add(IndexedWait("w", "app/upgraded", "async.data.plan == 'pro' && async.data.seats > 5"))
    few_seats = {"name": "app/upgraded", "data": {"plan": "pro", "seats": 2}}
    assert index.candidates(few_seats) == ["w"]
    assert index.matches(few_seats) == []


def test_unkeyed_waits_are_evaluated_with_full_cel() -> None:
    index = WaitIndex()
    index.add(IndexedWait("or", PAID, "async.data.a == 1 || async.data.b == 2"))
    index.add(IndexedWait("gt", PAID, "async.data.total > 100"))
    index.add(IndexedWait("any", PAID, None))
    assert index.stats() == {"waits": 3, "keyed": 0, "unkeyed": 3, "event_names": 1}
    assert index.candidates(paid()) == ["or", "gt", "any"]
    assert index.matches(paid(b=2, total=500)) == ["or", "gt", "any"]
    assert index.matches(paid(a=5, total=5)) == ["any"]


def test_matches_come_oldest_first_across_keyed_and_unkeyed() -> None:
    index = WaitIndex()
    index.add(IndexedWait("first-unkeyed", PAID, "async.data.total > 1"))
    index.add(wait_for_invoice("second-keyed", "inv-1"))
    index.add(IndexedWait("third-other-key", PAID, "async.data.customer == 'c1'"))
    index.add(wait_for_invoice("fourth-keyed", "inv-1"))
    event = paid(invoiceId="inv-1", customer="c1", total=5)
    assert index.matches(event) == ["first-unkeyed", "second-keyed", "third-other-key", "fourth-keyed"]


def test_re_adding_a_wait_replaces_it_and_makes_it_newest() -> None:
    index = WaitIndex()
    index.add(wait_for_invoice("a", "inv-1"))
    index.add(wait_for_invoice("b", "inv-1"))
    index.add(wait_for_invoice("a", "inv-1"))
    assert len(index) == 2
    assert index.matches(paid(invoiceId="inv-1")) == ["b", "a"]
    index.add(wait_for_invoice("a", "inv-2"))
    assert index.matches(paid(invoiceId="inv-1")) == ["b"]
    assert index.matches(paid(invoiceId="inv-2")) == ["a"]


def test_removal() -> None:
    index = WaitIndex()
    index.add(wait_for_invoice("keyed", "inv-1"))
    index.add(IndexedWait("unkeyed", PAID, "async.data.total > 1"))
    index.remove("keyed")
    index.remove("keyed")  # unknown id: no-op
    index.remove("never-added")
    assert len(index) == 1
    assert index.matches(paid(invoiceId="inv-1", total=2)) == ["unkeyed"]
    index.remove("unkeyed")
    assert len(index) == 0
    assert index.stats() == {"waits": 0, "keyed": 0, "unkeyed": 0, "event_names": 0}
    assert index.matches(paid(invoiceId="inv-1", total=2)) == []


@pytest.mark.parametrize(
    ("incoming", "expected"),
    [(5, ["int", "float"]), (5.0, ["int", "float"]), ("5", ["string"]), (True, []), (None, [])],
)
def test_numbers_share_keys_strings_do_not(incoming: object, expected: list[str]) -> None:
    index = WaitIndex()
    index.add(wait_for_invoice("int", 5))
    index.add(wait_for_invoice("float", 5.0))
    index.add(wait_for_invoice("string", "5"))
    assert index.matches(paid(invoiceId=incoming)) == expected
    assert index.candidates(paid(invoiceId=incoming)) == expected


def test_null_key_matches_events_missing_the_field() -> None:
    index = WaitIndex()
    index.add(wait_for_invoice("unset", None))  # the trigger had no invoiceId: binds null
    index.add(IndexedWait("explicit", PAID, "async.data.invoiceId == null"))
    assert index.matches(paid()) == ["unset", "explicit"]
    assert index.matches({"name": PAID}) == ["unset", "explicit"]
    assert index.matches(paid(invoiceId="inv-1")) == []


def test_index_agrees_with_brute_force() -> None:
    index = WaitIndex()
    waits = [
        wait_for_invoice("w-str", "inv-1"),
        wait_for_invoice("w-int", 1),
        wait_for_invoice("w-null", None),
        IndexedWait("w-bool", PAID, "async.data.paid == true && async.data.invoiceId != null"),
        IndexedWait("w-nested", PAID, "async.data.customer.tier == 'gold'"),
        IndexedWait("w-path", PAID, "async.data['invoiceId'] == 'inv-1' && async.data.total >= 10"),
        IndexedWait("w-or", PAID, "async.data.invoiceId == 1 || async.data.total < 0"),
        IndexedWait("w-any", PAID, None),
    ]
    for wait in waits:
        index.add(wait)
    events = [
        paid(invoiceId="inv-1", total=10),
        paid(invoiceId=1.0, total=-1),
        paid(invoiceId=1, paid=True),
        paid(customer={"tier": "gold"}),
        paid(customer="gold"),
        paid(),
        paid(invoiceId=["inv-1"]),
        {"name": PAID, "data": "not a map"},
    ]
    for event in events:
        brute = [
            w.wait_id
            for w in waits
            if w.expression is None or compile_expression(w.expression).evaluate({"async": event})
        ]
        assert index.matches(event) == brute, event
        assert set(brute) <= set(index.candidates(event)), event


@pytest.mark.parametrize(
    "event",
    [
        None,
        "app/invoice.paid",
        [],
        {},
        {"name": None},
        {"name": ["list"]},
        {"name": PAID, "data": None},
        {"name": PAID, "data": [1, 2]},
        {"name": PAID, "data": {"invoiceId": 2**70}},
        {"name": PAID, "data": {"invoiceId": {"nested": [1, {"x": None}]}}},
        {"name": PAID, "data": {"invoiceId": float("nan")}},
    ],
)
def test_odd_events_never_raise(event: object) -> None:
    index = WaitIndex()
    index.add(wait_for_invoice("keyed", "inv-1"))
    index.add(IndexedWait("unkeyed", PAID, "async.data.total > 1"))
    index.add(IndexedWait("any", PAID, None))
    expected = ["any"] if isinstance(event, dict) and event.get("name") == PAID else []
    assert index.matches(event) == expected  # type: ignore[arg-type]


def test_huge_int_event_does_not_match_but_any_wait_still_does() -> None:
    index = WaitIndex()
    index.add(wait_for_invoice("keyed", 2**63 - 1))
    index.add(IndexedWait("any", PAID, None))
    assert index.matches(paid(invoiceId=2**63 - 1)) == ["keyed", "any"]
    assert index.matches(paid(invoiceId=2**70)) == ["any"]


def test_add_rejects_bad_and_unbound_expressions_and_keeps_the_old_wait() -> None:
    index = WaitIndex()
    index.add(wait_for_invoice("w", "inv-1"))
    with pytest.raises(ExpressionError, match="at line 1, column"):
        index.add(IndexedWait("w", PAID, "async.data.x =="))
    with pytest.raises(ExpressionError, match="reads event"):
        index.add(IndexedWait("w", PAID, "event.data.invoiceId == async.data.invoiceId"))
    assert len(index) == 1
    assert index.matches(paid(invoiceId="inv-1")) == ["w"]


def test_waits_of_different_event_names_are_separate() -> None:
    index = WaitIndex()
    index.add(IndexedWait("a", "app/a", "async.data.id == 1"))
    index.add(IndexedWait("b", "app/b", "async.data.id == 1"))
    assert index.matches({"name": "app/a", "data": {"id": 1}}) == ["a"]
    assert index.matches({"name": "app/b", "data": {"id": 1}}) == ["b"]
    assert index.stats()["event_names"] == 2


def test_selective_key_preferred_over_null_and_bool() -> None:
    index = WaitIndex()
    expression = "async.data.gone == null && async.data.ok == true && async.data.id == 'x'"
    index.add(IndexedWait("w", PAID, expression))
    # Keyed on id: an event with another id is not even a candidate.
    assert index.candidates(paid(ok=True, id="y")) == []
    assert index.matches(paid(ok=True, id="x")) == ["w"]
