"""App syncs: what inngest-py really POSTs to ``/fn/register`` (and answers in band) read into
function specs, and introspection GETs."""

from __future__ import annotations

import datetime
import time
from typing import Any

import inngest
import orjson
import pytest

from executor.drivers.inngest import (AppSync, SyncError, app_uuid, parse_introspection, parse_register_body,
                                      parse_sync_reply, register_reply, server_kind_mismatch, sync_request)
from executor.drivers.inngest.inband import IN_BAND, OUT_OF_BAND, introspection_request
from executor.errors import FunctionDefinitionError
from executor.specs import Cancel, TriggerCron, TriggerEvent
from tests.drivers.inngest.harness import APP, APP_ORIGIN, SIGNING_KEY, SDKApp

URL = f"{APP_ORIGIN}/api/inngest"


def define(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    """Functions covering every option an SDK syncs."""
    async def handler(ctx: inngest.Context) -> None:
        return None

    async def failed(ctx: inngest.Context) -> None:
        return None

    full = client.create_function(
        fn_id="full", name="Full options", retries=2,
        trigger=[inngest.TriggerEvent(event="app/go", expression="event.data.ok == true"),
                 inngest.TriggerCron(cron="*/5 * * * *")],
        cancel=[inngest.Cancel(event="app/cancel", if_exp="event.data.id == async.data.id",
                               timeout=datetime.timedelta(hours=1))],
        concurrency=[inngest.Concurrency(limit=2, key="event.data.id")],
        throttle=inngest.Throttle(limit=1, period=datetime.timedelta(seconds=10), key="event.data.user"),
        rate_limit=inngest.RateLimit(limit=10, period=datetime.timedelta(minutes=1)),
        priority=inngest.Priority(run="event.data.priority"),
        idempotency="event.data.id",
        timeouts=inngest.Timeouts(start=datetime.timedelta(seconds=30), finish=datetime.timedelta(minutes=5)),
        on_failure=failed,
    )(handler)
    debounced = client.create_function(
        fn_id="debounced", trigger=inngest.TriggerEvent(event="app/typing"),
        debounce=inngest.Debounce(period=datetime.timedelta(seconds=2), key="event.data.doc"),
        singleton=inngest.Singleton(mode="skip", key="event.data.doc"),
    )(handler)
    batched = client.create_function(
        fn_id="batched", trigger=inngest.TriggerEvent(event="app/row"),
        batch_events=inngest.Batch(max_size=8, timeout=datetime.timedelta(seconds=10)),
    )(handler)
    return [full, debounced, batched]


async def test_a_real_out_of_band_sync_becomes_function_specs(client, stub):
    app = SDKApp(client, define(client))
    put = sync_request(URL)
    reply = await app.http.put(URL + "?deployId=deploy-7", content=put.body, headers=put.headers)
    await app.close()
    outcome = parse_sync_reply(reply.status_code, reply.headers, reply.content, url=URL)
    assert outcome.kind == OUT_OF_BAND and outcome.sdk == "inngest-py:v0.5.19" and outcome.app is None
    registered = stub.registered[-1]
    assert reply.json() == registered_reply(registered["app"])        # the SDK hands our reply back
    assert registered["query"] == {"deployId": "deploy-7"}
    assert server_kind_mismatch(registered["headers"], "dev") is None
    assert "expects an Inngest 'dev' server" in server_kind_mismatch(registered["headers"], "cloud")

    sync: AppSync = registered["app"]
    assert (sync.app_name, sync.url, sync.sdk, sync.framework, sync.deploy_id) == (
        APP, URL, "py:v0.5.19", "fast_api", "deploy-7")
    assert sync.capabilities == {"connect": "v1", "in_band_sync": "v1", "trust_probe": "v1"}
    assert (sync.sdk_language, sync.sdk_version, sync.app_id) == ("py", "v0.5.19", app_uuid(APP))
    specs = {spec.id: spec for spec in sync.specs}
    assert sorted(specs) == ["myapp-batched", "myapp-debounced", "myapp-full", "myapp-full-failure"]

    full = specs["myapp-full"]
    assert (full.driver, full.app, full.name, full.retries, full.mode) == ("inngest", APP, "Full options", 2, "sdk")
    assert full.triggers == (TriggerEvent("app/go", expression="event.data.ok == true"), TriggerCron("*/5 * * * *"))
    assert full.cancel == (Cancel("app/cancel", if_exp="event.data.id == async.data.id", timeout="1h"),)
    assert full.source == f"{URL}?fnId=myapp-full&stepId=step"
    assert dict(full.options) == {
        "concurrency": [{"key": "event.data.id", "limit": 2}],
        "throttle": {"key": "event.data.user", "limit": 1, "period": "10s", "burst": 1},
        "rateLimit": {"limit": 10, "period": "1m"},
        "priority": {"run": "event.data.priority"},
        "idempotency": "event.data.id",
        "timeouts": {"start": "30s", "finish": "5m"},
    }
    failure = specs["myapp-full-failure"]
    assert failure.triggers == (TriggerEvent("inngest/function.failed",
                                             expression="event.data.function_id == 'myapp-full'"),)
    assert failure.retries == 0 and failure.options == {"concurrency": []}    # as inngest-py sends it
    assert dict(specs["myapp-debounced"].options) == {"debounce": {"key": "event.data.doc", "period": "2s"},
                                                      "singleton": {"key": "event.data.doc", "mode": "skip"}}
    assert dict(specs["myapp-batched"].options) == {"batchEvents": {"maxSize": 8, "timeout": "10s"}}
    assert specs["myapp-batched"].retries == 4                       # absent: Inngest's default
    synced = {f.spec.id: f for f in sync.functions}
    assert synced["myapp-full"].url == full.source and synced["myapp-full"].config["idempotency"] == "event.data.id"


def registered_reply(sync: AppSync) -> dict[str, Any]:
    return register_reply(sync, modified=True, sync_id="sync-1")


async def test_a_resync_of_the_same_app_has_the_same_checksum(client, stub):
    app = SDKApp(client, define(client))
    for _ in range(2):
        put = sync_request(URL, in_band=False)
        assert (await app.http.put(URL, content=put.body, headers=put.headers)).status_code == 200
    await app.close()
    first, second = stub.registered[-2]["app"], stub.registered[-1]["app"]
    assert first.checksum == second.checksum and first.specs == second.specs
    assert [s.version for s in first.specs] == [s.version for s in second.specs]


async def test_a_cloud_mode_app_answers_a_signed_in_band_sync(keyed_cloud_app, client, stub):
    now = int(time.time())
    put = sync_request(URL, signing_key=SIGNING_KEY, now_s=now)
    reply = await keyed_cloud_app.http.put(URL, content=put.body, headers=put.headers)
    assert reply.status_code == 200 and reply.headers["x-inngest-sync-kind"] == IN_BAND
    outcome = parse_sync_reply(reply.status_code, reply.headers, reply.content, url=URL,
                               signing_key=SIGNING_KEY, now_s=now)
    assert outcome.kind == IN_BAND and outcome.app.app_name == APP and outcome.app.sdk == "py:v0.5.19"
    assert outcome.app.framework == "fast_api" and outcome.app.url == URL
    # The same functions as an out-of-band sync of the same definitions.
    oob = SDKApp(client, define(client))
    plain = sync_request(URL, in_band=False)
    await oob.http.put(URL, content=plain.body, headers=plain.headers)
    await oob.close()
    assert outcome.app.specs == stub.registered[-1]["app"].specs
    tampered = reply.content.replace(b"Full options", b"Evil options")
    with pytest.raises(Exception, match="signature is invalid"):
        parse_sync_reply(200, reply.headers, tampered, url=URL, signing_key=SIGNING_KEY, now_s=now)


async def test_introspection_names_the_sdk_framework_and_mode(client, keyed_cloud_app):
    dev = SDKApp(client, define(client))
    reply = await dev.http.get(URL, headers=introspection_request().headers)
    await dev.close()
    seen = parse_introspection(reply.status_code, reply.headers, reply.content)
    assert (seen.sdk, seen.framework, seen.mode, seen.function_count) == ("inngest-py:v0.5.19", "fast_api", "dev", 3)
    assert seen.authenticated is False and seen.has_signing_key is False

    now = int(time.time())
    signed = introspection_request(server_kind="cloud", signing_key=SIGNING_KEY, now_s=now)
    reply = await keyed_cloud_app.http.get(URL, headers=signed.headers)
    seen = parse_introspection(reply.status_code, reply.headers, reply.content)
    assert (seen.mode, seen.authenticated, seen.app_id, seen.has_signing_key) == ("cloud", True, APP, True)
    assert parse_introspection(200, {"content-type": "text/html"}, b"<html>not an app</html>") is None


@pytest.fixture
async def keyed_cloud_app(stub):
    client = inngest.Inngest(app_id=APP, is_production=True, signing_key=SIGNING_KEY,
                             api_base_url=stub.origin, event_api_base_url=stub.origin)
    app = SDKApp(client, define(client))
    yield app
    await app.close()


# ---- register bodies other SDKs send, and the ones we refuse ------------------------------------

def js_body(**changes: Any) -> dict[str, Any]:
    """A register body shaped like the TypeScript SDK's (camelCase, deployType, featureObservations)."""
    function = {
        "id": "shop-checkout", "name": "Checkout",
        "triggers": [{"event": "shop/order.placed"}, {"cron": "0 9 * * 1", "jitter": "30s"}],
        "steps": {"step": {"id": "step", "name": "step", "retries": {"attempts": 50},
                           "runtime": {"type": "http",
                                       "url": "http://js.test/api/inngest?fnId=shop-checkout&stepId=step"}}},
        "cancel": [{"event": "shop/order.cancelled", "if": "event.data.id == async.data.id", "timeout": "2d"}],
        "checkpoint": {"maxRuntime": "10s"}, "futureOption": {"anything": True},
    }
    body = {"url": "http://js.test/api/inngest", "deployType": "ping", "framework": "nodejs", "appName": "shop",
            "functions": [function], "sdk": "js:v4.24.0", "v": "0.1", "featureObservations": {"x": 1},
            "capabilities": {"trust_probe": "v1", "connect": "v1"}, "appVersion": "2026.1"}
    body.update(changes)
    return body


def test_a_typescript_style_body_keeps_unknown_options_and_caps_retries():
    sync = parse_register_body(js_body(), {"X-Inngest-Env": "staging"})
    [spec] = sync.specs
    assert (sync.app_name, sync.framework, sync.app_version, sync.env, sync.sdk_language) == (
        "shop", "nodejs", "2026.1", "staging", "js")
    assert spec.retries == 20                                         # Inngest's ceiling
    assert spec.triggers == (TriggerEvent("shop/order.placed"), TriggerCron("0 9 * * 1"))
    assert spec.cancel == (Cancel("shop/order.cancelled", if_exp="event.data.id == async.data.id", timeout="2d"),)
    assert dict(spec.options) == {"checkpoint": {"maxRuntime": "10s"}, "futureOption": {"anything": True}}
    assert sync.functions[0].config["triggers"][1] == {"cron": "0 9 * * 1", "jitter": "30s"}   # jitter kept here


def test_keys_match_case_insensitively_and_the_checksum_ignores_observations():
    lower = js_body()
    lower["appname"] = lower.pop("appName")
    assert parse_register_body(lower).app_name == "shop"
    function_retries = js_body()
    step = function_retries["functions"][0]["steps"]["step"]
    del step["retries"]
    function_retries["functions"][0]["retries"] = 3                 # Go's function-level shorthand
    assert parse_register_body(function_retries).specs[0].retries == 3
    assert parse_register_body(js_body(featureObservations={"y": 2}, deployId="d2")).checksum == \
        parse_register_body(js_body()).checksum
    assert parse_register_body(js_body(appVersion="2026.2")).checksum != parse_register_body(js_body()).checksum


def test_an_app_with_no_functions_syncs():
    assert parse_register_body(js_body(functions=[])).functions == ()


@pytest.mark.parametrize(("change", "message"), [
    ({"appName": ""}, "App ID required"),
    ({"url": "ftp://x"}, r"http\(s\) URL"),
    ({"url": "https://e[x[y"}, r"http\(s\) URL"),
    ({"url": "http://h:99999/"}, r"http\(s\) URL"),
    ({"functions": {"id": "x"}}, "'functions' must be an array"),
], ids=["no-app-name", "bad-url", "unsplittable-url", "bad-port", "functions-not-a-list"])
def test_an_unusable_app_is_refused(change, message):
    with pytest.raises(SyncError, match=message):
        parse_register_body(js_body(**change))


def broken(**changes: Any) -> dict[str, Any]:
    body = js_body()
    function = body["functions"][0]
    for key, value in changes.items():
        if value is None:
            function.pop(key, None)
        else:
            function[key] = value
    return body


@pytest.mark.parametrize(("changes", "message"), [
    ({"triggers": [{"event": "a", "expression": "event.data.x ==="}]}, "trigger expression for 'a'"),
    ({"triggers": [{"cron": "61 * * * *"}]}, "invalid cron expression"),
    ({"triggers": [{"cron": "* * * * *", "jitter": "1h"}]}, "jitter must be from 1s to 5m"),
    ({"triggers": [{"event": "a", "cron": "* * * * *"}]}, "an 'event' or a 'cron'"),
    ({"triggers": [{"event": f"e{n}"} for n in range(11)]}, "at most 10 triggers"),
    ({"cancel": [{"event": "c", "if": "async.data.id =="}]}, "cancel expression for 'c'"),
    ({"cancel": [{"event": "c", "timeout": "soon"}]}, "cancel timeout"),
    ({"steps": {"step": {"runtime": {"type": "ws", "url": "ws://x"}}}}, "runtime type 'ws' is not supported"),
    ({"steps": {}}, "exactly one step"),
    ({"id": None}, r"function #1 \('Checkout'\) has no 'id'"),
    ({"steps": {"step": {"runtime": {"url": "http://x/api"}, "retries": {"attempts": -1}}}}, "non-negative"),
], ids=["bad-expression", "bad-cron", "bad-jitter", "event-and-cron", "too-many-triggers", "bad-cancel-if",
        "bad-cancel-timeout", "websocket", "no-step", "no-id", "negative-retries"])
def test_an_invalid_function_is_refused_by_name(changes, message):
    with pytest.raises(SyncError, match=message) as caught:
        parse_register_body(broken(**changes))
    assert isinstance(caught.value, FunctionDefinitionError)
    assert "app 'shop'" in str(caught.value) and ("shop-checkout" in str(caught.value) or "#1" in str(caught.value))


def test_every_invalid_function_is_listed_at_once():
    body = js_body()
    good = body["functions"][0]
    body["functions"] = [
        {**good, "id": "shop-a", "triggers": [{"event": "x", "expression": "nope("}]},
        {**good, "id": "shop-b", "triggers": [{"cron": "every day"}]},
        good, good,
    ]
    with pytest.raises(SyncError) as caught:
        parse_register_body(body)
    text = str(caught.value)
    assert "3 problems" in text and "'shop-a'" in text and "'shop-b'" in text and "described twice" in text


# ---- replies to a server-initiated sync -----------------------------------------------------------

@pytest.mark.parametrize(("status", "body", "message"), [
    (404, b"", "url_not_found"),
    (401, b'{"message":"Unauthorized"}', "refused the server's signature"),
    (400, b'{"code":"server_kind_mismatch","message":"Sync rejected since it\'s from a Dev Server"}',
     "Sync rejected since it's from a Dev Server"),
    (502, b"<html>bad gateway</html>", "HTTP 502"),
    (200, b'{"error":"At least one function is invalid"}', "At least one function is invalid"),
])
def test_a_failed_sync_says_why(status, body, message):
    with pytest.raises(SyncError, match=message):
        parse_sync_reply(status, {"x-inngest-sdk": "inngest-js:v4.24.0"}, body, url=URL)


def test_a_typescript_out_of_band_reply_is_reported():
    reply = parse_sync_reply(200, {"x-inngest-sync-kind": "out_of_band"},
                             b'{"message":"Successfully registered","modified":true}', url=URL)
    assert (reply.kind, reply.message, reply.app) == (OUT_OF_BAND, "Successfully registered", None)


def test_a_typescript_in_band_reply_is_an_app_sync():
    js = js_body()
    reply_body = {"app_id": "shop", "framework": "nodejs", "functions": js["functions"], "sdk": "js:v4.24.0",
                  "sdk_author": "inngest", "sdk_language": "", "sdk_version": "", "url": "http://js.test/api/inngest",
                  "capabilities": {"trust_probe": "v1"}, "env": None, "inspection": {"mode": "dev"}}
    reply = parse_sync_reply(200, {"x-inngest-sync-kind": "in_band", "x-inngest-sdk": "inngest-js:v4.24.0"},
                             orjson.dumps(reply_body), url="http://js.test/api/inngest")
    assert reply.kind == IN_BAND and reply.app.app_name == "shop" and reply.app.sdk == "js:v4.24.0"
    assert [s.id for s in reply.app.specs] == ["shop-checkout"]
