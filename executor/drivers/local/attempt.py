"""One attempt of a step's handler, classified into what it means for the step.

Both execution modes (inline checkpointing and strict replay's planned steps) go through
``run_attempt`` so a retry, a final failure or an oversize output is judged one way only.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from executor.errors import NonRetriableError, RetryAfterError
from executor.records import Limits, StepState
from executor.util import jsonvalues
from executor.util.backoff import Backoff
from executor.util.durations import duration_or_instant_to_due

#: Set while a step handler runs, so a step called from inside it can be refused.
current_handler: ContextVar[str | None] = ContextVar("durable_current_handler", default=None)

RETRY_AFTER_MIN_MS = 1000
RETRY_AFTER_MAX_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Outcome:
    kind: str                      # "done" | "retry" | "failed" | "fatal"
    value: Any = None
    size: int = 0
    error: dict[str, Any] | None = None
    due_at: int | None = None

    DONE = "done"
    RETRY = "retry"
    FAILED = "failed"
    FATAL = "fatal"


def error_dict(exc: BaseException) -> dict[str, Any]:
    return {
        "name": type(exc).__name__,
        "message": str(exc),
        "stack": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


async def call_handler(step_id: str, handler: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """Call a sync handler in a worker thread (so blocking code cannot freeze the event loop
    the console shares) and await an async one in place."""
    token = current_handler.set(step_id)
    try:
        if inspect.iscoroutinefunction(handler):
            return await handler(*args)
        result = await asyncio.to_thread(handler, *args)
        if inspect.isawaitable(result):
            result = await result
        return result
    finally:
        current_handler.reset(token)


async def run_attempt(state: StepState, handler: Callable[..., Any], args: tuple[Any, ...], *,
                      retries: int, backoff: Backoff, now_ms: Callable[[], int], limits: Limits,
                      where: str) -> Outcome:
    """Run the handler once. ``state.attempts`` is the number of attempts already made."""
    attempt_no = state.attempts + 1
    try:
        result = await call_handler(state.step_id, handler, args)
    except NonRetriableError as exc:
        return Outcome(Outcome.FATAL, error=error_dict(exc))
    except RetryAfterError as exc:
        if attempt_no > retries:
            return Outcome(Outcome.FAILED, error=error_dict(exc))
        now = now_ms()
        try:
            due = duration_or_instant_to_due(exc.retry_after, now)
        except ValueError:
            due = now + int(backoff(attempt_no) * 1000)
        due = min(max(due, now + RETRY_AFTER_MIN_MS), now + RETRY_AFTER_MAX_MS)
        return Outcome(Outcome.RETRY, error=error_dict(exc), due_at=due)
    except Exception as exc:
        if attempt_no > retries:
            return Outcome(Outcome.FAILED, error=error_dict(exc))
        return Outcome(Outcome.RETRY, error=error_dict(exc), due_at=now_ms() + int(backoff(attempt_no) * 1000))
    try:
        value, size = jsonvalues.roundtrip(result)
    except jsonvalues.NotJSONError as exc:
        return Outcome(Outcome.FAILED, error={
            "name": "StepOutputNotSerializable",
            "message": f"{where}: the handler returned a {exc}; return JSON data (dict, list, str, "
                       "int, float, bool, None) or convert it first",
            "stack": ""})
    if size > limits.max_step_output_bytes:
        return Outcome(Outcome.FAILED, error={
            "name": "StepOutputTooLarge",
            "message": f"{where}: output is {size:,} bytes; the limit is {limits.max_step_output_bytes:,} "
                       "bytes per step — store large data elsewhere and return a reference",
            "stack": ""})
    return Outcome(Outcome.DONE, value=value, size=size)
