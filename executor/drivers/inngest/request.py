"""An execution request as the Go executor sends it to an SDK: URL, headers and JCS body.

The body follows ``driver.MarshalV1``: the first event and all events (each with ``user: {}``
when absent), the memo of every finished step listed in ``ctx.stack`` (in the order the steps
finished), and the context. When the run's state would make the body bigger than 4 MiB the events
and steps are left out and ``use_api`` tells the SDK to fetch them (``GET /v0/runs/{id}/batch``
and ``/actions``); ``encode_request`` makes that choice as Go does.

``ctx.step_id`` is the id of the function's only step, ``"step"``, exactly as Go sends it; the
step to run is named by the ``stepId`` query parameter and the ``X-Inngest-Step-ID`` header.
``ctx.fn_id`` matters to one SDK: the TypeScript SDK checkpoints steps to
``POST /v1/checkpoint/{run}/async`` only when it is non-empty, so a driver without that endpoint
passes ``fn_uuid=None`` (sent as ``""``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from executor.drivers.inngest import wire
from executor.drivers.inngest.canonical import canonical_json
from executor.drivers.inngest.signing import sign_canonical
from executor.ops import InvocationRequest
from executor.records import Event


def build_request_body(request: InvocationRequest, *, fn_uuid: str | None, use_api: bool,
                       version: int = wire.REQUEST_VERSION_PREFERRED, env: str = "", qi_id: str = "",
                       job_id: str = "") -> dict[str, Any]:
    """The JSON body of one execution request.

    ``version`` is the request version the SDK last answered with (``x-inngest-req-version``; Go
    sends -1 before the first answer, and the SDKs treat -1 as "your preferred one"). ``qi_id`` and
    ``job_id`` identify the queue item (the TypeScript SDK echoes ``qi_id`` when it checkpoints,
    inngest-py exposes ``job_id`` as ``ctx.job_id``); Go omits ``request_id`` and ``job_id`` when empty.
    """
    stack = request.stack
    events = request.events or [request.event]
    ctx: dict[str, Any] = {
        "fn_id": fn_uuid or "",
        "run_id": request.run.id,
        "env": env,
        "step_id": wire.STEP,
        "attempt": request.attempt,
        "max_attempts": request.max_attempts,
        "stack": {"stack": stack, "current": len(stack)},
        "qi_id": qi_id,
        "disable_immediate_execution": request.disable_immediate_execution,
        "use_api": use_api,
    }
    if request.request_id:
        ctx["request_id"] = request.request_id
    if job_id:
        ctx["job_id"] = job_id
    return {
        "event": _wire_event(request.event),
        "events": [] if use_api else [_wire_event(e) for e in events],
        "steps": {} if use_api else {h: request.steps[h].memo for h in stack},
        "defers": {},
        "ctx": ctx,
        "version": version,
        "use_api": use_api,
    }


@dataclass(frozen=True)
class EncodedRequest:
    body: bytes          # canonical JSON, ready to send and to sign
    use_api: bool        # the events and steps were left out for the SDK to fetch


def encode_request(request: InvocationRequest, *, fn_uuid: str | None,
                   version: int = wire.REQUEST_VERSION_PREFERRED, env: str = "", qi_id: str = "",
                   job_id: str = "") -> EncodedRequest:
    """The canonical body, inline unless the run's state or the body itself passes 4 MiB (Go's rule:
    the stored state size first, so a huge state is never serialised just to be measured)."""
    options: dict[str, Any] = {"fn_uuid": fn_uuid, "version": version, "env": env, "qi_id": qi_id, "job_id": job_id}
    if request.run.state_bytes <= wire.MAX_REQUEST_BYTES - 1024:
        body = canonical_json(build_request_body(request, use_api=False, **options))
        if len(body) <= wire.MAX_REQUEST_BYTES:
            return EncodedRequest(body, False)
    return EncodedRequest(canonical_json(build_request_body(request, use_api=True, **options)), True)


def request_url(function_url: str, target: str | None) -> str:
    """The function's registered URL with ``stepId`` set to the targeted step's hash, or ``"step"``.

    Other query parameters (``fnId``, verbatim, however odd the function id) are kept; the query is
    re-encoded in key order as Go's ``url.Values.Encode`` does.
    """
    parts = urlsplit(function_url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query["stepId"] = target or wire.STEP
    return urlunsplit(parts._replace(query=urlencode(sorted(query.items()))))


def request_headers(request: InvocationRequest, *, body: bytes, signing_key: str | None = None,
                    now_s: int | None = None, version: int = wire.REQUEST_VERSION_PREFERRED,
                    job_id: str = "") -> dict[str, str]:
    """The headers the Go executor sends with ``body`` (canonical bytes from ``encode_request``).

    With a signing key the request is signed at ``now_s`` (required then); the dev server sends none.
    """
    headers = {
        "Content-Type": "application/json",
        "X-Run-ID": request.run.id,
        wire.REQUEST_VERSION: str(version),
        "X-Inngest-Step-ID": request.target or wire.STEP,
    }
    if request.request_id:
        headers[wire.REQUEST_ID] = request.request_id
    if job_id:
        headers[wire.JOB_ID] = job_id
    if signing_key:
        if now_s is None:
            raise ValueError("signing a request needs now_s, the signature's timestamp in unix seconds")
        headers["X-Inngest-Signature"] = sign_canonical(body, signing_key, now_s)
    return headers


def _wire_event(event: Event) -> dict[str, Any]:
    out = event.to_dict()
    if out.get("user") is None:
        out["user"] = {}
    return out
