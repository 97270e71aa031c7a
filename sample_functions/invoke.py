"""Spec: "step.invoke()" — call another function and use its result (composition).

* ``compute-square`` is the spec's function: trigger ``calculate/square``, returns
  ``{"result": number * number}``. It runs on its own too:
  send ``{"name": "calculate/square", "data": {"number": 4}}`` → ``{"result": 16}``.
* ``sum-of-squares`` invokes ``compute-square`` once per number, in parallel (map), reusing the
  step ID ``get-square`` (``get-square``, ``get-square:1``…), then adds the results in a
  ``sum`` step (reduce). Each invoke is a child run of its own (listed with
  ``runs(parent_run_id=…)``); a failed or timed-out child would raise ``StepError`` at its ``await``.
  Try it: send ``{"name": "demo/math.sum-of-squares", "data": {"numbers": [1, 2, 3, 4]}}`` → ``{"total": 30}``.
"""

import asyncio
from typing import Any

from executor import Context, create_function


@create_function(id="compute-square", trigger="calculate/square")
async def compute_square(ctx: Context) -> dict[str, Any]:
    return {"result": ctx.event.data["number"] * ctx.event.data["number"]}


def add_up(squares: list[int]) -> int:
    return sum(squares)


@create_function(id="sum-of-squares", trigger="demo/math.sum-of-squares")
async def sum_of_squares(ctx: Context) -> dict[str, Any]:
    numbers = ctx.event.data.get("numbers", [])
    # Map: one child run per number, all invoked together; gather keeps the results in order.
    results = await asyncio.gather(*[
        ctx.step.invoke("get-square", function=compute_square, data={"number": number}, timeout="1h")
        for number in numbers
    ])
    squares = [result["result"] for result in results]
    total = await ctx.step.run("sum", add_up, squares)
    return {"numbers": numbers, "squares": squares, "total": total}
