"""The root ``Query``: each field reads through the executor's public read API only."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

from executor.service.gql.catalog import AppNode, FunctionNode
from executor.service.gql.events import EventNode
from executor.service.gql.listing import RunsConnection, list_runs
from executor.service.gql.reads import NotFound, Reads
from executor.service.gql.runs import RunNode, run_trace, run_trigger, span_output

#: Events per page of the (older) ``events`` list, as Inngest's dev server pages it.
EVENTS_PAGE = 100


def _reads(info: GraphQLResolveInfo) -> Reads:
    return info.context


class Query:
    """The root value: one instance serves every request; per-request state lives in ``Reads``."""

    async def run(self, info: GraphQLResolveInfo, runID: str) -> RunNode:
        reads = _reads(info)
        return RunNode(reads, await reads.require_run(runID))

    async def runTrace(self, info: GraphQLResolveInfo, runID: str) -> dict[str, Any]:
        reads = _reads(info)
        return await run_trace(reads, await reads.require_run(runID))

    async def runTrigger(self, info: GraphQLResolveInfo, runID: str) -> dict[str, Any]:
        reads = _reads(info)
        return await run_trigger(reads, await reads.require_run(runID))

    async def runTraceSpanOutputByID(self, info: GraphQLResolveInfo, outputID: str) -> dict[str, Any]:
        return await span_output(_reads(info), outputID)

    async def runs(self, info: GraphQLResolveInfo, first: int, orderBy: list[dict[str, str]],
                   filter: dict[str, Any], after: str | None = None) -> RunsConnection:
        return await list_runs(_reads(info), first, after, orderBy, filter)

    async def event(self, info: GraphQLResolveInfo, query: dict[str, Any]) -> EventNode:
        reads = _reads(info)
        event = await reads.event(query["eventId"])
        if event is None:
            raise NotFound(f"no event with id {query['eventId']!r}")
        return EventNode(reads, event)

    async def events(self, info: GraphQLResolveInfo, query: dict[str, Any]) -> list[EventNode]:
        reads = _reads(info)
        last = query.get("lastEventId")
        if last is not None and await reads.event(last) is None:
            raise NotFound(f"events: lastEventId {last!r} names no event; pass the id of the last event of the "
                           "previous page, or leave it out for the newest events")
        events = await reads.ex.events(limit=EVENTS_PAGE, before=last)
        return [EventNode(reads, event) for event in events]

    def functions(self, info: GraphQLResolveInfo) -> list[FunctionNode]:
        return list(_reads(info).catalog.functions.values())

    def functionBySlug(self, info: GraphQLResolveInfo, query: dict[str, Any]) -> FunctionNode | None:
        return _reads(info).catalog.functions.get(query["functionSlug"])

    def apps(self, info: GraphQLResolveInfo) -> list[AppNode]:
        return _reads(info).catalog.app_list()

    def app(self, info: GraphQLResolveInfo, id: str) -> AppNode | None:
        return _reads(info).catalog.apps.get(id)
