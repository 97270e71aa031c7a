"""durable-tui's executor: durable step functions with Inngest's step semantics.

The public SDK and the embedding API are the names below; everything else is internal. Names are
imported on first use, so ``import executor`` (say, by a function file, or the console reading a
record type) does not pull in the store, the engine or hot reload until they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "executor.drivers.local.context": ("Context", "Signal", "Step"),
    "executor.drivers.local.function": ("Function", "create_function"),
    "executor.drivers.local.loader": ("LoadError", "LoadStatus", "load_paths"),
    "executor.drivers.local.reload": ("FunctionWatcher", "ReloadResult"),
    "executor.errors": ("DurableError", "ErrorInfo", "EventValidationError", "ExpressionError",
                        "FunctionDefinitionError", "NonRetriableError", "NotFoundError", "RetryAfterError",
                        "SignalNotFoundError", "StepError", "StepInputError"),
    "executor.executor": ("Executor",),
    "executor.feed": ("Change", "Subscription"),
    "executor.flowcontrol": ("Batch", "Concurrency", "Debounce", "Priority", "RateLimit", "Singleton", "Throttle",
                             "Timeouts"),
    "executor.records": ("RESERVED_PREFIX", "AppInfo", "ChangeKind", "Event", "Limits", "PendingWait", "Run", "RunStatus",
                         "StepState", "StepStatus"),
    "executor.specs": ("Cancel", "FunctionSpec", "TriggerCron", "TriggerEvent"),
    "executor.store": ("DURABILITIES", "Durability", "SchemaError"),
    "executor.util.backoff": ("Backoff",),
    "executor.util.clock": ("Clock", "RealClock", "VirtualClock"),
    "executor.util.durations": ("format_ms",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'executor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from executor.drivers.local.context import Context, Signal, Step
    from executor.drivers.local.function import Function, create_function
    from executor.drivers.local.loader import LoadError, LoadStatus, load_paths
    from executor.drivers.local.reload import FunctionWatcher, ReloadResult
    from executor.errors import (DurableError, ErrorInfo, EventValidationError, ExpressionError,
                                 FunctionDefinitionError, NonRetriableError, NotFoundError, RetryAfterError,
                                 SignalNotFoundError, StepError, StepInputError)
    from executor.executor import Executor
    from executor.feed import Change, Subscription
    from executor.flowcontrol import Batch, Concurrency, Debounce, Priority, RateLimit, Singleton, Throttle, Timeouts
    from executor.records import (RESERVED_PREFIX, AppInfo, ChangeKind, Event, Limits, PendingWait, Run, RunStatus,
                                  StepState, StepStatus)
    from executor.specs import Cancel, FunctionSpec, TriggerCron, TriggerEvent
    from executor.store import DURABILITIES, Durability, SchemaError
    from executor.util.backoff import Backoff
    from executor.util.clock import Clock, RealClock, VirtualClock
    from executor.util.durations import format_ms
