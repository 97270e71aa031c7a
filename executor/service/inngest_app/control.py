"""The ``RunControl`` of one execution request: what the protocol lets an SDK do before it answers.

The local driver hands its control every op that must be settled before the function may go on.
Over HTTP only one kind can be: a ``step.run`` result, when the server takes checkpoints (it sent
``ctx.fn_id`` and ``ctx.qi_id``, and has the endpoint) and the function checkpoints — it is posted
and the function goes on. Everything else waits for the reply: sleeps, waits and invokes are
reported (the branch that reached one blocks), and a step that failed for good before it started
(bad arguments) fails the run through the function's own error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from executor.ops import Op, Opcode, RunStopped
from executor.records import StepState, StepStatus
from executor.service.inngest_app.incoming import memo_error
from executor.service.inngest_app.upstream import StaleRequest

#: Posts one checkpoint: None when the server did not take it, else the memos it says it stored, by
#: hashed step id (``StaleRequest`` when it refuses the request itself).
Checkpointer = Callable[[Op], Awaitable[dict[str, Any] | None]]
_SLEEPING = {Opcode.SLEEP}


class AppControl:
    def __init__(self, run_id: str, checkpointer: Checkpointer | None) -> None:
        self._run_id = run_id
        self._checkpointer = checkpointer
        self.reported: list[Op] = []
        self.stale: str | None = None

    async def checkpoint(self, ops: Sequence[Op]) -> dict[str, StepState]:
        states: dict[str, StepState] = {}
        for op in ops:
            if op.op == Opcode.STEP_RUN:
                memos = await self._commit(op)
                if memos is not None:
                    states[op.id] = _committed(self._run_id, op, memos.get(op.id))
            elif op.op in (Opcode.STEP_ERROR, Opcode.STEP_FAILED):
                error = op.error.to_dict() if op.error is not None else None
                states[op.id] = _state(self._run_id, op, StepStatus.FAILED, memo={"error": error}, error=error)
            else:
                self.reported.append(op)
                status = StepStatus.SLEEPING if op.op in _SLEEPING else StepStatus.WAITING
                states[op.id] = _state(self._run_id, op, status)
        return states

    async def _commit(self, op: Op) -> dict[str, Any] | None:
        if self._checkpointer is None:
            return None
        try:
            return await self._checkpointer(op)
        except StaleRequest as exc:
            self.stale = str(exc)
            raise RunStopped(str(exc)) from None

    def stopping(self) -> bool:
        """A cancel reaches an SDK as a refused checkpoint, not as a flag to poll."""
        return False

    def step_started(self, op: Op) -> None:
        """The protocol has no message for it: the server sees a step when it is reported."""

    def may_wait_in_place(self, due_ms: int | None = None) -> bool:
        """A request answers when the function parks: the server resumes it with a new one."""
        return False

    async def wait_in_place(self, state: StepState) -> StepState | None:
        return None


def _committed(run_id: str, op: Op, memo: Any) -> StepState:
    """The step as the server committed it: failed when its memo says so (an output over its limit,
    say), else completed with what the handler returned."""
    error = memo_error(memo)
    if error is not None:
        return _state(run_id, op, StepStatus.FAILED, memo=memo, error=error)
    return _state(run_id, op, StepStatus.COMPLETED, memo={"data": op.data})


def _state(run_id: str, op: Op, status: StepStatus, **fields: Any) -> StepState:
    return StepState(run_id=run_id, hashed_id=op.id, step_id=op.step_id, name=op.display_name or op.name,
                     op=op.kind, seq=op.seq or 0, status=status, started_at=op.started_at, ended_at=op.ended_at,
                     **fields)
