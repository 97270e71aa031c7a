"""Spec: "step.sendEvent()" — fan out to other functions without waiting for their results.

``profile-update`` saves a profile change, then sends one event (``notify-systems``:
``user/profile.updated``) and a list of two (``batch-notifications``: ``billing/invoice.created``
and ``email/invoice.send``). Each send is a step: stored with the ids it returned, so a replay
never sends twice. It returns at once; the three receivers below run on their own:

* ``sync-profile-to-crm`` on ``user/profile.updated``
* ``record-invoice`` on ``billing/invoice.created``
* ``send-invoice-email`` on ``email/invoice.send``

Try it: send ``{"name": "demo/profile.update", "data": {"userId": 1, "changes": {"email": "ada@newmail.example"}}}``:
one run of ``profile-update`` and one of each receiver. The users, CRM, ledger and mailer
are in-file fakes.
"""

import itertools
from typing import Any

from executor import Context, create_function

USERS: dict[int, dict[str, Any]] = {
    1: {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"},
    2: {"id": 2, "name": "Alan Turing", "email": "alan@example.com"},
}
#: The fakes' side effects, so a test (or you, in a REPL) can see each receiver ran once.
CRM: dict[int, dict[str, Any]] = {}
LEDGER: list[str] = []
OUTBOX: list[dict[str, str]] = []
_invoice_numbers = itertools.count(1)


def update_profile(user_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    return {**USERS[user_id], **changes}


def create_invoice(user_id: int) -> str:
    return f"inv-{user_id}-{next(_invoice_numbers):04d}"


@create_function(id="profile-update", trigger="demo/profile.update")
async def profile_update(ctx: Context) -> dict[str, Any]:
    profile_changes = ctx.event.data.get("changes", {})
    user = await ctx.step.run("update-profile", update_profile, ctx.event.data["userId"], profile_changes)
    # Trigger other functions.
    notified = await ctx.step.send_event("notify-systems", {
        "name": "user/profile.updated",
        "data": {"userId": user["id"], "changes": profile_changes},
    })
    invoice_id = await ctx.step.run("create-invoice", create_invoice, user["id"])
    # Multiple events at once.
    batch = await ctx.step.send_event("batch-notifications", [
        {"name": "billing/invoice.created", "data": {"invoiceId": invoice_id}},
        {"name": "email/invoice.send", "data": {"email": user["email"], "invoiceId": invoice_id}},
    ])
    return {"userId": user["id"], "invoiceId": invoice_id, "sent": len(notified) + len(batch)}


def sync_crm(user_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    CRM[user_id] = {**CRM.get(user_id, {}), **changes}
    return {"userId": user_id, "synced": sorted(changes)}


@create_function(id="sync-profile-to-crm", trigger="user/profile.updated")
async def sync_profile_to_crm(ctx: Context) -> dict[str, Any]:
    return await ctx.step.run("sync-crm", sync_crm, ctx.event.data["userId"], ctx.event.data.get("changes", {}))


def record_in_ledger(invoice_id: str) -> dict[str, Any]:
    LEDGER.append(invoice_id)
    return {"invoiceId": invoice_id, "recorded": True}


@create_function(id="record-invoice", trigger="billing/invoice.created")
async def record_invoice(ctx: Context) -> dict[str, Any]:
    return await ctx.step.run("record-in-ledger", record_in_ledger, ctx.event.data["invoiceId"])


def mail_invoice(email: str, invoice_id: str) -> dict[str, str]:
    message = {"to": email, "subject": f"Your invoice {invoice_id}"}
    OUTBOX.append(message)
    return message


@create_function(id="send-invoice-email", trigger="email/invoice.send")
async def send_invoice_email(ctx: Context) -> dict[str, str]:
    return await ctx.step.run("send-email", mail_invoice, ctx.event.data["email"], ctx.event.data["invoiceId"])
