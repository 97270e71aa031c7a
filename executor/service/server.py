"""``durable-tui serve``: the executor with its HTTP API and no UI.

One process owns the database (``executor.service.ownership``); everything else — apps sending events,
the command line, a console in another terminal — talks to it over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from types import FrameType
from typing import Any, TextIO

import uvicorn

from executor.drivers.local.loader import LoadStatus
from executor.drivers.local.reload import FunctionWatcher
from executor.executor import Executor
from executor.records import Limits
from executor.service.api import create_app, stop_streams
from executor.service.connections import BACKLOG, HEADER_TIMEOUT_SECONDS, protocol_class, throttle_server_logs
from executor.service.logfeed import forward_logs
from executor.service.ownership import claim
from executor.service.settings import ADMIN_KEY_ENV, KEY_ENV
from executor.service.sockets import ServeError, bind, is_loopback, url_of
from executor.store import Durability

class _Uvicorn(uvicorn.Server):
    """uvicorn, stopping on SIGINT/SIGTERM without re-raising the signal afterwards (uvicorn
    does, and a re-raised SIGTERM would kill the process before the executor closes and the
    database is released), and ending open SSE streams so shutdown does not wait for them."""

    def __init__(self, config: uvicorn.Config, app: Any) -> None:
        super().__init__(config)
        self._app = app
        self._loop: asyncio.AbstractEventLoop | None = None

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._loop = asyncio.get_running_loop()
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(_stop_streams, self._app)
        super().handle_exit(sig, frame)


def _stop_streams(app: Any) -> None:
    """End the API's open SSE streams; other ASGI apps (an Inngest app) have none."""
    if hasattr(getattr(app, "state", None), "streams_stopping"):
        stop_streams(app)


class ApiServer:
    """uvicorn serving ``app`` (the API, or any ASGI app) on an already bound socket, in the running
    event loop, with a header timeout and a connection limit (``connections``)."""

    def __init__(self, app: Any, sock: socket.socket, *, header_timeout: float = HEADER_TIMEOUT_SECONDS,
                 max_connections: int | None = None, shutdown_timeout: float | None = None) -> None:
        """``shutdown_timeout``: how long stopping waits for requests in flight before cutting them
        (an Inngest app's: its server retries a cut request); None waits for them all."""
        self.app = app
        self.url = url_of(sock)
        self._sock = sock
        config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", access_log=False,
                                http=protocol_class(header_timeout, max_connections), backlog=BACKLOG,
                                timeout_graceful_shutdown=shutdown_timeout)
        self._server = _Uvicorn(config, app)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> "ApiServer":
        """Return once requests are accepted."""
        throttle_server_logs(asyncio.get_running_loop())
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                await self._task
                raise ServeError(f"the HTTP server at {self.url} stopped while starting")
            await asyncio.sleep(0.01)
        return self

    async def wait(self) -> None:
        """Until a signal or ``stop()`` ends the server."""
        assert self._task is not None, "start() first"
        await self._task

    async def stop(self) -> None:
        _stop_streams(self.app)
        self._server.should_exit = True
        await self.wait()

    async def __aenter__(self) -> "ApiServer":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


async def serve(paths: Sequence[str], *, db: str, host: str, port: int, key: str | None = None,
                admin_key: str | None = None, max_event_bytes: int | None = None,
                header_timeout: float = HEADER_TIMEOUT_SECONDS, max_connections: int | None = None,
                out: TextIO = sys.stdout, durability: Durability = "normal", sdk_urls: Sequence[str] = (),
                poll: bool = True, signing_key: str | None = None) -> int:
    """Run until SIGINT or SIGTERM; raises ``ServeError`` (or ``DatabaseOwnedError``) when it
    cannot start."""
    # A server's log is its record: reload notices and engine warnings, timestamped, on stderr.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO: one line per step of every SDK app would bury the record.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    key = key or os.environ.get(KEY_ENV) or None
    admin_key = admin_key or os.environ.get(ADMIN_KEY_ENV) or None
    if key is None and not is_loopback(host):
        raise ServeError(
            f"refusing to listen on {host} without a key: anyone who can reach it could send events and "
            f"cancel runs. Pass --key KEY or set {KEY_ENV}, or listen on 127.0.0.1")
    if admin_key is not None and admin_key == key:
        raise ServeError("--admin-key must differ from --key: the event key is embedded in apps, the admin "
                         "key is the operator's")
    sock = bind(host, port)
    url = url_of(sock)
    ownership = None
    try:
        if db != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(db)), exist_ok=True)
            ownership = claim(db, url)
        limits = Limits() if max_event_bytes is None else replace(Limits(), max_event_bytes=max_event_bytes)
        async with Executor(db=db, limits=limits, durability=durability, signing_key=signing_key) as ex:
            status = LoadStatus()
            async with contextlib.AsyncExitStack() as stack:
                # Hot reload: saving a function file swaps it in; GET /v1/functions shows current errors.
                # (No paths: a dev server for SDK apps only.)
                watcher = (await stack.enter_async_context(FunctionWatcher(ex, paths, on_reload=status.update))
                           if paths else None)
                if watcher is not None:
                    status.update(watcher.last)
                app = create_app(ex, key=key, admin_key=admin_key, load_status=status)
                server = await ApiServer(app, sock, header_timeout=header_timeout,
                                         max_connections=max_connections).start()
                _banner(out, paths, ex, watcher.errors if watcher else [], db, url, key, admin_key)
                with forward_logs(ex):        # attached consoles see the log lines too
                    async with ex.apps.syncing(sdk_urls, poll=poll):
                        await server.wait()
    finally:
        sock.close()
        if ownership is not None:
            ownership.release()
    print("durable-tui serve: stopped", file=out, flush=True)
    return 0


def _banner(out: TextIO, paths: Sequence[str], ex: Executor, errors: Sequence[Any], db: str, url: str,
            key: str | None, admin_key: str | None) -> None:
    names = ", ".join(sorted(ex.functions)) or "none"
    print(f"durable-tui serve: {len(ex.functions)} function(s) from {', '.join(paths) or 'no paths'}: {names}",
          file=out)
    for err in errors:
        print(f"load error {err.describe()}", file=out)
    auth = "no key: open to this machine only"
    if admin_key:
        auth = "/e needs the event key" if key else "/e is open"
        auth += ", every /v1 call needs 'Authorization: Bearer <admin key>'"
    elif key:
        auth = "every /v1 call needs 'Authorization: Bearer <key>'"
    print(f"database: {db} (durability {ex.store.durability})", file=out)
    print(f"listening on {url} ({auth}); Ctrl-C stops", file=out, flush=True)
