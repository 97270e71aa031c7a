"""The conformance suite's ``inngest-sdk`` driver: each of our ``Function`` objects translated into an
``inngest.Function`` (inngest-py 0.5.19) whose handler calls ours through ``tests.sdk_context``,
served by inngest-py's own FastAPI adapter and run by our server through its HTTP driver.

This checks our server against a real Inngest SDK with the suite's own functions, rather than
hand-written twins: options go over as inngest-py's records (triggers with their expressions, cron,
retries, cancel rules, on_failure, and every flow-control option), steps as inngest-py's calls.

What inngest-py cannot express raises ``CannotExpress`` naming it: at translation for an option or
a step method the function's code names (found in its bytecode), otherwise when the function gets
there (the run then fails at once). ``SDKTwin.cannot`` keeps every such reason, so the conformance
fixture can turn the test into a skip that says why, never a silent pass.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import inngest

from executor import Cancel, TriggerCron, TriggerEvent
from executor.drivers.local.function import Function
from executor.flowcontrol import FlowControl
from executor.util.clock import Clock
from executor.util.durations import parse_duration
from tests.sdk_context import UNEXPRESSIBLE_STEPS, CannotExpress, sdk_handler

def _ms(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(milliseconds=value)


def _names(code: types.CodeType) -> Iterator[str]:
    """Every attribute and global name a function's code (and the code nested in it) uses."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def _triggers(fn: Function) -> list[inngest.TriggerEvent | inngest.TriggerCron]:
    out: list[inngest.TriggerEvent | inngest.TriggerCron] = []
    for t in fn.triggers:
        if isinstance(t, TriggerCron):
            out.append(inngest.TriggerCron(cron=t.cron))
        else:
            assert isinstance(t, TriggerEvent)
            out.append(inngest.TriggerEvent(event=t.event, expression=t.expression))
    return out


def _cancel(rule: Cancel) -> inngest.Cancel:
    timeout = None if rule.timeout is None else timedelta(milliseconds=parse_duration(rule.timeout))
    return inngest.Cancel(event=rule.event, if_exp=rule.expression(), timeout=timeout)


def _flow(flow: FlowControl) -> dict[str, Any]:
    """Our checked flow control as inngest-py's ``create_function`` keywords (durations are ms ints)."""
    out: dict[str, Any] = {}
    if flow.concurrency:
        out["concurrency"] = [inngest.Concurrency(limit=c.limit, key=c.key, scope=c.scope) for c in flow.concurrency]
    if flow.throttle is not None:
        t = flow.throttle
        out["throttle"] = inngest.Throttle(limit=t.limit, period=_ms(t.period), burst=t.burst, key=t.key)
    if flow.rate_limit is not None:
        r = flow.rate_limit
        out["rate_limit"] = inngest.RateLimit(limit=r.limit, period=_ms(r.period), key=r.key)
    if flow.debounce is not None:
        d = flow.debounce
        out["debounce"] = inngest.Debounce(period=_ms(d.period), key=d.key, timeout=_ms(d.timeout))
    if flow.batch is not None:
        b = flow.batch
        out["batch_events"] = inngest.Batch(max_size=b.max_size, timeout=_ms(b.timeout), key=b.key, if_exp=b.if_exp)
    if flow.priority is not None and flow.priority.run is not None:
        out["priority"] = inngest.Priority(run=flow.priority.run)
    if flow.idempotency is not None:
        out["idempotency"] = flow.idempotency
    if flow.singleton is not None:
        out["singleton"] = inngest.Singleton(mode=flow.singleton.mode, key=flow.singleton.key)
    if flow.timeouts is not None:
        out["timeouts"] = inngest.Timeouts(start=_ms(flow.timeouts.start), finish=_ms(flow.timeouts.finish))
    if flow.not_enforced:
        raise CannotExpress(f"options kept but not enforced: {', '.join(flow.not_enforced)}")
    return out


class SDKTwin:
    """Our functions as one inngest-py app (``client``), and the reasons any could not be expressed."""

    def __init__(self, client: inngest.Inngest, clock: Clock) -> None:
        self.client = client
        self.clock = clock
        self.cannot: list[str] = []

    def _cannot(self, why: str) -> CannotExpress:
        self.cannot.append(why)
        return CannotExpress(why)

    def translate(self, functions: list[Function]) -> list[inngest.Function[Any]]:
        """inngest-py functions for ours; ``CannotExpress`` (noted) for the first that cannot be."""
        return [self._one(fn) for fn in functions]

    def _one(self, fn: Function) -> inngest.Function[Any]:
        for member in fn.members():
            names = set(_names(member.handler.__code__))
            for name, why in UNEXPRESSIBLE_STEPS.items():
                if name in names:
                    raise self._cannot(f"function {fn.id!r} calls {why}")
        try:
            flow = _flow(fn.flow)
        except CannotExpress as exc:
            raise self._cannot(f"function {fn.id!r}: {exc.why}") from None
        on_failure = None if fn.on_failure is None else sdk_handler(fn.on_failure, self.clock, self._cannot)
        decorate = self.client.create_function(
            fn_id=fn.id, name=fn.name, trigger=_triggers(fn), retries=fn.retries,
            cancel=[_cancel(rule) for rule in fn.cancel] or None, on_failure=on_failure, **flow)
        return decorate(sdk_handler(fn, self.clock, self._cannot))


def sdk_client(app_id: str, server_url: str) -> inngest.Inngest:
    """An inngest-py client in dev mode whose API and event API are our server; functions log where
    ours do (``durable_tui.functions``)."""
    return inngest.Inngest(app_id=app_id, is_production=False, api_base_url=server_url,
                           event_api_base_url=server_url, logger=logging.getLogger("durable_tui.functions.sdk"))
