"""``durable-tui app``: serve function files as an Inngest app until SIGINT or SIGTERM.

The files are loaded and watched (``FunctionWatcher``): a saved file swaps the functions in and the
app syncs again, so the server sees the new configs at once. With ``--server`` the app also syncs
when it starts (an Inngest SDK waits for the server's ``PUT``; the app knows its own URL here, so it
need not); a server that is not up yet is no error — it syncs the app with a ``PUT`` when asked to
(``inngest dev -u URL``, or its UI's "sync" button).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from executor.drivers.local.reload import FunctionWatcher
from executor.service.inngest_app.app import InngestApp
from executor.service.inngest_app.config import DEFAULT_SERVE_PATH
from executor.service.inngest_app.upstream import UpstreamError
from executor.service.server import ApiServer, ServeError
from executor.service.sockets import bind, url_of

log = logging.getLogger("durable_tui.app")
#: Seconds a stopping app gives requests in flight; the server retries those it cuts.
SHUTDOWN_TIMEOUT_S = 10.0


async def serve_app(paths: Sequence[str], *, app_id: str, host: str, port: int, server: str | None,
                    url: str | None = None, signing_key: str | None = None,
                    signing_key_fallback: str | None = None, event_key: str | None = None,
                    env: str | None = None, out: TextIO = sys.stdout) -> int:
    """Run until a signal; raises ``ServeError`` when it cannot start (no paths, port taken, bad keys)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not paths:
        raise ServeError("no function files given: pass .py files or folders of them")
    try:
        app = InngestApp([], app_id=app_id, server=server, signing_key=signing_key,
                         signing_key_fallback=signing_key_fallback, event_key=event_key, env=env)
    except ValueError as exc:
        raise ServeError(str(exc)) from None
    sock = bind(host, port)
    app.url = url or f"{url_of(sock)}{DEFAULT_SERVE_PATH}"
    try:
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(app.aclose)
            http = await ApiServer(app, sock, shutdown_timeout=SHUTDOWN_TIMEOUT_S).start()
            stack.push_async_callback(http.stop)
            # Loads the files (set_functions, which syncs the app: it is up to answer the server).
            watcher = await stack.enter_async_context(FunctionWatcher(app, paths))
            _banner(out, app, paths, watcher, server)
            if server is not None:
                await app.wait_synced()     # the first load's sync, if it started one
                if app.syncs == 0:
                    await _first_sync(app, out)
            await http.wait()
    finally:
        sock.close()
    print("durable-tui app: stopped", file=out, flush=True)
    return 0


async def _first_sync(app: InngestApp, out: TextIO) -> None:
    try:
        await app.sync()
    except UpstreamError as exc:
        print(f"not synced yet: {exc} (the server can sync the app with a PUT to {app.url})", file=out, flush=True)
    else:
        print(f"synced with {app.upstream.origin if app.upstream else '?'}", file=out, flush=True)


def _banner(out: TextIO, app: InngestApp, paths: Sequence[str], watcher: FunctionWatcher, server: str | None) -> None:
    names = ", ".join(fn.id for fn in app.functions) or "none"
    print(f"durable-tui app {app.app_id!r}: {len(app.functions)} function(s) from {', '.join(paths)}: {names}",
          file=out)
    for err in watcher.errors:
        print(f"load error {err.describe()}", file=out)
    signed = "requests must be signed" if app.mode == "cloud" else "dev mode: nothing signed"
    print(f"serving {app.url} ({signed}); server: {server or 'none (no sync, no send_event)'}; Ctrl-C stops",
          file=out, flush=True)
