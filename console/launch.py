"""Choosing the console's backend: attach to a server, or host the executor in-process.

One writer per database: a console started on a database that a ``durable-tui serve`` owns
attaches to that server over HTTP instead of opening the file a second time. Otherwise it
claims the database itself, loads (and hot-reloads) the function files, and serves the HTTP
API on ``port`` from the executor's thread, so other programs (and other consoles) can send
events while the operator watches.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from executor import Executor, LoadStatus
from executor.service.ownership import DatabaseOwnedError, Ownership, claim
from executor import Durability
from executor.service.sockets import ServeError, bind, url_of

from .backend import Backend
from .backends.embedded import EmbeddedBackend
from .backends.remote import RemoteBackend

DEMO_FILE = "demo_events.json"
API_HOST = "127.0.0.1"


class LaunchError(Exception):
    """The console cannot open this database; the message says why and what to do."""


def demo_events_for(paths: list[str]) -> list[dict[str, Any]]:
    """The sample events shipped beside the function files (``demo_events.json``), for `d`/--demo."""
    events: list[dict[str, Any]] = []
    for path in map(Path, paths):
        candidate = path / DEMO_FILE if path.is_dir() else path.with_name(DEMO_FILE)
        if candidate.is_file():
            loaded = json.loads(candidate.read_text())
            events.extend(loaded if isinstance(loaded, list) else [loaded])
    return events


def open_backend(paths: list[str], db: str, port: int | None, attach_url: str | None = None,
                 key: str | None = None, durability: Durability = "normal", *, sdk_urls: Sequence[str] = (),
                 poll: bool = True) -> Backend:
    """The backend for these options: ``attach_url``'s server, the server that owns ``db``, or an
    embedded executor on ``db`` (serving the API on ``port`` unless it is 0 or busy). ``durability``
    is the embedded executor's; an attached console uses the server's."""
    if attach_url:
        return RemoteBackend(attach_url, key)
    sock = _bind_api(port)
    url = url_of(sock) if sock is not None else None
    try:
        ownership = _claim(db, url)
    except DatabaseOwnedError as exc:
        if sock is not None:
            sock.close()
        if not exc.url:
            raise LaunchError(f"{exc}, which has no HTTP API to attach to; stop it or pass another --db") from None
        return RemoteBackend(exc.url, key, announcement=owner_notice(db, exc))

    def release() -> None:
        if ownership is not None:
            ownership.release()
        if sock is not None:
            sock.close()

    backend = EmbeddedBackend(db, paths=paths, on_close=release, durability=durability)
    if sock is not None:
        backend.serve = _api(sock, backend.load_status, sdk_urls, poll)
        backend.notice("INFO", "api", f"HTTP API on {url}: curl -d '{{\"name\": \"app/x\"}}' {url}/e/local")
    elif port:
        backend.notice("WARNING", "api", f"HTTP API not started: port {port} is busy")
    return backend


def owner_notice(db: str, exc: DatabaseOwnedError) -> str:
    """What the operator is told on attaching to the database's owner. The owner may be a
    ``serve`` or another console (both record only a pid and a URL), so it is named for neither."""
    pid = exc.owner.get("pid")
    by = f"another durable-tui (pid {pid})" if pid else "another durable-tui"
    return (f"database {db} is in use by {by}, which serves it at {exc.url}: attached to it instead of "
            "opening the database as a second writer")


def _claim(db: str, url: str | None) -> Ownership | None:
    """Take the database file for this process (an in-memory one belongs to nobody else)."""
    if db == ":memory:":
        return None
    os.makedirs(os.path.dirname(os.path.abspath(db)), exist_ok=True)
    return claim(db, url)


def _bind_api(port: int | None) -> socket.socket | None:
    if not port:
        return None
    try:
        return bind(API_HOST, port)
    except ServeError:
        return None


def _api(sock: socket.socket, load_status: LoadStatus, sdk_urls: Sequence[str],
         poll: bool) -> Callable[[Executor], Awaitable[None]]:
    """Serve the HTTP API from the executor's own loop until cancelled (its load errors are the
    backend's, so a reload updates both), and keep the apps of ``--sdk-url`` synced: they sync
    through this API, as with Inngest's dev server."""
    async def serve(ex: Executor) -> None:
        # Imported here: the server stack (FastAPI, uvicorn) loads only when a console serves the API.
        from executor.service.api import create_app
        from executor.service.server import ApiServer

        server = await ApiServer(create_app(ex, load_status=load_status), sock).start()
        try:
            async with ex.apps.syncing(sdk_urls, poll=poll):
                await server.wait()
        finally:
            await server.stop()
    return serve
