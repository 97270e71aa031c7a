"""An app's flow-control options, from the camelCase register body to ``FlowControl`` records.

SDKs spell the options as Inngest's server reads them (``rateLimit``, ``batchEvents.maxSize``, a
``concurrency`` that is a number, an object or a list), and inngest-py sends every option, null
when unset. The records are checked like our own SDK's (``check_flow``), so a bad key expression or
a period below a second is refused at sync, naming the function. A key the executor does not know
(or a form it cannot enforce, such as Inngest's newer ``concurrency.fn`` run semaphores) still
syncs, and is listed on the function as not enforced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from executor.drivers.inngest import wire
from executor.errors import FunctionDefinitionError
from executor.flowcontrol import (Batch, Concurrency, Debounce, FlowControl, Priority, RateLimit, Singleton, Throttle,
                                  Timeouts, check_flow)

#: Option keys read here, lower-cased (Go decodes JSON keys case-insensitively).
FLOW_KEYS = frozenset({"concurrency", "throttle", "ratelimit", "debounce", "batchevents", "priority",
                       "idempotency", "singleton", "timeouts"})


def parse_flow(slug: str, options: Mapping[str, Any], *, has_cancel: bool) -> FlowControl:
    """The function's flow control from its synced ``options`` (every key that is not one of the
    spec's own fields)."""
    reader = _Reader(slug)
    not_enforced = sorted(str(k) for k, v in options.items() if v is not None and str(k).lower() not in FLOW_KEYS)
    concurrency = reader.concurrency(wire.field(options, "concurrency"), not_enforced)
    throttle = reader.object("throttle", options)
    rate = reader.object("rateLimit", options)
    debounce = reader.object("debounce", options)
    batch = reader.object("batchEvents", options)
    priority = reader.object("priority", options)
    singleton = reader.object("singleton", options)
    timeouts = reader.object("timeouts", options)
    return check_flow(
        slug, concurrency=concurrency, has_cancel=has_cancel, not_enforced=not_enforced,
        throttle=None if throttle is None else Throttle(
            limit=reader.get(throttle, "throttle", "limit"), period=reader.get(throttle, "throttle", "period"),
            burst=reader.get(throttle, "throttle", "burst", 0), key=reader.text(throttle, "throttle", "key")),
        rate_limit=None if rate is None else RateLimit(
            limit=reader.get(rate, "rateLimit", "limit"), period=reader.get(rate, "rateLimit", "period"),
            key=reader.text(rate, "rateLimit", "key")),
        debounce=None if debounce is None else Debounce(
            period=reader.get(debounce, "debounce", "period"), key=reader.text(debounce, "debounce", "key"),
            timeout=reader.get(debounce, "debounce", "timeout", None) or None),
        batch_events=None if batch is None else Batch(
            max_size=reader.get(batch, "batchEvents", "maxSize"), timeout=reader.get(batch, "batchEvents", "timeout"),
            key=reader.text(batch, "batchEvents", "key"), if_exp=reader.text(batch, "batchEvents", "if")),
        priority=None if priority is None else Priority(run=reader.text(priority, "priority", "run")),
        idempotency=reader.idempotency(wire.field(options, "idempotency")),
        singleton=None if singleton is None else Singleton(
            mode=reader.get(singleton, "singleton", "mode"), key=reader.text(singleton, "singleton", "key")),
        timeouts=None if timeouts is None else Timeouts(
            start=reader.get(timeouts, "timeouts", "start", None) or None,
            finish=reader.get(timeouts, "timeouts", "finish", None) or None),
    )


_REQUIRED = object()


class _Reader:
    def __init__(self, slug: str) -> None:
        self.slug = slug

    def fail(self, option: str, problem: str) -> FunctionDefinitionError:
        return FunctionDefinitionError(f"function {self.slug!r}: {option}: {problem}")

    def object(self, option: str, options: Mapping[str, Any]) -> Mapping[str, Any] | None:
        value = wire.field(options, option)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.fail(option, f"must be an object, not {wire.json_type(value)}")
        return value

    def get(self, raw: Mapping[str, Any], option: str, name: str, default: Any = _REQUIRED) -> Any:
        value = wire.field(raw, name)
        if value is None:
            if default is _REQUIRED:
                raise self.fail(option, f"'{name}' is required")
            return default
        return value

    def text(self, raw: Mapping[str, Any], option: str, name: str) -> str | None:
        """An optional expression; SDKs send an empty string for "none" as often as null."""
        value = wire.field(raw, name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail(option, f"'{name}' must be a string, not {wire.json_type(value)}")
        return value

    def idempotency(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail("idempotency", f"must be a CEL expression string, not {wire.json_type(value)}")
        return value

    def concurrency(self, value: Any, not_enforced: list[str]) -> list[Concurrency] | None:
        """A number, one object, a list, or Go's ``{"fn": [...], "step": [...]}`` form."""
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return [Concurrency(limit=int(value))] if value else None
        if isinstance(value, Mapping) and ("fn" in value or "step" in value):
            if value.get("fn"):
                not_enforced.append("concurrency.fn")
            value = value.get("step") or []
        items = [value] if isinstance(value, Mapping) else value
        if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
            raise self.fail("concurrency", f"must be a number, an object or an array of objects, got {value!r}")
        # A limit of 0 is Inngest's "no limit of its own" (the account's applies).
        return [Concurrency(limit=self.get(item, "concurrency", "limit"), key=self.text(item, "concurrency", "key"),
                            scope=self.text(item, "concurrency", "scope"))
                for item in items if wire.field(item, "limit") != 0] or None
