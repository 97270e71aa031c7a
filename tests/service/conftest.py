"""Server fixtures for the service tests: the API on a real uvicorn server on a free loopback port,
and (``devserver``, ``sdk_app``) that server as the dev server of real inngest-py apps."""

from __future__ import annotations

import time
from typing import Any

import inngest

import httpx
import pytest

from executor import Executor, Limits, LoadStatus
from executor.service.api import create_app
from executor.service.client import Client
from executor.service.server import ApiServer, bind
from executor.util.clock import RealClock, VirtualClock
from tests.service.sdkapps import CallLog, DevServer, SDKApp
from tests.service.support import FUNCTIONS, Served


@pytest.fixture
async def serve_app(make_executor):
    """Start an API server: ``await serve_app(key=…, limits=…, …)`` → ``Served``."""
    started: list[tuple[ApiServer, httpx.AsyncClient, Client]] = []

    async def start(*, key: str | None = None, limits: Limits | None = None,
                    load_status: LoadStatus | None = None, **app_options: Any) -> Served:
        ex = await make_executor(FUNCTIONS, limits=limits)
        app = create_app(ex, key=key, load_status=load_status, **app_options)
        server = await ApiServer(app, bind("127.0.0.1", 0)).start()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        http = httpx.AsyncClient(base_url=server.url, headers=headers)
        client = Client(server.url, key)
        started.append((server, http, client))
        return Served(ex, server, server.url, http, client)

    yield start
    for server, http, client in started:
        await http.aclose()
        await client.aclose()
        await server.stop()


@pytest.fixture
async def served(serve_app) -> Served:
    return await serve_app()


@pytest.fixture
async def start_devserver():
    """``await start_devserver(virtual=…, backoff=…, limits=…)`` → ``DevServer`` with no functions of
    its own. A virtual clock starts at the wall clock's now, because the SDK computes sleep ends
    and retry-after dates from its own clock; ``DevServer.finish`` then jumps over the waiting."""
    started: list[DevServer] = []

    async def start(*, virtual: bool = False, backoff: Any = lambda attempt: 0.05,
                    limits: Limits | None = None) -> DevServer:
        clock = VirtualClock(int(time.time() * 1000)) if virtual else RealClock()
        ex = await Executor(":memory:", clock=clock, backoff=backoff, limits=limits).start()
        app = create_app(ex)
        calls: list[tuple[str, str]] = []
        app.add_middleware(CallLog, calls=calls)
        server = await ApiServer(app, bind("127.0.0.1", 0)).start()
        dev = DevServer(ex, clock, server, httpx.AsyncClient(timeout=10), calls)
        started.append(dev)
        return dev

    yield start
    for dev in started:
        await dev.http.aclose()
        await dev.server.stop()
        await dev.ex.close()


@pytest.fixture
async def devserver(start_devserver) -> DevServer:
    """The dev server on the wall clock, retrying after 50 ms instead of Inngest's 15 s."""
    return await start_devserver()


@pytest.fixture
async def sdk_app(request: pytest.FixtureRequest):
    """``await sdk_app(client, *functions, server=devserver, sync=True)`` → a started (and synced)
    ``SDKApp`` serving ``functions``, which were made with ``client``."""
    apps: list[SDKApp] = []

    async def start(client: inngest.Inngest, *functions: inngest.Function[Any], server: DevServer | None = None,
                    sync: bool = True) -> SDKApp:
        server = server or request.getfixturevalue("devserver")
        app = await SDKApp(client, list(functions)).start()
        apps.append(app)
        if sync:
            reply = await server.sync(app)
            assert reply.get("ok") is True, f"the app did not sync: {reply}"
        return app

    yield start
    for app in apps:
        await app.stop()
