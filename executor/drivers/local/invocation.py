"""One invocation: the function run from the top against its memo, until it finishes or
every branch is blocked on something the engine must do (a planned step, a sleep, a retry).

The Step API (``context.Step``) calls into this object; the engine drives it with ``settle``
and then commits what it collected. Blocking is an ``await`` on a future nobody resolves:
the engine cancels the function's task once nothing can move, which is how one invocation
ends without the author's code ever seeing an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from executor.drivers.local.attempt import Outcome, current_handler
from executor.errors import RunFailure, StepError, StepInputError
from executor.records import Event, Run, StepState, StepStatus
from executor.util.ids import display_step_id, hash_step_id

if TYPE_CHECKING:
    from executor.drivers.local.function import Function
    from executor.engine.engine import Engine

# Event-loop turns with no progress before a blocked function counts as settled. gather()
# starts its children one turn after it is called, so a couple of turns is already enough.
_IDLE_TURNS = 4


@dataclass
class Planned:
    """A new ``step.run`` found in strict replay mode, executed by the engine after the invocation."""

    state: StepState
    handler: Callable[..., Any]
    args: tuple[Any, ...]


@dataclass
class Collected:
    """What an invocation leaves for the engine to commit."""

    planned: list[Planned] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    fatal: RunFailure | None = None
    cancelled: bool = False


class Invocation:
    def __init__(self, engine: "Engine", run: Run, fn: "Function", event: Event,
                 memo: dict[str, StepState], hidden: set[str]) -> None:
        self.engine = engine
        self.run = run
        self.fn = fn
        self.event = event
        self.memo = memo
        self.hidden = hidden
        self.strict = not fn.checkpointing
        self.collected = Collected()
        self.reached: set[str] = set()
        self._counters: dict[str, int] = {}
        self._max_seq = -1
        self._next_seq = max((s.seq for s in memo.values()), default=-1) + 1
        self._memoized = sum(1 for s in memo.values() if s.has_memo)
        self.replaying = self._memoized > 0
        self.suspending = False
        self._executing = 0
        self._blocked = 0
        self._version = 0
        self._group: str | None = None
        self._poke: asyncio.Future[None] | None = None

    # ---- the engine's side --------------------------------------------------------------

    def _touch(self) -> None:
        self._version += 1
        if self._poke is not None and not self._poke.done():
            self._poke.set_result(None)

    async def settle(self, task: asyncio.Task[Any]) -> None:
        """Return when the function finished, or when all of it is blocked on the engine."""
        loop = asyncio.get_running_loop()
        while not task.done():
            if self._executing or not self._blocked:
                self._poke = loop.create_future()
                await asyncio.wait({task, self._poke}, return_when=asyncio.FIRST_COMPLETED)
                continue
            version = self._version
            for _ in range(_IDLE_TURNS):
                await asyncio.sleep(0)
            if version == self._version and not self._executing and not task.done():
                return

    def assign_group(self, state: StepState) -> None:
        """Steps that start while another is still being executed or committed ran in parallel:
        they share the first one's hashed id as their group, which the console draws together."""
        state.group = self._group if self._executing and self._group else state.hashed_id
        self._group = state.group

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """Mark a branch as busy with the engine (a handler, a commit): the invocation must not be
        judged settled, and its task never cancelled, in the middle of it."""
        self._executing += 1
        self._touch()
        try:
            yield
        finally:
            self._executing -= 1
            self._touch()

    # ---- the Step API's side ------------------------------------------------------------

    def where(self, step_id: str | None = None) -> str:
        place = f"function {self.fn.id!r}, run {self.run.id}"
        return f"{place}, step {step_id!r}" if step_id else place

    async def block(self) -> NoReturn:
        self._blocked += 1
        self._touch()
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable: blocked steps are only ever cancelled")

    async def fail_run(self, failure: RunFailure) -> NoReturn:
        if self.collected.fatal is None:
            self.collected.fatal = failure
        self.suspending = True
        await self.block()

    async def reach(self, step_id: str, op: str) -> StepState:
        """Account for a step call: its hashed ID, memo, ordering and limits."""
        if not isinstance(step_id, str) or not step_id:
            raise StepInputError(f"{self.where()}: a step ID must be a non-empty string, got {step_id!r}")
        outer = current_handler.get()
        if outer is not None:
            raise StepInputError(
                f"{self.where(step_id)}: nested steps are not supported (called inside the handler of "
                f"step {outer!r}); call it from the function body instead")
        if self.engine.cancel_requested(self.run.id):
            self.collected.cancelled = True
            self.suspending = True
            await self.block()
        occurrence = self._counters.get(step_id, 0)
        self._counters[step_id] = occurrence + 1
        hashed = hash_step_id(step_id, occurrence)
        self._touch()
        existing = self.memo.get(hashed)
        if hashed in self.hidden:
            # Strict replay without optimize_parallelism: this invocation stands for the moment one
            # sibling finished, so the siblings that finished later must still look in flight.
            self.reached.add(hashed)
            await self.block()
        if existing is not None:
            if hashed not in self.reached:
                self.reached.add(hashed)
                self._check_order(existing, op)
                if existing.has_memo:
                    self._memoized -= 1
                    if self._memoized == 0:
                        self.replaying = False
            if existing.status == StepStatus.FAILED and (existing.error or {}).get("fatal"):
                err = existing.error or {}
                await self.fail_run(RunFailure(err.get("name", "Error"), err.get("message", ""), err.get("stack", "")))
            return existing
        self.replaying = False
        if len(self.memo) + 1 > self.engine.limits.max_steps:
            await self.fail_run(RunFailure(
                "StepLimitExceeded",
                f"{self.where(display_step_id(step_id, occurrence))}: the run exceeded the step limit of "
                f"{self.engine.limits.max_steps} steps; split the work with step.invoke or send_event"))
        state = StepState(run_id=self.run.id, hashed_id=hashed, step_id=display_step_id(step_id, occurrence),
                          name=step_id, op=op, seq=self._next_seq)
        self._next_seq += 1
        self.memo[hashed] = state
        self.reached.add(hashed)
        return state

    def _check_order(self, existing: StepState, op: str) -> None:
        if existing.op != op:
            self.collected.warnings.append({
                "message": f"step {existing.step_id!r} was a {existing.op} step and is now reached as {op}",
                "steps": [existing.step_id]})
        if existing.seq < self._max_seq:
            later = [s.step_id for s in self.memo.values() if s.seq == self._max_seq]
            self.collected.warnings.append({
                "message": f"step {existing.step_id!r} was reached after {later[0] if later else 'a later step'!r}"
                           " on replay, in a different order than it first ran",
                "steps": [existing.step_id, *later]})
        self._max_seq = max(self._max_seq, existing.seq)

    def is_pending(self, state: StepState) -> bool:
        """A step someone else is finishing (strict-mode execution, a retry not yet due, a sleep)."""
        if state.hashed_id in self.engine.inflight(self.run.id):
            return True
        if state.status == StepStatus.RETRYING:
            return (state.due_at or 0) > self.engine.clock.now_ms()
        return state.status in (StepStatus.SLEEPING, StepStatus.WAITING)

    async def run_step(self, state: StepState, handler: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """A ``step.run`` that has no memo yet."""
        if self.is_pending(state):
            await self.block()
        if self.strict or self.suspending:
            self.collected.planned.append(Planned(state, handler, args))
            await self.block()
        self.assign_group(state)
        with self.working():
            outcome, committed = await self.engine.execute_step(self, state, handler, args)
        self.memo[state.hashed_id] = committed
        return await self.deliver(committed, outcome)

    async def deliver(self, state: StepState, outcome: Outcome) -> Any:
        if outcome.kind == Outcome.DONE:
            return outcome.value
        if outcome.kind == Outcome.FAILED:
            raise self.step_error(state)
        if outcome.kind == Outcome.FATAL:
            err = outcome.error or {}
            await self.fail_run(RunFailure(err.get("name", "NonRetriableError"), err.get("message", ""),
                                           err.get("stack", "")))
        self.suspending = True
        await self.block()

    def step_error(self, state: StepState) -> StepError:
        err = (state.memo or {}).get("error") if isinstance(state.memo, dict) else None
        err = err or state.error or {}
        return StepError(state.step_id, err.get("name", "Error"), err.get("message", ""), err.get("stack", ""))

    async def fail_step(self, state: StepState, name: str, message: str) -> NoReturn:
        """Fail a step for good without running anything (a bad expression, a missing function):
        the function sees a ``StepError`` it may catch, and replays see the same."""
        with self.working():
            committed = await self.engine.commit_step(
                self.run, state, Outcome(Outcome.FAILED, error={"name": name, "message": message, "stack": ""}))
        self.memo[state.hashed_id] = committed
        raise self.step_error(committed)

    async def reject(self, state: StepState, exc: Exception) -> NoReturn:
        """A step called with arguments that can never work: record it failed and fail the run."""
        error = {"name": type(exc).__name__, "message": str(exc), "stack": ""}
        with self.working():
            committed = await self.engine.commit_step(self.run, state, Outcome(Outcome.FATAL, error=error))
        self.memo[state.hashed_id] = committed
        await self.fail_run(RunFailure(error["name"], error["message"]))
