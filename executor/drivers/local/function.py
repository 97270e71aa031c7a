"""Function definitions of our Python SDK: ``create_function`` and the ``Function`` it returns.

A ``Function`` is a handler plus its options; ``spec()`` is what the engine registers (it never sees
the handler). ``on_failure`` becomes a second function, ``<id>-failure``, triggered by
``inngest/function.failed`` for this function only — the same shape Inngest's SDKs sync.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from executor.errors import FunctionDefinitionError
from executor.flowcontrol import (Batch, Concurrency, Debounce, FlowControl, Priority, RateLimit, Singleton, Throttle,
                                  Timeouts, check_flow)
from executor.specs import (DEFAULT_RETRIES, Cancel, FunctionSpec, Trigger, TriggerSpec, check_cancel, check_retries,
                            check_triggers, failure_trigger)

#: ``async def handler(ctx: Context)``: a ``Context`` (``drivers.local.context``) comes in.
Handler = Callable[..., Awaitable[Any]]
#: The driver name our SDK's functions are registered under.
LOCAL = "local"


@dataclass
class Function:
    """A durable function: what ``create_function`` returns and the local driver runs."""

    id: str
    handler: Handler
    triggers: list[Trigger] = field(default_factory=list)
    name: str | None = None
    retries: int = DEFAULT_RETRIES
    checkpointing: bool = True
    optimize_parallelism: bool = False
    source_file: str | None = None
    version: str = ""
    cancel: list[Cancel] = field(default_factory=list)
    on_failure: "Function | None" = None
    flow: FlowControl = field(default_factory=FlowControl)

    @property
    def display_name(self) -> str:
        return self.name or self.id

    @property
    def mode(self) -> str:
        return "checkpointing" if self.checkpointing else "replay"

    def spec(self) -> FunctionSpec:
        return FunctionSpec(id=self.id, driver=LOCAL, name=self.name, triggers=tuple(self.triggers),
                            cancel=tuple(self.cancel), retries=self.retries, version=self.version,
                            source=self.source_file, mode=self.mode, flow=self.flow)

    def members(self) -> list["Function"]:
        """This function and its ``on_failure`` handler, which is registered alongside it."""
        return [self] if self.on_failure is None else [self, self.on_failure]

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.display_name, "triggers": [t.to_dict() for t in self.triggers],
            "retries": self.retries, "mode": self.mode, "optimize_parallelism": self.optimize_parallelism,
            "source_file": self.source_file, "version": self.version,
            "cancel": [c.to_dict() for c in self.cancel],
            "on_failure": self.on_failure.id if self.on_failure else None,
            "flow_control": self.flow.to_dict(),
        }


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
    retries: int = DEFAULT_RETRIES,
    checkpointing: bool = True,
    optimize_parallelism: bool = False,
    name: str | None = None,
    cancel: Sequence[Cancel] | Cancel | None = None,
    on_failure: Handler | None = None,
    concurrency: int | Concurrency | Sequence[Concurrency] | None = None,
    throttle: Throttle | None = None,
    rate_limit: RateLimit | None = None,
    debounce: Debounce | None = None,
    batch_events: Batch | None = None,
    priority: Priority | None = None,
    idempotency: str | None = None,
    singleton: Singleton | None = None,
    timeouts: Timeouts | None = None,
) -> Callable[[Handler], Function]:
    """Declare a durable function. ``trigger`` is an event name, a ``TriggerEvent``, or a list;
    a function with no trigger can still be invoked.

    ``retries`` counts retries after the first attempt (Inngest's meaning), per step.
    ``checkpointing=False`` selects strict replay: one new step per invocation;
    ``optimize_parallelism`` only changes strict replay (checkpointing never re-invokes per step).
    ``cancel`` rules cancel a run when a later matching event arrives. ``on_failure`` runs as its
    own function (id ``<id>-failure``) on ``inngest/function.failed`` when a run of this one fails
    after its retries; its ``ctx.event.data`` holds ``function_id``, ``run_id``, ``error``, ``event``.

    Flow control (``executor.flowcontrol``, Inngest's options with inngest-py's names): ``concurrency``
    bounds steps executing at once, ``throttle`` run starts per period, ``rate_limit`` skips runs over
    a rate, ``debounce`` and ``batch_events`` fold bursts of events into one run, ``priority`` orders
    queued runs, ``idempotency`` (CEL over the event) starts one run per key value a day,
    ``singleton`` keeps one run per key at a time, ``timeouts`` cancels runs that wait or last too long.
    """
    if not isinstance(id, str) or not id.strip():
        raise FunctionDefinitionError("create_function needs a non-empty string id")
    check_retries(id, retries)
    triggers = list(check_triggers(id, trigger))
    cancel_rules = list(check_cancel(id, cancel))
    flow = check_flow(id, concurrency=concurrency, throttle=throttle, rate_limit=rate_limit, debounce=debounce,
                      batch_events=batch_events, priority=priority, idempotency=idempotency, singleton=singleton,
                      timeouts=timeouts, has_cancel=bool(cancel_rules))
    if on_failure is not None and not inspect.iscoroutinefunction(on_failure):
        raise FunctionDefinitionError(f"function {id!r}: on_failure must be an 'async def' function")

    def decorate(handler: Handler) -> Function:
        if not inspect.iscoroutinefunction(handler):
            raise FunctionDefinitionError(
                f"function {id!r}: the decorated handler must be 'async def' (it awaits its steps)")
        failure = None
        if on_failure is not None:
            failure = Function(
                id=f"{id}-failure", handler=on_failure, name=f"{name or id} (failure)", retries=retries,
                triggers=[failure_trigger(id)], source_file=inspect.getsourcefile(on_failure),
                version=_source_version(on_failure))
        return Function(
            id=id, handler=handler, triggers=triggers, name=name, retries=retries,
            checkpointing=checkpointing, optimize_parallelism=optimize_parallelism,
            source_file=inspect.getsourcefile(handler), version=_source_version(handler),
            cancel=cancel_rules, on_failure=failure, flow=flow,
        )

    return decorate
