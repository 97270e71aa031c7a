"""The ``durable-tui`` command line.

Bare ``durable-tui [PATHS]`` opens the console (``console``); ``attach URL`` opens it on a remote
server; ``serve`` and ``headless`` host an executor without a UI; ``app`` serves function
files as an Inngest app (``executor.service.inngest_app``); the other commands talk to a
running server over HTTP (``executor.service.client``): human tables by default, ``--json`` for scripts.
Exit status: 0 done, 1 the server refused, 2 bad usage or input, 3 no server answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from executor import SchemaError
from executor.service.client import ApiRequestError, Client, ServerUnavailableError
from executor.service.ownership import DatabaseOwnedError, claim
from executor import DURABILITIES
from executor.service.printable import printable
from executor.service.settings import ADMIN_KEY_ENV, DEFAULT_DB, DEFAULT_URL, KEY_ENV, URL_ENV

EXIT_REFUSED, EXIT_USAGE, EXIT_NO_SERVER = 1, 2, 3


class UsageError(Exception):
    """Bad input on the command line (exit 2)."""


def _default_paths() -> list[str]:
    return ["sample_functions"] if Path("sample_functions").is_dir() else []


# ---- the parser ------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="durable-tui",
        description="Run durable step functions from Python files and watch their runs live. "
                    "With no command (or only paths and options), `console` is meant.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_: str, where: str = "") -> argparse.ArgumentParser:
        """A command whose own --help says what it does (the list above shows ``help_``)."""
        return sub.add_parser(name, help=help_, description=f"{help_[0].upper()}{help_[1:]}{where}.")

    console = command("console", "the operations console on an embedded executor (default)")
    attach = command("attach", "the operations console on a running server (`durable-tui serve`, or another "
                               "console's HTTP API)")
    headless = command("headless", "run functions without a UI, reading events as JSON lines from stdin and "
                                   "printing every transition")
    serve = command("serve", "run functions behind the HTTP API, no UI")
    for p in (console, headless, serve):
        p.add_argument("paths", nargs="*", help="function files or folders (default: ./sample_functions)")
        p.add_argument("--db", default=DEFAULT_DB, help=f"SQLite database file, or :memory: (default {DEFAULT_DB})")
        p.add_argument("--durability", choices=DURABILITIES, default="normal",
                       help="normal: commits survive a killed process; full: an fsync per commit, so they "
                            "survive an OS crash or power loss too (default normal)")
    for p in (console, headless):
        p.add_argument("--demo", action="store_true", help="send the sample events in demo_events.json at start")
    for p in (console, serve):
        p.add_argument("-u", "--sdk-url", action="append", default=[], metavar="URL",
                       help="an app served by an Inngest SDK to sync at start and every 5 s (repeatable), "
                            "e.g. http://127.0.0.1:3000/api/inngest")
        p.add_argument("--no-poll", action="store_true",
                       help="sync the apps once, then again only those whose sync failed")
    console.add_argument("--port", type=int, default=8288,
                         help="port of the embedded HTTP API (default 8288; 0 turns it off)")
    attach.add_argument("url", help="the server, e.g. http://127.0.0.1:8288")
    attach.add_argument("--key", default=os.environ.get(KEY_ENV), help=f"the server's key (default ${KEY_ENV})")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; "
                                                           "any other needs a key)")
    serve.add_argument("--port", type=int, default=8288, help="port (default 8288; 0 picks a free one)")
    serve.add_argument("--key", default=None, help=f"the event key (POST /e/KEY), and the /v1 bearer token "
                                                   f"unless --admin-key is given (default ${KEY_ENV})")
    serve.add_argument("--admin-key", default=None,
                       help=f"a separate /v1 bearer token for the operator, so the event key apps embed cannot "
                            f"read or cancel runs (default ${ADMIN_KEY_ENV})")
    serve.add_argument("--max-event-bytes", type=int, default=None, help="largest accepted event (default 3 MiB)")
    serve.add_argument("--header-timeout", type=float, default=10.0,
                       help="seconds a connection has to send its request headers (default 10)")
    serve.add_argument("--max-connections", type=int, default=None,
                       help="open connections at most (default: below the open-files limit)")
    serve.add_argument("--signing-key", default=None,
                       help="sign requests to SDK apps (and check their replies) with this Inngest signing key "
                            "(default $INNGEST_SIGNING_KEY; a dev setup needs none)")

    app = command("app", "serve function files as an Inngest app, so an Inngest server (self-hosted, cloud, "
                         "or `durable-tui serve`) runs them")
    _app_options(app)

    def remote(name: str, help_: str) -> argparse.ArgumentParser:
        return _remote_options(command(name, help_, ", on the server at --url"))

    data_help = "JSON, or @file.json to read it from a file"
    send = remote("send", "send an event")
    send.add_argument("name", help="event name, e.g. app/user.created")
    send.add_argument("--data", default="{}", help=f"event data: {data_help}")
    signal = remote("signal", "resume the run waiting for a signal")
    signal.add_argument("name", help="signal name")
    signal.add_argument("--data", default="null", help=f"signal payload: {data_help}")
    runs = remote("runs", "list runs, newest first")
    runs.add_argument("--status", help="Queued, Running, Completed, Failed, Cancelled or Skipped")
    runs.add_argument("--function", help="function id")
    runs.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    remote("run", "show a run with its steps and pending waits").add_argument("id", help="run id")
    remote("cancel", "cancel a run").add_argument("id", help="run id")
    rerun = remote("rerun", "start a fresh run of a run's function on the same event")
    rerun.add_argument("id", help="run id")
    rerun.add_argument("--from-step", metavar="STEP", help="keep the results of the steps before STEP (its id)")
    remote("functions", "list loaded functions and load errors")
    invoke = remote("invoke", "start a function now, whatever its triggers")
    invoke.add_argument("function", help="function id")
    invoke.add_argument("--data", default="{}", help=f"event data: {data_help}")
    events = remote("events", "list events, newest first")
    events.add_argument("--name", help="only events with this name")
    events.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    apps = remote("apps", "list the apps served by an Inngest SDK; add one by URL, sync one again, or remove one")
    apps.add_argument("action", nargs="?", choices=("add", "sync", "remove"),
                      help="add URL: sync the app at URL; sync NAME: sync it again; remove NAME: forget it "
                           "(its runs wait until it syncs again); none: list the apps")
    apps.add_argument("target", nargs="?", help="the app's URL (add) or name (sync, remove)")
    remote("waits", "list pending sleeps and waits")
    remote("fire", "end a sleep now, or time a wait out now").add_argument("id", help="wait id")
    return parser


def _app_options(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    p.add_argument("paths", nargs="*", help="function files or folders (default: ./sample_functions)")
    p.add_argument("--app-id", default=env("INNGEST_APP_ID", "durable-tui"),
                   help="the app's id; functions are '<app id>-<function id>' on the server "
                        "(default $INNGEST_APP_ID or durable-tui)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--server", default=env("INNGEST_BASE_URL"),
                   help="the Inngest server to sync with and send events to, e.g. http://127.0.0.1:8288 "
                        "(default $INNGEST_BASE_URL)")
    p.add_argument("--url", default=None, help="where the server reaches the app, when not at --host/--port "
                                               "(e.g. behind a proxy): https://host/api/inngest")
    p.add_argument("--signing-key", default=env("INNGEST_SIGNING_KEY"),
                   help="check requests and sign replies with it (cloud mode; default $INNGEST_SIGNING_KEY; "
                        "none: dev mode)")
    p.add_argument("--signing-key-fallback", default=env("INNGEST_SIGNING_KEY_FALLBACK"),
                   help="the key being rotated out (default $INNGEST_SIGNING_KEY_FALLBACK)")
    p.add_argument("--event-key", default=env("INNGEST_EVENT_KEY"), help="for step.send_event (default "
                                                                         "$INNGEST_EVENT_KEY)")
    p.add_argument("--env", default=env("INNGEST_ENV"), help="the server's environment (branch) name "
                                                             "(default $INNGEST_ENV)")


def _serve_app(args: argparse.Namespace) -> int:
    from executor.service.inngest_app.run import serve_app
    from executor.service.server import ServeError

    try:
        return asyncio.run(serve_app(
            args.paths or _default_paths(), app_id=args.app_id, host=args.host, port=args.port, server=args.server,
            url=args.url, signing_key=args.signing_key, signing_key_fallback=args.signing_key_fallback,
            event_key=args.event_key, env=args.env))
    except ServeError as exc:
        print(f"durable-tui app: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _remote_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--url", default=os.environ.get(URL_ENV, DEFAULT_URL),
                   help=f"the server (default ${URL_ENV} or {DEFAULT_URL})")
    p.add_argument("--key", default=os.environ.get(KEY_ENV), help=f"the server's key (default ${KEY_ENV})")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    return p


def _with_default_command(argv: list[str], commands: Sequence[str]) -> list[str]:
    """``durable-tui [paths] [--db …] [--demo]`` means ``durable-tui console …``."""
    if argv and (argv[0] in commands or argv[0] in ("-h", "--help")):
        return argv
    return ["console", *argv]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(
        _with_default_command(argv, ("console", "attach", "headless", "serve", "app", *_ACTIONS)))
    try:
        if args.command == "app":
            return _serve_app(args)
        if args.command in ("console", "attach", "headless", "serve"):
            return _host(args)
        return asyncio.run(_remote(args))
    except UsageError as exc:
        print(f"durable-tui {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ServerUnavailableError as exc:
        print(f"durable-tui {args.command}: {printable(str(exc))}", file=sys.stderr)
        return EXIT_NO_SERVER
    except ApiRequestError as exc:
        print(f"durable-tui {args.command}: {printable(str(exc))} (HTTP {exc.status})", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130


# ---- commands that host the executor ----------------------------------------------------------

def _host(args: argparse.Namespace) -> int:
    from executor.service.server import ServeError, serve

    from .launch import LaunchError

    paths = [] if args.command == "attach" else (args.paths or _default_paths())
    if not paths and args.command == "headless":
        raise UsageError("no function files given and no ./sample_functions folder here; "
                         "pass a .py file or a folder of them")
    try:
        if args.command == "serve":
            return asyncio.run(serve(paths, db=args.db, host=args.host, port=args.port, key=args.key,
                                     admin_key=args.admin_key, max_event_bytes=args.max_event_bytes,
                                     header_timeout=args.header_timeout, max_connections=args.max_connections,
                                     durability=args.durability, sdk_urls=args.sdk_url, poll=not args.no_poll,
                                     signing_key=args.signing_key or os.environ.get("INNGEST_SIGNING_KEY")))
        if args.command == "headless":
            return _run_headless(args, paths)
        from .app import run_console

        if args.command == "attach":
            return run_console([], DEFAULT_DB, 0, False, attach_url=args.url, key=args.key)
        return run_console(paths, args.db, args.port, args.demo, durability=args.durability,
                           sdk_urls=args.sdk_url, poll=not args.no_poll)
    except DatabaseOwnedError as exc:
        hint = f"; use the command line against {exc.url} (--url), or pass another --db" if exc.url else ""
        print(f"durable-tui {args.command}: {exc}{hint}", file=sys.stderr)
        return EXIT_USAGE
    except (SchemaError, ServeError, LaunchError) as exc:
        print(f"durable-tui {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run_headless(args: argparse.Namespace, paths: list[str]) -> int:
    from executor.service.headless import run_headless

    from .launch import demo_events_for

    demo = demo_events_for(paths) if args.demo else []
    if args.db == ":memory:":
        return asyncio.run(run_headless(paths, args.db, demo, durability=args.durability))
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    with claim(args.db, None):
        return asyncio.run(run_headless(paths, args.db, demo, durability=args.durability))


# ---- commands that talk to a server ------------------------------------------------------------

def _json_arg(text: str, what: str) -> Any:
    """``--data``: inline JSON or ``@file.json``."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise UsageError(f"cannot read {what} from {text[1:]}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON ({exc})") from None


async def _remote(args: argparse.Namespace) -> int:
    async with Client(args.url, args.key) as client:
        result, human = await _ACTIONS[args.command](client, args)
    print(json.dumps(result, indent=2) if args.json else printable(human(result), multiline=True))
    return 0


Action = Callable[[Client, argparse.Namespace], Awaitable[tuple[Any, Callable[[Any], str]]]]


async def _send(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    ids = await c.send({"name": a.name, "data": _json_arg(a.data, "--data")})
    return {"ids": ids}, lambda r: "\n".join(r["ids"])


async def _signal(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    run_id = await c.signal(a.name, _json_arg(a.data, "--data"))
    return {"run_id": run_id}, lambda r: f"resumed run {r['run_id']}"


async def _runs(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    page = await c.runs(status=a.status, function_id=a.function, limit=a.limit)
    return page.items, _runs_table


async def _run(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    return await c.run(a.id), _run_detail


async def _cancel(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    await c.cancel(a.id)
    return {"run_id": a.id, "cancelled": True}, lambda r: f"cancelling run {r['run_id']} at its next step boundary"


async def _rerun(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    return {"run_id": await c.rerun(a.id, a.from_step)}, lambda r: f"started run {r['run_id']}"


async def _functions(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    listing = await c.functions()
    return {"functions": listing.functions, "load_errors": listing.load_errors}, _functions_table


async def _invoke(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    run_id = await c.invoke(a.function, _json_arg(a.data, "--data"))
    return {"run_id": run_id}, lambda r: f"started run {r['run_id']}"


async def _events(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    page = await c.events(name=a.name, limit=a.limit)
    return page.items, lambda items: _table(["EVENT", "NAME", "TIME", "DATA"], [
        [e["id"], e["name"], _time(e["ts"]), _short(e["data"])] for e in items])


async def _apps(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    if a.action is None:
        if a.target is not None:
            raise UsageError(f"unknown apps action {a.target!r}; use add URL, sync NAME or remove NAME")
        return await c.apps(), _apps_table
    if not a.target:
        raise UsageError(f"apps {a.action} needs the app's {'URL' if a.action == 'add' else 'name'}")
    if a.action == "remove":
        await c.remove_app(a.target)
        return {"name": a.target, "removed": True}, lambda r: f"removed app {r['name']}; its runs wait until it syncs again"
    app = await (c.add_app(a.target) if a.action == "add" else c.sync_app(a.target))
    return app, _app_synced


async def _waits(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    return await c.waits(), _waits_table


async def _fire(c: Client, a: argparse.Namespace) -> tuple[Any, Callable[[Any], str]]:
    await c.fire(a.id)
    return {"id": a.id, "fired": True}, lambda r: f"fired wait {r['id']}"


_ACTIONS: dict[str, Action] = {
    "send": _send, "signal": _signal, "runs": _runs, "run": _run, "cancel": _cancel, "rerun": _rerun,
    "functions": _functions, "invoke": _invoke, "events": _events, "waits": _waits, "fire": _fire, "apps": _apps,
}


# ---- human output ----------------------------------------------------------------------------

def _time(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


def _took(start: int | None, end: int | None) -> str:
    return f"{(end - start) / 1000:.3f}s" if start and end else "-"


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    return "\n".join("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in [headers, *rows])


def _runs_table(runs: list[dict[str, Any]]) -> str:
    """One row per run; a NOTE column says why runs are held back or were skipped, when any is."""
    notes = [_why(r) for r in runs]
    noted = any(notes)
    return _table(["RUN", "FUNCTION", "STATUS", "CREATED", "TOOK", *(["NOTE"] if noted else [])], [
        [r["id"], r["function_id"], r["status"], _time(r["created_at"]), _took(r["started_at"], r["ended_at"]),
         *([note or "-"] if noted else [])]
        for r, note in zip(runs, notes, strict=True)])


def _why(run: dict[str, Any]) -> str:
    """Flow control's word on a run: why it waits ("queued: concurrency 1/1 for userId=u-42") or
    why it never ran ("skipped: rate limited")."""
    if run.get("skip_reason"):
        return f"skipped: {run['skip_reason']}"
    return run.get("waiting_for") or ""


def _outcome(item: dict[str, Any]) -> str:
    if item.get("error"):
        return f"{item['error'].get('name')}: {item['error'].get('message')}"
    if item.get("status") in ("Sleeping", "Waiting", "Retrying") and item.get("due_at"):
        return f"until {_time(item['due_at'])}"
    return _short(item.get("output")) if item.get("status") == "Completed" else "-"


def _run_detail(run: dict[str, Any]) -> str:
    lines = [f"run       {run['id']}", f"function  {run['function_id']}", f"status    {run['status']}",
             *([f"why       {_why(run)}"] if _why(run) else []), f"event     {run['event_id'] or '-'}", f"created   {_time(run['created_at'])}",
             f"took      {_took(run['started_at'], run['ended_at'])}", f"result    {_outcome(run)}", ""]
    lines.append(_table(["STEP", "OP", "STATUS", "ATTEMPTS", "RESULT"], [
        [s["id"], s["op"], s["status"], str(s["attempts"]), _outcome(s)] for s in run["steps"]]))
    if run.get("waits"):
        lines += ["", _waits_table(run["waits"])]
    return "\n".join(lines)


def _functions_table(listing: dict[str, Any]) -> str:
    table = _table(["FUNCTION", "NAME", "TRIGGERS", "SOURCE"], [
        [f["id"], f["name"], ", ".join(_trigger(t) for t in f["triggers"]) or "-", f.get("source_file") or "-"]
        for f in listing["functions"]])
    errors = [f"load error {e['file']}{':' + str(e['line']) if e.get('line') else ''}: {e['message']}"
              for e in listing["load_errors"]]
    return "\n".join([table, *errors])


def _apps_table(apps: list[dict[str, Any]]) -> str:
    return _table(["APP", "SDK", "FRAMEWORK", "FUNCTIONS", "SYNCED", "URL", "ERROR"], [
        [a["name"], a.get("sdk") or "-", a.get("framework") or "-", str(a.get("function_count", 0)),
         _time(a.get("synced_at")), a.get("url") or "-", a.get("error") or "-"] for a in apps])


def _app_synced(app: dict[str, Any]) -> str:
    if app.get("error"):
        return f"app {app['name']} did not sync: {app['error']}"
    return f"synced app {app['name']} ({app.get('sdk') or 'sdk unknown'}): {app.get('function_count', 0)} function(s)"


def _trigger(trigger: dict[str, Any]) -> str:
    return trigger.get("event") or trigger.get("cron") or json.dumps(trigger)


def _waits_table(waits: list[dict[str, Any]]) -> str:
    return _table(["WAIT", "KIND", "RUN", "STEP", "FOR", "DEADLINE"], [
        [w["id"], w["kind"], w["run_id"], w.get("step_id") or "-",
         w.get("event") or w.get("signal") or w.get("expression") or "-", _time(w.get("deadline"))]
        for w in waits])


if __name__ == "__main__":
    sys.exit(main())
