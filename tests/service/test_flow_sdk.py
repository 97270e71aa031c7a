"""Flow control for an app served by the real inngest-py SDK (0.5.19): its options arrive by sync
(the SDK registers itself with our server), and the engine enforces them as it does for our own
functions (every option: concurrency, throttle, rate limit, debounce, batching, priority,
idempotency, singleton skip and cancel, timeouts) — including across a restart in the middle of a
debounce and of a batch."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import pytest

from executor import (Batch, Concurrency, Debounce, Executor, Priority, RateLimit, RunStatus, Singleton, Throttle,
                      Timeouts, VirtualClock)
from executor.flowcontrol import check_flow
from executor.service.api import create_app
from executor.service.server import ApiServer, bind
from executor.testing import run_all_to_end, settle

pytestmark = pytest.mark.timeout(60)
APP = "flow-app"


class Seen:
    def __init__(self) -> None:
        self.now: collections.Counter[str] = collections.Counter()
        self.peak: collections.Counter[str] = collections.Counter()

    async def work(self, key: str) -> str:
        self.now[key] += 1
        self.peak[key] = max(self.peak[key], self.now[key])
        await asyncio.sleep(0.005)
        self.now[key] -= 1
        return key


def sdk_app(base: str, seen: Seen) -> fastapi.FastAPI:
    client = inngest.Inngest(app_id=APP, is_production=False, api_base_url=base, event_api_base_url=base)

    @client.create_function(fn_id="per-user", trigger=inngest.TriggerEvent(event="user/updated"), retries=0,
                            concurrency=[inngest.Concurrency(limit=1, key="event.data.userId")])
    async def per_user(ctx: inngest.Context) -> Any:
        await ctx.step.run("fetch", seen.work, ctx.event.data["userId"])
        return await ctx.step.run("store", seen.work, ctx.event.data["userId"])

    @client.create_function(fn_id="reindex", trigger=inngest.TriggerEvent(event="doc/edited"), retries=0,
                            debounce=inngest.Debounce(period=timedelta(seconds=30), key="event.data.doc"))
    async def reindex(ctx: inngest.Context) -> Any:
        return ctx.event.data["rev"]

    @client.create_function(fn_id="ingest", trigger=inngest.TriggerEvent(event="row/added"), retries=0,
                            batch_events=inngest.Batch(max_size=3, timeout=timedelta(seconds=5)))
    async def ingest(ctx: inngest.Context) -> Any:
        return [e.data["i"] for e in ctx.events]

    @client.create_function(fn_id="sync-company", trigger=inngest.TriggerEvent(event="company/updated"), retries=0,
                            rate_limit=inngest.RateLimit(limit=1, period=timedelta(hours=1), key="event.data.c"))
    async def sync_company(ctx: inngest.Context) -> Any:
        return ctx.event.data["c"]

    @client.create_function(fn_id="only-one", trigger=inngest.TriggerEvent(event="job/start"), retries=0,
                            singleton=inngest.Singleton(mode="skip"))
    async def only_one(ctx: inngest.Context) -> Any:
        # (No step.sleep: inngest-py sends a sleep's end by its own clock, and these tests run ours
        # virtually. The second event arrives while the first run is still queued, which is enough.)
        return await ctx.step.run("work", lambda: ctx.event.data["n"])

    @client.create_function(fn_id="call-api", trigger=inngest.TriggerEvent(event="api/call"), retries=0,
                            throttle=inngest.Throttle(limit=1, period=timedelta(seconds=20)))
    async def call_api(ctx: inngest.Context) -> Any:
        return ctx.event.data["i"]

    @client.create_function(fn_id="charge", trigger=inngest.TriggerEvent(event="order/placed"), retries=0,
                            idempotency="event.data.orderId")
    async def charge(ctx: inngest.Context) -> Any:
        return ctx.event.data["orderId"]

    @client.create_function(fn_id="report", trigger=inngest.TriggerEvent(event="report/asked"), retries=0,
                            priority=inngest.Priority(run="event.data.later ? -60 : 0"))
    async def report(ctx: inngest.Context) -> Any:
        return ctx.event.data["later"]

    # (The waits below end by their timeout, a duration our clock counts, unlike a step.sleep's end.)
    @client.create_function(fn_id="latest", trigger=inngest.TriggerEvent(event="feed/refresh"), retries=0,
                            singleton=inngest.Singleton(mode="cancel", key="event.data.feed"))
    async def latest(ctx: inngest.Context) -> Any:
        await ctx.step.wait_for_event("settle", event="feed/never", timeout=timedelta(hours=1))
        return ctx.event.data["n"]

    @client.create_function(fn_id="bounded", trigger=inngest.TriggerEvent(event="export/start"), retries=0,
                            throttle=inngest.Throttle(limit=1, period=timedelta(minutes=1), burst=0),
                            timeouts=inngest.Timeouts(start=timedelta(seconds=30), finish=timedelta(seconds=10)))
    async def bounded(ctx: inngest.Context) -> Any:
        await ctx.step.wait_for_event("done", event="export/never", timeout=timedelta(hours=1))
        return ctx.event.data["n"]

    web = fastapi.FastAPI()
    inngest.fast_api.serve(web, client, [per_user, reindex, ingest, sync_company, only_one, call_api, charge, report,
                                         latest, bounded])
    return web


@contextlib.asynccontextmanager
async def synced(db: str, clock: VirtualClock, seen: Seen) -> AsyncIterator[tuple[Executor, ApiServer]]:
    """An executor with our API on a free port and the SDK app on another, synced by a PUT to the app
    (the SDK answers in band or registers itself at our /fn/register). Yields the app's server too."""
    ours = bind("127.0.0.1", 0)
    base = f"http://127.0.0.1:{ours.getsockname()[1]}"
    app_server = await ApiServer(sdk_app(base, seen), bind("127.0.0.1", 0)).start()
    try:
        async with Executor(db, clock=clock) as ex:
            api = await ApiServer(create_app(ex), ours).start()
            try:
                await ex.apps.add_url(f"{app_server.url}/api/inngest")
                assert ex.apps.get(APP).error is None
                yield ex, app_server
            finally:
                await api.stop()
    finally:
        await app_server.stop()


def spec(ex: Executor, fn: str):
    return ex.specs()[f"{APP}-{fn}"]


async def test_options_arrive_by_sync_as_the_same_records(tmp_path):
    async with synced(str(tmp_path / "s.db"), VirtualClock(), Seen()) as (ex, _):
        assert spec(ex, "per-user").flow == check_flow(
            f"{APP}-per-user", concurrency=[Concurrency(limit=1, key="event.data.userId")])
        assert spec(ex, "reindex").flow.debounce == Debounce(period=30_000, key="event.data.doc")
        assert spec(ex, "ingest").flow.batch == Batch(max_size=3, timeout=5_000)
        assert spec(ex, "sync-company").flow.rate_limit == RateLimit(limit=1, period=3600_000, key="event.data.c")
        assert spec(ex, "only-one").flow.singleton == Singleton(mode="skip")
        assert spec(ex, "call-api").flow.throttle == Throttle(limit=1, period=20_000, burst=1)
        assert spec(ex, "charge").flow.idempotency == "event.data.orderId"
        assert spec(ex, "report").flow.priority == Priority(run="event.data.later ? -60 : 0")
        assert spec(ex, "latest").flow.singleton == Singleton(mode="cancel", key="event.data.feed")
        assert spec(ex, "bounded").flow.timeouts == Timeouts(start=30_000, finish=10_000)
        usage = await ex.flow(f"{APP}-reindex")
        assert usage["settings"]["debounce"] == {"period": "30s", "key": "event.data.doc"}


async def test_the_engine_enforces_synced_options(tmp_path):
    clock, seen = VirtualClock(), Seen()
    async with synced(str(tmp_path / "s.db"), clock, seen) as (ex, _):
        start = clock.now_ms()
        await ex.send([{"name": "user/updated", "data": {"userId": u}} for u in ("a", "b", "a", "b", "a")]
                      + [{"name": "doc/edited", "data": {"doc": "d", "rev": r}} for r in (1, 2)]
                      + [{"name": "row/added", "data": {"i": i}} for i in range(4)]
                      + [{"name": "company/updated", "data": {"c": "acme"}}] * 2
                      + [{"name": "job/start", "data": {"n": n}} for n in (1, 2)]
                      + [{"name": "api/call", "data": {"i": i}} for i in range(3)])
        runs = await run_all_to_end(ex, clock, timeout=40)
        by_fn = collections.defaultdict(list)
        for run in runs:
            by_fn[run.function_id.removeprefix(f"{APP}-")].append(run)
        assert seen.peak["a"] == 1 and seen.peak["b"] == 1
        assert {r.status for r in by_fn["per-user"]} == {RunStatus.COMPLETED}
        assert [r.output for r in by_fn["reindex"]] == [2]
        assert sorted(r.output for r in by_fn["ingest"]) == [[0, 1, 2], [3]]
        assert sorted(r.status for r in by_fn["sync-company"]) == [RunStatus.COMPLETED, RunStatus.SKIPPED]
        assert sorted(r.status for r in by_fn["only-one"]) == [RunStatus.COMPLETED, RunStatus.SKIPPED]
        # inngest-py sends burst 1 by default: limit + burst start at once, as on Inngest.
        assert sorted(r.started_at - start for r in by_fn["call-api"]) == [0, 0, 20_000]
        skipped = await ex.runs(status=RunStatus.SKIPPED)
        assert sorted(r.skip_reason.split(" ")[0] for r in skipped) == ["rate", "singleton"]


async def test_the_engine_enforces_synced_idempotency_priority_singleton_cancel_and_timeouts(tmp_path):
    clock = VirtualClock()
    async with synced(str(tmp_path / "s.db"), clock, Seen()) as (ex, _):
        start = clock.now_ms()
        await ex.send([{"name": "order/placed", "data": {"orderId": o}} for o in ("o-1", "o-1", "o-2")]
                      + [{"name": "report/asked", "data": {"later": later}} for later in (True, False)]
                      + [{"name": "export/start", "data": {"n": n}} for n in (1, 2)])
        await ex.send({"name": "feed/refresh", "data": {"feed": "f", "n": 1}})
        await settle(ex, clock)
        await ex.send({"name": "feed/refresh", "data": {"feed": "f", "n": 2}})
        runs = await run_all_to_end(ex, clock, timeout=40)
        by_fn = collections.defaultdict(list)
        for run in runs:
            by_fn[run.function_id.removeprefix(f"{APP}-")].append(run)
        assert sorted(r.output for r in by_fn["charge"]) == ["o-1", "o-2"]
        assert sorted((r.output, r.started_at - start) for r in by_fn["report"]) == [(False, 0), (True, 60_000)]
        assert sorted((r.status, r.output) for r in by_fn["latest"]) == [(RunStatus.CANCELLED, None),
                                                                          (RunStatus.COMPLETED, 2)]
        first, second = sorted(by_fn["bounded"], key=lambda r: r.created_at)
        assert (first.status, first.ended_at - start) == (RunStatus.CANCELLED, 10_000)
        assert "timeouts.finish" in first.error["message"]
        assert (second.status, second.started_at, second.ended_at - start) == (RunStatus.CANCELLED, None, 30_000)
        assert "timeouts.start" in second.error["message"]


async def test_a_restart_mid_debounce_and_mid_batch_loses_nothing(tmp_path):
    db, clock, seen = str(tmp_path / "s.db"), VirtualClock(), Seen()
    async with synced(db, clock, seen) as (ex, _):
        await ex.send([{"name": "doc/edited", "data": {"doc": "d", "rev": 1}},
                       {"name": "row/added", "data": {"i": 0}}, {"name": "row/added", "data": {"i": 1}}])
        await settle(ex, clock)
        waiting = sorted(r.waiting_for.split(" until ")[0] for r in await ex.runs())
        assert waiting == ["batching 2/3", "debouncing"]
        await ex.close()
        clock.advance(3_000)
        # The app is kept with the database: the executor started again needs no sync to go on.
        async with Executor(db, clock=clock) as again:
            assert again.apps.get(APP).error is None
            await again.send([{"name": "doc/edited", "data": {"doc": "d", "rev": 2}},
                              {"name": "row/added", "data": {"i": 2}}])
            runs = await run_all_to_end(again, clock, timeout=40)
            assert sorted(str(r.output) for r in runs) == ["2", "[0, 1, 2]"]
