"""The conformance suite's ``inngest-app`` driver: the test's functions served by our Inngest app
(``executor.service.inngest_app``) and run by our own server through its HTTP driver, over real
loopback sockets, synced the way an Inngest server syncs an app (a ``PUT`` to its URL, which
makes the app post its functions to ``/fn/register``).

Each test gets one app server and one API server on fixed ports for its whole length; the API
delegates to the executor of the latest ``make``, so a test that closes its executor and opens
another on the same database (a restart) finds the app where the database remembers it. Both
servers run in the test's event loop, so asyncio objects a test shares with its functions work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from executor import Executor, Limits
from executor.service.api import create_app
from executor.service.inngest_app import InngestApp
from executor.service.server import ApiServer
from executor.service.sockets import bind
from executor.util.clock import Clock

APP_ID = "dt"


def slug(function_id: str) -> str:
    """A function's id on the server when served by the app (``<app>-<fn>``)."""
    return f"{APP_ID}-{function_id}"


class _Delegate:
    """An ASGI app that is whichever API app was made last."""

    def __init__(self) -> None:
        self.target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        await self.target(scope, receive, send)


class ServedExecutors:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._api = _Delegate()
        self._servers: list[ApiServer] = []
        self.app: InngestApp | None = None
        self.app_url = ""
        self.api_url = ""

    async def make(self, functions: list[Any], *, db: str, limits: Limits | None,
                   backoff: Callable[[int], float]) -> Executor:
        ex = Executor(db=db, clock=self._clock, backoff=backoff, limits=limits)
        self._api.target = create_app(ex)
        if not self._servers:
            api = await ApiServer(self._api, bind("127.0.0.1", 0)).start()
            self.api_url = api.url
            self._servers.append(api)
        await ex.start()
        if self.app is None:
            self.app = InngestApp(functions, app_id=APP_ID, server=self.api_url, clock=self._clock)
            # A test that failed may leave a function blocked mid-request: stopping does not wait for it.
            served = await ApiServer(self.app, bind("127.0.0.1", 0), shutdown_timeout=1).start()
            self._servers.append(served)
            self.app_url = f"{served.url}/api/inngest"
        elif [f.id for f in self.app.functions] != [f.id for f in functions]:
            self.app.set_functions(functions)
        await ex.apps.add_url(self.app_url)
        info = ex.apps.get(APP_ID)
        assert info.error is None and info.synced_at is not None, f"the app did not sync: {info.error}"
        return ex

    async def close(self) -> None:
        for server in reversed(self._servers):
            await server.stop()
        if self.app is not None:
            await self.app.aclose()
