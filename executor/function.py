"""Function definitions: ``create_function``, triggers and per-function options."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import FunctionDefinitionError

if TYPE_CHECKING:
    from .context import Context

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


@dataclass
class Function:
    """A durable function: what ``create_function`` returns and the executor runs."""

    id: str
    handler: Handler
    triggers: list[TriggerEvent] = field(default_factory=list)
    name: str | None = None
    retries: int = 4
    checkpointing: bool = True
    optimize_parallelism: bool = False
    source_file: str | None = None
    version: str = ""

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
        }


TriggerSpec = str | TriggerEvent | Sequence[str | TriggerEvent] | None


def _normalise_triggers(function_id: str, trigger: TriggerSpec) -> list[TriggerEvent]:
    if trigger is None:
        return []
    items = [trigger] if isinstance(trigger, (str, TriggerEvent)) else list(trigger)
    out = []
    for item in items:
        if isinstance(item, str):
            item = TriggerEvent(event=item)
        if not isinstance(item, TriggerEvent):
            raise FunctionDefinitionError(
                f"function {function_id!r}: a trigger must be an event name or TriggerEvent, not {type(item).__name__}")
        if not item.event or not isinstance(item.event, str):
            raise FunctionDefinitionError(f"function {function_id!r}: a trigger needs a non-empty event name")
        out.append(item)
    return out


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
) -> Callable[[Handler], Function]:
    """Declare a durable function. ``trigger`` is an event name, a ``TriggerEvent``, or a list;
    a function with no trigger can still be invoked.

    ``retries`` counts retries after the first attempt (Inngest's meaning), per step.
    ``checkpointing=False`` selects strict replay: one new step per invocation.
    """
    if not isinstance(id, str) or not id.strip():
        raise FunctionDefinitionError("create_function needs a non-empty string id")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise FunctionDefinitionError(f"function {id!r}: retries must be an int from 0 to {MAX_RETRIES}, got {retries!r}")
    triggers = _normalise_triggers(id, trigger)

    def decorate(handler: Handler) -> Function:
        if not inspect.iscoroutinefunction(handler):
            raise FunctionDefinitionError(
                f"function {id!r}: the decorated handler must be 'async def' (it awaits its steps)")
        return Function(
            id=id, handler=handler, triggers=triggers, name=name, retries=retries,
            checkpointing=checkpointing, optimize_parallelism=optimize_parallelism,
            source_file=inspect.getsourcefile(handler), version=_source_version(handler),
        )

    return decorate
