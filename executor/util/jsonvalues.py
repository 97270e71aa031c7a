"""JSON encoding of step outputs, event data and memo, through orjson.

orjson refuses what JSON cannot represent faithfully (non-string keys, ints beyond 64 bits,
arbitrary objects) instead of silently converting it, which is what makes a replayed value
equal to the value the first execution saw.
"""

from __future__ import annotations

from typing import Any

import orjson


class NotJSONError(TypeError):
    """The value cannot be stored as JSON; the message names the offending type."""


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise NotJSONError(_describe(value, exc)) from None


def loads(data: bytes | str | None) -> Any:
    if data is None:
        return None
    return orjson.loads(data)


def roundtrip(value: Any) -> tuple[Any, int]:
    """The value as a replay will see it (tuples become lists…) and its encoded size in bytes."""
    raw = dumps(value)
    return orjson.loads(raw), len(raw)


def _describe(value: Any, exc: Exception) -> str:
    bad = _first_unencodable(value)
    if bad is not None:
        return f"value of type {type(bad).__name__} is not JSON-serialisable ({exc})"
    return f"value is not JSON-serialisable: {exc}"


def _first_unencodable(value: Any, depth: int = 0) -> Any:
    """Find the innermost value orjson refuses, so the error names a type the author wrote."""
    if depth > 100:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return key
            found = _first_unencodable(item, depth + 1)
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for item in value:
            found = _first_unencodable(item, depth + 1)
            if found is not None:
                return found
        return None
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return value
    return None
