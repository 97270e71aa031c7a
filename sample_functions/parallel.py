"""Spec: "Patterns › Parallel Execution" — steps run side by side with ``asyncio.gather``.

* ``parallel-signup`` creates three step coroutines without awaiting them (``send-email``,
  ``update-crm``, ``create-subscription``), then runs them together with ``asyncio.gather``
  (Python's ``Promise.all``). The fake services answer in a different order than they were
  started; the results still come back in the order given.
  Try it: send ``{"name": "demo/user.created", "data": {"user": {"id": 7, "email": "ada@example.com"}}}``.
* ``parallel-heavy-function`` maps ``event.data.items`` to one step each, with
  ``optimize_parallelism=True``. It uses strict replay (``checkpointing=False``), where the
  option matters: the function is invoked again once for the whole batch (2 invocations
  in all) rather than after every step.
  Try it: send ``{"name": "demo/batch.process", "data": {"items": [{"sku": "A-1", "quantity": 2},
  {"sku": "B-2", "quantity": 1}]}}``.
"""

import asyncio
from typing import Any

from executor import Context, create_function


async def send_welcome_email(email: str) -> str:
    await asyncio.sleep(0.03)  # the slowest service, so it finishes last
    return f"email-to-{email}"


async def add_crm_user(user: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(0.02)
    return {"crm_id": f"crm-{user['id']}", "email": user["email"]}


async def create_subscription_for(user_id: int) -> dict[str, Any]:
    return {"subscription_id": f"sub-{user_id}", "plan": "free"}


@create_function(id="parallel-signup", trigger="demo/user.created")
async def parallel_signup(ctx: Context) -> list[Any]:
    user = ctx.event.data["user"]
    # Create steps without awaiting: a coroutine does nothing until gathered.
    send_email = ctx.step.run("send-email", send_welcome_email, user["email"])
    update_crm = ctx.step.run("update-crm", add_crm_user, user)
    create_subscription = ctx.step.run("create-subscription", create_subscription_for, user["id"])
    # Run all in parallel.
    email_id, crm_record, subscription = await asyncio.gather(send_email, update_crm, create_subscription)
    return [email_id, crm_record, subscription]


def process_item(item: dict[str, Any]) -> dict[str, Any]:
    return {"sku": item["sku"], "quantity": item["quantity"], "status": "reserved"}


@create_function(id="parallel-heavy-function", trigger="demo/batch.process",
                 optimize_parallelism=True, checkpointing=False)
async def parallel_heavy_function(ctx: Context) -> list[dict[str, Any]]:
    return await asyncio.gather(*(
        ctx.step.run(f"process-item-{i}", process_item, item)
        for i, item in enumerate(ctx.event.data.get("items", []))
    ))
