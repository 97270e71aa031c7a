"""Shared fixtures: executors on a virtual clock, closed at the end of each test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from executor import Executor, Limits, VirtualClock
from tests.served import ServedExecutors


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def make_executor(clock: VirtualClock, request: pytest.FixtureRequest):
    """Started executors, closed after the test. In the conformance suite (``tests/drivers``) the
    ``driver`` parameter says how the functions reach the engine: ``local`` runs them in-process,
    ``inngest-app`` serves them with our Inngest app and runs them over HTTP (``tests.served``)."""
    driver = request.getfixturevalue("driver") if "driver" in request.fixturenames else "local"
    assert driver in ("local", "inngest-app"), f"unknown driver {driver!r}"
    served = ServedExecutors(clock) if driver == "inngest-app" else None
    made: list[Executor] = []

    async def make(functions: list[Any], *, db: str = ":memory:", limits: Limits | None = None,
                   backoff: Callable[[int], float] = lambda attempt: 1.0) -> Executor:
        if served is not None:
            ex = await served.make(functions, db=db, limits=limits, backoff=backoff)
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
