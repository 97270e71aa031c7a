"""The inngest-py app ``bench_http_driver.py`` runs against, in its own process as a real app would be:

    python benchmarks/http_app.py PORT API_URL

One function, ``bench-steps`` (event ``bench/http``), runs ``event.data.steps`` trivial sync steps,
the same body as the local function it is compared with. ``GET /stats`` says how many execution
requests the app answered and how long it spent on them (from the request's first byte in to the
reply's last byte out), so the benchmark can tell the SDK's share of a step from the server's;
``POST /echo`` is a bare request through the same stack, to time HTTP itself.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import uvicorn


def build(api_url: str) -> fastapi.FastAPI:
    client = inngest.Inngest(app_id="bench", is_production=False, api_base_url=api_url, event_api_base_url=api_url)

    @client.create_function(fn_id="steps", trigger=inngest.TriggerEvent(event="bench/http"), retries=0)
    async def steps(ctx: inngest.Context) -> int:
        total = 0
        for k in range(ctx.event.data["steps"]):
            total += await ctx.step.run(f"step-{k}", lambda k=k: k)
        return total

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, [steps])
    stats = {"requests": 0, "busy_s": 0.0}

    @app.get("/stats")
    def read_stats() -> dict[str, Any]:
        return stats

    @app.post("/echo")
    async def echo(request: fastapi.Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.middleware("http")
    async def timed(request: fastapi.Request, call_next: Callable[[fastapi.Request], Awaitable[Any]]) -> Any:
        t0 = time.perf_counter()
        response = await call_next(request)
        if request.method == "POST":
            stats["requests"] += 1
            stats["busy_s"] += time.perf_counter() - t0
        return response

    return app


def main(argv: list[str]) -> Any:
    port, api_url = int(argv[0]), argv[1]
    uvicorn.run(build(api_url), host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main(sys.argv[1:])
