"""What every resolver shares for one request: the executor's read API with small per-request
caches (a query that names the same event or function ten times reads it once), and the errors
a query can end in."""

from __future__ import annotations

from typing import Any

import orjson
from graphql import GraphQLError

from executor.executor import Executor
from executor.records import Event, Run
from executor.service.gql.catalog import Catalog


class NotFound(GraphQLError):
    """An id that names nothing. Tools poll for runs that do not exist yet, so this is an error the
    client can see and retry on, never a silent null."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "NOT_FOUND"})


class BadRequest(GraphQLError):
    """Arguments the schema accepts but durable-tui cannot honour."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "BAD_REQUEST"})


def to_json(value: Any) -> str:
    return orjson.dumps(value).decode()


class Reads:
    """The per-request view of one executor (GraphQL's context value)."""

    def __init__(self, executor: Executor) -> None:
        self.ex = executor
        self._events: dict[str, Event | None] = {}
        self._catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        """Functions and apps as loaded when the request first asked for them."""
        if self._catalog is None:
            self._catalog = Catalog(self.ex.functions.values())
        return self._catalog

    async def event(self, event_id: str) -> Event | None:
        if event_id not in self._events:
            self._events[event_id] = await self.ex.event(event_id)
        return self._events[event_id]

    async def require_run(self, run_id: str) -> Run:
        run = await self.ex.run(run_id)
        if run is None:
            raise NotFound(f"no run with id {run_id!r}: it has not been created yet (a run appears once its "
                           "event is stored and routed), or the id is wrong")
        return run
