"""What the app answers an execution request, in inngest-py's shapes: 200 with the return value, 206
with an array of ops, 500 with an error body (and ``x-inngest-no-retry`` / ``retry-after``).

Our SDK's ops carry more than the wire does (durations in ms, a local function id for ``invoke``,
a sleep's length rather than its end), so each is rewritten into what inngest-py sends for the same
call: a sleep's ``name`` is its wake-up time, a wait's timeout a duration string, an invoke names
the target's slug. Errors are ``{code, message, name, stack}``. As in inngest-py, a
``NonRetriableError`` or ``RetryAfterError`` raised inside a step is the function's error, not the
step's, and a step failing on its last attempt is ``StepFailed`` (when the request said how many
attempts there are).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from executor.errors import ErrorInfo
from executor.ops import InvocationResult, Op, Opcode
from executor.service.inngest_app.config import slug
from executor.util.durations import format_duration, format_instant

NO_RETRY = "x-inngest-no-retry"
_RUN_CODES = (Opcode.STEP_RUN, Opcode.STEP_PLANNED, Opcode.STEP_ERROR, Opcode.STEP_FAILED)
RETRY_AFTER = "retry-after"
#: Error codes inngest-py gives its own errors; ours map onto them by what they mean.
_CODES = {"NonRetriableError": "non_retriable_error", "RetryAfterError": "retry_after_error",
          "StepUnexpectedError": "step_unexpected", "FunctionOutputNotSerializable": "output_unserializable",
          "FunctionNotFoundError": "function_not_found"}


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplyContext:
    """What shapes a reply besides the result: the app id (invoke targets are slugs), the request's
    attempt, and ``max_attempts`` when the request gave one."""

    app_id: str
    attempt: int
    max_attempts: int | None


def result_reply(result: InvocationResult, reported: list[Op], ctx: ReplyContext) -> Reply:
    """``reported``: the ops the function handed over mid-request (sleeps, waits, invokes)."""
    if result.error is not None:
        return error_reply(result.error, retriable=result.retriable, retry_at=result.retry_at)
    ops = sorted([*reported, *result.ops], key=lambda op: op.seq if op.seq is not None else 0)
    for op in ops:
        # Raised inside a step, these end the request as the function's own error (inngest-py).
        if op.op == Opcode.STEP_ERROR and op.fatal and op.error is not None:
            return error_reply(op.error, retriable=False, code="non_retriable_error")
        if op.op == Opcode.STEP_ERROR and op.retry_at is not None and op.error is not None:
            return error_reply(op.error, retriable=True, retry_at=op.retry_at, code="retry_after_error")
    if result.complete and not ops:
        return Reply(200, result.output)
    return Reply(206, [sdk_op(op, ctx) for op in ops])


def error_reply(error: ErrorInfo, *, retriable: bool, retry_at: int | None = None, code: str | None = None) -> Reply:
    headers = {}
    if not retriable:
        headers[NO_RETRY] = "true"
    if retry_at is not None:
        headers[RETRY_AFTER] = format_instant(retry_at)
    return Reply(500, error_body(error, code), headers)


def error_body(error: ErrorInfo, code: str | None = None) -> dict[str, Any]:
    raw = error.raw or {}
    return {"code": code or raw.get("code") or _CODES.get(error.name, "unknown"), "message": error.message,
            "name": error.name, "stack": error.stack}


def sdk_op(op: Op, ctx: ReplyContext) -> dict[str, Any]:
    """One op as inngest-py writes it (every key present, ``opts``/``data`` null when empty)."""
    code, name, opts = op.op, op.name, dict(op.opts) or None
    error = None
    if code == Opcode.STEP_ERROR and op.error is not None:
        last = ctx.max_attempts is not None and ctx.attempt + 1 >= ctx.max_attempts
        code = Opcode.STEP_FAILED if last else code
    if op.error is not None:
        error = error_body(op.error)
    if code in _RUN_CODES:
        # inngest-py sends no step input (the TypeScript SDK's ``opts.input``); a race still says so.
        opts = {"parallelMode": op.opts["parallelMode"]} if op.opts.get("parallelMode") else None
    elif code == Opcode.SLEEP:
        # Inngest's SDKs send when to wake up; ours knows for how long, from when.
        duration = op.opts.get("duration")
        name, opts = (format_instant((op.started_at or 0) + duration) if duration is not None else op.name), None
    elif code == Opcode.WAIT_FOR_EVENT:
        opts = {"if": op.opts.get("if"), "timeout": format_duration(op.opts["timeout"])}
        if op.opts.get("match") is not None:
            opts["match"] = op.opts["match"]     # the shorthand, for display; ``if`` is what matches
    elif code == Opcode.WAIT_FOR_SIGNAL:
        opts = {"signal": op.opts["signal"], "timeout": format_duration(op.opts["timeout"]),
                "conflict": op.opts["conflict"]}
    elif code == Opcode.INVOKE_FUNCTION:
        timeout = op.opts.get("timeout")
        opts = {"function_id": slug(ctx.app_id, op.opts["function_id"]),
                "payload": {"data": op.opts["payload"]["data"], "v": None},
                "timeout": None if timeout is None else format_duration(timeout)}
    out: dict[str, Any] = {"displayName": op.display_name, "id": op.id, "name": name, "op": str(code), "opts": opts,
                           "userland": {"id": op.display_name, "index": op.index}, "data": op.data}
    if error is not None:
        out["error"] = error
    return out
