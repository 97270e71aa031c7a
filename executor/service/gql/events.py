"""Events as the dev server's GraphQL shows them, with the runs each one started."""

from __future__ import annotations

from graphql import GraphQLResolveInfo

from executor.records import Event, Run, RunStatus
from executor.service.gql.reads import Reads, to_json
from executor.service.gql.runs import FunctionRunNode

#: The most runs one event's run list reads (a fan-out to more functions than this is cut off).
MAX_RUNS_PER_EVENT = 1000
_PENDING = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})


class EventNode:
    """``Event``; its run-derived fields share one read of the event's runs."""

    def __init__(self, reads: Reads, event: Event) -> None:
        self._reads = reads
        self._runs: list[Run] | None = None
        self.id = event.id
        self.name = event.name
        self.createdAt = event.ts
        self.payload = to_json(event.data)
        self.raw = to_json(event.to_dict())

    async def _started(self) -> list[Run]:
        if self._runs is None:
            self._runs = await self._reads.ex.runs(event_id=self.id, limit=MAX_RUNS_PER_EVENT)
        return self._runs

    async def functionRuns(self, info: GraphQLResolveInfo) -> list[FunctionRunNode]:
        return [FunctionRunNode(self._reads, run) for run in await self._started()]

    async def totalRuns(self, info: GraphQLResolveInfo) -> int:
        return len(await self._started())

    async def pendingRuns(self, info: GraphQLResolveInfo) -> int:
        return sum(run.status in _PENDING for run in await self._started())

    async def status(self, info: GraphQLResolveInfo) -> str:
        """Inngest's summary: failed runs outweigh running ones; all failed is FAILED, some PARTIALLY_FAILED."""
        runs = await self._started()
        if not runs:
            return "NO_FUNCTIONS"
        failed = sum(run.status == RunStatus.FAILED for run in runs)
        if failed:
            return "FAILED" if failed == len(runs) else "PARTIALLY_FAILED"
        return "RUNNING" if any(run.status in _PENDING for run in runs) else "COMPLETED"
