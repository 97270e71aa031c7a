"""Apps served by an Inngest SDK: synced, kept across restarts, resynced, removed.

An app syncs the way it does with Inngest's dev server: something sends ``PUT`` to the app's URL,
and the SDK either answers with its functions (in-band) or posts them to ``/fn/register``
(out of band). Either way the register body lands in ``register``, which checks it, stores it,
and swaps that app's functions in the engine at once (a removed function is gone, a changed one
gets a new version, runs waiting for a function that comes back resume). The body is stored as
sent and read again at start, so a restart needs no resync. A sync error is kept on the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from executor.drivers.inngest.driver import InngestDriver
from executor.drivers.inngest.inband import IN_BAND, parse_sync_reply, sync_request
from executor.drivers.inngest.sync import AppSync, SyncError, field, parse_register_body, register_reply
from executor.engine.engine import Engine
from executor.errors import FunctionDefinitionError, NotFoundError
from executor.feed import Change, ChangeFeed
from executor.records import AppInfo, ChangeKind
from executor.store import Store
from executor.util.clock import Clock

log = logging.getLogger("durable_tui.apps")
#: How often apps are synced again (Inngest's dev server: every 5 s unless --no-poll).
POLL_INTERVAL_S = 5.0


def normalise_url(url: str) -> str:
    """One spelling per app URL (scheme and host lower-case, no trailing slash, localhost as 127.0.0.1)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if host in ("localhost", "0.0.0.0"):
        host = "127.0.0.1"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/") or "/", parts.query, ""))


class Apps:
    def __init__(self, store: Store, engine: Engine, driver: InngestDriver, clock: Clock, feed: ChangeFeed) -> None:
        self._store = store
        self._engine = engine
        self._driver = driver
        self._clock = clock
        self._feed = feed
        self._info: dict[str, AppInfo] = {}
        self._checksums: dict[str, str] = {}

    async def load(self) -> None:
        """Bring back the apps synced before a restart (and the URLs still waiting for one)."""
        for row in await self._store.apps():
            if row["sync"] is None:
                self._info[row["name"]] = AppInfo(row["name"], row["url"], error=row["error"])
                continue
            try:
                app = parse_register_body(row["sync"]["body"], row["sync"].get("headers"),
                                          deploy_id=row["sync"].get("deploy_id"))
                self._activate(app)
            except FunctionDefinitionError as exc:
                log.error("app %r could not be restored: %s", row["name"], exc)
                self._info[row["name"]] = AppInfo(row["name"], row["url"], error=str(exc))
                continue
            self._info[app.app_name].synced_at = row["synced_at"]
            self._info[app.app_name].error = row["error"]

    def list(self) -> list[AppInfo]:
        return sorted(self._info.values(), key=lambda a: a.name)

    def get(self, name: str) -> AppInfo:
        info = self._info.get(name)
        if info is None:
            raise NotFoundError(f"no app named {name!r}; `durable-tui apps` lists them")
        return info

    # ---- syncing ---------------------------------------------------------------------------

    async def register(self, body: Any, headers: Mapping[str, str] | None = None, *,
                       deploy_id: str | None = None) -> dict[str, Any]:
        """``POST /fn/register``: take the app's functions, or raise ``SyncError`` (kept on the app
        when its name is known). Returns Inngest's reply (``modified`` false for an unchanged app)."""
        try:
            app = parse_register_body(body, headers, deploy_id=deploy_id)
        except SyncError as exc:
            if isinstance(body, Mapping):
                name, url = field(body, "appName"), field(body, "url")
                if isinstance(name, str) and name.strip():
                    await self._record_error(name, url if isinstance(url, str) else None, exc)
            raise
        known = self._info.get(app.app_name)
        modified = known is None or known.error is not None or self._checksums.get(app.app_name) != app.checksum
        if modified:
            try:
                self._engine.core.registry.check(app.app_name, app.specs)
            except FunctionDefinitionError as exc:
                await self._record_error(app.app_name, app.url, exc)
                raise SyncError(f"app {app.app_name!r} was not synced: {exc}") from None
            now = self._clock.now_ms()
            stored = {"body": dict(body), "headers": dict(headers or {}), "deploy_id": deploy_id}
            async with self._store.tx() as tx:
                for placeholder in self._placeholders(app.url):
                    await tx.delete_app(placeholder)
                await tx.save_app(app.app_name, app.url, stored, None, now, now)
            for placeholder in self._placeholders(app.url):
                self._info.pop(placeholder, None)
            self._activate(app)
            self._info[app.app_name].synced_at = now
            log.info("synced app %r (%s, %s): %d function(s)", app.app_name, app.url, app.sdk, len(app.functions))
        self._feed.publish([Change(ChangeKind.APP, app.app_name, status="synced")])
        return register_reply(app, modified=modified)

    def _activate(self, app: AppSync) -> None:
        self._engine.set_functions(app.app_name, app.specs)
        self._driver.set_app(app)
        self._checksums[app.app_name] = app.checksum
        self._info[app.app_name] = AppInfo(app.app_name, app.url, app.sdk, app.framework, app.app_version,
                                           [f.spec.id for f in app.functions])

    def _placeholders(self, url: str) -> list[str]:
        """URLs added to be synced (``--sdk-url``) that this app now answers for."""
        wanted = normalise_url(url)
        return [name for name, info in self._info.items()
                if info.name not in self._checksums and info.url and normalise_url(info.url) == wanted]

    async def _record_error(self, name: str, url: str | None, exc: Exception) -> None:
        info = self._info.setdefault(name, AppInfo(name, url))
        info.error = str(exc)
        async with self._store.tx() as tx:
            await tx.save_app(name, url or info.url, None, info.error, None, self._clock.now_ms())
        self._feed.publish([Change(ChangeKind.APP, name, status="error", data={"error": info.error})])
        log.warning("app %r: %s", name, exc)

    async def add_url(self, url: str) -> AppInfo:
        """Remember an app URL to sync (``--sdk-url``, the console's "add app"), then sync it."""
        try:
            parts = urlsplit(url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
            httpx.URL(url)          # what the sync request will need: a host it can encode
        except (ValueError, httpx.InvalidURL) as exc:
            raise ValueError(f"an app URL must be http(s)://host[:port]/path, got {url!r} ({exc})") from None
        if not valid:
            raise ValueError(f"an app URL must be http(s)://host[:port]/path, got {url!r}")
        return await self.sync_url(url)

    def _at(self, url: str) -> AppInfo | None:
        """The app answering at ``url``: the synced one, else the placeholder waiting for it."""
        wanted = normalise_url(url)
        found = [i for i in self._info.values() if i.url and normalise_url(i.url) == wanted]
        return next((i for i in found if i.name in self._checksums), found[0] if found else None)

    async def sync_url(self, url: str) -> AppInfo:
        """Ask the app at ``url`` to sync (in-band when its SDK can; otherwise it posts to
        ``/fn/register``) and return the app now known there, under the name it synced with. A
        new URL is remembered first; a failure is kept on the app, not raised: it may be down."""
        known = self._at(url)
        if known is None:
            known = self._info[url] = AppInfo(url, url, error="not synced yet")
            async with self._store.tx() as tx:
                await tx.save_app(url, url, None, known.error, None, self._clock.now_ms())
        await self._sync(url, known.name)
        return self._at(url) or known

    async def _sync(self, url: str, name: str) -> None:
        request = sync_request(url, in_band=True, signing_key=self._driver.signing_key)
        try:
            response = await self._driver.client.put(url, content=request.body, headers=request.headers, timeout=10)
            reply = parse_sync_reply(response.status_code, dict(response.headers), response.content, url=url,
                                     signing_key=self._driver.signing_key)
        except (httpx.HTTPError, httpx.InvalidURL, SyncError) as exc:
            await self._record_error(name, url, SyncError(f"could not sync {url}: {exc or type(exc).__name__}"))
            return
        if reply.kind == IN_BAND and reply.app is not None:
            try:
                await self.register(_register_body(reply.app))
            except SyncError:
                pass     # kept on the app by register
        elif reply.message and "error" in reply.message.lower():
            await self._record_error(name, url, SyncError(f"the app at {url} answered: {reply.message}"))

    async def resync(self, name: str) -> AppInfo:
        """Sync the app again from its URL; returns it as it now stands (a URL added before its app
        was up comes back under the app's own name)."""
        info = self.get(name)
        if not info.url:
            raise NotFoundError(f"app {name!r} has no URL to sync from")
        return await self.sync_url(info.url)

    async def remove(self, name: str) -> None:
        """Forget an app; its runs wait ("function not loaded") until it syncs again."""
        self.get(name)
        async with self._store.tx() as tx:
            await tx.delete_app(name)
        self._info.pop(name, None)
        self._checksums.pop(name, None)
        self._driver.remove_app(name)
        self._engine.set_functions(name, [])
        self._feed.publish([Change(ChangeKind.APP, name, status="removed")])

    async def poll(self, *, only_failing: bool = False) -> None:
        """Sync every known app URL again (the dev server does this every few seconds), or only
        those whose last sync failed."""
        for url in sorted({i.url for i in self._info.values() if i.url and (i.error or not only_failing)}):
            await self.sync_url(url)

    @contextlib.asynccontextmanager
    async def syncing(self, urls: Iterable[str] = (), *, poll: bool = True) -> AsyncIterator[None]:
        """``keep_synced`` in the background for as long as the block runs (a server's lifetime)."""
        task = asyncio.create_task(self.keep_synced(urls, poll=poll), name="durable-apps")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def keep_synced(self, urls: Iterable[str] = (), *, interval: float = POLL_INTERVAL_S,
                          poll: bool = True) -> None:
        """Add ``urls`` (``--sdk-url``), then sync the apps every ``interval`` seconds until cancelled —
        all of them, or with ``poll=False`` only those whose sync failed (as the dev server's
        ``--no-poll`` does). A failure is kept on its app; this never raises for one."""
        for url in urls:
            try:
                await self.add_url(url)
            except ValueError as exc:
                log.error("--sdk-url %s: %s", url, exc)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.poll(only_failing=not poll)
            except Exception:     # one bad round must not end syncing for the session
                log.exception("syncing the apps failed; trying again in %s s", interval)


def _register_body(app: AppSync) -> dict[str, Any]:
    """An in-band reply's app as the register body ``register`` reads (the same checks apply)."""
    return {"appName": app.app_name, "url": app.url, "sdk": app.sdk, "framework": app.framework,
            "appVersion": app.app_version, "capabilities": dict(app.capabilities),
            "functions": [dict(f.config) for f in app.functions]}
