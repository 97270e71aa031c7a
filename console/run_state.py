"""Why a run is not moving, in words: the Runs view's state column and the run view's headline.

``run_state`` turns a run and what it is parked on (its pending wait, sleep or retry backoff) into
one short line, so every view says it the same way: "sleeping until 10:42:00", "waiting for
app/invoice.approved (data.invoiceId == "inv-7")" with the wait's condition bound to the run's own
values, "retry 2/4 in 12s: <error>", "Failed: <message>", "parked: function not loaded". New
states (flow control's queued, throttled or skipped runs and their reasons) belong here too: the
views only ever show what this returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from executor import Event, PendingWait, Run
from executor.expressions import ExpressionError, bind_event, compile_expression, match_to_expression

from .backend import FunctionInfo
from .widgets.format import clock_time, compact_json, countdown, flow_note, short_id


@dataclass(frozen=True)
class RunContext:
    """What the state of a run is read from besides the run itself."""

    wait: PendingWait | None = None             # what it is parked on, if anything
    function: FunctionInfo | None = None     # its function, if loaded
    functions_known: bool = False            # the loaded functions were read (else "not loaded" is unknown)
    trigger: Event | None = None             # its trigger event, to bind a wait's condition


def bound_condition(expression: str | None, trigger: Event | None) -> str:
    """A wait's ``match`` or ``if`` with the run's values in place of ``event.…``, as the executor
    evaluates it; a match path reads ``data.invoiceId == "inv-7"``. Unbindable: as written."""
    if not expression:
        return ""
    try:
        matched = match_to_expression(expression)
    except ExpressionError:
        matched = None
    try:
        bound = bind_event(matched or expression, trigger.to_dict() if trigger is not None else {})
        if matched is None:
            return bound
        equalities = compile_expression(bound).equalities("async")
    except ExpressionError:
        return expression
    if len(equalities) != 1:
        return bound
    [equality] = equalities
    return f"{'.'.join(str(p) for p in equality.path)} == {compact_json(equality.value, 80)}"


def wait_text(wait: PendingWait, now_ms: int, *, function: FunctionInfo | None = None,
              trigger: Event | None = None) -> str:
    """What the run waits for, and until when or why."""
    if wait.kind == "sleep":
        return f"sleeping until {clock_time(wait.deadline, now_ms)}"
    if wait.kind == "retry":
        limit = f"/{function.retries}" if function is not None and function.retries is not None else ""
        why = f": {error_text(wait.error)}" if wait.error else ""
        return f"retry {wait.attempt or 1}{limit} {countdown(wait.deadline, now_ms)}{why}"
    if wait.kind == "event":
        condition = bound_condition(wait.expression, trigger)
        return f"waiting for {wait.event}" + (f" ({condition})" if condition else "")
    if wait.kind == "signal":
        if wait.superseded:
            return (f"superseded: signal {wait.signal} now goes to another run; this wait ends at its timeout "
                    f"{clock_time(wait.deadline, now_ms)} or with f")
        return f"waiting for signal {wait.signal}"
    if wait.kind == "invoke":
        child = f" {short_id(wait.child_run_id)}" if wait.child_run_id else ""
        return f"waiting for invoked run{child}"
    return f"waiting ({wait.kind})"


def error_text(error: Mapping[str, Any] | None) -> str:
    if not error:
        return ""
    message = str(error.get("message") or "")
    name = str(error.get("name") or "")
    return f"{name}: {message}" if name and name != "Error" and not message.startswith(name) else message or name


def run_state(run: Run, context: RunContext, now_ms: int) -> Text:
    """One line saying what the run is doing, or how it ended."""
    held = flow_note(run)          # flow control: skipped, or why it waits (debounce, batch, limits)
    if held and getattr(run, "skip_reason", None):
        return Text(held, style="yellow")
    if run.status == "Failed":
        return Text(f"Failed: {error_text(run.error) or 'no error recorded'}", style="red")
    if run.status == "Cancelled":
        return Text("cancelled", style="yellow")
    if run.status == "Completed":
        return Text(f"→ {compact_json(run.output, 120)}", style="dim")
    missing = context.functions_known and context.function is None
    if context.wait is not None:
        style = "yellow" if context.wait.kind == "retry" or context.wait.superseded or missing else ""
        text = wait_text(context.wait, now_ms, function=context.function, trigger=context.trigger)
        return Text(text + (f" · function {run.function_id} not loaded" if missing else ""), style=style)
    if held:
        return Text(held, style="yellow")
    if missing:
        return Text(f"parked: function {run.function_id} not loaded", style="yellow")
    if run.status == "Queued":
        return Text("queued", style="dim")
    return Text(f"running {run.current_step}" if run.current_step else "running")


def pick_wait(waits: list[PendingWait]) -> PendingWait | None:
    """The one wait to name for a run parked on several (parallel sleeps, say): a retry first (it
    is what goes wrong), then the soonest deadline."""
    if not waits:
        return None
    return min(waits, key=lambda w: (w.kind != "retry", w.deadline if w.deadline is not None else 2**62))
