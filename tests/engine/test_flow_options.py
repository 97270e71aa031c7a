"""Flow-control options: the records, how they are checked and normalised, and how an app's
camelCase options arrive by sync — bad ones refused at load or sync, naming the function."""

from __future__ import annotations

from datetime import timedelta

import pytest

import executor
from executor import (Batch, Cancel, Concurrency, Debounce, FunctionDefinitionError, Priority, RateLimit, Singleton,
                      Throttle, Timeouts, create_function)
from executor.drivers.inngest.sync import SyncError, parse_register_body
from executor.engine.flowkeys import key_value
from executor.expressions import compile_expression
from executor.flowcontrol import check_flow
from executor.util import jsonvalues


async def _noop(ctx):
    return None


def test_the_records_are_exported_from_executor():
    for name in ("Concurrency", "Throttle", "RateLimit", "Debounce", "Batch", "Priority", "Singleton", "Timeouts"):
        assert name in executor.__all__ and getattr(executor, name).__module__ == "executor.flowcontrol"


def test_options_are_normalised_durations_in_ms_and_scope_defaulted():
    flow = check_flow("f", concurrency=[Concurrency(limit=1, key="event.data.userId"),
                                        Concurrency(limit=20, scope="env", key="event.data.accountId")],
                      throttle=Throttle(limit=10, period="1m", burst=2, key="event.data.accountId"),
                      rate_limit=RateLimit(limit=1, period=timedelta(hours=4)),
                      debounce=Debounce(period="30s", timeout=300_000), timeouts=Timeouts(start="10m", finish="1h"),
                      priority=Priority(run="event.data.plan == 'enterprise' ? 120 : 0"),
                      idempotency="event.data.orderId", singleton=Singleton(mode="cancel"))
    assert [c.scope for c in flow.concurrency] == ["fn", "env"]
    assert flow.throttle.period == 60_000 and flow.rate_limit.period == 4 * 3600_000
    assert flow.debounce.period == 30_000 and flow.debounce.timeout == 300_000
    assert flow.timeouts.start == 600_000 and flow.timeouts.finish == 3600_000
    shown = flow.to_dict()
    assert shown["throttle"] == {"limit": 10, "period": "1m", "burst": 2, "key": "event.data.accountId"}
    assert shown["timeouts"] == {"start": "10m", "finish": "1h"} and shown["idempotency"] == "event.data.orderId"


def test_a_plain_number_is_a_function_wide_concurrency_limit():
    assert check_flow("f", concurrency=3).concurrency == (Concurrency(limit=3, scope="fn"),)


@pytest.mark.parametrize("options, message", [
    ({"concurrency": Concurrency(limit=1, scope="planet", key="event.data.x")}, "unknown scope 'planet'"),
    ({"concurrency": Concurrency(limit=1, scope="env")}, "scope 'env' needs a key"),
    ({"concurrency": [Concurrency(limit=1)] * 3}, "at most 2 limits"),
    ({"concurrency": Concurrency(limit=0)}, "concurrency limit: must be an int of at least 1"),
    ({"concurrency": Concurrency(limit=1, key="event.data.")}, "concurrency key"),
    ({"concurrency": Concurrency(limit=1, key="async.data.x")}, "see only 'event'"),
    ({"throttle": Throttle(limit=1, period="500ms")}, "throttle period: '500ms' is below the minimum of 1s"),
    ({"throttle": Throttle(limit=1, period="8d")}, "above the maximum of 7d"),
    ({"throttle": Throttle(limit=1, period="1m", burst=-1)}, "throttle burst: must be an int of at least 0"),
    ({"rate_limit": RateLimit(limit=1, period="25h")}, "above the maximum of 1d"),
    ({"rate_limit": RateLimit(limit=1, period="1h", key="event.data.x ==")}, "rate_limit key"),
    ({"debounce": Debounce(period="0s")}, "debounce period"),
    ({"batch_events": Batch(max_size=1, timeout="5s")}, "max_size: must be an int of at least 2"),
    ({"batch_events": Batch(max_size=5, timeout="5s", if_exp="event.data.x >")}, "batch_events if"),
    ({"priority": Priority(run="event.data.p +")}, "priority run"),
    ({"idempotency": ""}, "idempotency: must be a non-empty CEL expression"),
    ({"singleton": Singleton(mode="queue")}, "mode must be 'skip' or 'cancel'"),
    ({"timeouts": Timeouts(finish="soon")}, "timeouts finish: invalid duration"),
    ({"throttle": RateLimit(limit=1, period="1m")}, "throttle: takes a Throttle(...) record"),
    ({"batch_events": Batch(max_size=5, timeout="5s"), "debounce": Debounce(period="5s")},
     "cannot be combined with debounce"),
])
def test_bad_options_are_refused_naming_the_function_and_option(options, message):
    with pytest.raises(FunctionDefinitionError) as info:
        create_function(id="sync-user", trigger="user/updated", **options)(_noop)
    assert "function 'sync-user'" in str(info.value) and message in str(info.value)


def test_a_batch_cannot_have_cancel_rules():
    with pytest.raises(FunctionDefinitionError, match="batch_events: cannot be combined with cancel"):
        create_function(id="b", trigger="x", cancel=Cancel(event="stop"),
                        batch_events=Batch(max_size=3, timeout="5s"))(_noop)


def test_the_spec_carries_the_checked_options():
    fn = create_function(id="f", trigger="x", concurrency=2, rate_limit=RateLimit(limit=5, period="1m"))(_noop)
    spec = fn.spec()
    assert spec.flow.concurrency[0].limit == 2 and spec.flow.rate_limit.period == 60_000
    assert fn.describe()["flow_control"]["rate_limit"] == {"limit": 5, "period": "1m"}


# ---- options arriving by sync ----------------------------------------------------------------------

def _app(**options) -> dict:
    return {"appName": "shop", "url": "http://127.0.0.1:9/api", "functions": [{
        "id": "shop-sync", "name": "sync", "triggers": [{"event": "user/updated"}],
        "steps": {"step": {"id": "step", "name": "step",
                           "runtime": {"type": "http", "url": "http://127.0.0.1:9/api?fnId=shop-sync&stepId=step"}}},
        **options}]}


def _flow(**options):
    return parse_register_body(_app(**options)).functions[0].spec.flow


def test_synced_camel_case_options_become_the_same_records():
    flow = _flow(concurrency=[{"limit": 1, "key": "event.data.userId"}, {"limit": 20, "scope": "env", "key": "event.data.a"}],
                 throttle={"limit": 10, "period": "1m", "burst": 2, "key": "event.data.accountId"},
                 rateLimit={"limit": 1, "period": "4h", "key": "event.data.userId"},
                 debounce={"period": "30s", "key": "event.data.userId", "timeout": "5m"},
                 priority={"run": "event.data.plan == 'enterprise' ? 120 : 0"}, idempotency="event.data.orderId",
                 singleton={"key": "event.data.userId", "mode": "skip"}, timeouts={"start": "10m", "finish": "1h"},
                 batchEvents=None)
    assert flow == check_flow(
        "shop-sync", concurrency=[Concurrency(limit=1, key="event.data.userId"),
                                  Concurrency(limit=20, scope="env", key="event.data.a")],
        throttle=Throttle(limit=10, period="1m", burst=2, key="event.data.accountId"),
        rate_limit=RateLimit(limit=1, period="4h", key="event.data.userId"),
        debounce=Debounce(period="30s", key="event.data.userId", timeout="5m"),
        priority=Priority(run="event.data.plan == 'enterprise' ? 120 : 0"), idempotency="event.data.orderId",
        singleton=Singleton(key="event.data.userId", mode="skip"), timeouts=Timeouts(start="10m", finish="1h"))


@pytest.mark.parametrize("raw, limits", [
    (5, [(5, None, "fn")]),
    ({"limit": 2, "key": "event.data.u"}, [(2, "event.data.u", "fn")]),
    ([{"limit": 1, "key": "event.data.u"}, {"limit": 9}], [(1, "event.data.u", "fn"), (9, None, "fn")]),
    ({"step": [{"limit": 3, "scope": "env", "key": "event.data.u"}]}, [(3, "event.data.u", "env")]),
    ({"limit": 0}, []),
])
def test_concurrency_arrives_in_every_form_sdks_send(raw, limits):
    assert [(c.limit, c.key, c.scope) for c in _flow(concurrency=raw).concurrency] == limits


def test_a_synced_throttle_without_burst_has_none_on_top_of_its_limit():
    # Inngest's Go server reads an absent burst as 0 (the TypeScript SDK leaves it out).
    assert _flow(throttle={"limit": 3, "period": "1m"}).throttle == Throttle(limit=3, period=60_000, burst=0)
    assert check_flow("f", throttle=Throttle(limit=3, period="1m", burst=None)).throttle.burst == 0


def test_batch_events_and_an_unknown_option_still_sync_listing_it_as_not_enforced():
    flow = _flow(batchEvents={"maxSize": 8, "timeout": "10s", "key": "", "if": "event.data.big == true"},
                 concurrency={"fn": [{"limit": 1}]}, somethingNew={"x": 1})
    assert flow.batch == Batch(max_size=8, timeout=10_000, key=None, if_exp="event.data.big == true")
    assert flow.not_enforced == ("somethingNew", "concurrency.fn")


@pytest.mark.parametrize("options, message", [
    ({"debounce": {"period": "500ms"}}, "debounce period: '500ms' is below the minimum of 1s"),
    ({"concurrency": [{"limit": 1, "scope": "galaxy", "key": "event.data.x"}]}, "unknown scope 'galaxy'"),
    ({"throttle": {"limit": 1, "period": "1m", "key": "event.data.("}}, "throttle key"),
    ({"rateLimit": {"period": "1m"}}, "rateLimit: 'limit' is required"),
    ({"singleton": "skip"}, "singleton: must be an object"),
    ({"idempotency": 5}, "idempotency: must be a CEL expression string"),
])
def test_bad_synced_options_refuse_the_sync_naming_the_function(options, message):
    with pytest.raises(SyncError) as info:
        parse_register_body(_app(**options))
    assert "function 'shop-sync'" in str(info.value) and message in str(info.value)


@pytest.mark.parametrize("event", [
    {"data": {"userId": "u-42"}}, {"data": {"userId": 7}}, {"data": {"userId": 1.5}}, {"data": {"userId": True}},
    {"data": {"userId": None}}, {"data": {}}, {}, {"data": "text"}, {"data": {"userId": [1, "a"]}},
    {"data": {"userId": {"org": "o"}}}, {"data": {"userId": 2 ** 64}}, {"data": {"userId": -(2 ** 63)}},
])
def test_a_plain_field_key_read_directly_gives_what_cel_gives(event):
    notes: list[str] = []
    direct = key_value("f", "concurrency", "event.data.userId", event, notes)
    computed = compile_expression("event.data.userId").compute({"event": event})
    value = computed.value
    assert direct.value == (value if isinstance(value, str) else jsonvalues.dumps(value).decode())
    assert direct.label == f"userId={direct.value}"
    assert bool(notes) == (computed.problem is not None)
