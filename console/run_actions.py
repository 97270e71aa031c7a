"""What the console does to runs and waits: cancel (`c`), rerun (`r`), fire (`f`), one at a time
or in bulk (the runs marked with `space`, or every run matching the filter).

Everything that changes a run asks first, saying what it will do and to how many runs, so a
key typed in the wrong place costs a `n`, never a run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from textual import work

from executor import Run

from .screens.dialogs import ConfirmScreen
from .widgets.format import short_id

if TYPE_CHECKING:
    from .app import DurableConsole


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class RunActionsMixin:
    """The run and wait actions of ``DurableConsole``."""

    def action_cancel_run(self: "DurableConsole") -> None:
        selection = self.selection()
        if selection.marked:
            self.cancel_many(selection.marked, "marked")
            return
        run_id = selection.run_id
        if run_id is None:
            self._needs("a run")
            return
        if selection.run_finished:
            self.notify(f"run {short_id(run_id)} has finished; there is nothing to cancel", timeout=3)
            return

        async def answered(yes: bool | None) -> None:
            if yes:
                await self.act(f"cancel run {short_id(run_id)}", self._cancel(run_id))

        self.push_screen(ConfirmScreen(f"Cancel run {short_id(run_id)} of {selection.function_id}?",
                                       "It stops at its next step boundary; finished steps stay as they are."),
                         answered)

    async def _cancel(self: "DurableConsole", run_id: str) -> str:
        cancelled = await self.backend.cancel(run_id)
        return f"run {short_id(run_id)} cancelled" if cancelled else f"run {short_id(run_id)} had already finished"

    def action_rerun(self: "DurableConsole") -> None:
        selection = self.selection()
        if selection.marked:
            self.rerun_many(selection.marked, "marked")
            return
        run_id = selection.run_id
        if run_id is None:
            self._needs("a run")
            return

        async def answered(yes: bool | None) -> None:
            if yes:
                await self.act(f"rerun run {short_id(run_id)}", self._rerun(run_id))

        self.push_screen(ConfirmScreen(f"Rerun run {short_id(run_id)} of {selection.function_id}?",
                                       "A new run of the function starts on the same event; this run stays "
                                       "as it is."), answered)

    async def _rerun(self: "DurableConsole", run_id: str) -> str:
        run: Run = await self.backend.rerun(run_id)
        return f"rerun of {short_id(run_id)}: started {run.function_id} {short_id(run.id)}"

    def action_fire(self: "DurableConsole") -> None:
        wait = self.selection().wait
        if wait is None:
            self._needs("a sleeping or waiting step")
            return
        what, outcome = fire_wording(wait.kind)

        async def answered(yes: bool | None) -> None:
            if yes:
                await self.act(f"fire {wait.step_id}", self._fire(wait.id, wait.step_id or wait.kind))

        self.push_screen(ConfirmScreen(f"Fire now: {what} {wait.step_id or ''} of run {short_id(wait.run_id)}?",
                                       outcome), answered)

    async def _fire(self: "DurableConsole", wait_id: str, step: str) -> str:
        await self.backend.fire(wait_id)
        return f"fired {step}"


    async def act(self: "DurableConsole", what: str, action: Awaitable[str]) -> None:
        """Do ``action`` and say how it went (in a notification and the Log view), stamped when it began."""
        began = self.backend.now_ms()
        try:
            self.note(await action, ts=began)
        except Exception as exc:
            self.report_failure(f"could not {what}", exc)

    # ---- in bulk ------------------------------------------------------------------------

    def cancel_many(self: "DurableConsole", runs: Sequence[Run], which: str, note: str = "") -> None:
        """Cancel ``runs`` (described as ``which``: "marked", "matching …") after asking."""
        going = [run for run in runs if not run.finished]
        if not going:
            self.notify(f"none of the {plural(len(runs), 'run')} {which} is in progress; there is nothing to "
                        "cancel", timeout=4)
            return
        done = len(runs) - len(going)
        detail = f"{'It stops' if len(going) == 1 else 'They stop'} at the next step boundary; finished steps stay."
        if done:
            one = done == 1
            detail += (f" {plural(done, 'other run')} {which} {'has' if one else 'have'} already finished and "
                       f"{'is' if one else 'are'} left alone.")
        self._ask_bulk(f"Cancel {plural(len(going), 'run')} ({which})?", f"{detail} {note}".strip(), "cancel", going,
                       self._cancel_one)

    def rerun_many(self: "DurableConsole", runs: Sequence[Run], which: str, note: str = "") -> None:
        detail = (f"Each starts a new run of its function on its original event: {plural(len(runs), 'new run')}. "
                  f"{note}").rstrip(" ")
        self._ask_bulk(f"Rerun {plural(len(runs), 'run')} ({which})?", detail, "rerun", list(runs),
                       self._rerun_one)

    def _ask_bulk(self: "DurableConsole", question: str, detail: str, verb: str, runs: list[Run],
                  act: Callable[[Run], Awaitable[bool]]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.clear_marks()
                self._bulk(verb, runs, act)

        self.push_screen(ConfirmScreen(question, detail), answered)

    async def _cancel_one(self: "DurableConsole", run: Run) -> bool:
        return await self.backend.cancel(run.id)

    async def _rerun_one(self: "DurableConsole", run: Run) -> bool:
        await self.backend.rerun(run.id)
        return True

    @work(group="bulk", exit_on_error=False)
    async def _bulk(self: "DurableConsole", verb: str, runs: list[Run],
                    act: Callable[[Run], Awaitable[bool]]) -> None:
        """One run after another (the backends act on one run per call); a failure is reported
        and the rest still go."""
        began = self.backend.now_ms()
        acted, skipped, failed = 0, 0, []
        for run in runs:
            try:
                if await act(run):
                    acted += 1
                else:
                    skipped += 1
            except Exception as exc:
                failed.append(f"{run.function_id} {short_id(run.id)}: {exc or type(exc).__name__}")
        past = {"cancel": "cancelled", "rerun": "reran"}[verb]
        lines = [f"{past} {plural(acted, 'run')}"
                 + (f"; {skipped} had already finished" if skipped else "")
                 + (f"; {len(failed)} failed" if failed else "")]
        lines += [f"could not {verb} {line}" for line in failed]
        self.note("\n".join(lines), ts=began)


def fire_wording(kind: str) -> tuple[str, str]:
    """What `f` does to this kind of wait, and what follows: for the confirmation."""
    if kind == "sleep":
        return "end the sleep", "the run continues now"
    if kind == "retry":
        return "retry now", "the next attempt starts now instead of at the end of its backoff"
    return "time out the wait", "the step returns None (as at its timeout) and the run continues"
