"""``cancelOn`` of a real inngest-py app: a matching cancel event cancels the run while its SDK request
is still executing, the late 200 changes nothing, and the ``if`` expression keeps other runs going."""

from __future__ import annotations

import asyncio

import inngest
import pytest

from tests.helpers import eventually

pytestmark = pytest.mark.timeout(30)

STATUS = "query($id: String!) { run(runID: $id) { status output } }"


async def test_a_cancel_event_wins_over_a_reply_still_in_flight(devserver, sdk_app):
    client = devserver.client("cancels")
    release = asyncio.Event()
    in_flight: set[str] = set()
    finished: list[str] = []

    @client.create_function(fn_id="long", trigger=inngest.TriggerEvent(event="cancels/start"), retries=0,
                            cancel=[inngest.Cancel(event="cancels/stop", if_exp="event.data.id == async.data.id")])
    async def long(ctx: inngest.Context) -> str:
        await ctx.step.run("before", lambda: ctx.event.data["id"])
        in_flight.add(ctx.event.data["id"])
        await release.wait()
        finished.append(ctx.event.data["id"])
        return f"done {ctx.event.data['id']}"

    app = await sdk_app(client, long)
    doomed = await devserver.start_run(client, "cancels/start", {"id": "a"})
    spared = await devserver.start_run(client, "cancels/start", {"id": "b"})
    await eventually(lambda: in_flight == {"a", "b"})

    await client.send(inngest.Event(name="cancels/stop", data={"id": "a"}))
    # The engine cancels at the run's next step boundary, which for an SDK request is its reply: the
    # cancel is durable now (a queued cancel), and the reply, whatever it says, will not count.
    def queued(run_id: str) -> list[str]:
        return sorted(i["kind"] for i in devserver.ex.pending() if i["run_id"] == run_id)
    assert queued(doomed) == ["cancel", "invoke"] and queued(spared) == ["invoke"], "the if spares the other run"

    release.set()
    spared_run = await devserver.finish(spared)
    assert (spared_run.status, spared_run.output) == ("Completed", "done b")
    doomed_run = await devserver.finish(doomed)
    assert sorted(finished) == ["a", "b"], "both requests ran to their end"
    assert (doomed_run.status, doomed_run.output) == ("Cancelled", None), "the late reply is discarded"
    assert (await devserver.gql(STATUS, id=doomed))["data"]["run"] == {"status": "CANCELLED", "output": None}
    assert app.requests["cancels-long"] == 4
