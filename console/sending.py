"""What the console sends: events (`e`), signals (`s`), invocations (`i`) and the demo events (`d`).

Each opens a dialog pre-filled from what the cursor is on, awaits the backend inside it (a
refusal is shown where it can be fixed), then reports what happened in a notification and the
Log view, stamped with the time the send began so it reads before what the runs then logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from textual import work

from executor import RESERVED_PREFIX, Event

from .backend import SendResult
from .screens.dialogs import ConfirmScreen
from .screens.form import FormSpec, JsonFormScreen
from .screens.prefill import data_for_expression
from .widgets.format import clock_time, short_id

if TYPE_CHECKING:
    from .app import DurableConsole

@dataclass(frozen=True)
class Outcome:
    """What a send did, and when it began (for the Log view's order)."""

    text: str
    ts: int


class SendingMixin:
    """The send actions of ``DurableConsole``."""

    @work(exclusive=True, group="dialog", exit_on_error=False)
    async def action_send_event(self: "DurableConsole") -> None:
        selection = self.selection()
        functions, waits, recent = await asyncio.gather(self.backend.functions(), self.backend.waits(),
                                                        self.backend.events(limit=100))
        names = sorted({name for f in functions for name in f.events}
                       | {w.event for w in waits if w.kind == "event" and w.event})
        history = distinct_events((info.event.name, info.event.data) for info in recent)
        spec = FormSpec(title="Send an event", name_label="name", placeholder="event name, e.g. app/user.created",
                        submit=self._send_one, suggestions=names, history=history)
        wait = selection.wait
        if wait is not None and wait.kind == "event" and wait.event:
            spec.name = wait.event
            spec.data = data_for_expression(wait.expression, await self._trigger_event(wait.run_id))
            spec.hint = f"pre-filled to satisfy the wait of run {short_id(wait.run_id)}: {wait.expression or 'any'}"
        elif selection.event is not None and not selection.event.name.startswith(RESERVED_PREFIX):
            spec.name, spec.data = selection.event.name, dict(selection.event.data)
        self.push_screen(JsonFormScreen(spec), self._after_send)

    async def _trigger_event(self: "DurableConsole", run_id: str) -> Event | None:
        run = await self.backend.run(run_id)
        info = await self.backend.event(run.event_id) if run is not None and run.event_id else None
        return info.event if info is not None else None

    async def _send_one(self: "DurableConsole", name: str, data: dict[str, Any]) -> Outcome:
        began = self.backend.now_ms()
        results = await self.backend.send([{"name": name, "data": data}])
        return Outcome(await self._describe_sent(results), began)

    async def _describe_sent(self: "DurableConsole", results: list[SendResult]) -> str:
        """One line per event: which runs it started (function and short id) and resumed."""
        run_ids = [r for result in results for r in result.started + result.resumed]
        functions = {run.id: run.function_id for run in await self.backend.runs_by_id(run_ids)}

        def runs(ids: Sequence[str]) -> str:
            return ", ".join(f"{functions.get(r, '?')} {short_id(r)}" for r in ids)

        lines = []
        for result in results:
            parts = []
            if result.started:
                parts.append(f"started {runs(result.started)}")
            if result.resumed:
                parts.append(f"resumed {runs(result.resumed)}")
            lines.append(f"sent {result.name}: " + ("; ".join(parts) or "no function is triggered by it "
                                                                           "and no run was waiting for it"))
        return "\n".join(lines)

    def _after_send(self: "DurableConsole", outcome: Outcome | None) -> None:
        if outcome is not None:
            self.note(outcome.text, ts=outcome.ts)

    @work(exclusive=True, group="dialog", exit_on_error=False)
    async def action_send_signal(self: "DurableConsole") -> None:
        wait = self.selection().wait
        waits = await self.backend.waits()
        signals = sorted({w.signal for w in waits if w.kind == "signal" and w.signal and w.active})
        spec = FormSpec(title="Send a signal", name_label="signal", placeholder="signal name",
                        submit=self._signal, suggestions=signals)
        if wait is not None and wait.superseded:
            # Sending it would resume the run that took it over, not this one: say so, pre-fill nothing.
            owner = next((w for w in waits if w.kind == "signal" and w.signal == wait.signal and w.active), None)
            taker = f"run {short_id(owner.run_id)}" if owner is not None else "another run"
            spec.hint = (f"the wait under the cursor is superseded: {wait.signal} now resumes {taker}; it ends at "
                         f"its timeout {clock_time(wait.deadline, self.backend.now_ms())}, or with f")
        elif wait is not None and wait.kind == "signal" and wait.signal:
            spec.name = wait.signal
        self.push_screen(JsonFormScreen(spec), self._after_send)

    async def _signal(self: "DurableConsole", signal: str, data: dict[str, Any]) -> Outcome:
        began = self.backend.now_ms()
        run_id = await self.backend.send_signal(signal, data)
        run = await self.backend.run(run_id)
        return Outcome(f"signal {signal} resumed {run.function_id if run else 'run'} {short_id(run_id)}", began)

    @work(exclusive=True, group="dialog", exit_on_error=False)
    async def action_invoke(self: "DurableConsole") -> None:
        function_id = self.selection().function_id or ""
        functions = [f.id for f in await self.backend.functions() if f.loaded]
        spec = FormSpec(title="Invoke a function", name_label="function", placeholder="function id",
                        submit=self._invoke, suggestions=functions, name=function_id)
        self.push_screen(JsonFormScreen(spec), self._after_send)

    async def _invoke(self: "DurableConsole", function_id: str, data: dict[str, Any]) -> Outcome:
        began = self.backend.now_ms()
        run = await self.backend.invoke(function_id, data)
        return Outcome(f"invoked {function_id}: started run {short_id(run.id)}", began)

    def action_demo(self: "DurableConsole") -> None:
        """`d` asks first: a stray `d` (typed into the wrong place) must not start a dozen runs."""
        count = len(self.demo_events)
        names = sorted({str(e.get("name")) for e in self.demo_events})
        listed = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")

        def answered(yes: bool | None) -> None:
            if yes:
                self.send_demo()

        self.push_screen(ConfirmScreen(f"Send the {count} demo event{'s' if count != 1 else ''}?",
                                       f"{listed}. Each starts runs of the sample functions."), answered)

    @work(group="demo", exit_on_error=False)   # not "dialog": opening one must not cancel the send
    async def send_demo(self: "DurableConsole") -> None:
        began = self.backend.now_ms()
        try:
            results = await self.backend.send(self.demo_events)
            details = await self._describe_sent(results)
        except Exception as exc:
            self.report_failure("sending the demo events", exc)
            return
        started = sum(len(r.started) for r in results)
        self.note(details, headline=f"sent {len(results)} demo events: started {started} runs (details: 5 Log)",
                  ts=began)


def distinct_events(pairs: Iterable[tuple[str, dict[str, Any]]], keep: int = 10) -> list[tuple[str, dict[str, Any]]]:
    """Recent (name, data) pairs, newest first, without repeats or the executor's own events."""
    seen, out = set(), []
    for name, data in pairs:
        key = (name, orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
        if name.startswith(RESERVED_PREFIX) or key in seen:
            continue
        seen.add(key)
        out.append((name, data))
        if len(out) == keep:
            break
    return out
