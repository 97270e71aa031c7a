"""Fixtures of the console tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from executor import Executor, VirtualClock
from executor.service.api import create_app
from executor.service.server import ApiServer, bind

from tests.console.support import FUNCTIONS


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Executor]]:
    async with Executor(":memory:", FUNCTIONS, clock=VirtualClock(), backoff=lambda attempt: 1.0) as ex:
        api = await ApiServer(create_app(ex), bind("127.0.0.1", 0)).start()
        try:
            yield api.url, ex
        finally:
            await api.stop()
