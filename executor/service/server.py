"""``durable-tui serve``: the executor with its HTTP API and no UI.

One process owns the database (``executor.service.ownership``); everything else — apps sending events,
the command line, a console in another terminal — talks to it over HTTP.
"""

from __future__ import annotations

import asyncio
import ipaddress
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
from fastapi import FastAPI

from executor import Executor, Limits
from executor.drivers.local.reload import FunctionWatcher
from executor.service.api import LoadStatus, create_app, stop_streams
from executor.service.ownership import claim
from executor.store import Durability

KEY_ENV = "DURABLE_TUI_KEY"


class ServeError(Exception):
    """The server will not start; the message says why and what to do instead."""


def is_loopback(host: str) -> bool:
    """True only for addresses that cannot be reached from another machine. A host name other
    than ``localhost`` counts as reachable: it may resolve to anything."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """Bind before anything else starts, so a busy port fails fast and port 0 yields the real one."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    """The URL a local client uses; a wildcard bind (0.0.0.0, ::) is reached through loopback."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Uvicorn(uvicorn.Server):
    """uvicorn, stopping on SIGINT/SIGTERM without re-raising the signal afterwards (uvicorn
    does, and a re-raised SIGTERM would kill the process before the executor closes and the
    database is released), and ending open SSE streams so shutdown does not wait for them."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
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
            self._loop.call_soon_threadsafe(stop_streams, self._app)
        super().handle_exit(sig, frame)


class ApiServer:
    """uvicorn serving ``app`` on an already bound socket, in the running event loop."""

    def __init__(self, app: FastAPI, sock: socket.socket) -> None:
        self.app = app
        self.url = url_of(sock)
        self._sock = sock
        config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", access_log=False)
        self._server = _Uvicorn(config, app)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> "ApiServer":
        """Return once requests are accepted."""
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
        stop_streams(self.app)
        self._server.should_exit = True
        await self.wait()

    async def __aenter__(self) -> "ApiServer":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


async def serve(paths: Sequence[str], *, db: str, host: str, port: int, key: str | None = None,
                max_event_bytes: int | None = None, out: TextIO = sys.stdout,
                durability: Durability = "normal") -> int:
    """Run until SIGINT or SIGTERM; raises ``ServeError`` (or ``DatabaseOwnedError``) when it
    cannot start."""
    # A server's log is its record: reload notices and engine warnings, timestamped, on stderr.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    key = key or os.environ.get(KEY_ENV) or None
    if key is None and not is_loopback(host):
        raise ServeError(
            f"refusing to listen on {host} without a key: anyone who can reach it could send events and "
            f"cancel runs. Pass --key KEY or set {KEY_ENV}, or listen on 127.0.0.1")
    sock = bind(host, port)
    url = url_of(sock)
    ownership = None
    try:
        if db != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(db)), exist_ok=True)
            ownership = claim(db, url)
        limits = Limits() if max_event_bytes is None else replace(Limits(), max_event_bytes=max_event_bytes)
        async with Executor(db=db, limits=limits, durability=durability) as ex:
            status = LoadStatus()
            # Hot reload: saving a function file swaps it in; GET /v1/functions shows current errors.
            async with FunctionWatcher(ex, paths, on_reload=status.update) as watcher:
                status.update(watcher.last)
                app = create_app(ex, key=key, load_status=status)
                server = await ApiServer(app, sock).start()
                _banner(out, paths, ex, watcher.errors, db, url, key)
                await server.wait()
    finally:
        sock.close()
        if ownership is not None:
            ownership.release()
    print("durable-tui serve: stopped", file=out, flush=True)
    return 0


def _banner(out: TextIO, paths: Sequence[str], ex: Executor, errors: Sequence[Any], db: str, url: str,
            key: str | None) -> None:
    names = ", ".join(sorted(ex.functions)) or "none"
    print(f"durable-tui serve: {len(ex.functions)} function(s) from {', '.join(paths) or 'no paths'}: {names}",
          file=out)
    for err in errors:
        where = f"{err.file}:{err.line}" if err.line else err.file
        print(f"load error {where}: {err.message}", file=out)
    auth = "every /v1 call needs 'Authorization: Bearer <key>'" if key else "no key: open to this machine only"
    print(f"database: {db} (durability {ex.store.durability})", file=out)
    print(f"listening on {url} ({auth}); Ctrl-C stops", file=out, flush=True)
