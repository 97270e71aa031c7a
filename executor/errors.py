"""Every error durable-tui raises, under one root, and ``ErrorInfo``, the record an error becomes.

``DurableError`` is the root so a caller can catch "anything durable-tui refused" in one clause;
each subclass also keeps the builtin base it always had (``ValueError``, ``LookupError``…), so code
written against those keeps working. The names a function author sees (``NonRetriableError``,
``RetryAfterError``, ``StepError``) are part of the public SDK.

``ErrorInfo`` is how an error travels once it is data: in a step's memo, a run's ``error``, an op
from a driver, an HTTP reply. An SDK's error body is kept verbatim (Inngest's dev server compares
it key for key), so ``ErrorInfo`` carries the original mapping alongside the three fields every
reader may rely on.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


class DurableError(Exception):
    """The root of durable-tui's own errors."""


# ---- raised by function authors -------------------------------------------------------------

class NonRetriableError(DurableError):
    """Raise this (inside or outside a step) when trying again cannot help: the run fails at once."""


class RetryAfterError(DurableError):
    """Raise this from a step to have the next attempt at a chosen time (clamped to [1 s, 24 h]).

    ``retry_after`` is a ``timedelta``, an absolute ``datetime``, a duration string ("30s") or an
    int of milliseconds, the same forms ``step.sleep`` accepts.
    """

    def __init__(self, message: str, retry_after: timedelta | datetime | str | int | float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StepError(DurableError):
    """A step failed for good (its retries are spent, or it can never succeed).

    Raised inside the function at the step's ``await`` so the author can catch it and
    compensate; uncaught, it fails the run with the original error's name and message.
    """

    def __init__(self, step_id: str, name: str, message: str, stack: str | None = "") -> None:
        super().__init__(f"step {step_id!r} failed: {name}: {message}")
        self.step_id = step_id
        self.name = name
        self.message = message
        self.stack = stack

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "message": self.message, "stack": self.stack}


class StepInputError(NonRetriableError, ValueError):
    """A step was called with arguments that can never work (a bad duration, a nested step…).

    Non-retriable because the same code reaches the same call with the same arguments.
    """


# ---- refused input ------------------------------------------------------------------------------

class EventValidationError(DurableError, ValueError):
    """An event handed to ``Executor.send`` is malformed; nothing from that call was stored."""


class FunctionDefinitionError(DurableError, ValueError):
    """A ``create_function`` call, a loaded function file or a synced app's function is invalid."""


class ExpressionError(DurableError, ValueError):
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


# ---- lookups and state ------------------------------------------------------------------------

class NotFoundError(DurableError, KeyError):
    """An id that names no run, event, wait or function. ``str()`` is the sentence itself
    (``KeyError`` would quote it), since it usually reaches a person as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SignalNotFoundError(NotFoundError):
    """``send_signal`` found no run waiting for that signal: nothing was delivered or stored."""


# ---- the record -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ErrorInfo:
    """An error as data. ``raw`` is the mapping as a driver received it (an SDK's error body, kept
    verbatim); without one, ``to_dict`` gives ``{"name", "message", "stack"}``."""

    name: str
    message: str
    stack: str | None = ""
    raw: Mapping[str, Any] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        if self.raw is not None:
            return dict(self.raw)
        return {"name": self.name, "message": self.message, "stack": self.stack}

    def with_message(self, message: str) -> "ErrorInfo":
        return ErrorInfo(self.name, message, self.stack, None if self.raw is None else {**self.raw, "message": message})

    @classmethod
    def from_exception(cls, exc: BaseException) -> "ErrorInfo":
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(type(exc).__name__, str(exc), stack)

    @classmethod
    def from_dict(cls, raw: Any, *, default_name: str = "Error") -> "ErrorInfo":
        """Read an error mapping from anywhere (a memo, an SDK body); anything else is described."""
        if not isinstance(raw, Mapping):
            return cls(default_name, "" if raw is None else str(raw), "")
        name = raw.get("name")
        message = raw.get("message")
        stack = raw.get("stack")
        return cls(name if isinstance(name, str) and name else default_name,
                   message if isinstance(message, str) else json.dumps(message, default=str),
                   stack if isinstance(stack, str) or stack is None else str(stack), raw=dict(raw))
