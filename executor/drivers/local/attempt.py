"""One attempt of a step's handler, reported as the op an Inngest SDK would send for it.

Both execution modes (inline checkpointing, and strict replay's one step per invocation) go through
``run_attempt``, so an error, a non-JSON value or an oversize output is classified one way only.
Whether an error is retried, and when, is the engine's call: it knows the attempts so far.
"""

from __future__ import annotations

import asyncio
import inspect
import time
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


#: A sync handler that finished within this long in a worker thread runs in place next time;
#: one that ever takes longer than ``BLOCKING_S`` in place goes back to a worker thread for good.
QUICK_S = 0.001
BLOCKING_S = 0.005


class HandlerPlacement:
    """Where sync handlers run. A worker thread keeps blocking code (a network call, a sleep) from
    freezing the event loop every run and the HTTP API share, but the hand-off costs more than a
    trivial handler itself (~0.1–0.3 ms against microseconds). So each handler — known by its code,
    so the lambdas a loop creates count as one — starts in a thread; once it has proved quick it
    runs in place, and the first time it is slow in place it returns to a thread for good."""

    def __init__(self) -> None:
        self._quick: set[Any] = set()
        self._blocking: set[Any] = set()

    @staticmethod
    def key(handler: Callable[..., Any]) -> Any:
        return getattr(handler, "__code__", None) or getattr(handler, "__func__", handler)

    async def call(self, handler: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        key = self.key(handler)
        in_place = key in self._quick
        started = time.perf_counter()
        result = handler(*args) if in_place else await asyncio.to_thread(handler, *args)
        took = time.perf_counter() - started
        if in_place and took > BLOCKING_S:
            self._quick.discard(key)
            self._blocking.add(key)
        elif not in_place and took < QUICK_S and key not in self._blocking:
            self._quick.add(key)
        return result


placement = HandlerPlacement()


async def call_handler(step_id: str, handler: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """Await an async handler in place; call a sync one where ``placement`` says (a worker thread
    unless it has shown it is quick)."""
    token = current_handler.set(step_id)
    try:
        if inspect.iscoroutinefunction(handler):
            return await handler(*args)
        result = await placement.call(handler, args)
        if inspect.isawaitable(result):
            result = await result
        return result
    finally:
        current_handler.reset(token)


#: Handler arguments are shown with the step up to this size (as JSON, or each one's repr).
MAX_INPUT_BYTES = 64 * 1024


def input_of(args: tuple[Any, ...]) -> list[Any]:
    """The handler's arguments as the step's input (Inngest's ``opts.input``): JSON when they are,
    otherwise each argument's ``repr``, cut to a size worth showing."""
    try:
        if len(jsonvalues.dumps(list(args))) <= MAX_INPUT_BYTES:
            return jsonvalues.roundtrip(list(args))[0]
    except jsonvalues.NotJSONError:
        pass
    return [repr(a)[:MAX_INPUT_BYTES // max(len(args), 1)] for a in args]


async def run_attempt(state: StepState, handler: Callable[..., Any], args: tuple[Any, ...], *,
                      now_ms: Callable[[], int], limits: Limits, where: str) -> Op:
    """Run the handler once and say what happened as ``StepRun``, ``StepError`` or ``StepFailed``."""
    code, fields = await _outcome(state, handler, args, now_ms=now_ms, limits=limits, where=where)
    if args:
        fields["opts"] = {"input": input_of(args)}
    return step_op(state, code, **fields)


async def _outcome(state: StepState, handler: Callable[..., Any], args: tuple[Any, ...], *,
                   now_ms: Callable[[], int], limits: Limits, where: str) -> tuple[Opcode, dict[str, Any]]:
    """The op code and fields of one attempt's op (built once, by ``run_attempt``)."""
    started = now_ms()
    try:
        result = await call_handler(state.step_id, handler, args)
    except NonRetriableError as exc:
        return Opcode.STEP_ERROR, dict(error=ErrorInfo.from_exception(exc), retriable=False, fatal=True,
                                       started_at=started, ended_at=now_ms())
    except FinalStepError as exc:
        return Opcode.STEP_FAILED, dict(error=ErrorInfo(exc.name, str(exc), ""), started_at=started,
                                        ended_at=now_ms())
    except RetryAfterError as exc:
        try:
            due: int | None = duration_or_instant_to_due(exc.retry_after, now_ms())
        except ValueError:
            due = None
        return Opcode.STEP_ERROR, dict(error=ErrorInfo.from_exception(exc), retry_at=due, started_at=started,
                                       ended_at=now_ms())
    except Exception as exc:
        return Opcode.STEP_ERROR, dict(error=ErrorInfo.from_exception(exc), started_at=started, ended_at=now_ms())
    ended = now_ms()
    try:
        value, size = jsonvalues.roundtrip(result)
    except jsonvalues.NotJSONError as exc:
        return Opcode.STEP_FAILED, dict(started_at=started, ended_at=ended, error=ErrorInfo(
            "StepOutputNotSerializable",
            f"{where}: the handler returned a {exc}; return JSON data (dict, list, str, int, float, bool, None) "
            "or convert it first", ""))
    if size > limits.max_step_output_bytes:
        return Opcode.STEP_FAILED, dict(started_at=started, ended_at=ended, error=ErrorInfo(
            "StepOutputTooLarge",
            f"{where}: output is {size:,} bytes; the limit is {limits.max_step_output_bytes:,} bytes per step — "
            "store large data elsewhere and return a reference", ""))
    return Opcode.STEP_RUN, dict(data=value, size=size, started_at=started, ended_at=ended)
