"""What a function receives: ``ctx.event``, ``ctx.step`` and friends.

The Step API only decides *what* a call means against the memo; executing, committing and
scheduling belong to the invocation and the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .durations import check_horizon, parse_duration, parse_instant
from .errors import StepInputError
from .events import Event
from .invocation import Invocation
from .state import StepOp, StepStatus


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
        kwargs.setdefault("extra", self._extra)
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
        state = await self._inv.reach(step_id, StepOp.SLEEP)
        if state.has_memo:
            return None
        if state.status == StepStatus.SLEEPING:
            await self._inv.block()
        try:
            ms = parse_duration(duration)
            due = check_horizon(self._now() + ms, self._now(), "the sleep")
        except ValueError as exc:
            raise StepInputError(f"{self._inv.where(state.step_id)}: {exc}") from None
        await self._sleep_to(state, due, {"duration_ms": ms})

    async def sleep_until(self, step_id: str, when: datetime | str) -> None:
        """Pause the run durably until ``when`` (aware or naive-UTC datetime, ISO-8601 string).
        A time in the past continues at once."""
        state = await self._inv.reach(step_id, StepOp.SLEEP)
        if state.has_memo:
            return None
        if state.status == StepStatus.SLEEPING:
            await self._inv.block()
        try:
            due = check_horizon(parse_instant(when), self._now(), "the sleep_until time")
        except ValueError as exc:
            raise StepInputError(f"{self._inv.where(state.step_id)}: {exc}") from None
        await self._sleep_to(state, due, {"until": due})

    def _now(self) -> int:
        return self._inv.engine.clock.now_ms()

    async def _sleep_to(self, state: Any, due: int, detail: dict[str, Any]) -> None:
        state.status = StepStatus.SLEEPING
        state.due_at = due
        state.started_at = self._now()
        state.detail = detail
        await self._inv.suspend(state)


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
