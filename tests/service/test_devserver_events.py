"""Events sent by inngest-py's client: their ids derive from the ``x-inngest-event-id-seed`` header, so
a send the client retries after a lost reply stores the events again under the same internal ids
(``/v1/events`` lists each delivery with its ``internal_id``) and starts no second run."""

from __future__ import annotations

from typing import Any

import fastapi
import httpx
import inngest
import pytest

from executor.util.ids import seeded_id
from tests.service.sdkapps import LoopServer

pytestmark = pytest.mark.timeout(30)


class LossyProxy:
    """Forwards the event API to ``target``; the first reply is lost (the client sees a 500 after the
    server stored the events), so the client sends the same request again."""

    def __init__(self, target: str) -> None:
        self.seeds: list[str | None] = []
        self.stored: list[list[str]] = []
        app = fastapi.FastAPI()

        @app.post("/e/{key}")
        async def forward(key: str, request: fastapi.Request) -> fastapi.Response:
            seed = request.headers.get("x-inngest-event-id-seed")
            self.seeds.append(seed)
            async with httpx.AsyncClient() as http:
                reply = await http.post(f"{target}/e/{key}", content=await request.body(),
                                        headers={"content-type": "application/json",
                                                 **({"x-inngest-event-id-seed": seed} if seed else {})})
            self.stored.append(reply.json()["ids"])
            if len(self.stored) == 1:
                return fastapi.Response(status_code=500, content=b"upstream timed out")
            return fastapi.Response(reply.content, reply.status_code, media_type="application/json")

        self.server = LoopServer(app)


async def test_a_retried_send_keeps_its_seeded_ids_and_starts_no_second_run(devserver, sdk_app):
    proxy = LossyProxy(devserver.url)
    await proxy.server.start()
    try:
        lossy = inngest.Inngest(app_id="events", is_production=False, api_base_url=devserver.url,
                                event_api_base_url=proxy.server.origin)
        client = devserver.client("events")

        @client.create_function(fn_id="counted", trigger=inngest.TriggerEvent(event="events/counted"), retries=0)
        async def counted(ctx: inngest.Context) -> Any:
            return ctx.event.data["n"]

        await sdk_app(client, counted)
        ids = await lossy.send([inngest.Event(name="events/counted", data={"n": n}) for n in (1, 2)])
    finally:
        await proxy.server.stop()

    assert len(proxy.seeds) == 2 and proxy.seeds[0] == proxy.seeds[1], "the client retried with the same seed"
    assert proxy.stored[0] == proxy.stored[1] == ids
    assert ids == [seeded_id(proxy.seeds[0], 1), seeded_id(proxy.seeds[0], 2)]

    listed = (await devserver.http.get(f"{devserver.url}/v1/events", params={"name": "events/counted"})).json()["data"]
    assert len(listed) == 4 and sorted(e["internal_id"] for e in listed) == sorted(ids * 2)
    for event_id, n in zip(ids, (1, 2)):
        runs = await devserver.ex.runs(event_id=event_id)
        assert len(runs) == 1, f"event {event_id} was delivered twice but must run once"
        assert (await devserver.finish(runs[0].id)).output == n


async def test_an_event_with_its_own_id_keeps_it_and_gets_an_internal_one(devserver, sdk_app):
    client = devserver.client("events")

    @client.create_function(fn_id="echo", trigger=inngest.TriggerEvent(event="events/echo"), retries=0)
    async def echo(ctx: inngest.Context) -> Any:
        return {"id": ctx.event.id, "name": ctx.event.name, "data": ctx.event.data, "ts": ctx.event.ts}

    await sdk_app(client, echo)
    [internal] = await client.send(inngest.Event(name="events/echo", id="order-1", data={"x": 1}, ts=1_767_225_600_000))
    assert internal != "order-1"
    [run] = await devserver.ex.runs(event_id=internal)
    finished = await devserver.finish(run.id)
    assert finished.output == {"id": "order-1", "name": "events/echo", "data": {"x": 1}, "ts": 1_767_225_600_000}
    [listed] = (await devserver.http.get(f"{devserver.url}/v1/events", params={"name": "events/echo"})).json()["data"]
    assert (listed["id"], listed["internal_id"]) == ("order-1", internal)
