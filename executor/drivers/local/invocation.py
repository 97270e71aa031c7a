"""One invocation of a Python function: its body run from the top against the steps the engine
knows, until it returns, raises, or every branch waits on something only the engine can finish.

The Step API (``context.Step``) calls into this object. A step that must commit before the
function moves on (a ``step.run`` in checkpointing mode, a sleep, a wait, an invoke, a sent event) is
handed to the engine as an op through the request's ``control.checkpoint``; in strict replay the new
``step.run`` calls are only collected and reported when the invocation ends. Blocking is an
``await`` on a future nobody resolves: once nothing can move, the driver cancels the function's
task, which is how one invocation ends without the author's code ever seeing an exception.

Served over Inngest's HTTP protocol (``serving``), the invocation behaves as Inngest's SDKs do: every
new ``step.run`` is found first and decided once the body settles (the driver runs a lone one inline
and plans several), so its branch waits on a future the driver may resolve to let the body go on;
``step.send_event`` is a ``step.run`` that posts to the server's event API; and a targeted request
records the steps it skips, since reaching one instead of the target is a protocol error.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

from executor.drivers.local.attempt import current_handler, run_attempt, step_op
from executor.drivers.local.function import Function
from executor.errors import ErrorInfo, StepError, StepInputError
from executor.ops import InvocationRequest, Op, Opcode, RunStopped, display_step_id, hash_step_id
from executor.records import StepState, StepStatus
from executor.util import jsonvalues

#: How long a held step (``Invocation.hold``) may wait for the function's next op before it is
#: committed alone: a function that goes on to await something of its own is not kept from it.
HOLD_S = 0.005
#: A held step's output must leave this much of the run's state limit free.
HOLD_MARGIN_BYTES = 64 * 1024

# Event-loop turns with no progress before a blocked function counts as settled. gather()
# starts its children one turn after it is called, so a couple of turns is already enough.
_IDLE_TURNS = 4


@dataclass
class Found:
    """A new ``step.run`` strict replay found: run after the invocation settles, or planned."""

    state: StepState
    handler: Callable[..., Any]
    args: tuple[Any, ...]
    future: "asyncio.Future[StepState] | None" = field(default=None, compare=False)


@dataclass(frozen=True)
class Serving:
    """Our SDK served over Inngest's HTTP protocol. ``send_events(events, where)`` posts events to
    the server's event API and returns their ids (``where`` names the function, run and step for
    its errors)."""

    send_events: Callable[[list[Any], str], Awaitable[list[str]]]


class Invocation:
    def __init__(self, request: InvocationRequest, fn: Function, now_ms: Callable[[], int],
                 serving: Serving | None = None) -> None:
        self.request = request
        self.serving = serving
        self.now_ms = now_ms
        self.run = request.run
        self.fn = fn
        self.control = request.control
        self.known: dict[str, StepState] = dict(request.steps)
        self.strict = not fn.checkpointing or serving is not None
        self.found: list[Found] = []
        self.parked = 0                   # sleeps, waits and invokes handed over and not settled yet
        self.skipped: list[str] = []      # new steps a targeted invocation reached instead of its target
        self.ops: list[Op] = []
        self.warnings: list[dict[str, Any]] = []
        self.fatal: ErrorInfo | None = None
        self.stopped = False
        self.reached: set[str] = set()
        self._counters: dict[str, int] = {}
        self._max_seq = -1
        self._next_seq = max((s.seq for s in self.known.values()), default=-1) + 1
        self._memoized = sum(1 for s in self.known.values() if s.has_memo)
        self.replaying = self._memoized > 0
        self.suspending = False
        self._executing = 0
        self._blocked = 0
        self._version = 0
        self._group: str | None = None
        self._open: dict[str, asyncio.Task[Any] | None] = {}   # open steps and the branch (task) of each
        self._open_by_branch: collections.Counter[asyncio.Task[Any] | None] = collections.Counter()
        self._poke: asyncio.Future[None] | None = None
        self.deferred: list[Op] = []
        self._held: list[Op] = []               # a step run and not committed yet (see ``hold``)
        self._commits = asyncio.Lock()          # a checkpoint carrying the held step is in flight
        self._state_bytes = request.run.state_bytes

    # ---- the driver's side --------------------------------------------------------------

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
                holding = bool(self._held) and not self._executing
                done, _ = await asyncio.wait({task, self._poke}, timeout=HOLD_S if holding else None,
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    # The function is busy outside its steps (awaiting something of its own): its
                    # last step need not wait for that to be durable.
                    with contextlib.suppress(RunStopped):
                        await self.flush()
                continue
            version = self._version
            for _ in range(_IDLE_TURNS):
                await asyncio.sleep(0)
            if version == self._version and not self._executing and not task.done():
                return

    def assign_group(self, state: StepState) -> None:
        """Steps reached by different branches of the function (``asyncio.gather`` runs each in a
        task of its own) while another branch's step is still open ran in parallel: they share the
        first one's hashed id as their group, which the console draws together. A step stays open
        until the function has its result and the loop has turned once, so branches whose steps
        finish at once (a quick handler run in place) still count as running together, while the
        steps one branch reaches one after the other never do."""
        me = asyncio.current_task()
        branches = self._open_by_branch
        parallel = len(branches) > 1 or (len(branches) == 1 and me not in branches)
        state.group = self._group if parallel and self._group else state.hashed_id
        self._group = state.group
        if state.hashed_id not in self._open:
            self._open[state.hashed_id] = me
            branches[me] += 1

    def alone(self) -> bool:
        """No other branch of the function has a step open: it runs one thing at a time now."""
        return len(self._open_by_branch) <= 1

    def _close(self, hashed_id: str) -> None:
        """The step's branch has its result; counted per branch so a long run stays O(1) a step."""
        if hashed_id in self._open:
            branch = self._open.pop(hashed_id)
            self._open_by_branch[branch] -= 1
            if not self._open_by_branch[branch]:
                del self._open_by_branch[branch]

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

    def defer(self, op: Op) -> None:
        """An op to hand over with the invocation's end rather than checkpoint now."""
        self.deferred.append(op)
        self.suspending = True

    async def block(self) -> NoReturn:
        self._blocked += 1
        self._touch()
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable: blocked steps are only ever cancelled")

    async def fail_run(self, error: ErrorInfo) -> NoReturn:
        if self.fatal is None:
            self.fatal = error
        self.suspending = True
        await self.block()

    async def reach(self, step_id: str, kind: str) -> StepState:
        """Account for a step call: its hashed ID, what the engine knows of it, ordering and limits."""
        if not isinstance(step_id, str) or not step_id:
            raise StepInputError(f"{self.where()}: a step ID must be a non-empty string, got {step_id!r}")
        outer = current_handler.get()
        if outer is not None:
            raise StepInputError(
                f"{self.where(step_id)}: nested steps are not supported (called inside the handler of "
                f"step {outer!r}); call it from the function body instead")
        if self.control.stopping():
            self.stopped = True
            self.suspending = True
            await self.block()
        occurrence = self._counters.get(step_id, 0)
        self._counters[step_id] = occurrence + 1
        hashed = hash_step_id(step_id, occurrence)
        self._touch()
        existing = self.known.get(hashed)
        if existing is not None and not existing.op:
            # A memo from an Inngest request says neither the step's id nor its kind: reaching it does.
            existing = existing.copy(step_id=display_step_id(step_id, occurrence), name=step_id, op=kind)
            self.known[hashed] = existing
        if existing is not None:
            if hashed not in self.reached:
                self.reached.add(hashed)
                self._check_order(existing, kind)
                if existing.has_memo:
                    self._memoized -= 1
                    if self._memoized == 0:
                        self.replaying = False
            if existing.status == StepStatus.FAILED and (existing.error or {}).get("fatal"):
                await self.fail_run(ErrorInfo.from_dict(existing.error))
            return existing
        self.replaying = False
        target = self.request.target
        if target is not None and hashed != target:
            # A targeted invocation runs its one step and nothing else.
            self.skipped.append(step_id)
            await self.block()
        if len(self.known) + 1 > self.request.limits.max_steps:
            await self.fail_run(ErrorInfo(
                "StepLimitExceeded",
                f"{self.where(display_step_id(step_id, occurrence))}: the run exceeded the step limit of "
                f"{self.request.limits.max_steps} steps; split the work with step.invoke or send_event", ""))
        state = StepState(run_id=self.run.id, hashed_id=hashed, step_id=display_step_id(step_id, occurrence),
                          name=step_id, op=kind, seq=self._next_seq)
        self._next_seq += 1
        self.known[hashed] = state
        self.reached.add(hashed)
        return state

    def _check_order(self, existing: StepState, kind: str) -> None:
        if existing.op != kind:
            self.warnings.append({
                "message": f"step {existing.step_id!r} was a {existing.op} step and is now reached as {kind}",
                "steps": [existing.step_id]})
        if existing.seq < self._max_seq:
            later = [s.step_id for s in self.known.values() if s.seq == self._max_seq]
            self.warnings.append({
                "message": f"step {existing.step_id!r} was reached after {later[0] if later else 'a later step'!r}"
                           " on replay, in a different order than it first ran",
                "steps": [existing.step_id, *later]})
        self._max_seq = max(self._max_seq, existing.seq)

    async def run_step(self, state: StepState, handler: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """A ``step.run`` that has no memo yet."""
        if self.request.target is not None:
            if self.ops:
                await self.block()      # a targeted invocation runs its one step and nothing else
            self.ops.append(await self.attempt(state, handler, args))
            await self.block()
        if state.hashed_id in self.request.steps and self.request.pending(state):
            await self.block()
        if self.strict or self.suspending:
            found = Found(state, handler, args)
            self.found.append(found)
            return await self.deliver(await self._wait_found(found))
        self.assign_group(state)
        with self.working():
            await self.flush()      # the step before this one is durable before its handler starts
            self.control.step_started(step_op(state, Opcode.STEP_RUN))
            op = await self.attempt(state, handler, args)
            committed = self.hold(state, op) or await self.commit(op)
        return await self.deliver(committed)

    async def _wait_found(self, found: Found) -> StepState:
        """Block a found step's branch. The driver ends the invocation (cancelling it), or runs the
        step and ``resume``s the branch with the step as committed."""
        found.future = asyncio.get_running_loop().create_future()
        self._blocked += 1
        self._touch()
        return await found.future

    def resume(self, found: Found, state: StepState) -> None:
        """Let a found step's branch go on with ``state`` (the step as the engine committed it)."""
        self.found.remove(found)
        self.known[state.hashed_id] = state
        self._blocked -= 1
        assert found.future is not None
        found.future.set_result(state)
        self._touch()

    async def attempt(self, state: StepState, handler: Callable[..., Any], args: tuple[Any, ...]) -> Op:
        return await run_attempt(state, handler, args, now_ms=self.now_ms, limits=self.request.limits,
                                 where=self.where(state.step_id))

    def hold(self, state: StepState, op: Op) -> StepState | None:
        """Keep a step that succeeded back from the engine until the function's next op or its
        end, and commit it with that: a step the function returns or parks after then costs no
        transaction of its own. The function sees the result at once; the next step's handler
        starts only once it is durable (``flush``), and the function's own code in between is
        re-run on a replay anyway. None when the op must be committed now: in strict replay, in
        parallel branches, and for an output that could reach the run's state limit (the engine
        would fail the step, and the function must not have gone on with it)."""
        if (self.strict or self.request.target is not None or op.op != Opcode.STEP_RUN or op.events is not None
                or self._held or not self.alone()):
            return None
        size = op.size if op.size is not None else len(jsonvalues.dumps(op.data))
        if self._state_bytes + size > self.request.limits.max_run_state_bytes - HOLD_MARGIN_BYTES:
            return None
        self._held.append(op)
        done = state.copy(status=StepStatus.COMPLETED, memo={"data": op.data}, attempts=state.attempts + 1,
                          started_at=state.started_at or op.started_at, ended_at=op.ended_at)
        self.known[op.id] = done
        return done

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def take_held(self) -> list[Op]:
        """The held step, for the result that ends the invocation (one transaction with its end)."""
        held, self._held = self._held, []
        return held

    async def flush(self) -> None:
        """Make the held step durable, or wait until the checkpoint that carries it is."""
        if self._held or self._commits.locked():
            await self._checkpoint([])

    async def commit(self, op: Op) -> StepState:
        """Checkpoint one op (with the held step, if any); its step as the engine now has it. A
        stopped run blocks here."""
        return (await self._checkpoint([op]))[op.id]

    async def _checkpoint(self, ops: list[Op]) -> dict[str, StepState]:
        try:
            async with self._commits:
                ops = [*self.take_held(), *ops]
                states = await self.control.checkpoint(ops) if ops else {}
        except RunStopped:
            self.stopped = True
            self.suspending = True
            await self.block()
        for op in ops:
            self._state_bytes += op.size or 0
            if op.id in states:
                self.known[op.id] = states[op.id]
        return states

    async def deliver(self, state: StepState) -> Any:
        """What the function sees of a step the engine just committed: its value, its failure, or
        nothing yet (a retry is due later: this branch waits)."""
        if state.has_memo:
            asyncio.get_running_loop().call_soon(self._close, state.hashed_id)
        if state.status == StepStatus.COMPLETED:
            return state.output
        if state.status == StepStatus.FAILED:
            if (state.error or {}).get("fatal"):
                await self.fail_run(ErrorInfo.from_dict(state.error))
            raise self.step_error(state)
        self.suspending = True
        await self.block()

    def step_error(self, state: StepState) -> StepError:
        err = (state.memo or {}).get("error") if isinstance(state.memo, dict) else None
        info = ErrorInfo.from_dict(err or state.error or {})
        return StepError(state.step_id, info.name, info.message, info.stack)

    async def reject(self, state: StepState, exc: Exception) -> NoReturn:
        """A step called with arguments that can never work: record it failed and fail the run."""
        error = ErrorInfo(type(exc).__name__, str(exc), "")
        with self.working():
            await self.commit(step_op(state, Opcode.STEP_ERROR, error=error, retriable=False, fatal=True))
        await self.fail_run(error)
