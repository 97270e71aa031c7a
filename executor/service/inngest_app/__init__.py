"""Our function files served over Inngest's SDK protocol, so an Inngest server runs them.

``inngest_app(paths_or_functions, app_id=…, server=…)`` is an ASGI app (``InngestApp``) to mount
under any ASGI server; ``durable-tui app`` serves one with hot reload (``executor.service.inngest_app.run``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from executor.drivers.local.function import Function
from executor.drivers.local.loader import load_paths
from executor.errors import FunctionDefinitionError
from executor.service.inngest_app.app import InngestApp

__all__ = ["InngestApp", "inngest_app"]


def inngest_app(functions: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Iterable[Function], *,
                app_id: str, **options: Any) -> InngestApp:
    """An ``InngestApp`` of ``functions``: ``Function`` objects, or function files and folders to load
    (refused with every load error at once if any file fails). ``options`` are ``InngestApp``'s."""
    if isinstance(functions, (str, os.PathLike)):
        functions = [functions]
    items = list(functions)
    if items and all(isinstance(item, (str, os.PathLike)) for item in items):
        loaded = load_paths(items)
        if loaded.errors:
            raise FunctionDefinitionError("; ".join(err.describe() for err in loaded.errors))
        items = loaded.functions
    return InngestApp(items, app_id=app_id, **options)
