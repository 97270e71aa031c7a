"""What a function is to the engine: its id, triggers, cancel rules, retries and options — never its
code. Every driver describes its functions with a ``FunctionSpec`` (our SDK from a decorated handler,
the Inngest driver from an app's sync), and the engine routes, schedules and retries from the spec
alone; the code stays with the driver that runs it.

The trigger and cancel records are part of the public SDK (``TriggerEvent``, ``TriggerCron``,
``Cancel``); ``check_triggers``/``check_cancel`` refuse a bad one when the function is declared or
synced, naming the function, so a broken expression never waits for an event to show up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from croniter import croniter

from executor.errors import ExpressionError, FunctionDefinitionError
from executor.expressions import compile_expression, match_to_expression
from executor.flowcontrol import FlowControl
from executor.util.durations import parse_duration

#: Inngest's ceiling on retries (a retry count, so 21 attempts).
MAX_RETRIES = 20
DEFAULT_RETRIES = 4
FAILED_EVENT = "inngest/function.failed"


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


Trigger = TriggerEvent | TriggerCron
TriggerSpec = str | Trigger | Sequence[str | Trigger] | None


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


@dataclass(frozen=True)
class FunctionSpec:
    """A function as the engine registers it. ``driver`` names who runs it ("local" for our SDK,
    "inngest" for an app served by an Inngest SDK), ``app`` the app it came with (functions are
    replaced an app at a time); ``mode`` is recorded on each run for display."""

    id: str
    driver: str
    app: str | None = None
    name: str | None = None
    triggers: tuple[Trigger, ...] = ()
    cancel: tuple[Cancel, ...] = ()
    retries: int = DEFAULT_RETRIES
    version: str = ""
    source: str | None = None            # a file path (local) or an app URL
    mode: str = "checkpointing"
    options: Mapping[str, Any] = field(default_factory=dict)   # options as an app synced them, raw
    flow: FlowControl = field(default_factory=FlowControl)     # checked flow control (``flowcontrol``)

    @property
    def group(self) -> str:
        """What replaces this function as a whole: its app, or its driver's set."""
        return self.app or self.driver

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    @property
    def event_triggers(self) -> list[TriggerEvent]:
        return [t for t in self.triggers if isinstance(t, TriggerEvent)]

    @property
    def cron_triggers(self) -> list[TriggerCron]:
        return [t for t in self.triggers if isinstance(t, TriggerCron)]

    @property
    def display_name(self) -> str:
        return self.name or self.id


def check_retries(function_id: str, retries: Any) -> int:
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise FunctionDefinitionError(
            f"function {function_id!r}: retries must be an int from 0 to {MAX_RETRIES}, got {retries!r}")
    return retries


def _check_expression(function_id: str, what: str, source: str | None) -> None:
    """Compile now so a bad expression is refused when the function loads, not when an event comes."""
    if source is None:
        return
    try:
        compile_expression(source)
    except ExpressionError as exc:
        raise FunctionDefinitionError(f"function {function_id!r}: {what}: {exc}") from None


def check_triggers(function_id: str, trigger: TriggerSpec) -> tuple[Trigger, ...]:
    """Normalise ``trigger`` (a name, a record, or a list of either) and refuse invalid ones."""
    if trigger is None:
        return ()
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
    return tuple(out)


def check_cancel(function_id: str, cancel: Sequence[Cancel] | Cancel | None) -> tuple[Cancel, ...]:
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
        except (ValueError, ExpressionError) as exc:
            raise FunctionDefinitionError(f"function {function_id!r}: cancel match: {exc}") from None
        _check_expression(function_id, f"cancel expression for {rule.event!r}", source)
    return tuple(rules)


def cel_string(text: str) -> str:
    """``text`` as a CEL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def failure_trigger(function_id: str) -> TriggerEvent:
    """The trigger of a function's ``on_failure`` handler: the failed event of that function only."""
    return TriggerEvent(FAILED_EVENT, expression=f"event.data.function_id == {cel_string(function_id)}")
