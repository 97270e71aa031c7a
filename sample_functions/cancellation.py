"""Spec: "Common Use Cases › Multi-step onboarding", with Inngest's ``cancelOn`` and ``onFailure``
function options (``cancel=[Cancel(...)]`` and ``on_failure=`` here).

* ``cancellable-onboarding`` sends a welcome email, sleeps "3d", then sends a follow-up —
  unless the user is deleted meanwhile: ``Cancel(event="demo/user.deleted", match="data.userId")``
  cancels the run (status ``Cancelled``) when a later ``demo/user.deleted`` has the same userId.
  Try it: send ``{"name": "demo/user.registered", "data": {"userId": "u-7", "email": "ada@example.com"}}``,
  then ``{"name": "demo/user.deleted", "data": {"userId": "u-7"}}`` before the 3 days are up.
* ``charge-card`` charges an in-file fake card processor. A declined card (a number ending in
  ``0002``) raises ``NonRetriableError``, so the run fails at once; its ``on_failure`` handler
  then runs as its own function, ``charge-card-failure`` (on ``inngest/function.failed``), and
  tells support which order failed and why. Cancelled runs do not call it.
  Try it: send ``{"name": "demo/payment.charge", "data": {"orderId": "ord-1", "amount": 120,
  "card": "4242-4242-4242-4242"}}`` (completes), then the same with ``"card": "4000-0000-0000-0002"``.
"""

from typing import Any

from executor import Cancel, Context, NonRetriableError, create_function

#: The fakes' side effects, so a test (or you, in a REPL) can see what was sent.
OUTBOX: list[dict[str, str]] = []
SUPPORT_INBOX: list[dict[str, Any]] = []


def send_email(email: str, template: str) -> dict[str, str]:
    message = {"to": email, "template": template}
    OUTBOX.append(message)
    return message


@create_function(id="cancellable-onboarding", trigger="demo/user.registered",
                 cancel=[Cancel(event="demo/user.deleted", match="data.userId")])
async def cancellable_onboarding(ctx: Context) -> list[dict[str, str]]:
    email = ctx.event.data["email"]
    welcome = await ctx.step.run("send-welcome", send_email, email, "welcome")
    await ctx.step.sleep("wait-for-engagement", "3d")
    followup = await ctx.step.run("send-followup", send_email, email, "followup")
    return [welcome, followup]


def charge(order_id: str, amount: float, card: str) -> dict[str, Any]:
    if card.endswith("0002"):
        raise NonRetriableError(f"card declined for order {order_id}")
    return {"orderId": order_id, "charged": amount, "card": f"…{card[-4:]}"}


def notify_support(failure: dict[str, Any]) -> dict[str, Any]:
    ticket = {"function": failure["function_id"], "run": failure["run_id"],
              "order": failure["event"]["data"].get("orderId"), "error": failure["error"]["message"]}
    SUPPORT_INBOX.append(ticket)
    return ticket


async def handle_charge_failure(ctx: Context) -> dict[str, Any]:
    # ctx.event is inngest/function.failed: data holds function_id, run_id, error and the original event.
    return await ctx.step.run("notify-support", notify_support, ctx.event.data)


@create_function(id="charge-card", trigger="demo/payment.charge", on_failure=handle_charge_failure)
async def charge_card(ctx: Context) -> dict[str, Any]:
    data = ctx.event.data
    return await ctx.step.run("charge", charge, data["orderId"], data["amount"], data["card"])
