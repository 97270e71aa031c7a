"""CEL expressions with Inngest's rules (``cel``), binding a run's trigger into a wait's expression
(``binding``) and the pending-wait index (``index``)."""

from executor.errors import ExpressionError

from .binding import bind_event, match_to_expression
from .budget import PreparedVariables, prepare_variables
from .cel import (
                  MAX_DEPTH,
                  MAX_LENGTH,
                  CompiledExpression,
                  Computed,
                  Equality,
                  Verdict,
                  compile_expression,
)

__all__ = ["ExpressionError", "MAX_DEPTH", "MAX_LENGTH", "CompiledExpression", "Computed", "Equality", "PreparedVariables", "Verdict", "bind_event",
           "compile_expression", "match_to_expression", "prepare_variables"]
