"""Fixtures for the Inngest protocol tests: a stub Inngest server on a free loopback port, and
inngest-py apps (dev mode, pointed at the stub) served in process."""

from __future__ import annotations

from typing import Any

import inngest
import pytest

from tests.drivers.inngest.harness import APP, SDKApp, StubServer


@pytest.fixture(scope="module")
def stub():
    server = StubServer().start()
    yield server
    server.stop()


@pytest.fixture
def client(stub) -> inngest.Inngest:
    return inngest.Inngest(app_id=APP, is_production=False, api_base_url=stub.origin, event_api_base_url=stub.origin)


@pytest.fixture
async def serve(client):
    """``serve(*functions, **serve_options)``: an ``SDKApp`` of the test's functions, closed afterwards."""
    apps: list[SDKApp] = []

    def make(*functions: inngest.Function[Any], **options: Any) -> SDKApp:
        app = SDKApp(client, list(functions), **options)
        apps.append(app)
        return app

    yield make
    for app in apps:
        await app.close()


@pytest.fixture(autouse=True)
def driver() -> str:
    """These are tests of the protocol layer itself, not of the conformance suite one folder up."""
    return "inngest protocol"
