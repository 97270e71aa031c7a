"""Function definitions: ``create_function``, triggers and per-function options."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from croniter import croniter

from executor.errors import ExpressionError, FunctionDefinitionError
from executor.expressions import compile_expression, match_to_expression
from executor.util.durations import parse_duration

if TYPE_CHECKING:
    from executor.drivers.local.context import Context

MAX_RETRIES = 20

Handler = Callable[["Context"], Awaitable[Any]]


@dataclass(frozen=True)
class TriggerEvent:
    """Start a run for each event named ``event`` ("app/user.*" wildcards allowed); with
    ``expression`` (CEL over ``event``), only for events where it is true."""

    event: str
    expression: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.event}
        if self.expression is not None:
            out["expression"] = self.expression
        return out


@dataclass(frozen=True)
class TriggerCron:
    """Start a run on a schedule ("*/5 * * * *", UTC). Missed ticks while stopped are not replayed."""

    cron: str

    def to_dict(self) -> dict[str, Any]:
        return {"cron": self.cron}


@dataclass(frozen=True)
class Cancel:
    """Cancel a run when a later event named ``event`` matches it (``match`` or ``if_exp``, as in
    ``wait_for_event``), within ``timeout`` of the run's start when given."""

    event: str
    match: str | None = None
    if_exp: str | None = None
    timeout: str | int | timedelta | None = None

    def expression(self) -> str | None:
        """The CEL condition as written, ``event`` being the run's trigger and ``async`` the candidate."""
        return match_to_expression(self.match) if self.match else self.if_exp

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.event, "match": self.match, "if": self.if_exp,
                "timeout": self.timeout if not isinstance(self.timeout, timedelta) else str(self.timeout)}


@dataclass
class Function:
    """A durable function: what ``create_function`` returns and the executor runs."""

    id: str
    handler: Handler
    triggers: list[TriggerEvent | TriggerCron] = field(default_factory=list)
    name: str | None = None
    retries: int = 4
    checkpointing: bool = True
    optimize_parallelism: bool = False
    source_file: str | None = None
    version: str = ""
    cancel: list[Cancel] = field(default_factory=list)
    on_failure: "Function | None" = None

    @property
    def event_triggers(self) -> list[TriggerEvent]:
        return [t for t in self.triggers if isinstance(t, TriggerEvent)]

    @property
    def cron_triggers(self) -> list[TriggerCron]:
        return [t for t in self.triggers if isinstance(t, TriggerCron)]

    @property
    def display_name(self) -> str:
        return self.name or self.id

    @property
    def mode(self) -> str:
        return "checkpointing" if self.checkpointing else "replay"

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.display_name, "triggers": [t.to_dict() for t in self.triggers],
            "retries": self.retries, "mode": self.mode, "optimize_parallelism": self.optimize_parallelism,
            "source_file": self.source_file, "version": self.version,
            "cancel": [c.to_dict() for c in self.cancel],
            "on_failure": self.on_failure.id if self.on_failure else None,
        }


Trigger = TriggerEvent | TriggerCron
TriggerSpec = str | Trigger | Sequence[str | Trigger] | None

FAILED_EVENT = "inngest/function.failed"


def _check_expression(function_id: str, what: str, source: str | None) -> None:
    """Compile now so a bad expression is refused when the function loads, not when an event comes."""
    if source is None:
        return
    try:
        compile_expression(source)
    except ExpressionError as exc:
        raise FunctionDefinitionError(f"function {function_id!r}: {what}: {exc}") from None


def _normalise_triggers(function_id: str, trigger: TriggerSpec) -> list[Trigger]:
    if trigger is None:
        return []
    items = [trigger] if isinstance(trigger, (str, TriggerEvent, TriggerCron)) else list(trigger)
    out: list[Trigger] = []
    for item in items:
        if isinstance(item, str):
            item = TriggerEvent(event=item)
        if isinstance(item, TriggerCron):
            if not isinstance(item.cron, str) or not croniter.is_valid(item.cron):
                raise FunctionDefinitionError(f"function {function_id!r}: invalid cron expression {item.cron!r}")
            out.append(item)
            continue
        if not isinstance(item, TriggerEvent):
            raise FunctionDefinitionError(f"function {function_id!r}: a trigger must be an event name, "
                                          f"TriggerEvent or TriggerCron, not {type(item).__name__}")
        if not item.event or not isinstance(item.event, str):
            raise FunctionDefinitionError(f"function {function_id!r}: a trigger needs a non-empty event name")
        _check_expression(function_id, f"trigger expression for {item.event!r}", item.expression)
        out.append(item)
    return out


def _normalise_cancel(function_id: str, cancel: Sequence[Cancel] | Cancel | None) -> list[Cancel]:
    rules = [] if cancel is None else [cancel] if isinstance(cancel, Cancel) else list(cancel)
    for rule in rules:
        if not isinstance(rule, Cancel) or not rule.event:
            raise FunctionDefinitionError(f"function {function_id!r}: cancel takes Cancel(event=..., ...) rules")
        if rule.match and rule.if_exp:
            raise FunctionDefinitionError(f"function {function_id!r}: a Cancel rule takes match or if_exp, not both")
        if rule.timeout is not None:
            try:
                parse_duration(rule.timeout)
            except ValueError as exc:
                raise FunctionDefinitionError(f"function {function_id!r}: cancel timeout: {exc}") from None
        try:
            source = rule.expression()
        except ValueError as exc:
            raise FunctionDefinitionError(f"function {function_id!r}: cancel match: {exc}") from None
        _check_expression(function_id, f"cancel expression for {rule.event!r}", source)
    return rules


def _cel_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _source_version(handler: Callable[..., Any]) -> str:
    """A hash of the function's source, recorded on each run so a reload shows up in its history."""
    try:
        source = inspect.getsource(handler)
    except (OSError, TypeError):
        source = getattr(handler, "__qualname__", repr(handler))
    return hashlib.sha1(source.encode()).hexdigest()[:12]


def create_function(
    *,
    id: str,
    trigger: TriggerSpec = None,
    retries: int = 4,
    checkpointing: bool = True,
    optimize_parallelism: bool = False,
    name: str | None = None,
    cancel: Sequence[Cancel] | Cancel | None = None,
    on_failure: Handler | None = None,
) -> Callable[[Handler], Function]:
    """Declare a durable function. ``trigger`` is an event name, a ``TriggerEvent``, or a list;
    a function with no trigger can still be invoked.

    ``retries`` counts retries after the first attempt (Inngest's meaning), per step.
    ``checkpointing=False`` selects strict replay: one new step per invocation;
    ``optimize_parallelism`` only changes strict replay (checkpointing never re-invokes per step).
    ``cancel`` rules cancel a run when a later matching event arrives. ``on_failure`` runs as its
    own function (id ``<id>-failure``) on ``inngest/function.failed`` when a run of this one fails
    after its retries; its ``ctx.event.data`` holds ``function_id``, ``run_id``, ``error``, ``event``.
    """
    if not isinstance(id, str) or not id.strip():
        raise FunctionDefinitionError("create_function needs a non-empty string id")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise FunctionDefinitionError(f"function {id!r}: retries must be an int from 0 to {MAX_RETRIES}, got {retries!r}")
    triggers = _normalise_triggers(id, trigger)
    cancel_rules = _normalise_cancel(id, cancel)
    if on_failure is not None and not inspect.iscoroutinefunction(on_failure):
        raise FunctionDefinitionError(f"function {id!r}: on_failure must be an 'async def' function")

    def decorate(handler: Handler) -> Function:
        if not inspect.iscoroutinefunction(handler):
            raise FunctionDefinitionError(
                f"function {id!r}: the decorated handler must be 'async def' (it awaits its steps)")
        failure = None
        if on_failure is not None:
            failure = Function(
                id=f"{id}-failure", handler=on_failure, name=f"{name or id} (on failure)", retries=retries,
                triggers=[TriggerEvent(FAILED_EVENT, expression=f"event.data.function_id == {_cel_string(id)}")],
                source_file=inspect.getsourcefile(on_failure), version=_source_version(on_failure))
        return Function(
            id=id, handler=handler, triggers=triggers, name=name, retries=retries,
            checkpointing=checkpointing, optimize_parallelism=optimize_parallelism,
            source_file=inspect.getsourcefile(handler), version=_source_version(handler),
            cancel=cancel_rules, on_failure=failure,
        )

    return decorate
