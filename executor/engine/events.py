"""The event model and the checks every way in (SDK, HTTP, console, step.send_event) shares."""

from __future__ import annotations

import math
import re
from typing import Any, Final

from executor.errors import EventValidationError
from executor.records import RESERVED_PREFIX, Event
from executor.util import jsonvalues
from executor.util.ids import new_id

MAX_NAME_LENGTH: Final = 256
"""Event and signal names: long enough for any real name, short enough for a table cell and a log line."""
MAX_ID_LENGTH: Final = 256
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_EXACT_FLOAT: Final = 2**53
#: Unicode's control characters (category Cc): C0, DEL and C1. One regex search instead of a
#: category lookup per character: every event's name and id pass through here.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_name(value: str, what: str, limit: int = MAX_NAME_LENGTH) -> str | None:
    """Why a name or id is refused (None: it is fine). Control characters are refused because
    names are printed on terminals and in logs, where an escape sequence would act, not show."""
    if len(value) > limit:
        return f"{what} is {len(value):,} characters long; the limit is {limit}"
    found = _CONTROL.search(value)
    if found is not None:
        return f"{what} contains the control character {found.group()!r} at position {found.start()}"
    return None


def _timestamp(ts: Any, now_ms: int, where: str) -> int:
    """Epoch milliseconds as SQLite stores them (int64), never silently rounded or clamped."""
    if isinstance(ts, bool):   # before the zero test: False == 0
        raise EventValidationError(f"{where}: 'ts' must be epoch milliseconds (a number), not a boolean")
    if ts is None or ts == 0:
        return now_ms
    if not isinstance(ts, (int, float)):
        raise EventValidationError(f"{where}: 'ts' must be epoch milliseconds (a number)")
    if isinstance(ts, float):
        # Beyond 2^53 a float is no longer exact: -2^63 - 1 would silently become -2^63.
        if not math.isfinite(ts) or abs(ts) > _EXACT_FLOAT:
            raise EventValidationError(f"{where}: 'ts' {ts!r} is not exact as a float; send whole milliseconds "
                                       "as an integer")
        ts = int(ts)
    if not _INT64_MIN <= ts <= _INT64_MAX:
        raise EventValidationError(f"{where}: 'ts' {ts} is outside the 64-bit range of epoch milliseconds")
    return ts


def validate_event(raw: Any, now_ms: int, *, index: int = 0, allow_reserved: bool = False,
                   max_bytes: int | None = None, internal_id: str | None = None) -> Event:
    """Turn one submitted event into an ``Event``, or say exactly what is wrong with it.

    ``index`` is the event's position in a batch so the message can point at it; ``internal_id``
    the id to store it under (a fresh ULID when not given).
    """
    where = f"event {index}" if index else "event"
    if isinstance(raw, Event):
        raw = raw.to_dict()
    if not isinstance(raw, dict):
        raise EventValidationError(f"{where}: must be a JSON object, not {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise EventValidationError(f"{where}: 'name' is required and must be a non-empty string")
    problem = check_name(name, "'name'")
    if problem:
        raise EventValidationError(f"{where}: {problem}")
    if name.startswith(RESERVED_PREFIX) and not allow_reserved:
        raise EventValidationError(f"{where}: the 'inngest/' name prefix is reserved ({name!r})")
    data = raw.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EventValidationError(f"{where} {name!r}: 'data' must be a JSON object, not {type(data).__name__}")
    internal_id = internal_id or new_id()
    event_id = raw.get("id")
    if event_id is None or event_id == "":
        event_id = internal_id
    if not isinstance(event_id, str):
        raise EventValidationError(f"{where} {name!r}: 'id' must be a string, not {type(event_id).__name__} "
                                   f"({_short(event_id)}); leave it out to get a generated id")
    problem = check_name(event_id, "'id'", MAX_ID_LENGTH)
    if problem:
        raise EventValidationError(f"{where} {name!r}: {problem}")
    ts = _timestamp(raw.get("ts"), now_ms, f"{where} {name!r}")
    user = raw.get("user")
    if user is not None and not isinstance(user, dict):
        raise EventValidationError(f"{where} {name!r}: 'user' must be a JSON object")
    v = raw.get("v")
    if v is not None and not isinstance(v, str):
        raise EventValidationError(f"{where} {name!r}: 'v' must be a string")
    problem = check_name(v, "'v'", MAX_ID_LENGTH) if v is not None else None
    if problem:
        raise EventValidationError(f"{where} {name!r}: {problem}")
    event = Event(id=event_id, name=name, data=data, ts=ts, user=user, v=v, internal_id=internal_id)
    try:
        size = len(jsonvalues.dumps(event.to_dict()))
    except jsonvalues.NotJSONError as exc:
        raise EventValidationError(f"{where} {name!r}: {exc}") from None
    if max_bytes is not None and size > max_bytes:
        raise EventValidationError(f"{where} {name!r} is {size:,} bytes; the limit is {max_bytes:,} bytes")
    return event


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def name_matches(pattern: str, name: str) -> bool:
    """Trigger name matching: exact, or ``*`` standing for any run of characters ("app/user.*")."""
    if "*" not in pattern:
        return pattern == name
    head, *rest = pattern.split("*")
    if not name.startswith(head):
        return False
    pos = len(head)
    for i, piece in enumerate(rest):
        if i == len(rest) - 1:
            return name.endswith(piece) and len(name) - len(piece) >= pos
        found = name.find(piece, pos)
        if found < 0:
            return False
        pos = found + len(piece)
    return True
