"""durable-tui's executor: durable step functions with Inngest's step semantics.

The public SDK is re-exported here; everything else is internal to the engine.
"""

from .clock import Clock, RealClock, VirtualClock
from .context import Context, Step
from .errors import (EventValidationError, FunctionDefinitionError, NonRetriableError, RetryAfterError,
                     StepError, StepInputError)
from .events import Event
from .executor import Executor
from .feed import Change, Subscription
from .function import Function, TriggerEvent, create_function
from .limits import Limits
from .state import Run, RunStatus, StepState, StepStatus

__all__ = [
    "Change", "Clock", "Context", "Event", "EventValidationError", "Executor", "Function",
    "FunctionDefinitionError", "Limits", "NonRetriableError", "RealClock", "RetryAfterError", "Run",
    "RunStatus", "Step", "StepError", "StepInputError", "StepState", "StepStatus", "Subscription",
    "TriggerEvent", "VirtualClock", "create_function",
]
