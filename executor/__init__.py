"""durable-tui's executor: durable step functions with Inngest's step semantics.

The public SDK is re-exported here; everything else is internal to the engine.
"""

from .clock import Clock, RealClock, VirtualClock
from .context import Context, Signal, Step
from .errors import (EventValidationError, FunctionDefinitionError, NonRetriableError, RetryAfterError,
                     SignalNotFoundError, StepError, StepInputError)
from .events import Event
from .executor import Executor
from .feed import Change, Subscription
from .expressions import ExpressionError
from .function import Cancel, Function, TriggerCron, TriggerEvent, create_function
from .limits import Limits
from .state import Run, RunStatus, StepState, StepStatus

__all__ = [
    "Cancel", "Change", "Clock", "Context", "Event", "EventValidationError", "Executor", "ExpressionError",
    "Function", "FunctionDefinitionError", "Limits", "NonRetriableError", "RealClock", "RetryAfterError", "Run",
    "RunStatus", "Signal", "SignalNotFoundError", "Step", "StepError", "StepInputError", "StepState",
    "StepStatus", "Subscription", "TriggerCron", "TriggerEvent", "VirtualClock", "create_function",
]
