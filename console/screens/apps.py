"""The Apps view: apps served by an Inngest SDK (any language), as Inngest's dev server lists them.

Each app's name, SDK and version, framework, URL, how many functions it synced, when it last
synced and the error of its last sync. `a` adds an app by its URL (and syncs it), `S` syncs the
app under the cursor again, `x` removes it (its runs wait, "function not loaded", until it syncs
again); `enter` shows its functions. The list follows syncs as they happen.
"""

from __future__ import annotations

from collections.abc import Awaitable

from rich.console import Group, RenderableType
from rich.text import Text
from textual.binding import Binding

from executor import AppInfo

from ..messages import Dirty
from ..widgets.format import clock_time, fit
from ..widgets.live_table import Cell, Column, Flex, LiveTable, lay_out
from .base import WIDE_FROM, Selection
from .dialogs import ConfirmScreen, PromptScreen
from .table_view import TableView


def sdk_text(app: AppInfo) -> str:
    if not app.sdk_language:
        return "—"
    return f"{app.sdk_language} {app.sdk_version}" if app.sdk_version else app.sdk_language


def app_details(app: AppInfo, now_ms: int) -> RenderableType:
    def field(name: str, value: object, style: str = "") -> Text:
        return Text.assemble((f"{name:<12} ", "bold"), (str(value), style))

    lines: list[RenderableType] = [
        Text(app.name, style="bold"),
        field("url", app.url or "—"),
        field("sdk", sdk_text(app)),
        field("framework", app.framework or "—"),
        field("version", app.app_version or "—"),
        field("last sync", clock_time(app.synced_at, now_ms) if app.synced_at else "never"),
        field("functions", ", ".join(app.functions) or "none"),
    ]
    if app.error:
        lines += [Text(""), Text("sync error", style="bold underline"), Text(app.error, style="red"),
                  Text("Fix the app (is it running at that URL?) and press S to sync it again.", style="yellow")]
    return Group(*lines)


class AppsScreen(TableView[AppInfo]):
    VIEW = "apps"
    NOUN = "apps"
    FILTER_HINT = "filter as you type: name, SDK, framework, URL or error words (enter keeps it, esc clears it)"
    ACTIONS = frozenset({"copy_id"})
    TABLE_ID = "apps-table"
    PANE_ID = "app-detail"
    HELP = ("apps served by an Inngest SDK (any language), synced from their URL or by POST /fn/register\n"
            "a adds an app by URL and syncs it; S syncs the selected app again; x removes it (its runs wait\n"
            "until it syncs again); enter shows its functions")
    BINDINGS = [
        Binding("a", "add_app", "Add", id="apps.add", tooltip="Add an app by its URL and sync it"),
        Binding("S", "sync_app", "Sync", id="apps.sync", tooltip="Sync the app under the cursor again"),
        Binding("x,delete", "remove_app", "Remove", id="apps.remove",
                tooltip="Remove the app under the cursor (asks first; its runs wait until it syncs again)"),
    ]

    def columns(self, width: int) -> list[Column]:
        if width >= WIDE_FROM:
            return lay_out(width, [Flex("name", "app", 2), Column("sdk", "sdk", 12), Column("framework", "framework", 10),
                                   Flex("url", "url", 3), Column("functions", "fns", 4),
                                   Column("synced", "last sync", 12), Flex("error", "error", 2)])
        return lay_out(width, [Flex("name", "app", 2), Column("sdk", "sdk", 12), Column("functions", "fns", 4),
                               Column("synced", "last sync", 9), Flex("error", "error", 2)])

    def key_of(self, app: AppInfo) -> str:
        return app.name

    def cells(self, app: AppInfo) -> dict[str, Cell]:
        now = self.backend.now_ms()
        return {"name": app.name, "sdk": sdk_text(app), "framework": app.framework or "—", "url": app.url or "—",
                "functions": str(len(app.functions)),
                "synced": clock_time(app.synced_at, now) if app.synced_at else "never",
                "error": Text(f"✘ {fit(app.error, 200)}", style="red") if app.error else Text("✔ synced", style="green")}

    def details(self, app: AppInfo) -> RenderableType:
        return app_details(app, self.backend.now_ms())

    def search_text(self, app: AppInfo) -> str:
        return " ".join(filter(None, (app.name, sdk_text(app), app.framework, app.url, app.error, *app.functions)))

    def empty_hint(self) -> str:
        return ("No apps. An app built with an Inngest SDK syncs by itself when it starts against this server "
                "(INNGEST_DEV=1, INNGEST_BASE_URL pointing here), or press a to add one by its URL, e.g. "
                "http://127.0.0.1:3000/api/inngest.")

    async def refresh_view(self, dirty: Dirty) -> None:
        if not (dirty.reload or dirty.apps or dirty.functions):
            return
        self.replace(await self.backend.apps())
        self.update_empty()
        self.show_detail()

    def on_live_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        event.stop()
        app = self.rows.get(event.key)
        if app is not None:
            self.run_worker(self._show_functions(app.name), exit_on_error=False)

    async def _show_functions(self, name: str) -> None:
        await self.console_app.action_view("functions")
        functions = self.app.screen_stack[0]
        if isinstance(functions, TableView):
            functions.set_filter(name)

    # ---- actions --------------------------------------------------------------------------

    def action_add_app(self) -> None:
        async def answered(url: str | None) -> None:
            if url:
                await self._act(f"add app {url}", self._add(url))

        self.app.push_screen(PromptScreen("Add an app by its URL", "http://127.0.0.1:3000/api/inngest",
                                          "The app is asked to sync now (a PUT to its URL); if it cannot be reached, "
                                          "it is listed with the error and S tries again."), answered)

    async def _add(self, url: str) -> str:
        app = await self.backend.add_app(url)
        return f"app {app.name} did not sync: {app.error}" if app.error else \
            f"added app {app.name}: {len(app.functions)} function(s)"

    def action_sync_app(self) -> None:
        app = self.current
        if app is None:
            self.notify("Put the cursor on an app first.", severity="warning", timeout=3)
            return
        self.run_worker(self._act(f"sync app {app.name}", self._sync(app.name)), exit_on_error=False)

    async def _sync(self, name: str) -> str:
        app = await self.backend.sync_app(name)
        return f"app {name} did not sync: {app.error}" if app.error else \
            f"synced app {name}: {len(app.functions)} function(s)"

    def action_remove_app(self) -> None:
        app = self.current
        if app is None:
            self.notify("Put the cursor on an app first.", severity="warning", timeout=3)
            return

        async def answered(yes: bool | None) -> None:
            if yes:
                await self._act(f"remove app {app.name}", self._remove(app.name))

        self.app.push_screen(ConfirmScreen(
            f"Remove app {app.name}?",
            f"Its {len(app.functions)} function(s) are unloaded: their runs wait (function not loaded) until the app "
            "syncs again. Its runs and events stay."), answered)

    async def _remove(self, name: str) -> str:
        await self.backend.remove_app(name)
        return f"removed app {name}"

    async def _act(self, what: str, action: Awaitable[str]) -> None:
        await self.console_app.act(what, action)
        self.reload()

    def selection(self) -> Selection:
        app = self.current
        return Selection(copy=("app", app.url or app.name)) if app is not None else Selection()
