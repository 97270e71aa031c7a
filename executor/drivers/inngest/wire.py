"""The shared vocabulary of Inngest's HTTP protocol: header names, limits, and one op off the wire.

``op_from_wire`` reads one element of an SDK's 206 reply into an ``Op``. It is strict about types
(Go's executor refuses the whole reply when an op does not decode), so a malformed op becomes a
``WireError`` naming the field, which ``parse_response`` turns into a retriable function error
instead of an exception in the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from executor.errors import ErrorInfo
from executor.ops import Op, Opcode

def field(mapping: Mapping[str, Any], name: str) -> Any:
    """``mapping[name]``, else the first key equal to it ignoring case (Go's JSON decoding rule)."""
    if name in mapping:
        return mapping[name]
    folded = name.lower()
    return next((value for key, value in mapping.items() if isinstance(key, str) and key.lower() == folded), None)


# ---- header names (lower case: HTTP header names are case-insensitive) -----------------------------
SDK = "x-inngest-sdk"
SDK_HANDLED = "x-inngest-sdk-handled"
NO_RETRY = "x-inngest-no-retry"
RETRY_AFTER = "retry-after"
REQUEST_VERSION = "x-inngest-req-version"
SIGNATURE = "x-inngest-signature"
SERVER_KIND = "x-inngest-server-kind"
EXPECTED_SERVER_KIND = "x-inngest-expected-server-kind"
SYNC_KIND = "x-inngest-sync-kind"
FRAMEWORK = "x-inngest-framework"
ENV = "x-inngest-env"
STEP_ID = "x-inngest-step-id"
RUN_ID = "x-run-id"
REQUEST_ID = "x-request-id"
JOB_ID = "x-inngest-job-id"
AUTHORIZATION = "authorization"

# ---- limits (Go: pkg/consts) --------------------------------------------------------------------------
MiB = 1024 * 1024
#: Above this the executor sends ``use_api: true`` and lets the SDK fetch events and steps itself.
MAX_REQUEST_BYTES = 4 * MiB
#: An SDK reply larger than this is refused as ``output_too_large``.
MAX_RESPONSE_BYTES = 8 * MiB
#: More ops than this in one reply fails the run (``InngestErrFunctionOverflowed``).
MAX_OPS_PER_RESPONSE = 1000

#: ``stepId`` / ``ctx.step_id`` when no step is targeted, and the id of a function's only step.
STEP = "step"
#: The request version the Go executor sends once an SDK has said which one it speaks (v2: hashed
#: step ids, ``disable_immediate_execution`` honoured); -1 means "not known yet".
REQUEST_VERSION_PREFERRED = 2
REQUEST_VERSION_UNKNOWN = -1

_OPCODES = {code.value: code for code in Opcode}


class WireError(ValueError):
    """Something an SDK sent does not have the shape the protocol promises."""


def lower_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Header names folded to lower case, so lookups work whatever the sender's casing."""
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def op_from_wire(raw: Any) -> Op:
    """One op as an SDK sends it (``GeneratorOpcode``) as an ``Op``.

    ``displayName`` (or ``userland.id``) is the step id the author wrote, ``userland.index`` the
    repeat counter of a reused id, ``timing`` (Go's interval: start and duration in nanoseconds)
    becomes ``started_at``/``ended_at`` in epoch ms. An error is kept verbatim in ``ErrorInfo.raw``.
    Retriability is not decided here: it travels in the reply's headers.
    """
    if not isinstance(raw, Mapping):
        raise WireError(f"an op must be a JSON object, not {json_type(raw)}")
    code = raw.get("op")
    if not isinstance(code, str) or code not in _OPCODES:
        raise WireError(f"unknown opcode {code!r} (expected one of {', '.join(_OPCODES)})")
    op = _OPCODES[code]
    op_id = _optional_str(raw, "id")
    if not op_id and op != Opcode.NONE:
        raise WireError(f"a {code} op has no id (the hashed step id)")
    userland = raw.get("userland")
    if userland is not None and not isinstance(userland, Mapping):
        raise WireError(f"op {op_id}: userland must be an object, not {json_type(userland)}")
    userland = userland or {}
    index = userland.get("index")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise WireError(f"op {op_id}: userland.index must be a non-negative integer, not {index!r}")
    opts = raw.get("opts")
    if opts is not None and not isinstance(opts, Mapping):
        raise WireError(f"op {op_id}: opts must be an object or null, not {json_type(opts)}")
    error = raw.get("error")
    if error is not None and not isinstance(error, Mapping):
        raise WireError(f"op {op_id}: error must be an object or null, not {json_type(error)}")
    if op in (Opcode.STEP_ERROR, Opcode.STEP_FAILED) and error is None:
        raise WireError(f"op {op_id}: a {code} op must carry an error")
    display = _optional_str(raw, "displayName") or _optional_str(userland, "userland.id")
    started, ended = _timing(raw.get("timing"))
    return Op(op, op_id, name=_optional_str(raw, "name"), display_name=display, index=index or None,
              opts=dict(opts) if opts else {}, data=raw.get("data"),
              error=None if error is None else ErrorInfo.from_dict(error), started_at=started, ended_at=ended)


def system_error(code: str, name: str, message: str, stack: str = "") -> ErrorInfo:
    """An error the protocol layer itself reports (not an SDK's body), with Inngest's syscode."""
    return ErrorInfo(name, message, stack, raw={"code": code, "name": name, "message": message, "stack": stack})


def _optional_str(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key.rsplit(".", 1)[-1])
    if value is None:
        return ""
    if not isinstance(value, str):
        raise WireError(f"op field {key!r} must be a string, not {json_type(value)}")
    return value


def _timing(raw: Any) -> tuple[int | None, int | None]:
    """Timing is informational: a value that is not Go's ``{a, b}`` interval is ignored."""
    if not isinstance(raw, Mapping):
        return None, None
    start, duration = raw.get("a"), raw.get("b")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, duration)) or start <= 0:
        return None, None
    return start // 1_000_000, (start + max(duration, 0)) // 1_000_000


def json_type(value: Any) -> str:
    """How a JSON value is named in error messages ("an array", "null"…)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
