"""Identifiers: ULIDs for runs, events and queue items."""

from __future__ import annotations

from ulid import ULID


def new_id() -> str:
    """A ULID: sortable by creation time, which is the order every listing wants."""
    return str(ULID())
