"""The event model and the checks every way in (SDK, HTTP, console, step.send_event) shares."""

from __future__ import annotations

from typing import Any

from executor.errors import EventValidationError
from executor.records import Event
from executor.util import jsonvalues
from executor.util.ids import new_id

RESERVED_PREFIX = "inngest/"




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
    if name.startswith(RESERVED_PREFIX) and not allow_reserved:
        raise EventValidationError(f"{where}: the 'inngest/' name prefix is reserved ({name!r})")
    data = raw.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EventValidationError(f"{where} {name!r}: 'data' must be a JSON object, not {type(data).__name__}")
    internal_id = internal_id or new_id()
    event_id = raw.get("id") or internal_id
    if not isinstance(event_id, str):
        raise EventValidationError(f"{where} {name!r}: 'id' must be a string")
    ts = raw.get("ts")
    if ts is None or ts == 0:
        ts = now_ms
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        raise EventValidationError(f"{where} {name!r}: 'ts' must be epoch milliseconds (a number)")
    user = raw.get("user")
    if user is not None and not isinstance(user, dict):
        raise EventValidationError(f"{where} {name!r}: 'user' must be a JSON object")
    v = raw.get("v")
    if v is not None and not isinstance(v, str):
        raise EventValidationError(f"{where} {name!r}: 'v' must be a string")
    event = Event(id=event_id, name=name, data=data, ts=int(ts), user=user, v=v, internal_id=internal_id)
    try:
        size = len(jsonvalues.dumps(event.to_dict()))
    except jsonvalues.NotJSONError as exc:
        raise EventValidationError(f"{where} {name!r}: {exc}") from None
    if max_bytes is not None and size > max_bytes:
        raise EventValidationError(f"{where} {name!r} is {size:,} bytes; the limit is {max_bytes:,} bytes")
    return event


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
