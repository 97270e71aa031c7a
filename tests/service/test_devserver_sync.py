"""Syncing real inngest-py apps: a PUT to the app makes its SDK post ``/fn/register`` to us; a re-sync
replaces the app's functions (removed ones go, changed ones get a new version, an unchanged app is
not modified); a bad app keeps its error where the operator looks."""

from __future__ import annotations

import datetime

import inngest
import pytest

from tests.helpers import eventually

pytestmark = pytest.mark.timeout(30)


def make_functions(client: inngest.Inngest, *, retries: int = 0, with_extra: bool = True) -> list[inngest.Function]:
    @client.create_function(fn_id="greet", trigger=inngest.TriggerEvent(event="sync/greet"), retries=0)
    async def greet(ctx: inngest.Context) -> str:
        name = await ctx.step.run("name", lambda: ctx.event.data.get("name", "world"))
        return f"hello {name}"

    @client.create_function(fn_id="flaky", trigger=inngest.TriggerEvent(event="sync/flaky"), retries=retries)
    async def flaky(ctx: inngest.Context) -> int:
        return ctx.attempt

    @client.create_function(fn_id="extra", trigger=inngest.TriggerEvent(event="sync/extra"), retries=0)
    async def extra(ctx: inngest.Context) -> str:
        return "extra"

    return [greet, flaky, extra] if with_extra else [greet, flaky]


def versions(devserver) -> dict[str, str]:
    return {fid: spec.version for fid, spec in devserver.ex.specs().items()}


async def test_a_put_to_the_app_registers_its_functions_and_runs_start(devserver, sdk_app):
    client = devserver.client("sync-app")
    app = await sdk_app(client, *make_functions(client), sync=False)
    reply = await devserver.sync(app)
    assert reply["ok"] is True and reply["modified"] is True and reply["app_id"] and reply["sync_id"]

    [listed] = (await devserver.http.get(f"{devserver.url}/v1/apps")).json()["data"]
    assert listed["name"] == "sync-app" and listed["url"] == app.url and listed["error"] is None
    assert (listed["sdk_language"], listed["sdk_version"], listed["framework"]) == ("py", "v0.5.19", "fast_api")
    assert sorted(listed["functions"]) == ["sync-app-extra", "sync-app-flaky", "sync-app-greet"]
    dev = (await devserver.http.get(f"{devserver.url}/dev")).json()
    assert {f["id"]: f["driver"] for f in dev["functions"]} == dict.fromkeys(listed["functions"], "inngest")

    run_id = await devserver.start_run(client, "sync/greet", {"name": "sdk"})
    run = await devserver.finish(run_id)
    assert (run.status, run.output) == ("Completed", "hello sdk")


async def test_an_unchanged_app_resyncs_without_modification(devserver, sdk_app):
    client = devserver.client("sync-app")
    app = await sdk_app(client, *make_functions(client))
    before = versions(devserver)
    reply = await devserver.sync(app)
    assert reply["ok"] is True and reply["modified"] is False
    assert versions(devserver) == before


async def test_a_resync_removes_dropped_functions_and_versions_changed_ones(devserver, sdk_app):
    client = devserver.client("sync-app")
    app = await sdk_app(client, *make_functions(client))
    before = versions(devserver)

    app.swap(make_functions(client, retries=3, with_extra=False))
    reply = await devserver.sync(app)
    assert reply["ok"] is True and reply["modified"] is True
    after = versions(devserver)
    assert sorted(after) == ["sync-app-flaky", "sync-app-greet"], "the dropped function is gone"
    assert after["sync-app-greet"] == before["sync-app-greet"]
    assert after["sync-app-flaky"] != before["sync-app-flaky"], "a changed function gets a new version"
    assert devserver.ex.specs()["sync-app-flaky"].max_attempts == 4
    [listed] = (await devserver.http.get(f"{devserver.url}/v1/apps")).json()["data"]
    assert sorted(listed["functions"]) == ["sync-app-flaky", "sync-app-greet"]

    [event_id] = await client.send(inngest.Event(name="sync/extra"))
    assert await devserver.ex.runs(event_id=event_id) == [], "a removed function starts no run"


async def test_a_run_sleeping_across_a_resync_finishes_on_the_new_version(start_devserver, sdk_app):
    dev = await start_devserver(virtual=True)
    client = dev.client("sync-app")
    woke: list[int] = []

    def napper(retries: int) -> inngest.Function:
        @client.create_function(fn_id="napper", trigger=inngest.TriggerEvent(event="sync/nap"), retries=retries)
        async def nap(ctx: inngest.Context) -> str:
            await ctx.step.sleep("nap", datetime.timedelta(hours=1))
            woke.append(ctx.attempt)
            return "rested"
        return nap

    app = await sdk_app(client, napper(0), server=dev)
    run_id = await dev.start_run(client, "sync/nap")
    first = dev.ex.specs()["sync-app-napper"].version
    await eventually(lambda: dev.ex.waits(run_id))
    app.swap([napper(2)])
    assert (await dev.sync(app))["modified"] is True
    run = await dev.finish(run_id)
    assert (run.status, run.output) == ("Completed", "rested")
    assert (run.function_version, run.finished_version) == (first, dev.ex.specs()["sync-app-napper"].version)
    assert run.function_version != run.finished_version and woke == [0]


async def test_an_app_with_a_broken_function_keeps_its_error_and_nothing_is_registered(devserver, sdk_app):
    client = devserver.client("broken-app")

    @client.create_function(fn_id="bad-cancel", trigger=inngest.TriggerEvent(event="sync/bad"),
                            cancel=[inngest.Cancel(event="sync/stop", if_exp="event.data.id ==")])
    async def bad(ctx: inngest.Context) -> None:
        return None

    app = await sdk_app(client, bad, sync=False)
    reply = await devserver.sync(app)
    assert reply["ok"] is False and "bad-cancel" in reply["error"], reply
    [listed] = (await devserver.http.get(f"{devserver.url}/v1/apps")).json()["data"]
    assert listed["name"] == "broken-app" and "bad-cancel" in listed["error"] and listed["functions"] == []
    assert "broken-app-bad-cancel" not in devserver.ex.specs()


async def test_an_app_added_by_url_is_reported_under_its_own_name(devserver, sdk_app):
    client = devserver.client("sync-app")
    app = await sdk_app(client, *make_functions(client), sync=False)
    reply = await devserver.http.post(f"{devserver.url}/v1/apps", json={"url": app.url})
    assert reply.status_code == 200, reply.text
    added = reply.json()["data"]
    assert (added["name"], added["url"], added["error"]) == ("sync-app", app.url, None)
    assert sorted(added["functions"]) == ["sync-app-extra", "sync-app-flaky", "sync-app-greet"]
    listed = (await devserver.http.get(f"{devserver.url}/v1/apps")).json()["data"]
    assert [a["name"] for a in listed] == ["sync-app"], "the URL placeholder gave way to the app"


async def test_an_app_added_before_it_is_up_syncs_when_asked_again(devserver, sdk_app):
    client = devserver.client("sync-app")
    app = await sdk_app(client, *make_functions(client), sync=False)
    await app.stop()
    reply = await devserver.http.post(f"{devserver.url}/v1/apps", json={"url": app.url})
    waiting = reply.json()["data"]
    assert waiting["name"] == app.url and app.url in waiting["error"] and waiting["functions"] == []

    await app.start()
    resynced = await devserver.http.post(f"{devserver.url}/v1/apps/{app.url}/sync", json={})
    assert resynced.status_code == 200, resynced.text
    data = resynced.json()["data"]
    assert (data["name"], data["error"], len(data["functions"])) == ("sync-app", None, 3)
