"""Spec: "step.sleep()" — pause a run without using compute time.

* ``sleep-durations`` sleeps "30s", then "24h", then "7d", one after the other.
  Try it: send ``{"name": "demo/sleep.durations", "data": {}}``.
* ``onboarding-drip`` sends a welcome email, sleeps "3d", then sends a follow-up.
  Try it: send ``{"name": "demo/user.signup", "data": {"email": "ada@example.com"}}``.

With a ``VirtualClock`` (tests, the console's "fire now") the sleeps end when time is moved.
"""

from typing import Any

from executor import Context, create_function


@create_function(id="sleep-durations", trigger="demo/sleep.durations")
async def sleep_durations(ctx: Context) -> dict[str, Any]:
    await ctx.step.sleep("short-delay", "30s")
    await ctx.step.sleep("wait-24h", "24h")
    await ctx.step.sleep("weekly-pause", "7d")
    return {"slept": ["30s", "24h", "7d"]}


def send_welcome_email(email: str) -> dict[str, str]:
    return {"to": email, "template": "welcome"}


def send_followup_email(email: str) -> dict[str, str]:
    return {"to": email, "template": "followup"}


@create_function(id="onboarding-drip", trigger="demo/user.signup")
async def onboarding_drip(ctx: Context) -> list[dict[str, str]]:
    email = ctx.event.data["email"]
    welcome = await ctx.step.run("send-welcome", send_welcome_email, email)
    await ctx.step.sleep("wait-for-engagement", "3d")
    followup = await ctx.step.run("send-followup", send_followup_email, email)
    return [welcome, followup]
