"""Fixtures for the Inngest protocol tests: a stub Inngest server on a free loopback port."""

from __future__ import annotations

import pytest

from tests.drivers.inngest_harness import StubServer


@pytest.fixture(scope="module")
def stub():
    server = StubServer().start()
    yield server
    server.stop()
