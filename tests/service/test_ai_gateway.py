"""``step.ai.infer`` from a real inngest-py app: the server makes the model call the AIGateway op
describes (auth in the format's header, the app's extra headers, the body as given), stores the reply
as the step's output, and retries or fails the step on a bad answer."""

from __future__ import annotations

from typing import Any

import fastapi
import inngest
import inngest.fast_api
import pytest
from inngest.experimental import ai as inngest_ai

from executor import Executor, RunStatus
from executor.service.server import ApiServer, bind

pytestmark = pytest.mark.timeout(30)


def _app(base: str, adapter_for: Any, seen: dict[str, Any], answers: list[tuple[int, Any]]) -> fastapi.FastAPI:
    client = inngest.Inngest(app_id="ai-app", is_production=False, api_base_url=base, event_api_base_url=base)

    @client.create_function(fn_id="ask", trigger=inngest.TriggerEvent(event="app/ask"), retries=1)
    async def ask(ctx: inngest.Context) -> Any:
        reply = await ctx.step.ai.infer("infer", adapter=adapter_for(base),
                                        body={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
        return {"reply": reply}

    web = fastapi.FastAPI()

    @web.post("/llm/{path:path}")
    async def llm(path: str, request: fastapi.Request) -> Any:
        seen.setdefault("calls", []).append({"path": path, "headers": dict(request.headers),
                                             "body": await request.json()})
        status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        return fastapi.responses.JSONResponse(body, status_code=status)

    inngest.fast_api.serve(web, client, [ask])
    return web


async def _run(adapter_for: Any, answers: list[tuple[int, Any]]) -> tuple[Any, list[Any], dict[str, Any]]:
    seen: dict[str, Any] = {}
    sock = bind("127.0.0.1", 0)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = await ApiServer(_app(base, adapter_for, seen, answers), sock).start()
    try:
        async with Executor(backoff=lambda attempt: 0.05) as ex:
            url = f"{base}/api/inngest"
            await ex.apps.register({
                "appName": "ai-app", "url": url, "sdk": "py:v0.5.19",
                "functions": [{"id": "ai-app-ask", "name": "ask", "triggers": [{"event": "app/ask"}],
                               "steps": {"step": {"id": "step", "name": "step", "retries": {"attempts": 1},
                                                  "runtime": {"type": "http", "url": f"{url}?fnId=ai-app-ask&stepId=step"}}}}]})
            [event_id] = await ex.send({"name": "app/ask"})
            [run] = await ex.runs(event_id=event_id)
            run = await ex.wait_for_run(run.id, timeout=20)
            return run, await ex.steps(run.id), seen
    finally:
        await server.stop()


async def test_the_server_makes_the_call_with_the_formats_auth_and_stores_the_reply():
    def anthropic(base: str) -> Any:
        return inngest_ai.anthropic.Adapter(auth_key="sk-ant", model="claude-test", base_url=f"{base}/llm",
                                            headers={"X-My-Header": "mine"})

    answer = {"content": [{"type": "text", "text": "hello"}], "role": "assistant"}
    run, steps, seen = await _run(anthropic, [(200, answer)])
    assert run.status == RunStatus.COMPLETED and run.output == {"reply": answer}
    [step] = steps
    assert (step.step_id, step.op, step.output) == ("infer", "ai_infer", answer)
    assert "auth_key" not in str(step.to_dict()), "the credentials are not shown with the step"
    [call] = seen["calls"]
    assert call["headers"]["x-api-key"] == "sk-ant" and call["headers"]["x-my-header"] == "mine"
    assert call["body"]["messages"] == [{"role": "user", "content": "hi"}] and call["body"]["model"] == "claude-test"


async def test_a_server_error_is_retried_and_a_refusal_fails_the_step():
    def openai(base: str) -> Any:
        return inngest_ai.openai.Adapter(auth_key="sk-oai", model="gpt-test", base_url=f"{base}/llm")

    run, steps, seen = await _run(openai, [(503, {"error": "busy"}), (200, {"choices": []})])
    assert run.status == RunStatus.COMPLETED and run.output == {"reply": {"choices": []}}
    assert [c["headers"]["authorization"] for c in seen["calls"]] == ["Bearer sk-oai"] * 2, "one retry"
    assert steps[0].attempts == 2

    run, steps, _ = await _run(openai, [(400, {"error": "bad request"})])
    assert run.status == RunStatus.FAILED
    assert run.error["name"] == "AIGatewayError" and "400" in run.error["message"]
    assert steps[0].status == "Failed"
