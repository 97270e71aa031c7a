"""Defaults every entry point shares (``serve``, ``headless``, the console, the command line)."""

from __future__ import annotations

import os

DEFAULT_DB = os.path.join(".durable-tui", "state.db")
DEFAULT_PORT = 8288
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
KEY_ENV = "DURABLE_TUI_KEY"
ADMIN_KEY_ENV = "DURABLE_TUI_ADMIN_KEY"
URL_ENV = "DURABLE_TUI_URL"
