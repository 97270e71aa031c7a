"""One attempt of a step's handler, reported as the op an Inngest SDK would send for it.

Both execution modes (inline checkpointing, and strict replay's one step per invocation) go through
``run_attempt``, so an error, a non-JSON value or an oversize output is classified one way only.
Whether an error is retried, and when, is the engine's call: it knows the attempts so far.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from executor.errors import ErrorInfo, NonRetriableError, RetryAfterError
from executor.ops import Op, Opcode
from executor.records import Limits, StepState
from executor.util import jsonvalues
from executor.util.durations import duration_or_instant_to_due

class FinalStepError(Exception):
    """Raised by a step handler the driver itself supplies (sending events over HTTP) when trying
    again cannot help: the step fails at once, as a ``StepError`` the function may catch."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


#: Set while a step handler runs, so a step called from inside it can be refused.
current_handler: ContextVar[str | None] = ContextVar("durable_current_handler", default=None)


def step_op(state: StepState, code: Opcode, **fields: Any) -> Op:
    """An op about ``state``, carrying its display id, repeat counter, order and parallel group."""
    index = None if state.step_id == state.name else int(state.step_id.rsplit(":", 1)[1])
    fields.setdefault("name", state.name)
    return Op(code, state.hashed_id, display_name=state.name, index=index, seq=state.seq, group=state.group,
              **fields)


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
                      now_ms: Callable[[], int], limits: Limits, where: str) -> Op:
    """Run the handler once and say what happened as ``StepRun``, ``StepError`` or ``StepFailed``."""
    started = now_ms()
    try:
        result = await call_handler(state.step_id, handler, args)
    except NonRetriableError as exc:
        return step_op(state, Opcode.STEP_ERROR, error=ErrorInfo.from_exception(exc), retriable=False, fatal=True,
                       started_at=started, ended_at=now_ms())
    except FinalStepError as exc:
        return step_op(state, Opcode.STEP_FAILED, error=ErrorInfo(exc.name, str(exc), ""), started_at=started,
                       ended_at=now_ms())
    except RetryAfterError as exc:
        try:
            due: int | None = duration_or_instant_to_due(exc.retry_after, now_ms())
        except ValueError:
            due = None
        return step_op(state, Opcode.STEP_ERROR, error=ErrorInfo.from_exception(exc), retry_at=due,
                       started_at=started, ended_at=now_ms())
    except Exception as exc:
        return step_op(state, Opcode.STEP_ERROR, error=ErrorInfo.from_exception(exc), started_at=started,
                       ended_at=now_ms())
    ended = now_ms()
    try:
        value, size = jsonvalues.roundtrip(result)
    except jsonvalues.NotJSONError as exc:
        return step_op(state, Opcode.STEP_FAILED, started_at=started, ended_at=ended, error=ErrorInfo(
            "StepOutputNotSerializable",
            f"{where}: the handler returned a {exc}; return JSON data (dict, list, str, int, float, bool, None) "
            "or convert it first", ""))
    if size > limits.max_step_output_bytes:
        return step_op(state, Opcode.STEP_FAILED, started_at=started, ended_at=ended, error=ErrorInfo(
            "StepOutputTooLarge",
            f"{where}: output is {size:,} bytes; the limit is {limits.max_step_output_bytes:,} bytes per step — "
            "store large data elsewhere and return a reference", ""))
    return step_op(state, Opcode.STEP_RUN, data=value, size=size, started_at=started, ended_at=ended)
