"""Spec: "step.waitForEvent()" — pause a run until a later event arrives, or a timeout.

Only events received *after* the wait was stored can match: send the trigger first, then
the event it waits for. ``None`` comes back at the timeout; always handle it.

* ``invoice-approval`` waits up to "7d" for ``app/invoice.approved`` with the same
  ``invoiceId`` (``match="data.invoiceId"``). Approved: a ``mark-approved`` step. Timed out:
  a ``handle-timeout`` step notifies the (in-file, fake) accounting team.
  Try it: send ``{"name": "demo/invoice.created", "data": {"invoiceId": "inv-1", "amount": 120}}``,
  then ``{"name": "app/invoice.approved", "data": {"invoiceId": "inv-1", "approvedBy": "grace"}}``.
  An approval for another invoice (``"inv-2"``) does not resume it.
* ``subscription-upgrade`` waits up to "30d" for ``app/subscription.created`` with a CEL
  condition: ``event.data.userId == async.data.userId && async.data.plan == 'pro'``
  (``event`` is this run's trigger, ``async`` the candidate event).
  Try it: send ``{"name": "demo/trial.started", "data": {"userId": "u-42"}}``, then
  ``{"name": "app/subscription.created", "data": {"userId": "u-42", "plan": "free"}}`` (no match:
  still waiting) and ``{"name": "app/subscription.created", "data": {"userId": "u-42", "plan": "pro"}}``.
"""

from typing import Any

from executor import Context, create_function

#: What the fake accounting team was told, so a test (or you, in a REPL) can see it happened once.
ACCOUNTING_INBOX: list[dict[str, Any]] = []
#: The fake ledger of approved invoices.
APPROVED_INVOICES: dict[str, dict[str, Any]] = {}


def notify_accounting_team(invoice_id: str, amount: float) -> dict[str, Any]:
    message = {"to": "accounting@example.com", "subject": f"Invoice {invoice_id} ({amount}) was never approved"}
    ACCOUNTING_INBOX.append(message)
    return message


def mark_approved(invoice_id: str, approved_by: str | None) -> dict[str, Any]:
    APPROVED_INVOICES[invoice_id] = {"approvedBy": approved_by}
    return {"invoiceId": invoice_id, "status": "approved", "approvedBy": approved_by}


@create_function(id="invoice-approval", trigger="demo/invoice.created")
async def invoice_approval(ctx: Context) -> dict[str, Any]:
    invoice_id = ctx.event.data["invoiceId"]
    amount = ctx.event.data.get("amount", 0)
    # Basic event waiting with timeout: same data.invoiceId on both events.
    approval = await ctx.step.wait_for_event("wait-for-approval", event="app/invoice.approved",
                                             timeout="7d", match="data.invoiceId")
    if approval is None:
        # Approval never came.
        notified = await ctx.step.run("handle-timeout", notify_accounting_team, invoice_id, amount)
        return {"invoiceId": invoice_id, "status": "timed_out", "notified": notified["to"]}
    return await ctx.step.run("mark-approved", mark_approved, invoice_id, approval.data.get("approvedBy"))


def activate_pro_features(user_id: str, subscription: dict[str, Any]) -> dict[str, Any]:
    return {"userId": user_id, "plan": subscription["plan"], "features": ["priority-support", "exports"]}


@create_function(id="subscription-upgrade", trigger="demo/trial.started")
async def subscription_upgrade(ctx: Context) -> dict[str, Any]:
    user_id = ctx.event.data["userId"]
    # Expression-based matching (CEL): this user's id, and only the 'pro' plan.
    subscription = await ctx.step.wait_for_event(
        "wait-for-subscription", event="app/subscription.created", timeout="30d",
        if_exp="event.data.userId == async.data.userId && async.data.plan == 'pro'")
    if subscription is None:
        return {"userId": user_id, "upgraded": False}
    activated = await ctx.step.run("activate-pro", activate_pro_features, user_id, subscription.data)
    return {"userId": user_id, "upgraded": True, "activated": activated}
