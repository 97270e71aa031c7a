"""Compatibility: the real ``inngest`` Python SDK sends events to our event API and they start
our functions."""

from __future__ import annotations

import inngest
import pytest

from tests.service.support import finished

pytestmark = pytest.mark.timeout(30)


async def test_inngest_sdk_send_starts_our_functions(served):
    client = inngest.Inngest(app_id="compat-test", is_production=False, event_api_base_url=served.url)
    ids = await client.send([inngest.Event(name="test/greet", data={"name": "sdk"}),
                             inngest.Event(name="test/greet", data={"name": "again"}, id="fixed-id")])
    assert len(ids) == 2 and ids[1] != "fixed-id", "the event API answers with where it stored each event"
    outputs = []
    for event_id in ids:
        [run] = await served.ex.runs(event_id=event_id)
        outputs.append((await finished(served, run.id))["output"])
    assert outputs == ["hello SDK", "hello AGAIN"]
    [again] = await client.send(inngest.Event(name="test/greet", id="fixed-id"))
    assert again not in ids and len(await served.ex.runs(event_id="fixed-id")) == 1, "stored again, not run again"


async def test_inngest_sdk_with_an_event_key(serve_app):
    s = await serve_app(key="ev-key")
    good = inngest.Inngest(app_id="compat-test", is_production=False, event_api_base_url=s.url, event_key="ev-key")
    [event_id] = await good.send(inngest.Event(name="test/greet"))
    [run] = await s.ex.runs(event_id=event_id)
    assert (await finished(s, run.id))["output"] == "hello WORLD"
    wrong = inngest.Inngest(app_id="compat-test", is_production=False, event_api_base_url=s.url, event_key="nope")
    with pytest.raises(Exception, match="event key not accepted") as refused:
        await wrong.send(inngest.Event(name="test/greet"))
    assert refused.typename == "SendEventsError"   # not exported by name from inngest 0.5.19


async def test_inngest_sdk_sees_our_validation_errors(served):
    client = inngest.Inngest(app_id="compat-test", is_production=False, event_api_base_url=served.url)
    with pytest.raises(Exception, match="reserved") as refused:
        await client.send(inngest.Event(name="inngest/function.failed"))
    assert refused.typename == "SendEventsError"
