"""Server fixtures for the service tests: the API on a real uvicorn server on a free loopback port."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from executor import Limits, LoadStatus
from executor.service.api import create_app
from executor.service.client import Client
from executor.service.server import ApiServer, bind
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
