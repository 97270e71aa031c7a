"""The conformance suite's served drivers: the test's functions served by an Inngest app and run by
our own server through its HTTP driver, over real loopback sockets, synced the way an Inngest server
syncs an app (a ``PUT`` to its URL; the app answers in-band or posts its functions to ``/fn/register``).

``inngest-app`` serves them with our Inngest app (``executor.service.inngest_app``);
``inngest-sdk`` translates them into inngest-py functions (``tests.sdk_twin``) served by inngest-py's
FastAPI adapter. Either way the app id is ``dt``, so a function's id on the server is ``dt-<id>``.

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
SERVED_DRIVERS = ("inngest-app", "inngest-sdk")


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


class _OurApp:
    """Our functions as they are, served by our Inngest app."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._app: InngestApp | None = None
        self._server: ApiServer | None = None
        self.ids: list[str] = []

    async def start(self, functions: list[Any], api_url: str) -> str:
        self._app = InngestApp(functions, app_id=APP_ID, server=api_url, clock=self._clock)
        # A test that failed may leave a function blocked mid-request: stopping does not wait for it.
        self._server = await ApiServer(self._app, bind("127.0.0.1", 0), shutdown_timeout=1).start()
        self.ids = [f.id for f in functions]
        return f"{self._server.url}/api/inngest"

    def swap(self, functions: list[Any]) -> None:
        assert self._app is not None
        self._app.set_functions(functions)
        self.ids = [f.id for f in functions]

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        if self._app is not None:
            await self._app.aclose()


class _SDKApp:
    """Our functions translated into inngest-py's, served by inngest-py's FastAPI adapter."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.twin: Any = None
        self._app: Any = None
        self.ids: list[str] = []

    async def start(self, functions: list[Any], api_url: str) -> str:
        from tests.sdk_twin import SDKTwin, sdk_client      # inngest-py is imported only when used
        from tests.service.sdkapps import SDKApp
        self.twin = SDKTwin(sdk_client(APP_ID, api_url), self._clock)
        self._app = await SDKApp(self.twin.client, self.twin.translate(functions)).start()
        self.ids = [f.id for f in functions]
        return self._app.url

    def swap(self, functions: list[Any]) -> None:
        self._app.swap(self.twin.translate(functions))
        self.ids = [f.id for f in functions]

    async def stop(self) -> None:
        if self._app is not None:
            await self._app.stop()


class ServedExecutors:
    def __init__(self, clock: Clock, driver: str) -> None:
        assert driver in SERVED_DRIVERS, f"unknown served driver {driver!r}"
        self._clock = clock
        self._api = _Delegate()
        self._server: ApiServer | None = None
        self.app = _OurApp(clock) if driver == "inngest-app" else _SDKApp(clock)
        self.app_url = ""

    @property
    def cannot(self) -> list[str]:
        """What the inngest-sdk driver could not express (``tests.sdk_twin``); none for our app."""
        return self.app.twin.cannot if isinstance(self.app, _SDKApp) and self.app.twin is not None else []

    async def make(self, functions: list[Any], *, db: str, limits: Limits | None,
                   backoff: Callable[[int], float]) -> Executor:
        ex = Executor(db=db, clock=self._clock, backoff=backoff, limits=limits)
        self._api.target = create_app(ex)
        if self._server is None:
            self._server = await ApiServer(self._api, bind("127.0.0.1", 0)).start()
        await ex.start()
        try:
            if not self.app_url:
                self.app_url = await self.app.start(functions, self._server.url)
            elif self.app.ids != [f.id for f in functions]:
                self.app.swap(functions)
            await ex.apps.add_url(self.app_url)
            info = ex.apps.get(APP_ID)
            assert info.error is None and info.synced_at is not None, f"the app did not sync: {info.error}"
        except BaseException:
            await ex.close()        # not handed to the test, so nobody else closes it (its store's thread)
            raise
        return ex

    async def close(self) -> None:
        await self.app.stop()
        if self._server is not None:
            await self._server.stop()
