"""Spec: "Core Concept" — each step re-runs the function from the top.

Both functions use strict replay (``checkpointing=False``): one new step per invocation, the
function re-invoked from the beginning after each, exactly as the spec describes.

* ``bad-example`` prints its outside line 4 times (3 steps → 4 invocations).
  Try it: send ``{"name": "demo/bad-example", "data": {}}``.
* ``good-example`` keeps every side effect inside a step, so each line prints once; the
  ``ctx.logger`` line outside the steps is replay-aware and also appears once.
  Try it: send ``{"name": "demo/good-example", "data": {}}``.
"""

from executor import Context, create_function


@create_function(id="bad-example", trigger="demo/bad-example", checkpointing=False)
async def bad_example(ctx: Context) -> None:
    print("This logs 4 times!")  # outside a step: runs again on every invocation
    await ctx.step.run("a", print, "a")
    await ctx.step.run("b", print, "b")
    await ctx.step.run("c", print, "c")


@create_function(id="good-example", trigger="demo/good-example", checkpointing=False)
async def good_example(ctx: Context) -> str:
    await ctx.step.run("log-hello", print, "hello")
    await ctx.step.run("a", print, "a")
    await ctx.step.run("b", print, "b")
    await ctx.step.run("c", print, "c")
    ctx.logger.info("good-example finished")  # replay-aware: logged once per run
    return "done"
