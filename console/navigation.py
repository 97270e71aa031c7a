"""Going from one thing to what it is linked to: a run, its trigger event and back, an invoke's
child run and its parent, a step's inspector; and the actions that make a new run to go to
(rerun from a step, replay an event).

Each opens a screen on top of the current one, so `esc` retraces the path the operator took.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from executor import Event, Run

from .screens.dialogs import ConfirmScreen
from .widgets.format import short_id

if TYPE_CHECKING:
    from .app import DurableConsole


class NavigationMixin:
    """Opening linked things, for ``DurableConsole``."""

    def open_run(self: "DurableConsole", run_id: str) -> None:
        from .screens.run_detail import RunDetailScreen

        self.push_screen(RunDetailScreen(run_id, self.current_mode))

    def open_event(self: "DurableConsole", event_id: str) -> None:
        from .screens.event_detail import EventDetailScreen

        self.push_screen(EventDetailScreen(event_id, self.current_mode))

    def open_inspector(self: "DurableConsole", run_id: str, key: str | None) -> None:
        """The full-screen inspector of a step (``key``: its hashed id, or ``step#n`` for one
        attempt) or, with no key, of the run itself."""
        from .screens.inspector import InspectorScreen

        self.push_screen(InspectorScreen(run_id, key, self.current_mode))

    async def show_runs_of(self: "DurableConsole", function_id: str) -> None:
        from .screens.runs import RunsScreen

        await self.action_view("runs")
        runs = self.screen_stack[0]
        if isinstance(runs, RunsScreen):
            runs.set_filter(f"fn:{function_id}")

    def rerun_from(self: "DurableConsole", run: Run, step_id: str) -> None:
        """Ask, then start a run that keeps the results of the steps before ``step_id`` and runs
        that step and the rest again; open it."""
        async def answered(yes: bool | None) -> None:
            if not yes:
                return
            began = self.backend.now_ms()
            try:
                new = await self.backend.rerun(run.id, from_step=step_id)
            except Exception as exc:
                self.report_failure(f"could not rerun run {short_id(run.id)} from {step_id}", exc)
                return
            self.note(f"rerun of {short_id(run.id)} from {step_id}: started {new.function_id} {short_id(new.id)}",
                      ts=began)
            self.open_run(new.id)

        self.push_screen(ConfirmScreen(
            f"Rerun run {short_id(run.id)} of {run.function_id} from step {step_id}?",
            f"A new run starts on the same event. It keeps the results of the steps reached before {step_id} "
            f"(they do not run again) and runs {step_id} and everything after it. This run stays as it is."),
            answered)

    def replay(self: "DurableConsole", event: Event) -> None:
        """Ask, then send the event again (same name and data, a new id) and say what it started."""
        async def answered(yes: bool | None) -> None:
            if not yes:
                return
            began = self.backend.now_ms()
            try:
                results = await self.backend.send([{"name": event.name, "data": dict(event.data),
                                                    **({"user": event.user} if event.user else {})}])
                text = await self._describe_sent(results)
            except Exception as exc:
                self.report_failure(f"could not replay event {short_id(event.id)}", exc)
                return
            self.note(text.replace("sent ", "replayed ", 1), ts=began)

        self.push_screen(ConfirmScreen(
            f"Replay event {event.name} {short_id(event.id)}?",
            "The same name and data are sent again as a new event: the functions it triggers start new runs, and "
            "a run waiting for such an event may resume. The original event and its runs stay as they are."),
            answered)
