"""``RemoteBackend``: the same console attached to a ``durable-tui serve`` over HTTP and SSE.

Everything goes through ``executor.service.client``. Records come back as the executor's own types
(``Run``, ``StepState``, ``Event``) so the views cannot tell the two backends apart. The change
stream reconnects by itself; after a reconnect (or a server-side ``reset``) the views reload,
since changes may have been missed in between.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from console.backend import EventInfo, FunctionInfo, Kind, LogLine, SendResult, connection_change, trigger_text
from executor import AppInfo, Change, Event, PendingWait, Run, StepState
from executor.service.client import ApiRequestError, Client, ServerUnavailableError

_RUN_FIELDS = {f.name for f in fields(Run)}
#: How many runs the Functions view's counts read at most (pages of 1000).
COUNT_PAGES = 20
#: Seconds before the first reconnection attempt, doubling up to ``RECONNECT_MAX``.
RECONNECT_FIRST = 1.0
RECONNECT_MAX = 10.0
#: Pause before reconnecting to a stream the server closed, so a server that keeps closing it
#: is not hammered.
RESYNC_PAUSE = 0.2


def run_from_dict(raw: dict[str, Any]) -> Run:
    return Run(**{k: v for k, v in raw.items() if k in _RUN_FIELDS})


def _load_error_text(error: dict[str, Any]) -> str:
    where = f"{error.get('file')}:{error['line']}" if error.get("line") else str(error.get("file"))
    return f"{where}: {error.get('message')}"


class RemoteBackend:
    """A console's view of a server: reads and actions as HTTP calls, live changes over SSE."""

    def __init__(self, url: str, key: str | None = None, *, announcement: str = "") -> None:
        self.url = url.rstrip("/")
        self.title = f"attached · {self.url}"
        self.announcement = announcement
        self.quit_warning = ""
        self._key = key
        self._client: Client | None = None
        self._event_names: dict[str, str] = {}
        self._resumed: dict[str, tuple[str, ...]] = {}
        self._lines: list[LogLine] = []
        self._seq = itertools.count(1)

    @property
    def client(self) -> Client:
        assert self._client is not None, "start() the backend first"
        return self._client

    async def start(self) -> None:
        self._client = Client(self.url, self._key)
        try:
            await self._client.functions()
        except ServerUnavailableError:
            await self._client.aclose()
            raise
        self._note("INFO", "console", f"attached to {self.url}")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def _note(self, level: str, source: str, message: str) -> LogLine:
        line = LogLine(next(self._seq), self.now_ms(), level, source, message)
        self._lines.append(line)
        return line

    # ---- reads --------------------------------------------------------------------------

    async def functions(self) -> list[FunctionInfo]:
        listing = await self.client.functions()
        counts = await self._run_counts()
        out, flagged = [], set()
        for raw in listing.functions:
            error = raw.get("load_error")
            if error:
                flagged.add(error.get("file"))
            out.append(FunctionInfo(
                id=raw["id"], name=raw.get("name") or raw["id"], file=raw.get("source_file"), mode=raw.get("mode", ""),
                retries=raw.get("retries"), counts=dict(counts.get(raw["id"], {})), app=raw.get("app"),
                url=raw.get("url"),
                triggers=tuple(trigger_text(t) for t in raw.get("triggers", [])),
                events=tuple(t["event"] for t in raw.get("triggers", []) if "event" in t),
                error=_load_error_text(error) if error else None,
                flow={**({"settings": raw["flow_control"]} if raw.get("flow_control") else {}),
                      **(raw.get("flow_usage") or {})}))
        # A broken file none of whose functions is loaded gets a row of its own.
        for error in listing.load_errors:
            if error.get("file") not in flagged:
                name = Path(str(error.get("file"))).name
                out.append(FunctionInfo(id=name, name=name, file=error.get("file"), error=_load_error_text(error)))
        return out

    async def run_counts(self) -> dict[str, int]:
        """Summed from pages of runs (up to ``COUNT_PAGES``): the API has no count query."""
        total: Counter[str] = Counter()
        for counts in (await self._run_counts()).values():
            total.update(counts)
        return dict(total)

    async def _run_counts(self) -> dict[str, Counter[str]]:
        counts: dict[str, Counter[str]] = {}
        cursor = None
        for _ in range(COUNT_PAGES):
            page = await self.client.runs(limit=1000, cursor=cursor)
            for raw in page.items:
                counts.setdefault(raw["function_id"], Counter())[raw["status"]] += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return counts

    async def runs(self, *, status: str | None = None, function_id: str | None = None,
                   limit: int = 500, before: str | None = None) -> list[Run]:
        out: list[Run] = []
        cursor = before
        while len(out) < limit:
            page = await self.client.runs(status=status, function_id=function_id, limit=min(limit - len(out), 1000),
                                          cursor=cursor)
            out.extend(run_from_dict(raw) for raw in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return out

    async def runs_by_id(self, run_ids: Iterable[str]) -> list[Run]:
        """Changed runs are nearly always the newest: one page finds most, the rest one by one."""
        wanted = set(run_ids)
        if not wanted:
            return []
        found = {run.id: run for run in await self.runs(limit=min(len(wanted) + 100, 1000)) if run.id in wanted}
        for run_id in wanted - found.keys():
            run = await self.run(run_id)
            if run is not None:
                found[run_id] = run
        return list(found.values())

    async def run(self, run_id: str) -> Run | None:
        raw = await self._run_raw(run_id)
        return run_from_dict(raw) if raw is not None else None

    async def _run_raw(self, run_id: str) -> dict[str, Any] | None:
        try:
            return await self.client.run(run_id)
        except ApiRequestError as exc:
            if exc.status == 404:
                return None
            raise

    async def steps(self, run_id: str) -> list[StepState]:
        raw = await self._run_raw(run_id)
        return [StepState.from_dict(run_id, s) for s in raw.get("steps", [])] if raw is not None else []

    async def event_names(self, event_ids: Iterable[str]) -> dict[str, str]:
        for event_id in {i for i in event_ids if i and i not in self._event_names}:
            self._event_names[event_id] = (await self.client.event(event_id))["name"]
        return {i: self._event_names[i] for i in event_ids if i in self._event_names}

    async def events_by_id(self, event_ids: Iterable[str]) -> list[Event]:
        """One request per event: the API has no batch read."""
        out = []
        for event_id in dict.fromkeys(i for i in event_ids if i):
            try:
                out.append(Event.from_dict(await self.client.event(event_id)))
            except ApiRequestError as exc:
                if exc.status != 404:
                    raise
        return out

    async def events(self, *, limit: int = 200, before: str | None = None) -> list[EventInfo]:
        page = await self.client.events(limit=min(limit, 1000), cursor=before)
        return [await self._event_info(Event.from_dict(raw)) for raw in page.items]

    async def event(self, event_id: str) -> EventInfo | None:
        try:
            raw = await self.client.event(event_id)
        except ApiRequestError as exc:
            if exc.status == 404:
                return None
            raise
        return await self._event_info(Event.from_dict(raw))

    async def _event_info(self, event: Event) -> EventInfo:
        self._event_names[event.id] = event.name
        started = [raw["id"] for raw in await self.client.event_runs(event.id)]
        return EventInfo(event, tuple(reversed(started)), self._resumed.get(event.id, ()))

    async def waits(self) -> list[PendingWait]:
        return [PendingWait.from_dict(raw) for raw in await self.client.waits()]

    # ---- actions ------------------------------------------------------------------------

    async def send(self, events: Sequence[dict[str, Any]]) -> list[SendResult]:
        """``POST /v1/events`` answers, per event, the runs it started and the waiting runs it
        resumed (Inngest's event API answers ids only)."""
        routed = await self.client.send_and_route(list(events))
        results = []
        for event_id, raw in zip(routed.ids, events):
            resumed = tuple(routed.resumed.get(event_id, ()))
            self._resumed[event_id] = resumed
            results.append(SendResult(event_id, raw.get("name", ""), tuple(routed.started.get(event_id, ())), resumed))
        return results

    async def send_signal(self, signal: str, data: dict[str, Any]) -> str:
        return await self.client.signal(signal, data)

    async def invoke(self, function_id: str, data: dict[str, Any]) -> Run:
        run = await self.run(await self.client.invoke(function_id, data))
        assert run is not None
        return run

    async def cancel(self, run_id: str) -> bool:
        try:
            await self.client.cancel(run_id)
        except ApiRequestError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def rerun(self, run_id: str, from_step: str | None = None) -> Run:
        run = await self.run(await self.client.rerun(run_id, from_step))
        assert run is not None
        return run

    async def fire(self, wait_id: str) -> None:
        await self.client.fire(wait_id)

    # ---- apps served by an Inngest SDK ----------------------------------------------------

    async def apps(self) -> list[AppInfo]:
        return [AppInfo.from_dict(raw) for raw in await self.client.apps()]

    async def add_app(self, url: str) -> AppInfo:
        return AppInfo.from_dict(await self.client.add_app(url))

    async def sync_app(self, name: str) -> AppInfo:
        return AppInfo.from_dict(await self.client.sync_app(name))

    async def remove_app(self, name: str) -> None:
        await self.client.remove_app(name)

    # ---- live ---------------------------------------------------------------------------

    async def subscribe(self) -> AsyncIterator[list[Change]]:
        """Changes from the server's SSE stream (its hot-reload notices arrive as log changes).

        When the server stops answering: one log line, then a ``Kind.CONNECTION`` change per
        attempt saying when the next one is (backing off up to ``RECONNECT_MAX``), so the console
        can show how long it waits; once back, a connection change and a reload (whatever
        happened meanwhile was not seen)."""
        yield [line.to_change() for line in self._lines]
        failures, resync = 0, False
        while True:
            try:
                async with self.client.stream() as changes:
                    if failures:
                        yield [self._note("INFO", "console", f"reconnected to {self.url}").to_change(),
                               connection_change(True), Change(Kind.RELOAD, "*")]
                    elif resync:
                        yield [Change(Kind.RELOAD, "*")]
                    failures, resync = 0, False
                    async for raw in changes:
                        if raw["kind"] == "reset":
                            yield [Change(Kind.RELOAD, "*")]
                        else:
                            yield [Change(raw["kind"], raw["id"], raw.get("run_id"), raw.get("status"),
                                          raw.get("data") or {})]
                # The server closed the stream (a clean shutdown, say): reconnect at once and
                # reload; a server that is gone shows up as a failure there.
                resync = True
                await asyncio.sleep(RESYNC_PAUSE)
            except ServerUnavailableError as exc:
                failures += 1
                delay = min(RECONNECT_FIRST * 2 ** (failures - 1), RECONNECT_MAX)
                batch = [connection_change(False, delay, str(exc))]
                if failures == 1:
                    message = f"lost the connection to {self.url}: {exc}; retrying, the views keep the last data"
                    batch.insert(0, self._note("WARNING", "console", message).to_change())
                yield batch
                await asyncio.sleep(delay)
