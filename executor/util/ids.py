"""Identifiers: ULIDs for runs, events and queue items."""

from __future__ import annotations

import base64
import binascii

from ulid import ULID


def new_id() -> str:
    """A ULID: sortable by creation time, which is the order every listing wants."""
    return str(ULID())


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
    return str(ULID(millis.to_bytes(6, "big") + bytes(entropy)))
