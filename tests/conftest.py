"""Shared fixtures: executors on a virtual clock, closed at the end of each test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from executor import Executor, Limits, VirtualClock
from tests.served import SERVED_DRIVERS, ServedExecutors


#: The test's served executors, for the report hook of the conformance suite (``tests/drivers``).
SERVED = pytest.StashKey[ServedExecutors]()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def make_executor(clock: VirtualClock, request: pytest.FixtureRequest):
    """Started executors, closed after the test. In the conformance suite (``tests/drivers``) the
    ``driver`` parameter says how the functions reach the engine: ``local`` runs them in-process,
    ``inngest-app`` serves them with our Inngest app and ``inngest-sdk`` translates them into an
    inngest-py app, both run over HTTP (``tests.served``). A function the inngest-sdk driver cannot
    express skips the test, saying what it could not express."""
    driver = request.getfixturevalue("driver") if "driver" in request.fixturenames else "local"
    assert driver == "local" or driver in SERVED_DRIVERS, f"unknown driver {driver!r}"
    served = ServedExecutors(clock, driver) if driver != "local" else None
    if served is not None:
        request.node.stash[SERVED] = served
    made: list[Executor] = []

    async def make(functions: list[Any], *, db: str = ":memory:", limits: Limits | None = None,
                   backoff: Callable[[int], float] = lambda attempt: 1.0) -> Executor:
        if served is not None:
            try:
                ex = await served.make(functions, db=db, limits=limits, backoff=backoff)
            except Exception:
                if served.cannot:
                    pytest.skip(f"{driver}: cannot express: {served.cannot[0]}")
                raise
        else:
            ex = Executor(db=db, functions=functions, clock=clock, backoff=backoff, limits=limits)
            await ex.start()
        made.append(ex)
        return ex

    yield make
    for ex in made:
        await ex.close()
    if served is not None:
        await served.close()
