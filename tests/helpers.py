"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from executor import Executor


async def eventually(predicate: Callable[[], Awaitable[bool] | bool], timeout: float = 5.0) -> None:
    """Wait (bounded, in real time) for a state that is not run completion, e.g. "sleeping"."""
    async with asyncio.timeout(timeout):
        while True:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.005)


async def run_of(ex: Executor, event: dict[str, Any]):
    """Send one event that triggers exactly one run and return that run."""
    [event_id] = await ex.send(event)
    [run] = await ex.runs(event_id=event_id)
    return run


async def step_status(ex: Executor, run_id: str, step_id: str) -> str | None:
    for s in await ex.steps(run_id):
        if s.step_id == step_id:
            return s.status
    return None


async def until_step(ex: Executor, run_id: str, step_id: str, status: str) -> None:
    """Wait until a run's step reaches ``status`` (e.g. Sleeping or Waiting)."""
    async def reached() -> bool:
        return await step_status(ex, run_id, step_id) == status

    await eventually(reached)
