"""Server-initiated syncs (an app added by URL, ``--sdk-url``, a resync) and introspection GETs.

The server PUTs ``{"url": <app url>}`` to the app. In-band (header ``x-inngest-sync-kind: in_band``)
the SDK answers with its whole description in the reply — the TypeScript SDK does so in dev mode
too; inngest-py only in cloud mode and when signed — which ``parse_sync_reply`` turns into the same
``AppSync`` as a ``/fn/register`` body. Otherwise the SDK registers itself out of band with
``POST /fn/register`` before answering the PUT; its reply then only says how that went (inngest-py
answers 200 even when registering failed, so the reply is reported, and the server's own record of
the ``/fn/register`` call is what settles it).

A GET of the app URL is the SDK's introspection: which SDK, framework and mode, and how many functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from executor.drivers.inngest import wire
from executor.drivers.inngest.canonical import canonical_json
from executor.drivers.inngest.signing import SignatureError, sign_canonical, verify_response_signature
from executor.drivers.inngest.sync import AppSync, SyncError, parse_register_body

IN_BAND = "in_band"
OUT_OF_BAND = "out_of_band"
_NOT_SYNCED = {
    401: "the app refused the server's signature (give the server the app's signing key, or run the app in dev mode)",
    403: "the app refused the server (forbidden: is it a cloud-mode app, or a dev-mode app asked by a cloud server?)",
    404: "nothing serves Inngest at this URL (url_not_found: check the path, usually /api/inngest)",
    500: "the app failed while syncing (internal_server_error)",
}


@dataclass(frozen=True)
class OutgoingRequest:
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class SyncReply:
    """How a sync PUT went: ``app`` is set for an in-band reply (register it); otherwise the SDK
    registered out of band and ``message`` is what it said."""

    kind: str                         # IN_BAND or OUT_OF_BAND
    sdk: str | None                   # the x-inngest-sdk header, when an SDK answered
    app: AppSync | None = None
    message: str | None = None


@dataclass(frozen=True)
class Introspection:
    sdk: str                          # the x-inngest-sdk header: "inngest-py:v0.5.19"
    status: int
    framework: str | None = None
    mode: str | None = None           # "dev" or "cloud"
    function_count: int | None = None
    has_event_key: bool | None = None
    has_signing_key: bool | None = None
    authenticated: bool = False       # the SDK checked our signature and said more (app id, origins…)
    app_id: str | None = None
    schema_version: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


def sync_request(app_url: str, *, in_band: bool = True, server_kind: str = "dev", signing_key: str | None = None,
                 now_s: int | None = None) -> OutgoingRequest:
    """The PUT that asks an app to sync (Go: ``deploy.Ping``), signed when the server has a key."""
    body = canonical_json({"url": app_url})
    headers = {"Content-Type": "application/json", "X-Inngest-Server-Kind": server_kind}
    if in_band:
        headers[wire.SYNC_KIND] = IN_BAND
    _sign(headers, body, signing_key, now_s)
    return OutgoingRequest(headers, body)


def introspection_request(*, server_kind: str = "dev", signing_key: str | None = None,
                          now_s: int | None = None) -> OutgoingRequest:
    """The GET that asks an SDK what it is; signed, a cloud-mode SDK also names its app."""
    headers = {"X-Inngest-Server-Kind": server_kind}
    _sign(headers, b"", signing_key, now_s)
    return OutgoingRequest(headers, b"")


def parse_sync_reply(status: int, headers: Mapping[str, str], body: bytes, *, url: str,
                     signing_key: str | None = None, now_s: int | None = None) -> SyncReply:
    """Judge the reply to ``sync_request``; raises ``SyncError`` saying why the app was not synced.

    With ``signing_key``, a signed in-band reply must carry a valid signature (the app's description
    is only trusted from the app that holds the key)."""
    h = wire.lower_headers(headers)
    sdk = h.get(wire.SDK) or None
    value = _json(body)
    said = _said(value)
    if not 200 <= status < 300:
        reason = said if status == 400 and said else _NOT_SYNCED.get(status, f"the app answered HTTP {status}")
        detail = f" ({said})" if said and said != reason else ""
        raise SyncError(f"app at {url} was not synced: {reason}{detail}")
    if h.get(wire.SYNC_KIND) != IN_BAND:
        if isinstance(value, Mapping) and (isinstance(value.get("error"), str) or value.get("ok") is False):
            raise SyncError(f"app at {url} was not synced: {value.get('error') or said or 'registration failed'}")
        return SyncReply(OUT_OF_BAND, sdk, message=said)
    if signing_key and h.get(wire.SIGNATURE):
        try:
            verify_response_signature(h[wire.SIGNATURE], body, [signing_key], now_s=now_s)
        except SignatureError as exc:
            raise SyncError(f"app at {url} was not synced: its in-band reply's signature is invalid: {exc}") from None
    if not isinstance(value, Mapping):
        raise SyncError(f"app at {url} was not synced: its in-band reply is not a JSON object")
    return SyncReply(IN_BAND, sdk, app=parse_register_body(_as_register_body(value, url), h))


def parse_introspection(status: int, headers: Mapping[str, str], body: bytes) -> Introspection | None:
    """What an app's GET reply says about it; None when no Inngest SDK answered (Go's discovery counts
    a URL only when the reply carries ``x-inngest-sdk``)."""
    h = wire.lower_headers(headers)
    sdk = h.get(wire.SDK)
    if not sdk:
        return None
    value = _json(body)
    raw = value if status == 200 and isinstance(value, Mapping) else {}
    count = raw.get("function_count")
    return Introspection(
        sdk=sdk, status=status,
        framework=h.get(wire.FRAMEWORK) or _str(raw.get("framework")) or None,
        mode=_str(raw.get("mode")) or None,
        function_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
        has_event_key=_bool(raw.get("has_event_key")), has_signing_key=_bool(raw.get("has_signing_key")),
        authenticated=raw.get("authentication_succeeded") is True,
        app_id=_str(raw.get("app_id")) or None, schema_version=_str(raw.get("schema_version")) or None,
        raw=dict(raw),
    )


def _as_register_body(reply: Mapping[str, Any], url: str) -> dict[str, Any]:
    """An in-band reply (``app_id``, ``sdk`` or ``sdk_language``/``sdk_version``…) as a register body."""
    sdk = reply.get("sdk")
    if not isinstance(sdk, str) or not sdk:
        language, version = _str(reply.get("sdk_language")), _str(reply.get("sdk_version"))
        sdk = f"{language}:{version if version.startswith('v') else 'v' + version}" if language and version else ""
    inspection = reply.get("inspection") if isinstance(reply.get("inspection"), Mapping) else {}
    return {
        "appName": reply.get("app_id"),
        "url": reply.get("url") or url,
        "sdk": sdk,
        "framework": reply.get("framework"),
        "appVersion": reply.get("appVersion") or reply.get("app_version"),
        "capabilities": reply.get("capabilities") or inspection.get("capabilities") or {},
        "functions": reply.get("functions"),
    }


def _sign(headers: dict[str, str], body: bytes, signing_key: str | None, now_s: int | None) -> None:
    if not signing_key:
        return
    if now_s is None:
        raise ValueError("signing needs now_s, the signature's timestamp in unix seconds")
    headers["X-Inngest-Signature"] = sign_canonical(body, signing_key, now_s)


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        return None


def _said(value: Any) -> str | None:
    """The message an SDK's reply carries (``message``, or ``error``)."""
    if isinstance(value, Mapping):
        for key in ("message", "error"):
            if isinstance(value.get(key), str) and value[key]:
                return value[key]
    return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
