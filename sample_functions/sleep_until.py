"""Spec: "step.sleepUntil()" — sleep until a specific datetime.

* ``christmas-reminder`` sleeps until the fixed time 2024-12-25T09:00:00Z. That date is in
  the past now, and a past time continues at once, so on a real clock it finishes right away.
  Try it: send ``{"name": "demo/reminder.christmas", "data": {}}``.
* ``scheduled-reminder`` sleeps until the ISO-8601 time in the event's ``remind_at``.
  Try it: send ``{"name": "demo/reminder.scheduled",
  "data": {"remind_at": "2030-01-01T09:00:00Z", "message": "Renew your passport"}}``
  (at most 366 days ahead, Inngest's limit).
"""

from datetime import datetime
from typing import Any

from executor import Context, create_function

REMINDER_DATE = datetime.fromisoformat("2024-12-25T09:00:00Z")


def send_reminder(message: str) -> dict[str, str]:
    return {"sent": message}


@create_function(id="christmas-reminder", trigger="demo/reminder.christmas")
async def christmas_reminder(ctx: Context) -> dict[str, str]:
    await ctx.step.sleep_until("wait-for-christmas", REMINDER_DATE)
    return await ctx.step.run("send-christmas-greeting", send_reminder, "Merry Christmas!")


@create_function(id="scheduled-reminder", trigger="demo/reminder.scheduled")
async def scheduled_reminder(ctx: Context) -> dict[str, Any]:
    scheduled_time = datetime.fromisoformat(ctx.event.data["remind_at"])
    await ctx.step.sleep_until("wait-for-scheduled-time", scheduled_time)
    return await ctx.step.run("send-reminder", send_reminder, ctx.event.data.get("message", "Reminder"))
