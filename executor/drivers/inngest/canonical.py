"""JSON Canonicalization Scheme (RFC 8785): the exact bytes Inngest sends and signs.

The Go executor makes every request body canonical (sorted keys, no spaces, ECMAScript number
formatting) and the SDKs re-canonicalise a body before they check its signature, so our bytes must be
the canonical ones to the byte. The ``jcs`` package is the RFC authors' reference implementation (the
one inngest-py itself verifies with); it is pure Python and spends about a second on a 3 MB body, so
values it would print exactly like orjson with sorted keys take that path instead: no floats, no
integer beyond 2**53 (JCS prints numbers through IEEE doubles), and no key whose UTF-16 order can
differ from its code point order (characters from U+E000 up). Strings are escaped identically by
both; a test compares the two encoders on random data.
"""

from __future__ import annotations

from typing import Any

import jcs
import orjson

#: Integers up to this magnitude print the same as JSON integers and as ECMAScript doubles.
_EXACT_INT = 2**53
#: From here on, UTF-16 code unit order (JCS key order) and code point order (orjson's) may differ.
_ORDER_SAFE_BELOW = "\ue000"


def canonical_json(value: Any) -> bytes:
    """``value`` (JSON data: dict, list, str, int, float, bool, None) as RFC 8785 bytes."""
    if _orjson_is_canonical(value):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return jcs.canonicalize(value)


def canonicalize_bytes(body: bytes) -> bytes:
    """The canonical form of a JSON document; raises ``ValueError`` when ``body`` is not JSON."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    return canonical_json(value)


def _orjson_is_canonical(value: Any) -> bool:
    containers = [value]
    while containers:
        container = containers.pop()
        if isinstance(container, dict):
            for key in container:
                if not isinstance(key, str) or (not key.isascii() and max(key) >= _ORDER_SAFE_BELOW):
                    return False
            items = container.values()
        else:
            items = (container,) if not isinstance(container, list) else container
        for item in items:
            kind = type(item)
            if kind is str or kind is bool or item is None:
                continue
            if kind is int:
                if not -_EXACT_INT <= item <= _EXACT_INT:
                    return False
            elif kind is dict or kind is list:
                containers.append(item)
            else:
                return False    # floats, tuples, subclasses: the reference encoder decides
    return True
