"""Errors a function author raises or catches, and the engine's own failure kinds.

The names a function sees are part of the public SDK; the engine-only ones carry an
Inngest-like ``name`` so a run's stored error reads the same whichever path produced it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta


class NonRetriableError(Exception):
    """Raise this (inside or outside a step) when trying again cannot help: the run fails at once."""


class RetryAfterError(Exception):
    """Raise this from a step to have the next attempt at a chosen time (clamped to [1 s, 24 h]).

    ``retry_after`` is a ``timedelta``, an absolute ``datetime``, a duration string ("30s") or an
    int of milliseconds, the same forms ``step.sleep`` accepts.
    """

    def __init__(self, message: str, retry_after: timedelta | datetime | str | int | float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StepError(Exception):
    """A step failed for good (its retries are spent, or it can never succeed).

    Raised inside the function at the step's ``await`` so the author can catch it and
    compensate; uncaught, it fails the run with the original error's name and message.
    """

    def __init__(self, step_id: str, name: str, message: str, stack: str = "") -> None:
        super().__init__(f"step {step_id!r} failed: {name}: {message}")
        self.step_id = step_id
        self.name = name
        self.message = message
        self.stack = stack

    def to_dict(self) -> dict:
        return {"name": self.name, "message": self.message, "stack": self.stack}


class StepInputError(NonRetriableError, ValueError):
    """A step was called with arguments that can never work (a bad duration, a nested step…).

    Non-retriable because the same code reaches the same call with the same arguments.
    """


class EventValidationError(ValueError):
    """An event handed to ``Executor.send`` is malformed; nothing from that call was stored."""


class SignalNotFoundError(LookupError):
    """``send_signal`` found no run waiting for that signal: nothing was delivered or stored."""


class FunctionDefinitionError(ValueError):
    """A ``create_function`` call or a loaded function file is invalid."""


class RunFailure(Exception):
    """Internal: ends an invocation and fails its run with a fixed error (limits, nested steps…)."""

    def __init__(self, name: str, message: str, stack: str = "") -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
        self.stack = stack

    def to_dict(self) -> dict:
        return {"name": self.name, "message": self.message, "stack": self.stack}


class ExpressionError(ValueError):
    """An expression that cannot be compiled (or bound), with where and why.

    The message quotes the expression because it usually reaches a person far from the code that
    holds it: a run's failed step, the console, an HTTP 400.
    """

    def __init__(
        self, expression: str, reason: str, line: int | None = None, column: int | None = None
    ) -> None:
        self.expression = expression
        self.reason = reason
        self.line = line
        self.column = column
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"invalid expression {quote_expression(expression)}{where}: {reason}")


def quote_expression(expression: str, limit: int = 160) -> str:
    # json.dumps escapes quotes and newlines so the message stays on one line; long expressions
    # are cut because the reason, not 4 kB of source, is what the reader needs.
    if len(expression) > limit:
        return json.dumps(expression[:limit], ensure_ascii=False)[:-1] + '..."'
    return json.dumps(expression, ensure_ascii=False)
