"""An app's sync: the register body an SDK POSTs to ``/fn/register`` as function specs.

Every SDK describes itself the same way (inngest-py sends ``appname``, the TypeScript SDK
``appName``; Go's server decodes JSON keys case-insensitively, preferring an exact match, and so do
we). Each function becomes a ``FunctionSpec`` run by the app (``driver`` is the app's name), with its
triggers, cancel rules and retries checked the way our own SDK's are — a bad expression or cron is
refused at sync, naming the function. Every other option is kept as given in ``options``; the
flow-control ones (concurrency, throttle, rateLimit, debounce, batchEvents, priority, idempotency,
singleton, timeouts) are also parsed into ``FunctionSpec.flow`` and checked (``syncflow``), and a
key we do not know yet is listed there as not enforced rather than refused, so an app written for
Inngest syncs.

``retries`` is a retry count (``steps.step.retries.attempts``; a function-level ``retries`` is
accepted as Go's shorthand): 4 when absent, at most 20.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from executor.drivers.inngest import wire
from executor.drivers.inngest.canonical import canonical_json
from executor.drivers.inngest.syncflow import parse_flow
from executor.drivers.inngest.wire import field
from executor.errors import FunctionDefinitionError
from executor.specs import (DEFAULT_RETRIES, MAX_RETRIES, Cancel, FunctionSpec, Trigger, TriggerCron, TriggerEvent,
                            check_cancel, check_triggers)
from executor.util.durations import parse_duration

MODE = "sdk"
#: The driver every synced app's functions run through.
DRIVER = "inngest"
MAX_TRIGGERS = 10
MAX_CANCELS = 5
_MAX_JITTER_MS = 5 * 60 * 1000
#: Function keys that become the spec's own fields; every other key is an option kept as given.
_SPEC_KEYS = frozenset({"id", "name", "triggers", "cancel", "steps", "retries"})
#: Keys that do not change what the app is (Go leaves them out of its checksum too).
_UNCHECKED_KEYS = frozenset({"featureobservations", "deployid"})


class SyncError(FunctionDefinitionError):
    """An app could not be synced: unreachable, refused, or it describes invalid functions."""


@dataclass(frozen=True)
class SyncedFunction:
    spec: FunctionSpec
    url: str                          # where the executor POSTs (the registered ``?fnId=…&stepId=step`` URL)
    config: Mapping[str, Any]         # the function exactly as the SDK described it (for a config view)
    fn_uuid: str                      # a stable UUID for ``ctx.fn_id``


@dataclass(frozen=True)
class AppSync:
    """One app as it described itself. ``checksum`` changes exactly when the description does, so
    a resync of an unchanged app can answer ``modified: false`` and touch nothing."""

    app_name: str
    url: str
    sdk: str                          # "py:v0.5.19", "js:v4.24.0"
    framework: str | None
    deploy_id: str | None
    capabilities: Mapping[str, str]
    app_version: str | None
    env: str | None
    functions: tuple[SyncedFunction, ...]
    checksum: str

    @property
    def app_id(self) -> str:
        return app_uuid(self.app_name)

    @property
    def specs(self) -> list[FunctionSpec]:
        return [f.spec for f in self.functions]

    @property
    def sdk_language(self) -> str:
        return split_sdk(self.sdk)[0]

    @property
    def sdk_version(self) -> str:
        return split_sdk(self.sdk)[1]


def app_uuid(app_name: str) -> str:
    """Go's ``DeterministicAppUUID``: UUIDv5 of the app name in the OID namespace."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, app_name))


def split_sdk(sdk: str) -> tuple[str, str]:
    """("py", "v0.5.19") from "py:v0.5.19" or the header form "inngest-py:v0.5.19"."""
    language, _, version = sdk.partition(":")
    return language.removeprefix("inngest-"), version


def parse_register_body(body: Any, headers: Mapping[str, str] | None = None, *,
                        deploy_id: str | None = None) -> AppSync:
    """Read a ``POST /fn/register`` body (``deploy_id`` from its ``?deployId=`` query). Raises
    ``SyncError`` naming the app and every invalid function at once."""
    h = wire.lower_headers(headers)
    if not isinstance(body, Mapping):
        raise SyncError(f"app sync: the register body must be a JSON object, not {wire.json_type(body)}")
    app_name = field(body, "appName")
    if not isinstance(app_name, str) or not app_name.strip():
        raise SyncError("App ID required: the register body has no appName (the SDK client's app id)")
    url = field(body, "url")
    where = f"app {app_name!r}"
    if not isinstance(url, str) or not _http_url(url):
        raise SyncError(f"{where}: the register body needs the app's http(s) URL in 'url', got {url!r}")
    raw_functions = field(body, "functions")
    if raw_functions is None:
        raw_functions = []
    if not isinstance(raw_functions, list):
        raise SyncError(f"{where}: 'functions' must be an array, not {wire.json_type(raw_functions)}")
    functions: list[SyncedFunction] = []
    problems: list[str] = []
    for position, raw in enumerate(raw_functions):
        try:
            functions.append(_function(raw, app_name, position))
        except FunctionDefinitionError as exc:
            problems.append(str(exc))
    seen: set[str] = set()
    for fn in functions:
        if fn.spec.id in seen:
            problems.append(f"function {fn.spec.id!r} is described twice")
        seen.add(fn.spec.id)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise SyncError(f"{where} ({url}) was not synced, {count}: " + "; ".join(problems))
    sdk = _text(field(body, "sdk")) or split_sdk_header(h.get(wire.SDK, ""))
    capabilities = field(body, "capabilities")
    return AppSync(
        app_name=app_name, url=url, sdk=sdk,
        framework=_text(field(body, "framework")) or h.get(wire.FRAMEWORK) or None,
        deploy_id=deploy_id or _text(field(body, "deployId")) or None,
        capabilities={k: v for k, v in capabilities.items() if isinstance(v, str)}
        if isinstance(capabilities, Mapping) else {},
        app_version=_text(field(body, "appVersion")) or None,
        env=h.get(wire.ENV) or None,
        functions=tuple(functions),
        checksum=hashlib.sha256(canonical_json(
            {k: v for k, v in body.items() if str(k).lower() not in _UNCHECKED_KEYS})).hexdigest(),
    )


def _http_url(url: str) -> bool:
    """An http(s) URL with a host, that can be split (a malformed IPv6 literal or port cannot)."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        return False


def split_sdk_header(value: str) -> str:
    """The register-body form ("py:v0.5.19") of an ``x-inngest-sdk`` header ("inngest-py:v0.5.19")."""
    return value.removeprefix("inngest-")


def register_reply(app: AppSync, *, modified: bool, sync_id: str | None = None) -> dict[str, Any]:
    """Inngest's answer to ``POST /fn/register`` (the SDK copies it into its answer to the PUT)."""
    return {"ok": True, "modified": modified, "sync_id": sync_id or str(uuid.uuid4()), "app_id": app.app_id}


def server_kind_mismatch(headers: Mapping[str, str] | None, kind: str = "dev") -> str | None:
    """Why a request from an SDK expecting another kind of server must be refused (Go answers 400),
    or None when it may proceed."""
    expected = wire.lower_headers(headers).get(wire.EXPECTED_SERVER_KIND)
    if not expected or expected == kind:
        return None
    return (f"the app expects an Inngest {expected!r} server but this is a {kind!r} server: point the app at the "
            "server it means (INNGEST_DEV, INNGEST_BASE_URL) or start it in the other mode")


# ---- one function ---------------------------------------------------------------------------

def _function(raw: Any, app_name: str, position: int) -> SyncedFunction:
    if not isinstance(raw, Mapping):
        raise FunctionDefinitionError(f"function #{position + 1} must be an object, not {wire.json_type(raw)}")
    slug = field(raw, "id")
    name = field(raw, "name")
    if not isinstance(slug, str) or not slug:
        label = f" ({name!r})" if isinstance(name, str) else ""
        raise FunctionDefinitionError(f"function #{position + 1}{label} has no 'id' (its slug, '<app>-<fn>')")
    if name is not None and not isinstance(name, str):
        raise FunctionDefinitionError(f"function {slug!r}: 'name' must be a string, not {wire.json_type(name)}")
    url, step_retries = _step(slug, field(raw, "steps"))
    retries = step_retries if step_retries is not None else field(raw, "retries")
    cancel = check_cancel(slug, _cancels(slug, field(raw, "cancel")))
    options = {k: v for k, v in raw.items() if str(k).lower() not in _SPEC_KEYS}
    spec = FunctionSpec(
        id=slug, driver=DRIVER, app=app_name, name=name or None,
        triggers=check_triggers(slug, _triggers(slug, field(raw, "triggers"))),
        cancel=cancel, retries=_retries(slug, retries),
        version=hashlib.sha1(canonical_json(raw)).hexdigest()[:12],
        source=url, mode=MODE, options=options, flow=parse_flow(slug, options, has_cancel=bool(cancel)),
    )
    return SyncedFunction(spec=spec, url=url, config=dict(raw),
                          fn_uuid=str(uuid.uuid5(uuid.NAMESPACE_OID, f"{app_uuid(app_name)}/{slug}")))


def _step(slug: str, steps: Any) -> tuple[str, Any]:
    """The URL of the function's only step and its retries (``None`` when not given)."""
    if not isinstance(steps, Mapping) or len(steps) != 1:
        raise FunctionDefinitionError(f"function {slug!r}: 'steps' must describe exactly one step "
                                      "({\"step\": {\"runtime\": {\"type\": \"http\", \"url\": …}}})")
    step = next(iter(steps.values()))
    runtime = field(step, "runtime") if isinstance(step, Mapping) else None
    if not isinstance(runtime, Mapping):
        raise FunctionDefinitionError(f"function {slug!r}: its step has no 'runtime'")
    kind, url = field(runtime, "type"), field(runtime, "url")
    if kind not in (None, "http"):
        raise FunctionDefinitionError(f"function {slug!r}: runtime type {kind!r} is not supported; serve the "
                                      "app over HTTP (Inngest Connect's websocket workers are not)")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise FunctionDefinitionError(f"function {slug!r}: its runtime needs an http(s) 'url', got {url!r}")
    retries = field(step, "retries")
    if retries is None:
        return url, None
    if not isinstance(retries, Mapping) or "attempts" not in retries:
        raise FunctionDefinitionError(f"function {slug!r}: step retries must be {{\"attempts\": N}}, got {retries!r}")
    return url, retries["attempts"]


def _retries(slug: str, value: Any) -> int:
    if value is None:
        return DEFAULT_RETRIES
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FunctionDefinitionError(f"function {slug!r}: retries must be a non-negative integer, got {value!r}")
    return min(value, MAX_RETRIES)


def _triggers(slug: str, raw: Any) -> list[Trigger]:
    items = _list(slug, "triggers", raw, MAX_TRIGGERS)
    triggers: list[Trigger] = []
    for item in items:
        event, cron = field(item, "event"), field(item, "cron")
        if (event is None) == (cron is None):
            raise FunctionDefinitionError(f"function {slug!r}: a trigger needs an 'event' or a 'cron' (one of "
                                          f"them), got {dict(item)!r}")
        if cron is not None:
            if not isinstance(cron, str):
                raise FunctionDefinitionError(f"function {slug!r}: a cron must be a string, got {cron!r}")
            _check_jitter(slug, cron, field(item, "jitter"))
            triggers.append(TriggerCron(cron))
            continue
        expression = field(item, "expression")
        if not isinstance(event, str) or (expression is not None and not isinstance(expression, str)):
            raise FunctionDefinitionError(f"function {slug!r}: an event trigger takes a string 'event' and "
                                          f"'expression', got {dict(item)!r}")
        triggers.append(TriggerEvent(event, expression=expression or None))
    return triggers


def _check_jitter(slug: str, cron: str, jitter: Any) -> None:
    """Jitter is kept in the function's config; it must still be a duration from 1 s to 5 min, as Go asks."""
    if jitter is None or (isinstance(jitter, str) and not jitter.strip()):
        return
    try:
        ms = parse_duration(jitter)
    except ValueError as exc:
        raise FunctionDefinitionError(f"function {slug!r}: cron {cron!r}: jitter: {exc}") from None
    if ms and not 1000 <= ms <= _MAX_JITTER_MS:
        raise FunctionDefinitionError(f"function {slug!r}: cron {cron!r}: jitter must be from 1s to 5m, got {jitter!r}")


def _cancels(slug: str, raw: Any) -> list[Cancel]:
    rules = []
    for item in _list(slug, "cancel", raw, MAX_CANCELS):
        event, condition, timeout = field(item, "event"), field(item, "if"), field(item, "timeout")
        if not isinstance(event, str) or not event or not all(v is None or isinstance(v, str)
                                                               for v in (condition, timeout)):
            raise FunctionDefinitionError(f"function {slug!r}: a cancel rule takes a string 'event' and optional "
                                          f"string 'if' and 'timeout', got {dict(item)!r}")
        rules.append(Cancel(event, if_exp=condition or None, timeout=timeout or None))
    return rules


def _list(slug: str, key: str, raw: Any, limit: int) -> list[Mapping[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        raise FunctionDefinitionError(f"function {slug!r}: {key!r} must be an array of objects, got {raw!r}")
    if len(raw) > limit:
        raise FunctionDefinitionError(f"function {slug!r}: at most {limit} {key} entries are allowed, got {len(raw)}")
    return raw


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
