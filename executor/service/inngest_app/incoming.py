"""An execution request as an Inngest server sends it (``POST …?fnId=…&stepId=…``), read as strictly
as inngest-py reads it, and turned into the ``InvocationRequest`` our local driver runs.

The body carries the run's events, the memo of every finished step (keyed by hashed step id) and a
``ctx``. What inngest-py requires, we require (``ctx.attempt``, ``ctx.run_id``, ``ctx.stack``,
``ctx.disable_immediate_execution``, ``event``, ``steps``, ``use_api``), with the same types: a body
that breaks them is answered with a 500 naming the field, which the server retries.

A memo is ``{"data": v}`` or ``{"error": {name, message, stack}}`` exactly (nothing else in the
object), or else the value itself (a matched event, a finished sleep's ``null``); which kind of step
it belongs to is learnt when the function reaches it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from executor.drivers.inngest.wire import json_type
from executor.drivers.local.function import Function
from executor.ops import InvocationRequest, RunControl
from executor.records import Event, Limits, Run, RunStatus, StepState, StepStatus


class ValidationError(ValueError):
    """The body is not an execution request (the reply names what is wrong)."""


@dataclass(frozen=True)
class ExecutionRequest:
    event: Mapping[str, Any]
    events: list[Mapping[str, Any]] | None
    steps: dict[str, Any]
    use_api: bool
    run_id: str
    attempt: int
    max_attempts: int | None
    disable_immediate_execution: bool
    fn_id: str
    qi_id: str
    request_id: str


def parse_execution_request(body: bytes) -> ExecutionRequest:
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the execution request is not JSON ({exc})") from None
    _expect(raw, dict, "the body", "an object")
    ctx = _required(raw, "ctx", dict, "an object")
    _required(ctx, "stack", dict, "an object", where="ctx.")
    max_attempts = ctx.get("max_attempts")
    if max_attempts is not None:
        _expect(max_attempts, int, "ctx.max_attempts", "an integer")
    events = raw.get("events")
    if events is not None:
        _expect(events, list, "events", "an array")
        for position, item in enumerate(events):
            _check_event(item, f"events[{position}]")
    event = _required(raw, "event", dict, "an object")
    _check_event(event, "event")
    steps = _required(raw, "steps", dict, "an object")
    return ExecutionRequest(
        event=event, events=events, steps=steps, use_api=_required(raw, "use_api", bool, "a boolean"),
        run_id=_required(ctx, "run_id", str, "a string", where="ctx."),
        attempt=_required(ctx, "attempt", int, "an integer", where="ctx."),
        max_attempts=max_attempts,
        disable_immediate_execution=_required(ctx, "disable_immediate_execution", bool, "a boolean", where="ctx."),
        fn_id=_optional_str(ctx, "fn_id"), qi_id=_optional_str(ctx, "qi_id"),
        request_id=_optional_str(ctx, "request_id"))


def invocation_request(req: ExecutionRequest, fn: Function, *, events: list[Mapping[str, Any]], steps: dict[str, Any],
                       target: str | None, now_ms: int, control: RunControl, request_id: str) -> InvocationRequest:
    """What the local driver needs for one request (``events`` and ``steps`` as sent, or as fetched
    from the server's API when the request said ``use_api``)."""
    trigger = _event(req.event)
    run = Run(id=req.run_id, function_id=fn.id, event_id=trigger.id, status=RunStatus.RUNNING, created_at=now_ms,
              attempt=req.attempt, mode=fn.mode)
    return InvocationRequest(
        run=run, function_id=fn.id, event=trigger, events=[_event(e) for e in events] or [trigger],
        steps={hashed: memo_state(req.run_id, hashed, memo) for hashed, memo in steps.items()},
        now_ms=now_ms, attempt=req.attempt, max_attempts=req.max_attempts or fn.retries + 1, limits=Limits(),
        control=control, target=target, disable_immediate_execution=req.disable_immediate_execution,
        request_id=request_id)


def memo_state(run_id: str, hashed: str, memo: Any) -> StepState:
    """A finished step from its memo; its display id and kind are filled in when it is reached."""
    error = memo_error(memo)
    return StepState(run_id=run_id, hashed_id=hashed, step_id=hashed, name=hashed, op="", seq=0,
                     status=StepStatus.FAILED if error is not None else StepStatus.COMPLETED, memo=memo, error=error)


def memo_error(memo: Any) -> dict[str, Any] | None:
    """The error of a failed step's memo (``{"error": {name, message, …}}``), else None."""
    if not isinstance(memo, dict) or not memo or not set(memo) <= {"data", "error"}:
        return None
    error = memo.get("error")
    if isinstance(error, dict) and isinstance(error.get("name"), str) and isinstance(error.get("message"), str):
        return error
    return None


def _event(raw: Mapping[str, Any]) -> Event:
    return Event(id=raw.get("id") or "", name=raw["name"], data=dict(raw.get("data") or {}), ts=raw.get("ts") or 0,
                 user=raw.get("user"), v=raw.get("v"))


def _check_event(raw: Any, where: str) -> None:
    _expect(raw, dict, where, "an object")
    _required(raw, "name", str, "a string", where=f"{where}.")
    if raw.get("data") is not None:
        _expect(raw["data"], dict, f"{where}.data", "an object")
    for key, kind, label in (("id", str, "a string"), ("ts", int, "an integer")):
        if key in raw:
            _expect(raw[key], kind, f"{where}.{key}", label)


def _required(raw: Mapping[str, Any], key: str, kind: type, label: str, *, where: str = "") -> Any:
    if key not in raw or raw[key] is None:
        raise ValidationError(f"the execution request has no {where}{key} ({label})")
    return _expect(raw[key], kind, f"{where}{key}", label)


def _expect(value: Any, kind: type, where: str, label: str) -> Any:
    # bool is an int in Python, never in JSON.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValidationError(f"the execution request's {where} must be {label}, not {json_type(value)}")
    return value


def _optional_str(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return value if isinstance(value, str) else ""
