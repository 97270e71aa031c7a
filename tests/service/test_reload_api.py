"""Hot reload as an API client sees it: GET /v1/functions follows saved files and shows the
current load error with its file and line, cleared once the file is fixed."""

from __future__ import annotations

import httpx
import pytest

from executor.drivers.local.reload import FunctionWatcher
from executor import LoadStatus
from executor.service.api import create_app
from executor.service.server import ApiServer, bind

pytestmark = pytest.mark.timeout(30)

GOOD = '''
from executor import create_function

@create_function(id="hello", trigger="demo/hello")
async def hello(ctx):
    return "{greeting}"
'''


async def _functions(http: httpx.AsyncClient) -> dict:
    return {f["id"]: f for f in (await http.get("/v1/functions")).json()["data"]}


async def test_functions_endpoint_follows_saves_and_load_errors(make_executor, tmp_path):
    source = tmp_path / "hello.py"
    source.write_text(GOOD.format(greeting="hi"))
    ex = await make_executor([])
    status = LoadStatus()
    async with FunctionWatcher(ex, [str(tmp_path)], on_reload=status.update) as watcher:
        status.update(watcher.last)
        async with ApiServer(create_app(ex, load_status=status), bind("127.0.0.1", 0)) as server:
            async with httpx.AsyncClient(base_url=server.url) as http:
                first = (await _functions(http))["hello"]
                assert first["load_error"] is None

                generation = watcher.generation
                source.write_text("from executor import create_function\n\ndef broken(:\n")
                await watcher.wait_for_reload(generation, path=source)
                stale = (await _functions(http))["hello"]
                assert stale["version"] == first["version"], "the last good version stays live"
                assert stale["load_error"]["line"] == 3 and "SyntaxError" in stale["load_error"]["message"]

                generation = watcher.generation
                source.write_text(GOOD.format(greeting="hello again"))
                await watcher.wait_for_reload(generation, path=source)
                fixed = (await _functions(http))["hello"]
                assert fixed["load_error"] is None and fixed["version"] != first["version"]
                run = await ex.invoke("hello")
                assert (await ex.wait_for_run(run.id, timeout=5)).output == "hello again"
