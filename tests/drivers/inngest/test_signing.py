"""Signatures both ways with a cloud-mode inngest-py app, and ``use_api`` requests whose events and
steps the SDK fetches from the server with its Bearer token."""

from __future__ import annotations

import json
import time
from typing import Any

import inngest
import pytest
from inngest._internal import net   # the SDK's own signer ("for tests that mimic Inngest server behavior")

from executor.drivers.inngest import (SignatureError, build_request_body, hash_signing_key, verify_response_signature,
                                      verify_signature)
from executor.ops import Op, Opcode, hash_step_id
from tests.drivers.inngest.harness import APP, OTHER_KEY, SIGNING_KEY, RunState, SDKApp, StubServer, event, slug


@pytest.fixture(scope="module")
def keyed_stub():
    server = StubServer(signing_key=SIGNING_KEY).start()
    yield server
    server.stop()


@pytest.fixture
async def cloud_app(keyed_stub, monkeypatch):
    monkeypatch.setenv("INNGEST_SIGNING_KEY_FALLBACK", OTHER_KEY.replace("34cd", "56ef"))
    client = inngest.Inngest(app_id=APP, is_production=True, signing_key=SIGNING_KEY,
                             api_base_url=keyed_stub.origin, event_api_base_url=keyed_stub.origin)

    @client.create_function(fn_id="signed", trigger=inngest.TriggerEvent(event="app/go"))
    async def signed(ctx: inngest.Context) -> Any:
        first = await ctx.step.run("a", lambda: "A")
        return {"first": first, "events": len(ctx.events), "trigger": ctx.event.data}

    app = SDKApp(client, [signed])
    yield app
    await app.close()


async def test_the_sdk_accepts_our_signature_and_signs_its_reply(cloud_app):
    result, reply = await cloud_app.exchange(RunState(slug("signed")), signing_key=SIGNING_KEY)
    assert reply.status_code == 206 and result.ops[0].data == "A"
    header = reply.headers["x-inngest-signature"]
    assert verify_response_signature(header, reply.content, [SIGNING_KEY], now_s=int(time.time())) == SIGNING_KEY
    with pytest.raises(SignatureError, match="none of the signing keys"):
        verify_response_signature(header, reply.content, [OTHER_KEY])


async def test_the_sdk_accepts_the_fallback_key(cloud_app):
    fallback = OTHER_KEY.replace("34cd", "56ef")
    result = await cloud_app.call(RunState(slug("signed")), signing_key=fallback)
    assert result.error is None and result.ops[0].op == Opcode.STEP_RUN


@pytest.mark.parametrize("key", [OTHER_KEY, None], ids=["wrong-key", "unsigned"])
async def test_the_sdk_refuses_a_bad_or_missing_signature(cloud_app, key):
    result, reply = await cloud_app.exchange(RunState(slug("signed")), signing_key=key)
    assert reply.status_code == 401 and result.ops == []
    assert "Unauthorized" in result.error.message and "signing key" in result.error.message
    assert result.retriable is True


def test_we_verify_the_sdks_own_request_signature():
    body = build_request_body(RunState(slug("signed")).request(), fn_uuid=None, use_api=False)
    loose = (b'{ "version": 2, "use_api": false, "steps": {}, "defers": {}, "events": [], "ctx": {"run_id": "r"},\n'
             b'  "event": {"name": "app/go", "data": {"x": 1.50, "big": 100000000000000000000}, "ts": 1} }')
    now = int(time.time())
    for raw in (json.dumps(body, indent=1).encode(), loose):   # whitespace, key order, 1.50: same value, same MAC
        header = net.sign_request(raw, SIGNING_KEY, now)
        assert verify_signature(header, raw, [OTHER_KEY, SIGNING_KEY], now_s=now) == SIGNING_KEY
    stale = net.sign_request(loose, SIGNING_KEY, now - 600)
    with pytest.raises(SignatureError, match="600 s old"):
        verify_signature(stale, loose, [SIGNING_KEY], now_s=now)
    assert verify_signature(stale, loose, [SIGNING_KEY], now_s=now, max_age_s=None) == SIGNING_KEY


async def test_use_api_makes_the_sdk_fetch_events_and_steps_with_its_bearer_token(cloud_app, keyed_stub):
    state = RunState(slug("signed"), trigger=event(data={"size": "large"}), run_id="01JUSEAPI0000000000000000")
    state.memoize(Op(Opcode.STEP_RUN, hash_step_id("a"), display_name="a", data="A"))
    state.state_bytes = 5 * 1024 * 1024         # too big to inline: the SDK must ask the API
    keyed_stub.batches[state.run_id] = [{**state.trigger.to_dict(), "user": {}}] * 2
    keyed_stub.actions[state.run_id] = {hash_step_id("a"): {"data": "A"}}
    result = await cloud_app.call(state, signing_key=SIGNING_KEY)
    assert result.complete and result.output == {"first": "A", "events": 2, "trigger": {"size": "large"}}
    calls = [c for c in keyed_stub.api_calls if state.run_id in c[0]]
    assert sorted(path for path, _ in calls) == [f"/v0/runs/{state.run_id}/actions", f"/v0/runs/{state.run_id}/batch"]
    assert {auth for _, auth in calls} == {f"Bearer {hash_signing_key(SIGNING_KEY)}"}
