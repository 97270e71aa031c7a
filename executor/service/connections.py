"""Connections that cannot take the server down.

uvicorn's HTTP/1.1 protocol has no timeout for a request that never finishes its headers, and
accepts connections until the process runs out of file descriptors; then every accept fails,
asyncio logs a traceback for each failure, and the API stops answering. Here:

* a connection must complete its request headers within ``header_timeout`` of connecting (or of
  starting its next request), or it is closed; bodies are timed by ``guard``;
* at most ``max_connections`` are open, kept below the open-files limit; at the limit, the oldest
  connection that is not in the middle of a request is closed to make room (so idle and half-open
  connections cannot lock out a real client), and if every connection is busy the new one is;
* accept failures and the server's per-connection warnings are logged at most once every few
  seconds (``throttle_server_logs``).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from executor.util.throttle import ThrottledLog

HEADER_TIMEOUT_SECONDS = 10.0
#: Connections accepted in one go before any is looked at (asyncio accepts up to the backlog at a time).
BACKLOG = 128
#: Descriptors kept for everything else: the database and its journal, the file watcher, logs.
RESERVED_FILES = 64

log = logging.getLogger("durable_tui.connections")
_refusals = ThrottledLog(log)


def default_max_connections() -> int:
    """Below the open-files limit by the backlog and a reserve, so accept() never runs out."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(8, min(4096, soft - BACKLOG - RESERVED_FILES))


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header timeout and a connection limit (class attributes,
    set by ``protocol_class``)."""

    header_timeout: float = HEADER_TIMEOUT_SECONDS
    max_connections: int = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._opened_at = time.monotonic()
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections and not self._make_room():
            self._refused = True
            self.transport = transport
            transport.abort()
            _refusals.log(logging.WARNING, "refused a connection: %d are open and busy (limit %d)",
                          len(self.connections), self.max_connections)
            return
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.waiting_for_request:
            self._arm()
        super().data_received(data)
        if not self.waiting_for_request:
            self._disarm()

    @property
    def waiting_for_request(self) -> bool:
        """No request is being handled: idle, or its headers have not all arrived."""
        return self.cycle is None or self.cycle.response_complete

    def _make_room(self) -> bool:
        idle = [c for c in self.connections if isinstance(c, GuardedH11Protocol) and c.waiting_for_request
                and c.transport is not None and not c.transport.is_closing()]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c._opened_at)
        oldest.transport.close()
        return True

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_timed_out)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self.waiting_for_request and not self.transport.is_closing():
            self.transport.close()


def protocol_class(header_timeout: float = HEADER_TIMEOUT_SECONDS,
                   max_connections: int | None = None) -> type[GuardedH11Protocol]:
    """The protocol to give ``uvicorn.Config(http=…)``."""
    limit = max_connections if max_connections is not None else default_max_connections()
    return type("GuardedH11Protocol", (GuardedH11Protocol,),
                {"header_timeout": header_timeout, "max_connections": limit})


class _Throttle(logging.Filter):
    """The same message from the HTTP server at most once per interval."""

    def __init__(self, interval: float = 10.0) -> None:
        super().__init__()
        self._interval = interval
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        key = str(record.msg)
        if now - self._last.get(key, float("-inf")) < self._interval:
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[key] = now
        return True


_server_filter = _Throttle()


def throttle_server_logs(loop: asyncio.AbstractEventLoop) -> None:
    """One line now and then instead of a traceback per failed accept or per bad request."""
    logger = logging.getLogger("uvicorn.error")
    if _server_filter not in logger.filters:
        logger.addFilter(_server_filter)
    previous = loop.get_exception_handler()
    if getattr(previous, "throttles_accept_errors", False):
        return
    accept_errors = ThrottledLog(log)

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if "socket.accept()" in str(context.get("message", "")):
            accept_errors.log(logging.ERROR, "cannot accept connections: %s", context.get("exception"))
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.throttles_accept_errors = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)
