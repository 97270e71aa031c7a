"""Tests of our SDK's own machinery (loading files, hot reload): in-process only."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def driver() -> str:
    return "local"
