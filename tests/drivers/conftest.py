"""The conformance suite: every test in this folder runs once per driver, with the same functions
and the same expected results. The functions are written with our SDK; a driver decides how they
reach the engine — ``local`` runs them in-process, ``inngest-app`` serves them with our Inngest app
and runs them through our server's HTTP driver (``tests.served``). The root ``make_executor`` reads
``driver``.

Served by an Inngest app, a function is known to the server by its slug (``<app>-<id>``, as every
Inngest SDK names them): tests name functions through ``fid``. What the protocol cannot carry (a
step the server never saw, which step raised) is skipped or left out with the reason said.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.served import slug

DRIVERS = ["local", "inngest-app"]


@pytest.fixture(params=DRIVERS, autouse=True)
def driver(request: pytest.FixtureRequest) -> str:
    """A test marked ``local_only(reason)`` is skipped, with that reason, under the other drivers."""
    marker = request.node.get_closest_marker("local_only")
    if marker is not None and request.param != "local":
        pytest.skip(f"{request.param}: {marker.args[0]}")
    return request.param


@pytest.fixture
def fid(driver: str) -> Callable[[str], str]:
    """A function's id as the engine knows it under this driver."""
    return slug if driver == "inngest-app" else str
