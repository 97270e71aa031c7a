"""Listening sockets for the HTTP API, bound before anything else starts (no server stack needed,
so the console can claim its port without importing uvicorn)."""

from __future__ import annotations

import ipaddress
import socket


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
