"""The conformance suite: every test in this folder runs once per driver, with the same functions
and the same expected results. The functions are written with our SDK; a driver decides how they
reach the engine — ``local`` runs them in-process. (Drivers that run them over Inngest's HTTP
protocol join the parameter list as they are built.) The root ``make_executor`` reads ``driver``."""

from __future__ import annotations

import pytest

DRIVERS = ["local", "inngest-app"]


@pytest.fixture(params=DRIVERS, autouse=True)
def driver(request: pytest.FixtureRequest) -> str:
    return request.param
