"""What an SDK run leaves behind and how it is read: past 4 MiB of state the requests go out with
``use_api`` and the SDK fetches its memo from ``/v0/runs/{id}/actions`` (and its events from
``/batch``); ``/v0/gql`` answers for SDK runs the way tools written against Inngest's dev server
read them (status, output as a JSON string, step spans by name, each span's output)."""

from __future__ import annotations

import collections
import json
from typing import Any

import inngest
import pytest

pytestmark = pytest.mark.timeout(30)

MiB = 1024 * 1024
RUN = """query($id: String!) {
  run(runID: $id) { status output trace { childrenSpans { name outputID } } }
  runTrigger(runID: $id) { payloads }
}"""
SPAN_OUTPUT = "query($id: String!) { runTraceSpanOutputByID(outputID: $id) { data error { message name stack } } }"
EVENT_RUNS = "query($id: ID!) { event(query: {eventId: $id}) { functionRuns { id } } }"


async def test_past_4_mib_of_state_the_sdk_fetches_its_memo_from_the_api(devserver, sdk_app):
    client = devserver.client("state")
    ran: collections.Counter[str] = collections.Counter()

    def chunk(i: int):
        def handler() -> str:
            ran[f"chunk-{i}"] += 1
            return str(i) * MiB
        return handler

    @client.create_function(fn_id="big", trigger=inngest.TriggerEvent(event="state/big"), retries=0)
    async def big(ctx: inngest.Context) -> dict[str, Any]:
        chunks = [await ctx.step.run(f"chunk-{i}", chunk(i)) for i in range(6)]
        return {"sizes": [len(c) for c in chunks], "heads": "".join(c[0] for c in chunks), "tag": ctx.event.data["tag"]}

    app = await sdk_app(client, big)
    run = await devserver.finish(await devserver.start_run(client, "state/big", {"tag": "t-1"}))
    assert (run.status, run.output) == ("Completed", {"sizes": [MiB] * 6, "heads": "012345", "tag": "t-1"})
    assert ran == {f"chunk-{i}": 1 for i in range(6)}, "every step ran once: the fetched memo replayed them"
    # Requests 1-4 carry 0-3 MiB of state inline; from the fifth on the state is past 4 MiB.
    assert app.use_api["state-big"] == [False] * 4 + [True] * 3
    fetched = collections.Counter(path.rsplit("/", 1)[1] for method, path in devserver.calls
                                  if method == "GET" and path.startswith(f"/v0/runs/{run.id}/"))
    assert fetched == {"actions": 3, "batch": 3}


async def test_gql_reads_an_sdk_run_its_trigger_its_spans_and_their_outputs(devserver, sdk_app):
    client = devserver.client("state")

    @client.create_function(fn_id="spans", trigger=inngest.TriggerEvent(event="state/spans"), retries=0)
    async def spans(ctx: inngest.Context) -> Any:
        first = await ctx.step.run("first", lambda: {"foo": {"bar": 1}, "empty": None})
        again = [await ctx.step.run("again", lambda i=i: i) for i in range(2)]
        try:
            await ctx.step.run("broken", _raise)
        except inngest.StepError as exc:
            return {"first": first, "again": again, "caught": exc.message}
        return None

    await sdk_app(client, spans)
    [event_id] = await client.send(inngest.Event(name="state/spans", data={"k": "v"}))
    [run] = await devserver.ex.runs(event_id=event_id)
    await devserver.finish(run.id)
    reply = await devserver.gql(RUN, id=run.id)
    assert "errors" not in reply
    got = reply["data"]
    assert got["run"]["status"] == "COMPLETED"
    assert json.loads(got["run"]["output"]) == {"first": {"foo": {"bar": 1}, "empty": None}, "again": [0, 1],
                                                "caught": "step broke"}
    trigger = inngest.Event.model_validate_json(got["runTrigger"]["payloads"][0])
    assert (trigger.id, trigger.name, trigger.data) == (event_id, "state/spans", {"k": "v"}) and trigger.ts > 0

    children = got["run"]["trace"]["childrenSpans"]
    assert [s["name"] for s in children] == ["first", "again", "again", "broken"]
    outputs = []
    for span in children:
        out = (await devserver.gql(SPAN_OUTPUT, id=span["outputID"]))["data"]["runTraceSpanOutputByID"]
        outputs.append(out)
    assert [json.loads(o["data"]) for o in outputs[:3]] == [{"foo": {"bar": 1}, "empty": None}, 0, 1]
    assert outputs[3]["data"] is None
    assert (outputs[3]["error"]["name"], outputs[3]["error"]["message"]) == ("ValueError", "step broke")
    assert "Traceback" in outputs[3]["error"]["stack"]

    runs = (await devserver.gql(EVENT_RUNS, id=event_id))["data"]["event"]["functionRuns"]
    assert runs == [{"id": run.id}]


def _raise() -> None:
    raise ValueError("step broke")


async def test_gql_gives_a_failed_sdk_runs_error_body_as_its_output(devserver, sdk_app):
    client = devserver.client("state")

    class Boom(Exception):
        pass

    @client.create_function(fn_id="fails", trigger=inngest.TriggerEvent(event="state/fails"), retries=0)
    async def fails(ctx: inngest.Context) -> None:
        raise Boom("it went wrong")

    await sdk_app(client, fails)
    run_id = await devserver.start_run(client, "state/fails")
    await devserver.finish(run_id)
    run = (await devserver.gql(RUN, id=run_id))["data"]["run"]
    assert run["status"] == "FAILED"
    output = json.loads(run["output"])
    assert (output["code"], output["name"], output["message"]) == ("unknown", "Boom", "it went wrong")
    assert output["stack"].startswith("Traceback")
