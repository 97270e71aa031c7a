"""What a function receives: ``ctx.event``, ``ctx.step`` and friends.

The Step API decides what a call means against the steps the engine knows, and says what it needs
as an op (``Sleep``, ``WaitForEvent``, ``InvokeFunction``…); committing and scheduling are the
engine's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from executor.drivers.local.attempt import current_handler, step_op
from executor.drivers.local.function import Function
from executor.drivers.local.invocation import Invocation
from executor.errors import ExpressionError, StepInputError
from executor.expressions import match_to_expression
from executor.ops import SEND_EVENT_TYPE, Opcode
from executor.records import Event, StepOp, StepState, StepStatus
from executor.util import jsonvalues
from executor.util.durations import check_horizon, format_instant, parse_duration, parse_instant

#: Inngest's default for invoke is a year; ours stays inside the 366-day ceiling.
DEFAULT_INVOKE_TIMEOUT = "365d"


def wait_for_event_options(event: str, timeout: str | int | timedelta, match: str | None,
                           if_exp: str | None) -> tuple[int, str | None]:
    """A ``wait_for_event``'s timeout in ms and its condition as one expression (``match`` becomes
    the equality it stands for), or a ValueError saying which argument is wrong."""
    if not isinstance(event, str) or not event:
        raise ValueError("wait_for_event needs a non-empty event name")
    if match is not None and if_exp is not None:
        raise ValueError("give match or if_exp, not both")
    return parse_duration(timeout), match_to_expression(match) if match is not None else if_exp


def invoke_options(data: dict[str, Any] | None, timeout: str | int | timedelta | None) -> int | None:
    """Check an ``invoke``'s data (a JSON object, or none); its timeout in ms, None when not given."""
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"invoke data must be a dict, not {type(data).__name__}")
    try:
        jsonvalues.dumps(data)
    except jsonvalues.NotJSONError as exc:
        raise ValueError(f"invoke data: {exc}") from None
    return None if timeout is None else parse_duration(timeout)


@dataclass(frozen=True)
class Signal:
    """What ``wait_for_signal`` returns: the signal's name and the data sent with it."""

    signal: str
    data: Any = None


class ReplayAwareLogger:
    """A logger that stays quiet while the function replays memoized steps, so each line
    appears once per run however many times the function body is re-invoked."""

    def __init__(self, inv: Invocation, logger: logging.Logger) -> None:
        self._inv = inv
        self._logger = logger
        self._extra = {"run_id": inv.run.id, "function_id": inv.fn.id}

    def _log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        if self._inv.replaying:
            return
        # Tagged with the run, and with the step whose handler is logging (none between steps),
        # so a console can show a run's log and say which step wrote each line.
        kwargs.setdefault("extra", {**self._extra, "step_id": current_handler.get()})
        self._logger.log(level, msg, *args, **kwargs)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(logging.WARNING, msg, *args, **kwargs)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(logging.ERROR, msg, *args, **kwargs)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exc_info", True)
        self._log(logging.ERROR, msg, *args, **kwargs)


class Step:
    """``ctx.step``: each method is one durable step, identified by ``step_id``."""

    def __init__(self, inv: Invocation) -> None:
        self._inv = inv

    async def run(self, step_id: str, handler: Callable[..., Any], *args: Any) -> Any:
        """Run ``handler(*args)`` once for this run and return its JSON result.

        The result is stored before the function continues; on a replay the stored result
        is returned and the handler is not called. After the last retry the failure is
        raised here as ``StepError``.
        """
        state = await self._inv.reach(step_id, StepOp.RUN)
        if state.status == StepStatus.COMPLETED:
            return state.output
        if state.status == StepStatus.FAILED:
            raise self._inv.step_error(state)
        return await self._inv.run_step(state, handler, args)

    async def sleep(self, step_id: str, duration: str | int | timedelta) -> None:
        """Pause the run durably for ``duration`` ("30s", "1h30m", "7d", ms, timedelta)."""
        state = await self._pending_or_new(step_id, StepOp.SLEEP)
        if state.has_memo:
            return None
        ms = await self._checked(state, lambda: parse_duration(duration))
        await self._checked(state, lambda: check_horizon(self._now() + ms, self._now(), "the sleep"))
        await self._park(state, Opcode.SLEEP, name=f"{ms}ms", opts={"duration": ms}, ends_invocation=ms > 0,
                         due_ms=self._now() + ms)

    async def sleep_until(self, step_id: str, when: datetime | str) -> None:
        """Pause the run durably until ``when`` (aware or naive-UTC datetime, ISO-8601 string).
        A time in the past continues at once."""
        state = await self._pending_or_new(step_id, StepOp.SLEEP)
        if state.has_memo:
            return None
        due = await self._checked(state, lambda: check_horizon(parse_instant(when), self._now(), "the sleep_until time"))
        await self._park(state, Opcode.SLEEP, name=format_instant(due), ends_invocation=due > self._now(), due_ms=due)

    async def wait_for_event(self, step_id: str, *, event: str, timeout: str | int | timedelta,
                             match: str | None = None, if_exp: str | None = None) -> Event | None:
        """Wait for a later event named ``event``; return it, or None at the timeout.

        Only events received after this wait was stored can match. ``match="data.x"`` means
        ``event.data.x == async.data.x``; ``if_exp`` is a CEL expression where ``event`` is this
        run's trigger (its values bound now) and ``async`` the candidate event.
        """
        state = await self._pending_or_new(step_id, StepOp.WAIT_FOR_EVENT)
        if state.has_memo:
            return self._memo_or_error(state, lambda memo: Event.from_dict(memo) if memo else None)

        ms, source = await self._checked(state, lambda: wait_for_event_options(event, timeout, match, if_exp))
        await self._checked(state, lambda: check_horizon(self._now() + ms, self._now(), "the timeout"))
        opts: dict[str, Any] = {"event": event, "timeout": ms}
        if source is not None:
            opts["if"] = source
        if match is not None:
            opts["match"] = match
        return self._memo_or_error(await self._park(state, Opcode.WAIT_FOR_EVENT, name=event, opts=opts),
                                   lambda memo: Event.from_dict(memo) if memo else None)

    async def wait_for_signal(self, step_id: str, *, signal: str, timeout: str | int | timedelta,
                              on_conflict: str) -> Signal | None:
        """Wait for ``signal`` (sent with ``Executor.send_signal``); None at the timeout.

        ``on_conflict="fail"`` fails this step if another run already waits for the signal;
        ``"replace"`` takes the signal over, leaving the earlier waiter to its timeout.
        """
        state = await self._pending_or_new(step_id, StepOp.WAIT_FOR_SIGNAL)
        if state.has_memo:
            return self._memo_or_error(state, lambda memo: Signal(**memo["data"]) if memo else None)

        def validate() -> int:
            if not isinstance(signal, str) or not signal:
                raise ValueError("wait_for_signal needs a non-empty signal name")
            if on_conflict not in ("replace", "fail"):
                raise ValueError(f"on_conflict must be 'replace' or 'fail', not {on_conflict!r}")
            return parse_duration(timeout)

        ms = await self._checked(state, validate)
        await self._checked(state, lambda: check_horizon(self._now() + ms, self._now(), "the timeout"))
        parked = await self._park(state, Opcode.WAIT_FOR_SIGNAL, name=signal,
                                  opts={"signal": signal, "timeout": ms, "conflict": on_conflict})
        return self._memo_or_error(parked, lambda memo: Signal(**memo["data"]) if memo else None)

    async def send_event(self, step_id: str, events: dict[str, Any] | Event | list[Any]) -> list[str]:
        """Send one event or a list as a step: stored with the step's result, so a replay never
        sends twice. Returns the event ids."""
        state = await self._pending_or_new(step_id, StepOp.SEND_EVENT)
        if state.has_memo:
            return self._memo_or_error(state, lambda memo: memo["data"])
        batch = events if isinstance(events, (list, tuple)) else [events]
        raw = [e.to_dict() if isinstance(e, Event) else e for e in batch]
        if self._inv.serving is not None:
            # As an Inngest SDK does it: a step.run whose handler posts the events to the server.
            return await self._inv.run_step(state, self._inv.serving.send_events,
                                            (raw, self._inv.where(state.step_id)))
        self._inv.assign_group(state)
        with self._inv.working():
            committed = await self._inv.commit(step_op(state, Opcode.STEP_RUN, opts={"type": SEND_EVENT_TYPE},
                                                       events=raw, started_at=self._now()))
        return await self._inv.deliver(committed)

    async def invoke(self, step_id: str, *, function: Function | str, data: dict[str, Any] | None = None,
                     timeout: str | int | timedelta | None = None) -> Any:
        """Run ``function`` as a child run and return its return value.

        A failed child raises ``StepError`` here with the child's error; so does the timeout
        (default 365 days).
        """
        state = await self._pending_or_new(step_id, StepOp.INVOKE)
        if state.has_memo:
            return self._memo_or_error(state, lambda memo: memo["data"])
        function_id = function.id if isinstance(function, Function) else function

        ms = await self._checked(state, lambda: invoke_options(
            data, timeout if timeout is not None else DEFAULT_INVOKE_TIMEOUT))
        assert ms is not None
        await self._checked(state, lambda: check_horizon(self._now() + ms, self._now(), "the timeout"))
        # No timeout given: none is sent, and the engine applies its default (as Inngest's does).
        parked = await self._park(state, Opcode.INVOKE_FUNCTION, name=step_id,
                                  opts={"function_id": function_id, "payload": {"data": data},
                                        "timeout": ms if timeout is not None else None})
        return self._memo_or_error(parked, lambda memo: memo["data"])

    # ---- shared parts -------------------------------------------------------------------

    def _now(self) -> int:
        return self._inv.now_ms()

    async def _pending_or_new(self, step_id: str, op: str) -> StepState:
        """Reach the step; a step still waiting or sleeping keeps this branch blocked."""
        state = await self._inv.reach(step_id, op)
        if not state.has_memo and state.status in (StepStatus.SLEEPING, StepStatus.WAITING):
            await self._inv.block()
        return state

    def _memo_or_error(self, state: StepState, decode: Callable[[Any], Any]) -> Any:
        if state.status == StepStatus.FAILED:
            raise self._inv.step_error(state)
        return decode(state.memo)

    async def _checked(self, state: StepState, compute: Callable[[], Any]) -> Any:
        """Arguments that can never work fail the step and the run (retrying cannot help)."""
        try:
            return compute()
        except (ValueError, ExpressionError) as exc:
            await self._inv.reject(state, StepInputError(f"{self._inv.where(state.step_id)}: {exc}"))

    async def _park(self, state: StepState, code: Opcode, *, name: str, opts: dict[str, Any] | None = None,
                    ends_invocation: bool = False, due_ms: int | None = None) -> StepState:
        """Hand a sleep, wait or invoke to the engine; the branch goes on, with the step finished,
        only if the engine settled it at once (a wait that can never work fails here as a
        ``StepError``) or it ended while the invocation waited in place (a short sleep, a signal
        that came soon: ``RunControl.wait_in_place``, for a function that is not in parallel
        branches).

        A sleep still to come cannot settle at once: it is handed over with the invocation's end,
        so parking and ending the invocation are one transaction instead of two — unless a step
        is held (``Invocation.hold``): then the sleep commits with that step, and a step that
        finished never looks like progress the function could make at once."""
        inv = self._inv
        inv.assign_group(state)
        in_place = not inv.strict and inv.alone() and inv.control.may_wait_in_place(due_ms)
        if ends_invocation and not inv.strict and not inv.holding and not in_place:
            inv.defer(step_op(state, code, name=name, opts=opts or {}, started_at=self._now()))
            await inv.block()
        with inv.working():
            committed = await inv.commit(step_op(state, code, name=name, opts=opts or {}, started_at=self._now()))
            if in_place and not committed.has_memo:
                committed = await inv.control.wait_in_place(committed) or committed
                inv.known[committed.hashed_id] = committed
        if committed.has_memo:
            await inv.deliver(committed)        # closes the step, or raises its failure
            return committed
        self._inv.parked += 1
        self._inv.suspending = True
        await self._inv.block()


@dataclass
class Context:
    """The function's view of its run."""

    event: Event
    events: list[Event]
    run_id: str
    attempt: int
    step: Step
    logger: ReplayAwareLogger
    function_id: str
