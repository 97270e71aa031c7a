"""Our function files as an Inngest app describes them to a server: function ids, configs, the sync
body and the introspection reply, in the shapes inngest-py sends.

A function's id on the server is its *slug*, ``<app id>-<function id>`` (every Inngest SDK prefixes
the app id, so ids stay unique across the apps of one environment); ``slug``/``local_id`` map the two
both ways, and an ``on_failure`` handler, ``<id>-failure`` here, is ``<app>-<id>-failure`` there.

The config comes from ``Function.spec()`` — the same spec the local engine registers — so whatever
the engine knows of a function (triggers, cancel rules, retries, and the flow-control options kept
in ``spec.options``, already in Inngest's config shape) is what the server is told.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlencode

from executor.drivers.local.function import Function
from executor.flowcontrol import FlowControl
from executor.specs import DEFAULT_RETRIES, FAILED_EVENT, Cancel, FunctionSpec
from executor.util.durations import format_duration, parse_duration

try:
    VERSION = version("durable-tui")
except PackageNotFoundError:      # running from a source tree that was never installed
    VERSION = "0.0.0"

#: How the app names itself: ``x-inngest-sdk``/``user-agent`` (``inngest-<language>:v<version>``, the
#: form Go's executor parses) and the register body's ``sdk`` (``<language>:v<version>``).
LANGUAGE = "durable-tui"
SDK_HEADER = f"inngest-{LANGUAGE}:v{VERSION}"
SDK = f"{LANGUAGE}:v{VERSION}"
FRAMEWORK = "durable-tui"
#: The request version this SDK speaks (v2: hashed step ids, ``disable_immediate_execution``).
REQUEST_VERSION = "2"
SCHEMA_VERSION = "2024-05-24"
DEFAULT_SERVE_PATH = "/api/inngest"
STEP = "step"
#: No Connect (websocket) workers: only what this app really does.
CAPABILITIES = {"in_band_sync": "v1", "trust_probe": "v1"}


def slug(app_id: str, function_id: str) -> str:
    return f"{app_id}-{function_id}"


def local_id(app_id: str, fn_slug: str) -> str:
    """The function id in our files for a slug; a bare id (Inngest SDKs before 0.3) passes through."""
    return fn_slug.removeprefix(f"{app_id}-")


def function_url(app_url: str, fn_slug: str) -> str:
    return f"{app_url}?{urlencode({'fnId': fn_slug, 'stepId': STEP})}"


def function_configs(functions: Iterable[Function], app_id: str, app_url: str) -> list[dict[str, Any]]:
    """Each function's config, its ``on_failure`` handler's right after it (as inngest-py orders them)."""
    configs = []
    for fn in functions:
        configs.append(_config(fn.spec(), app_id, app_url))
        if fn.on_failure is not None:
            configs.append(_failure_config(fn, fn.on_failure.spec(), app_id, app_url))
    return configs


def register_body(functions: Iterable[Function], *, app_id: str, app_url: str,
                  app_version: str | None = None) -> dict[str, Any]:
    """The ``POST /fn/register`` body (inngest-py's keys: ``appname``, ``deploy_type``)."""
    body: dict[str, Any] = {
        "appname": app_id, "capabilities": dict(CAPABILITIES), "deploy_type": "ping", "framework": FRAMEWORK,
        "functions": function_configs(functions, app_id, app_url), "sdk": SDK, "url": app_url, "v": "0.1"}
    if app_version:
        body["appVersion"] = app_version
    return body


def _config(spec: FunctionSpec, app_id: str, app_url: str) -> dict[str, Any]:
    fn_slug = slug(app_id, spec.id)
    config: dict[str, Any] = {
        "id": fn_slug, "name": spec.display_name, "triggers": [t.to_dict() for t in spec.triggers],
        "steps": _steps(app_url, fn_slug, None if spec.retries == DEFAULT_RETRIES else spec.retries)}
    if spec.cancel:
        config["cancel"] = [_cancel(rule) for rule in spec.cancel]
    config.update(_options(spec.options))
    config.update(flow_config(spec.flow))
    return config


#: Our records' fields under the names Inngest's register body gives them.
_FLOW_KEYS = {"throttle": "throttle", "rate_limit": "rateLimit", "debounce": "debounce", "batch": "batchEvents",
              "priority": "priority", "singleton": "singleton", "timeouts": "timeouts"}
_FIELD_KEYS = {"max_size": "maxSize", "if_exp": "if"}


def flow_config(flow: FlowControl) -> dict[str, Any]:
    """Flow control as inngest-py syncs it: camelCase keys, durations as strings, unset fields left out."""
    out: dict[str, Any] = {}
    if flow.concurrency:
        out["concurrency"] = [_flow_record(c) for c in flow.concurrency]
    for name, key in _FLOW_KEYS.items():
        record = getattr(flow, name)
        if record is not None:
            out[key] = _flow_record(record)
    if flow.idempotency is not None:
        out["idempotency"] = flow.idempotency
    return out


def _flow_record(record: Any) -> dict[str, Any]:
    """One option's fields; a concurrency limit's default scope (``fn``) is left to the server, as
    inngest-py leaves it."""
    return {_FIELD_KEYS.get(name, name): format_duration(value) if name in _DURATIONS and isinstance(value, int)
            else value for name, value in vars(record).items()
            if value is not None and not (name == "scope" and value == "fn")}


_DURATIONS = frozenset({"period", "timeout", "start", "finish"})


def _failure_config(parent: Function, spec: FunctionSpec, app_id: str, app_url: str) -> dict[str, Any]:
    """``on_failure`` as its own function, triggered by ``inngest/function.failed`` of the parent's
    slug (the local trigger names the local id; the server's events carry slugs)."""
    parent_slug = slug(app_id, parent.id)
    return {
        "id": slug(app_id, spec.id), "name": spec.display_name, "cancel": [], "concurrency": [],
        "triggers": [{"event": FAILED_EVENT, "expression": f"event.data.function_id == '{parent_slug}'"}],
        "steps": _steps(app_url, slug(app_id, spec.id), spec.retries)}


def _steps(app_url: str, fn_slug: str, retries: int | None) -> dict[str, Any]:
    step: dict[str, Any] = {"id": STEP, "name": STEP, "runtime": {"type": "http", "url": function_url(app_url, fn_slug)}}
    if retries is not None:
        step["retries"] = {"attempts": retries}
    return {STEP: step}


def _cancel(rule: Cancel) -> dict[str, Any]:
    out: dict[str, Any] = {"event": rule.event}
    expression = rule.expression()
    if expression:
        out["if"] = expression
    if rule.timeout is not None:
        out["timeout"] = format_duration(parse_duration(rule.timeout))
    return out


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Flow control and the other function options, kept by the spec in Inngest's config shape;
    None values are left out, as inngest-py strips them before syncing."""
    return {key: value for key, value in options.items() if value is not None}


def inspection(*, function_count: int, mode: str, has_event_key: bool, has_signing_key: bool,
               has_signing_key_fallback: bool) -> dict[str, Any]:
    """What an unsigned ``GET`` of the app answers (inngest-py's unauthenticated inspection)."""
    return {"schema_version": SCHEMA_VERSION, "function_count": function_count, "has_event_key": has_event_key,
            "has_signing_key": has_signing_key, "has_signing_key_fallback": has_signing_key_fallback, "mode": mode}
