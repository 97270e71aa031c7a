"""What one of our functions sees when inngest-py runs it (the ``inngest-sdk`` conformance driver,
``tests.sdk_twin``): our ``Context`` whose ``ctx.step`` turns each call of our Step API into the
inngest-py call that means the same, and turns inngest-py's answers and errors back into ours.

Three things do not map one to one, and are done here on purpose:

- Parallelism. Our functions run steps in parallel with ``asyncio.gather``; inngest-py only with
  ``ctx.group.parallel``. Step calls made in the same turn of the event loop (what ``gather`` does
  with its coroutines) are collected and handed to ``group.parallel`` together, in call order, in
  the mode that matches ours (``optimize_parallelism`` is inngest-py's WAIT, our default its RACE);
  a lone call goes straight to the step.
- Time. inngest-py turns ``sleep(d)`` and ``RetryAfterError(d)`` into "wall clock now + d"; the
  tests run on a virtual clock, so the adapter computes the instant on the injected clock and
  hands inngest-py the absolute time (its ``sleep_until`` and ``RetryAfterError(datetime)``).
- Control flow. inngest-py ends a request by raising ``BaseException`` interrupts through the
  function; one caught by ``gather(return_exceptions=True)`` would be lost, so the adapter keeps
  the first one and raises it again when our handler returns.

Arguments our SDK refuses before calling the engine (a bad duration, ``match`` with ``if_exp``,
non-JSON invoke data) are refused here with our messages, as a non-retriable error of our error's
name; a nested step is left to inngest-py, which refuses it itself. What inngest-py cannot express at all raises ``CannotExpress``, which fails
the run at once and is noted on the twin so the conformance fixture can skip the test, saying why.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import inngest

from executor import Event, NonRetriableError, RetryAfterError, StepError
from executor.drivers.local.context import Context, invoke_options, wait_for_event_options
from executor.drivers.local.function import Function
from executor.errors import ExpressionError, StepInputError
from executor.util.clock import Clock
from executor.util.durations import check_horizon, duration_or_instant_to_due, parse_duration, parse_instant

#: The step whose handler is running (log lines are tagged with it).
_current_step: contextvars.ContextVar[str | None] = contextvars.ContextVar("sdk_twin_step", default=None)
#: Step methods of our SDK with no inngest-py counterpart, and why.
UNEXPRESSIBLE_STEPS = {
    "wait_for_signal": "wait_for_signal: Inngest's SDK protocol (and inngest-py 0.5.19) has no signal wait",
}


class CannotExpress(inngest.NonRetriableError):
    """Our function uses something inngest-py 0.5.19 has no way to say; the run fails at once."""

    def __init__(self, why: str) -> None:
        super().__init__(f"cannot express: {why}")
        self.why = why


class SDKStepError(StepError):
    """inngest-py's ``StepError`` as ours, keeping the original to hand back if nobody catches it."""

    def __init__(self, step_id: str, original: inngest.StepError) -> None:
        super().__init__(step_id, original.name, original.message, original.stack)
        self.original = original


_TWINS: dict[str, type[inngest.NonRetriableError]] = {}


def non_retriable(exc: NonRetriableError) -> inngest.NonRetriableError:
    """inngest-py's ``NonRetriableError`` under our error's class name (a ``StepInputError`` stays one)."""
    name = type(exc).__name__
    if name == "NonRetriableError":
        return inngest.NonRetriableError(str(exc))
    twin = _TWINS.get(name)
    if twin is None:
        twin = _TWINS[name] = type(name, (inngest.NonRetriableError,), {})
    return twin(str(exc))


def to_inngest(exc: BaseException, clock: Clock) -> BaseException:
    """What inngest-py must see for an error of ours leaving a step handler or the function."""
    if isinstance(exc, SDKStepError):
        return exc.original
    if isinstance(exc, NonRetriableError):
        return non_retriable(exc)
    if isinstance(exc, RetryAfterError):
        due = duration_or_instant_to_due(exc.retry_after, clock.now_ms())
        return inngest.RetryAfterError(str(exc), _instant(due))
    return exc


def _instant(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _event(raw: inngest.Event) -> Event:
    return Event.from_dict(raw.to_dict())


#: The fields of an event inngest-py's ``Event`` has; ``user`` and ``v`` it cannot send.
_SDK_EVENT_FIELDS = ("name", "data", "id", "ts")


def _sdk_event(raw: dict[str, Any] | Event, cannot: Callable[[str], CannotExpress]) -> inngest.Event:
    fields = {k: v for k, v in (raw.to_dict() if isinstance(raw, Event) else dict(raw)).items() if v is not None}
    extra = sorted(set(fields) - set(_SDK_EVENT_FIELDS))
    if extra:
        raise cannot(f"send_event with {', '.join(extra)}: inngest-py 0.5.19's Event has only "
                     f"{', '.join(_SDK_EVENT_FIELDS)}")
    return inngest.Event(**fields)


class _Batch:
    """Step calls made in one turn of the loop, run together (see the module docstring)."""

    def __init__(self, ictx: inngest.Context, mode: inngest.ParallelMode, keep: Callable[[BaseException], None]) -> None:
        self._ictx = ictx
        self._mode = mode
        self._keep = keep
        self._pending: list[tuple[Callable[[], Awaitable[Any]], asyncio.Future[Any] | None]] | None = None

    async def submit(self, call: Callable[[], Awaitable[Any]]) -> Any:
        if self._pending is not None:
            future = asyncio.get_running_loop().create_future()
            self._pending.append((call, future))
            return await future
        batch = self._pending = [(call, None)]
        await asyncio.sleep(0)              # gather's other coroutines make their calls meanwhile
        self._pending = None
        try:
            if len(batch) == 1:
                return await call()
            return await self._parallel(batch)
        except BaseException as exc:
            if not isinstance(exc, (Exception, asyncio.CancelledError)):
                self._keep(exc)             # inngest-py ending the request
            raise

    async def _parallel(self, batch: list[tuple[Callable[[], Awaitable[Any]], asyncio.Future[Any] | None]]) -> Any:
        results: list[tuple[bool, Any] | None] = [None] * len(batch)

        def each(i: int, call: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                try:
                    results[i] = (True, await call())
                except Exception as exc:
                    results[i] = (False, exc)
                except BaseException as exc:        # planned, skipped or executed: group.parallel's business
                    results[i] = (False, exc)
                    raise
            return run

        try:
            await self._ictx.group.parallel(tuple(each(i, c) for i, (c, _) in enumerate(batch)),
                                            parallel_mode=self._mode)
        except BaseException as exc:
            for _, future in batch[1:]:
                if future is not None and not future.done():
                    future.set_exception(exc)
            raise
        for (_, future), result in zip(batch[1:], results[1:]):
            assert future is not None and result is not None
            ok, value = result
            future.set_result(value) if ok else future.set_exception(value)
        assert results[0] is not None      # group.parallel awaits every call unless one raises through it
        ok, value = results[0]
        if not ok:
            raise value
        return value


class SDKStep:
    """``ctx.step`` of our SDK, spoken to inngest-py's ``ctx.step``."""

    def __init__(self, fn: Function, ictx: inngest.Context, clock: Clock, batch: _Batch,
                 cannot: Callable[[str], CannotExpress]) -> None:
        self._fn = fn
        self._ictx = ictx
        self._clock = clock
        self._batch = batch
        self._cannot = cannot

    def _where(self, step_id: str) -> str:
        return f"function {self._fn.id!r}, run {self._ictx.run_id}, step {step_id!r}"

    def _refuse(self, step_id: str, problem: object) -> inngest.NonRetriableError:
        return non_retriable(StepInputError(f"{self._where(step_id)}: {problem}"))

    def _checked(self, step_id: str, compute: Callable[[], Any]) -> Any:
        try:
            return compute()
        except (ValueError, ExpressionError) as exc:
            raise self._refuse(step_id, exc) from None

    async def _call(self, step_id: str, call: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await self._batch.submit(call)
        except inngest.StepError as exc:
            raise SDKStepError(step_id, exc) from None

    async def run(self, step_id: str, handler: Callable[..., Any], *args: Any) -> Any:
        clock = self._clock

        async def body() -> Any:
            token = _current_step.set(step_id)
            try:
                if inspect.iscoroutinefunction(handler):
                    return await handler(*args)
                result = await asyncio.to_thread(handler, *args)    # as our SDK runs a sync handler
                return await result if inspect.isawaitable(result) else result
            except (NonRetriableError, RetryAfterError) as exc:
                raise to_inngest(exc, clock) from exc
            finally:
                _current_step.reset(token)

        return await self._call(step_id, lambda: self._ictx.step.run(step_id, body))

    async def sleep(self, step_id: str, duration: str | int | timedelta) -> None:
        now = self._clock.now_ms()
        ms = self._checked(step_id, lambda: parse_duration(duration))
        due = self._checked(step_id, lambda: check_horizon(now + ms, now, "the sleep"))
        await self._call(step_id, lambda: self._ictx.step.sleep_until(step_id, _instant(due)))

    async def sleep_until(self, step_id: str, when: datetime | str) -> None:
        due = self._checked(step_id, lambda: check_horizon(parse_instant(when), self._clock.now_ms(),
                                                           "the sleep_until time"))
        await self._call(step_id, lambda: self._ictx.step.sleep_until(step_id, _instant(due)))

    async def wait_for_event(self, step_id: str, *, event: str, timeout: str | int | timedelta,
                             match: str | None = None, if_exp: str | None = None) -> Event | None:
        ms, source = self._checked(step_id, lambda: wait_for_event_options(event, timeout, match, if_exp))
        now = self._clock.now_ms()
        self._checked(step_id, lambda: check_horizon(now + ms, now, "the timeout"))
        got = await self._call(step_id, lambda: self._ictx.step.wait_for_event(
            step_id, event=event, if_exp=source, timeout=timedelta(milliseconds=ms)))
        return None if got is None else _event(got)

    async def wait_for_signal(self, step_id: str, **_: Any) -> Any:
        raise self._cannot(UNEXPRESSIBLE_STEPS["wait_for_signal"])

    async def send_event(self, step_id: str, events: dict[str, Any] | Event | list[Any]) -> list[str]:
        batch = events if isinstance(events, (list, tuple)) else [events]
        sdk_events = self._checked(step_id, lambda: [_sdk_event(e, self._cannot) for e in batch])
        return await self._call(step_id, lambda: self._ictx.step.send_event(step_id, sdk_events))

    async def invoke(self, step_id: str, *, function: Function | str, data: dict[str, Any] | None = None,
                     timeout: str | int | timedelta | None = None) -> Any:
        function_id = function.id if isinstance(function, Function) else function

        ms = self._checked(step_id, lambda: invoke_options(data, timeout))
        if ms is not None:
            now = self._clock.now_ms()
            self._checked(step_id, lambda: check_horizon(now + ms, now, "the timeout"))
        return await self._call(step_id, lambda: self._ictx.step.invoke_by_id(
            step_id, function_id=function_id, data=data,
            timeout=None if ms is None else timedelta(milliseconds=ms)))


class SDKLogger:
    """``ctx.logger``: inngest-py's replay-aware logger, with our tags (run, function, step)."""

    def __init__(self, inner: Any, run_id: str, function_id: str) -> None:
        self._inner = inner
        self._extra = {"run_id": run_id, "function_id": function_id}

    def _log(self, level: str, msg: str, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("extra", {**self._extra, "step_id": _current_step.get()})
        getattr(self._inner, level)(msg, *args, **kwargs)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log("debug", msg, *args, **kwargs)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log("info", msg, *args, **kwargs)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log("warning", msg, *args, **kwargs)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log("error", msg, *args, **kwargs)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log("exception", msg, *args, **kwargs)


def sdk_handler(fn: Function, clock: Clock, cannot: Callable[[str], CannotExpress]
                ) -> Callable[[inngest.Context], Awaitable[Any]]:
    """inngest-py's handler for ``fn``: our handler called with our context over inngest-py's."""
    mode = inngest.ParallelMode.WAIT if fn.optimize_parallelism else inngest.ParallelMode.RACE

    async def handler(ictx: inngest.Context) -> Any:
        interrupts: list[BaseException] = []
        batch = _Batch(ictx, mode, interrupts.append)
        ctx = Context(event=_event(ictx.event), events=[_event(e) for e in ictx.events], run_id=ictx.run_id,
                      attempt=ictx.attempt, step=SDKStep(fn, ictx, clock, batch, cannot),  # type: ignore[arg-type]
                      logger=SDKLogger(ictx.logger, ictx.run_id, fn.id),  # type: ignore[arg-type]
                      function_id=fn.id)
        try:
            output = await fn.handler(ctx)
        except BaseException as exc:
            if interrupts:
                raise interrupts[-1] from None
            converted = to_inngest(exc, clock)
            if converted is exc:
                raise
            raise converted from exc
        if interrupts:
            raise interrupts[-1]
        return output

    return handler

