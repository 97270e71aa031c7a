"""Spec: "step.waitForSignal()" — wait for one signal addressed to exactly this run (1:1).

``signal-task`` makes a task id in a step (``task-<uuid>``: random, so it belongs in a step,
and a replay gets the same id back from the memo), hands the task to an in-file fake worker
queue, then waits up to "1h" for the signal named after the task
(``on_conflict="replace"``: a newer run waiting for the same signal takes it over). It returns
the signal's data, or a timed-out result from a ``handle-timeout`` step.

A generated id cannot be known in advance, so the trigger may carry its own ``taskId``.
Try it: send ``{"name": "demo/task.started", "data": {"taskId": "task-42"}}``, then signal it
from outside the run: ``await executor.send_signal("task-42", {"status": "done", "rows": 3})``
(or ``POST /v1/signals`` ``{"signal": "task-42", "data": {...}}`` to ``durable-tui serve``, or
``durable-tui signal task-42 --data '{"status": "done"}'``). No signal within the hour: timed out.
"""

import uuid
from typing import Any

from executor import Context, create_function

#: The fake worker queue: tasks handed off, waiting for a worker to signal their completion.
WORK_QUEUE: list[dict[str, Any]] = []


def new_task_id(given: str | None) -> str:
    return given or f"task-{uuid.uuid4()}"


def enqueue_task(task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    WORK_QUEUE.append({"taskId": task_id, "payload": payload})
    return {"taskId": task_id, "queued": True}


def record_timeout(task_id: str) -> dict[str, Any]:
    return {"taskId": task_id, "status": "timed_out"}


@create_function(id="signal-task", trigger="demo/task.started")
async def signal_task(ctx: Context) -> dict[str, Any]:
    task_id = await ctx.step.run("create-task-id", new_task_id, ctx.event.data.get("taskId"))
    await ctx.step.run("start-task", enqueue_task, task_id, ctx.event.data.get("payload", {}))
    signal = await ctx.step.wait_for_signal("wait-for-task-completion", signal=task_id,
                                            timeout="1h", on_conflict="replace")
    if signal is None:
        return await ctx.step.run("handle-timeout", record_timeout, task_id)
    return {"taskId": task_id, "status": "completed", "result": signal.data}
