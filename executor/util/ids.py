"""Identifiers: ULIDs for runs, events and queue items.

Made here rather than with a ULID package: a run's first transition mints three or four ids, and
python-ulid spends ~16 µs on each (a generator object, a ``ULID`` object, then its string) against
~3 µs for the few lines below — a measurable share of an event's path to a started run.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import time

#: Crockford's base32 (ULIDs' alphabet), two characters (ten bits) at a time.
_PAIRS = [a + b for a in "0123456789ABCDEFGHJKMNPQRSTVWXYZ" for b in "0123456789ABCDEFGHJKMNPQRSTVWXYZ"]
_RANDOM_BITS = 80
_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def encode_ulid(value: int) -> str:
    """The 26-character text of a 128-bit ULID: 130 bits (two leading zeros), ten at a time. Spelt
    out rather than looped: this is most of what an id costs."""
    p = _PAIRS
    return "".join((p[value >> 120], p[(value >> 110) & 1023], p[(value >> 100) & 1023], p[(value >> 90) & 1023],
                    p[(value >> 80) & 1023], p[(value >> 70) & 1023], p[(value >> 60) & 1023],
                    p[(value >> 50) & 1023], p[(value >> 40) & 1023], p[(value >> 30) & 1023],
                    p[(value >> 20) & 1023], p[(value >> 10) & 1023], p[value & 1023]))


def new_id() -> str:
    """A ULID: sortable by creation time, which is the order every listing wants. Ids made in the
    same millisecond (or while the wall clock steps back) count up from the last one, so they
    still sort in the order they were made."""
    global _last_ms, _last_random
    ms = time.time_ns() // 1_000_000
    with _lock:
        if ms > _last_ms:
            _last_ms, _last_random = ms, int.from_bytes(os.urandom(10), "big")
        else:
            _last_random += 1
            if _last_random >> _RANDOM_BITS:       # 2^80 ids in one millisecond: borrow the next one
                _last_ms, _last_random = _last_ms + 1, 0
        value = (_last_ms << _RANDOM_BITS) | _last_random
    return encode_ulid(value)


def seeded_id(seed: str | None, index: int) -> str | None:
    """The ULID an Inngest SDK's ``x-inngest-event-id-seed`` ("<millis>,<base64 of 10 bytes>") gives the
    ``index``-th event (from 1) of a request, as Inngest derives it: the index is added to the last
    four bytes of the entropy. A client that retries a send with the same seed gets the same ids.
    None when there is no usable seed."""
    if not seed or seed.count(",") != 1:
        return None
    millis_text, entropy_text = seed.split(",")
    try:
        millis = int(millis_text)
        entropy = bytearray(base64.b64decode(entropy_text, validate=True))
    except (ValueError, binascii.Error):
        return None
    if millis <= 0 or millis >= 2**48 or len(entropy) != 10:
        return None
    tail = (int.from_bytes(entropy[6:10], "big") + index) % 2**32
    entropy[6:10] = tail.to_bytes(4, "big")
    return encode_ulid((millis << _RANDOM_BITS) | int.from_bytes(entropy, "big"))
