"""Identifiers: ULIDs for runs and events, and Inngest's hashed step IDs."""

from __future__ import annotations

import hashlib

from ulid import ULID


def new_id() -> str:
    """A ULID: sortable by creation time, which is the order every listing wants."""
    return str(ULID())


def hash_step_id(step_id: str, occurrence: int) -> str:
    """Inngest's step hash: sha1 of the ID the first time, of "ID:n" for the n-th repeat."""
    key = step_id if occurrence == 0 else f"{step_id}:{occurrence}"
    return hashlib.sha1(key.encode()).hexdigest()


def display_step_id(step_id: str, occurrence: int) -> str:
    return step_id if occurrence == 0 else f"{step_id}:{occurrence}"
