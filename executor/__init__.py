"""durable-tui's executor: durable step functions with Inngest's step semantics.

The public SDK is re-exported here; everything else is internal to the engine.
"""

from executor.drivers.local.context import Context, Signal, Step
from executor.drivers.local.function import Cancel, Function, TriggerCron, TriggerEvent, create_function
from executor.engine.feed import Change, Subscription
from executor.errors import (
                             EventValidationError,
                             ExpressionError,
                             FunctionDefinitionError,
                             NonRetriableError,
                             RetryAfterError,
                             SignalNotFoundError,
                             StepError,
                             StepInputError,
)
from executor.executor import Executor
from executor.records import Event, Limits, Run, RunStatus, StepState, StepStatus
from executor.util.clock import Clock, RealClock, VirtualClock

__all__ = [
    "Cancel", "Change", "Clock", "Context", "Event", "EventValidationError", "Executor", "ExpressionError",
    "Function", "FunctionDefinitionError", "Limits", "NonRetriableError", "RealClock", "RetryAfterError", "Run",
    "RunStatus", "Signal", "SignalNotFoundError", "Step", "StepError", "StepInputError", "StepState",
    "StepStatus", "Subscription", "TriggerCron", "TriggerEvent", "VirtualClock", "create_function",
]
