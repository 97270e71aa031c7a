"""The ``runs`` connection: the dev server's run list, paged with cursors.

The executor lists runs newest first (run ids are ULIDs, so id order is queue order) with at most
one status and one function as filters; the rest of Inngest's filter (several statuses, apps, a
time window on any of the three times) is applied here while paging through that list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLResolveInfo

from executor.records import Run
from executor.service.gql.reads import BadRequest, Reads
from executor.service.gql.runs import LISTED_RUN_STATUSES, RunNode

MAX_FIRST = 400
#: Runs read from the store per round while a filter skips some of them.
SCAN_CHUNK = 500
_TIME_FIELDS = {"QUEUED_AT": "created_at", "STARTED_AT": "started_at", "ENDED_AT": "ended_at"}


@dataclass(frozen=True)
class RunFilter:
    """``RunsFilterV2`` with enum names turned into the executor's values."""

    since: int
    until: int | None
    time_field: str
    statuses: frozenset[str] | None
    function_ids: frozenset[str] | None
    app_ids: frozenset[str] | None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> "RunFilter":
        if raw.get("query") is not None:
            raise BadRequest("runs: CEL queries (filter.query) are not supported by durable-tui; "
                             "filter by status, functionIDs, appIDs and a time window instead")
        statuses = raw.get("status")
        return cls(
            since=raw["from"], until=raw.get("until"), time_field=_TIME_FIELDS[raw.get("timeField") or "QUEUED_AT"],
            # a status durable-tui never gives a run selects nothing
            statuses=None if statuses is None else frozenset(
                LISTED_RUN_STATUSES[s] for s in statuses if s in LISTED_RUN_STATUSES),
            function_ids=_set(raw.get("functionIDs")), app_ids=_set(raw.get("appIDs")))

    def matches(self, run: Run, reads: Reads) -> bool:
        when = getattr(run, self.time_field)
        if when is None or when < self.since or (self.until is not None and when > self.until):
            return False
        if self.statuses is not None and run.status not in self.statuses:
            return False
        if self.function_ids is not None and run.function_id not in self.function_ids:
            return False
        if self.app_ids is not None:
            fn = reads.catalog.functions.get(run.function_id)
            return fn is not None and fn.appID in self.app_ids
        return True

    def past_window(self, run: Run) -> bool:
        """Every later (older) run is outside the window too: only true for queue time, the list's order."""
        return self.time_field == "created_at" and run.created_at < self.since


def _set(values: list[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


def _only(values: frozenset[str] | None) -> str | None:
    """The one value the executor can filter by itself, if there is exactly one."""
    return next(iter(values)) if values is not None and len(values) == 1 else None


async def scan(reads: Reads, flt: RunFilter, after: str | None, want: int | None) -> tuple[list[Run], bool]:
    """Up to ``want`` matching runs older than ``after`` (all of them when None), and whether more match."""
    if flt.statuses is not None and not flt.statuses:
        return [], False
    found: list[Run] = []
    cursor = after
    while True:
        batch = await reads.ex.runs(status=_only(flt.statuses), function_id=_only(flt.function_ids),
                                    limit=SCAN_CHUNK, before=cursor)
        for run in batch:
            if flt.past_window(run):
                return found, False
            if flt.matches(run, reads):
                if want is not None and len(found) == want:
                    return found, True
                found.append(run)
        if len(batch) < SCAN_CHUNK:
            return found, False
        cursor = batch[-1].id


class RunsConnection:
    """``RunsV2Connection``; ``totalCount`` is only counted when asked for."""

    def __init__(self, reads: Reads, flt: RunFilter, runs: list[Run], more: bool, after: str | None) -> None:
        self._reads = reads
        self._filter = flt
        self.edges = [{"node": RunNode(reads, run), "cursor": run.id} for run in runs]
        self.pageInfo = {"hasNextPage": more, "hasPreviousPage": after is not None,
                         "startCursor": runs[0].id if runs else None, "endCursor": runs[-1].id if runs else None}

    async def totalCount(self, info: GraphQLResolveInfo) -> int:
        runs, _ = await scan(self._reads, self._filter, None, None)
        return len(runs)


async def list_runs(reads: Reads, first: int, after: str | None, order_by: list[dict[str, str]],
                    raw_filter: dict[str, Any]) -> RunsConnection:
    if not 1 <= first <= MAX_FIRST:
        raise BadRequest(f"runs: first must be between 1 and {MAX_FIRST}, not {first}")
    if any(o != {"field": "QUEUED_AT", "direction": "DESC"} for o in order_by):
        raise BadRequest("runs: durable-tui lists runs newest first by queue time only; "
                         "use orderBy: [{field: QUEUED_AT, direction: DESC}] or leave it empty")
    flt = RunFilter.parse(raw_filter)
    runs, more = await scan(reads, flt, after, first)
    return RunsConnection(reads, flt, runs, more, after)
