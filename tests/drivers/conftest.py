"""The conformance suite: every test in this folder runs once per driver, with the same functions
and the same expected results. The functions are written with our SDK; a driver decides how they
reach the engine (the root ``make_executor`` reads ``driver``):

- ``local`` runs them in-process;
- ``inngest-app`` serves them with our Inngest app and runs them through our server's HTTP driver
  over real sockets (``tests.served``);
- ``inngest-sdk`` translates each into an inngest-py 0.5.19 function calling ours through a
  context adapter (``tests.sdk_twin``, ``tests.sdk_context``), served by inngest-py's FastAPI
  adapter, run the same way: our server against a real Inngest SDK.

Served by an Inngest app, a function is known to the server by its slug (``<app>-<id>``, as every
Inngest SDK names them): tests name functions through ``fid``. What the protocol cannot carry (a
step the server never saw, which step raised) is asserted per driver; ``not_inngest_py(reason)``
skips a test under ``inngest-sdk`` only (what inngest-py does differently from our SDK). A
function inngest-py cannot express at all (``CannotExpress``) skips the test under
``inngest-sdk`` with what it could not say, whether found when the function is translated or
when the run gets there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from executor import Executor

from tests.conftest import SERVED
from tests.served import slug

DRIVERS = ["local", "inngest-app", "inngest-sdk"]


@pytest.fixture(params=DRIVERS, autouse=True)
def driver(request: pytest.FixtureRequest) -> str:
    """A test marked ``not_inngest_py(reason)`` is skipped, with that reason, under ``inngest-sdk``."""
    marker = request.node.get_closest_marker("not_inngest_py")
    if marker is not None and request.param == "inngest-sdk":
        pytest.skip(f"{request.param}: {marker.args[0]}")
    return request.param


@pytest.fixture
def fid(driver: str) -> Callable[[str], str]:
    """A function's id as the engine knows it under this driver."""
    return str if driver == "local" else slug


@pytest.fixture
def reload_functions(request: pytest.FixtureRequest) -> Callable[[Executor, list[Any]], Awaitable[None]]:
    """Replace the test's functions as a hot reload does under this driver: in-process, the
    executor's set; served, the app's, which the server then syncs again."""
    async def reload(ex: Executor, functions: list[Any]) -> None:
        served = request.node.stash.get(SERVED, None)
        if served is None:
            ex.set_functions(functions)
            return
        served.app.swap(functions)
        await ex.apps.sync_url(served.app_url)
    return reload


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A test whose function reached something inngest-py cannot express (the run failed with
    ``CannotExpress``) is reported skipped with that reason, not failed — and never passed."""
    outcome = yield
    report = outcome.get_result()
    served = item.stash.get(SERVED, None)
    if report.when == "call" and report.failed and served is not None and served.cannot:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0,
                           f"Skipped: inngest-sdk: cannot express: {served.cannot[0]}")
