"""Spec: "step.run()" — fetch a user, transform it, send a notification.

``fetch-user`` is async and returns useful data, ``transform-data`` is plain synchronous
code, and ``send-notification`` is a side effect with no return value. The user database
and the mailer are tiny in-file fakes, so nothing touches the network.

Try it: send ``{"name": "demo/user.fetch", "data": {"userId": 1}}``. An unknown ``userId``
fails the run at once with a ``NonRetriableError`` (retrying cannot make the user appear).
"""

from typing import Any

from executor import Context, NonRetriableError, create_function

USERS: dict[int, dict[str, Any]] = {
    1: {"id": 1, "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
    2: {"id": 2, "first_name": "Alan", "last_name": "Turing", "email": "alan@example.com"},
}

#: Every "sent" email, so a test (or you, in a REPL) can see the side effect happened once.
OUTBOX: list[dict[str, str]] = []


async def find_user_by_id(user_id: int) -> dict[str, Any]:
    user = USERS.get(user_id)
    if user is None:
        raise NonRetriableError(f"no user with id {user_id!r}")
    return user


def process_data(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "name": f"{user['first_name']} {user['last_name']}", "email": user["email"]}


async def send_email(to: str, subject: str) -> None:
    OUTBOX.append({"to": to, "subject": subject})


@create_function(id="fetch-user-profile", trigger="demo/user.fetch")
async def fetch_user_profile(ctx: Context) -> dict[str, Any]:
    user_id = ctx.event.data["userId"]
    result = await ctx.step.run("fetch-user", find_user_by_id, user_id)
    transformed = await ctx.step.run("transform-data", process_data, result)
    await ctx.step.run("send-notification", send_email, transformed["email"], "Welcome!")
    return transformed
