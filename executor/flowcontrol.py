"""Flow-control options of a function: concurrency, throttle, rate limit, debounce, batching,
priority, idempotency, singleton and timeouts, as records of the public SDK.

The names and fields are inngest-py's (``Concurrency(limit, key, scope)``, ``Batch(max_size, timeout,
key, if_exp)``…), so a function moves between the two SDKs unchanged; an app synced over Inngest's
protocol arrives as the same records (``drivers.inngest.sync`` parses the camelCase register body).
``check_flow`` refuses a bad option when the function is declared or synced, naming the function,
and normalises what it keeps: every duration becomes an int of milliseconds, every key a CEL
expression that compiled, so the engine never parses an option again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from executor.errors import ExpressionError, FunctionDefinitionError
from executor.expressions import compile_expression
from executor.util.durations import format_ms, parse_duration

Duration = str | int | timedelta
#: Inngest's limits on the options (Go's ``consts`` and ``Function.Validate``).
MAX_CONCURRENCY_LIMITS = 2
MIN_PERIOD_MS = 1000
MAX_DEBOUNCE_MS = 7 * 24 * 3600 * 1000
MAX_RATE_LIMIT_PERIOD_MS = 24 * 3600 * 1000
MAX_THROTTLE_PERIOD_MS = 7 * 24 * 3600 * 1000
#: Priority factors are seconds; the documented default range.
PRIORITY_RANGE_S = 600
SCOPES = ("fn", "env", "account")
SINGLETON_MODES = ("skip", "cancel")


@dataclass(frozen=True)
class Concurrency:
    """At most ``limit`` steps of this function execute at once — per value of ``key`` when given.
    ``scope`` "env" (or "account", the same thing in one executor) shares the count with every
    function whose limit has the same scope and key value. Runs that sleep or wait hold no slot."""

    limit: int
    key: str | None = None
    scope: Literal["fn", "env", "account"] | None = None


@dataclass(frozen=True)
class Throttle:
    """Run starts spaced evenly, one per ``period / limit`` (per ``key``; GCRA), after up to
    ``limit + burst`` at once — as Inngest counts them (its docs: limit 2, burst 1 starts three at
    once). Runs over the limit wait in the queue: none is dropped. ``burst`` defaults to
    inngest-py's 1; ``None`` or 0 is none on top of ``limit``."""

    limit: int
    period: Duration
    burst: int | None = 1
    key: str | None = None


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` runs per ``period`` (per ``key``); the others are skipped, and recorded as
    skipped runs."""

    limit: int
    period: Duration
    key: str | None = None


@dataclass(frozen=True)
class Debounce:
    """Start one run ``period`` after the last matching event (per ``key``), with that event;
    ``timeout`` caps how long events can keep pushing the start back."""

    period: Duration
    key: str | None = None
    timeout: Duration | None = None


@dataclass(frozen=True)
class Batch:
    """One run receives up to ``max_size`` events (per ``key``; only events where ``if_exp`` holds,
    the others run alone), started when full or ``timeout`` after the first; ``ctx.events`` holds them."""

    max_size: int
    timeout: Duration
    key: str | None = None
    if_exp: str | None = None


@dataclass(frozen=True)
class Priority:
    """``run``: CEL over the event giving seconds (−600…600): a positive value moves the run ahead
    of queued runs up to that much older; a negative one delays its start by that much."""

    run: str | None = None


@dataclass(frozen=True)
class Singleton:
    """One run per ``key`` at a time: ``mode="skip"`` skips a new run while one is unfinished,
    ``"cancel"`` cancels the unfinished one and starts the new one."""

    mode: Literal["skip", "cancel"]
    key: str | None = None


@dataclass(frozen=True)
class Timeouts:
    """``start``: cancel a run not started within it of being queued; ``finish``: cancel a run not
    finished within it of its start."""

    start: Duration | None = None
    finish: Duration | None = None


@dataclass(frozen=True)
class FlowControl:
    """A function's flow control, checked (``check_flow``). Durations are ms ints. ``not_enforced``
    names options a synced app declared that this executor keeps but does not act on."""

    concurrency: tuple[Concurrency, ...] = ()
    throttle: Throttle | None = None
    rate_limit: RateLimit | None = None
    debounce: Debounce | None = None
    batch: Batch | None = None
    priority: Priority | None = None
    idempotency: str | None = None
    singleton: Singleton | None = None
    timeouts: Timeouts | None = None
    not_enforced: tuple[str, ...] = field(default=())

    @property
    def active(self) -> bool:
        return any((self.concurrency, self.throttle, self.rate_limit, self.debounce, self.batch, self.priority,
                    self.idempotency, self.singleton, self.timeouts))

    @property
    def gates_start(self) -> bool:
        """Whether a run's start needs a transaction of its own (closing a debounce or batch, a
        throttle's state, timeout timers)."""
        return any((self.throttle, self.debounce, self.batch, self.timeouts))

    def to_dict(self) -> dict[str, Any]:
        """Settings as the API and console show them (durations in their short form)."""
        out: dict[str, Any] = {}
        if self.concurrency:
            out["concurrency"] = [_shown(c) for c in self.concurrency]
        for name in ("throttle", "rate_limit", "debounce", "batch", "priority", "singleton", "timeouts"):
            value = getattr(self, name)
            if value is not None:
                out[name] = _shown(value)
        if self.idempotency is not None:
            out["idempotency"] = self.idempotency
        if self.not_enforced:
            out["not_enforced"] = list(self.not_enforced)
        return out


_DURATION_FIELDS = frozenset({"period", "timeout", "start", "finish"})


def _shown(record: Any) -> dict[str, Any]:
    return {name: format_ms(value) if name in _DURATION_FIELDS and isinstance(value, int) else value
            for name, value in vars(record).items() if value is not None}


# ---- checks -------------------------------------------------------------------------------------

class _Checker:
    """Checks one function's options; every message names the function and the option."""

    def __init__(self, function_id: str) -> None:
        self.function_id = function_id

    def fail(self, what: str, problem: str) -> FunctionDefinitionError:
        return FunctionDefinitionError(f"function {self.function_id!r}: {what}: {problem}")

    def record(self, what: str, value: Any, kind: type) -> Any:
        if not isinstance(value, kind):
            raise self.fail(what, f"takes a {kind.__name__}(...) record, not {type(value).__name__}")
        return value

    def count(self, what: str, value: Any, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(what, f"must be an int of at least {minimum}, got {value!r}")
        return value

    def duration(self, what: str, value: Any, maximum: int | None = None) -> int:
        try:
            ms = parse_duration(value)
        except ValueError as exc:
            raise self.fail(what, str(exc)) from None
        if ms < MIN_PERIOD_MS:
            raise self.fail(what, f"{value!r} is below the minimum of 1s")
        if maximum is not None and ms > maximum:
            raise self.fail(what, f"{value!r} is above the maximum of {format_ms(maximum)}")
        return ms

    def expression(self, what: str, source: Any) -> str | None:
        """A CEL expression over ``event``, compiled now so a bad one never waits for an event."""
        if source is None:
            return None
        if not isinstance(source, str) or not source.strip():
            raise self.fail(what, f"must be a non-empty CEL expression string, got {source!r}")
        try:
            compiled = compile_expression(source)
        except ExpressionError as exc:
            raise self.fail(what, str(exc)) from None
        unknown = sorted(compiled.variables - {"event"})
        if unknown:
            raise self.fail(what, f"{source!r} reads {', '.join(unknown)}; flow-control expressions see only 'event'")
        return source


def _concurrency(c: _Checker, value: Any) -> tuple[Concurrency, ...]:
    if value is None:
        return ()
    items = [Concurrency(limit=value)] if isinstance(value, int) and not isinstance(value, bool) else (
        [value] if isinstance(value, Concurrency) else list(value) if isinstance(value, (list, tuple)) else [value])
    if len(items) > MAX_CONCURRENCY_LIMITS:
        raise c.fail("concurrency", f"at most {MAX_CONCURRENCY_LIMITS} limits are allowed, got {len(items)}")
    out = []
    for item in items:
        item = c.record("concurrency", item, Concurrency)
        scope = item.scope or "fn"
        if scope not in SCOPES:
            raise c.fail("concurrency", f"unknown scope {item.scope!r}; use one of {', '.join(SCOPES)}")
        if scope != "fn" and item.key is None:
            raise c.fail("concurrency", f"a limit with scope {scope!r} needs a key")
        out.append(Concurrency(limit=c.count("concurrency limit", item.limit, 1), scope=scope,
                               key=c.expression("concurrency key", item.key)))
    return tuple(out)


def _throttle(c: _Checker, value: Any) -> Throttle | None:
    if value is None:
        return None
    t = c.record("throttle", value, Throttle)
    burst = 0 if t.burst is None else c.count("throttle burst", t.burst, 0)
    return Throttle(limit=c.count("throttle limit", t.limit, 1), burst=burst,
                    period=c.duration("throttle period", t.period, MAX_THROTTLE_PERIOD_MS),
                    key=c.expression("throttle key", t.key))


def _rate_limit(c: _Checker, value: Any) -> RateLimit | None:
    if value is None:
        return None
    r = c.record("rate_limit", value, RateLimit)
    return RateLimit(limit=c.count("rate_limit limit", r.limit, 1),
                     period=c.duration("rate_limit period", r.period, MAX_RATE_LIMIT_PERIOD_MS),
                     key=c.expression("rate_limit key", r.key))


def _debounce(c: _Checker, value: Any) -> Debounce | None:
    if value is None:
        return None
    d = c.record("debounce", value, Debounce)
    timeout = None if d.timeout is None else c.duration("debounce timeout", d.timeout, MAX_DEBOUNCE_MS)
    return Debounce(period=c.duration("debounce period", d.period, MAX_DEBOUNCE_MS), timeout=timeout,
                    key=c.expression("debounce key", d.key or None))


def _batch(c: _Checker, value: Any) -> Batch | None:
    if value is None:
        return None
    b = c.record("batch_events", value, Batch)
    return Batch(max_size=c.count("batch_events max_size", b.max_size, 2),
                 timeout=c.duration("batch_events timeout", b.timeout),
                 key=c.expression("batch_events key", b.key), if_exp=c.expression("batch_events if", b.if_exp))


def _singleton(c: _Checker, value: Any) -> Singleton | None:
    if value is None:
        return None
    s = c.record("singleton", value, Singleton)
    if s.mode not in SINGLETON_MODES:
        raise c.fail("singleton", f"mode must be 'skip' or 'cancel', got {s.mode!r}")
    return Singleton(mode=s.mode, key=c.expression("singleton key", s.key))


def _timeouts(c: _Checker, value: Any) -> Timeouts | None:
    if value is None:
        return None
    t = c.record("timeouts", value, Timeouts)
    if t.start is None and t.finish is None:
        return None
    return Timeouts(start=None if t.start is None else c.duration("timeouts start", t.start),
                    finish=None if t.finish is None else c.duration("timeouts finish", t.finish))


def check_flow(function_id: str, *, concurrency: int | Concurrency | Sequence[Concurrency] | None = None,
               throttle: Throttle | None = None, rate_limit: RateLimit | None = None,
               debounce: Debounce | None = None, batch_events: Batch | None = None,
               priority: Priority | None = None, idempotency: str | None = None,
               singleton: Singleton | None = None, timeouts: Timeouts | None = None,
               has_cancel: bool = False, not_enforced: Sequence[str] = ()) -> FlowControl:
    """Check and normalise a function's options; ``FunctionDefinitionError`` names the function
    and the option. Combinations Inngest refuses are refused too (a batch collects many events, so
    it cannot be debounced, cancelled by one of them, prioritised by one, or be a singleton)."""
    c = _Checker(function_id)
    prio = None
    if priority is not None:
        prio = c.record("priority", priority, Priority)
        prio = Priority(run=c.expression("priority run", prio.run)) if prio.run else None
    flow = FlowControl(
        concurrency=_concurrency(c, concurrency), throttle=_throttle(c, throttle),
        rate_limit=_rate_limit(c, rate_limit), debounce=_debounce(c, debounce), batch=_batch(c, batch_events),
        priority=prio, idempotency=c.expression("idempotency", idempotency), singleton=_singleton(c, singleton),
        timeouts=_timeouts(c, timeouts), not_enforced=tuple(not_enforced))
    if flow.batch is not None:
        clashes = [name for name, present in (("cancel", has_cancel), ("debounce", flow.debounce),
                                              ("singleton", flow.singleton), ("priority", flow.priority))
                   if present]
        if clashes:
            raise c.fail("batch_events", f"cannot be combined with {' or '.join(clashes)} (as on Inngest)")
    return flow
