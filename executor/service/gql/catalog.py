"""Functions and apps as the dev server's GraphQL shows them.

Inngest groups functions into apps (one per SDK endpoint). durable-tui's local functions come from
files, so an app here is a function file, plus one app for functions defined in code; its id is a
name-based UUID of its URL, stable across restarts, as Inngest derives app ids from app names.
Everything is read from ``Function.describe()``, the same description ``GET /v1/functions`` serves.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import orjson
from graphql import GraphQLResolveInfo

from executor.drivers.local.function import Function
from executor.expressions.binding import match_to_expression

IN_PROCESS_URL = "durable-tui:in-process"
IN_PROCESS_NAME = "durable-tui"


@cache
def _own_version() -> str:
    try:
        return version("durable-tui")
    except PackageNotFoundError:   # running from a source tree that was never installed
        return "unknown"


def app_id_for(url: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, url))


class FunctionNode:
    """``Function``: one loaded function."""

    def __init__(self, catalog: "Catalog", desc: dict[str, Any]) -> None:
        self._catalog = catalog
        self._on_failure: str | None = desc.get("on_failure")
        self.id = self.slug = desc["id"]
        self.name = desc["name"]
        self.config = orjson.dumps(desc).decode()
        source = desc.get("source_file")
        self.url = Path(source).resolve().as_uri() if source else ""
        self.app_url = self.url or IN_PROCESS_URL
        self.app_name = Path(source).stem if source else IN_PROCESS_NAME
        self.appID = app_id_for(self.app_url)
        self.triggers = [_trigger(t) for t in desc.get("triggers", [])]
        self.configuration = {
            "cancellations": [_cancellation(c) for c in desc.get("cancel", [])],
            "retries": {"value": desc.get("retries")},
        }

    def failureHandler(self, info: GraphQLResolveInfo) -> "FunctionNode | None":
        return self._catalog.functions.get(self._on_failure) if self._on_failure else None

    def app(self, info: GraphQLResolveInfo) -> "AppNode":
        return self._catalog.apps[self.appID]


def _trigger(raw: dict[str, Any]) -> dict[str, Any]:
    if "cron" in raw:
        return {"type": "CRON", "value": raw["cron"], "condition": None}
    return {"type": "EVENT", "value": raw["event"], "condition": raw.get("expression")}


def _cancellation(raw: dict[str, Any]) -> dict[str, Any]:
    condition = match_to_expression(raw["match"]) if raw.get("match") else raw.get("if")
    timeout = raw.get("timeout")
    return {"event": raw["event"], "condition": condition, "timeout": None if timeout is None else str(timeout)}


class AppNode:
    """``App``: the functions of one file (or those defined in code)."""

    def __init__(self, app_id: str, url: str, name: str) -> None:
        self.id = app_id
        self.url = url
        self.name = self.externalID = name
        self.sdkLanguage = "python"
        self.sdkVersion = _own_version()
        self.functions: list[FunctionNode] = []

    @property
    def functionCount(self) -> int:
        return len(self.functions)


class Catalog:
    """Every loaded function and the apps they make up, ordered by id and by name."""

    def __init__(self, functions: Iterable[Function]) -> None:
        self.functions: dict[str, FunctionNode] = {}
        self.apps: dict[str, AppNode] = {}
        for fn in sorted(functions, key=lambda f: f.id):
            node = FunctionNode(self, fn.describe())
            self.functions[node.id] = node
            app = self.apps.get(node.appID)
            if app is None:
                app = self.apps[node.appID] = AppNode(node.appID, node.app_url, node.app_name)
            app.functions.append(node)

    def app_list(self) -> list[AppNode]:
        return sorted(self.apps.values(), key=lambda a: (a.name, a.url))
