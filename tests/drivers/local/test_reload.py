"""Hot reload (executor.drivers.local.reload.FunctionWatcher) against real files in a temporary folder and
the real watcher: edits, broken edits and their fixes, deletes and restores, new files, helper
modules, duplicate ids, editor save patterns, and runs that live across a reload.

Nothing sleeps blindly: each test waits for the reload a write caused
(``wait_for_reload(gen, path=...)``, bounded by file-watcher latency). The one exception is
proving that a save caused *only* one reload, which needs a bounded quiet period.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from executor import Change, Executor, RunStatus, VirtualClock
from executor.drivers.local.reload import FunctionWatcher, ReloadResult

from tests.helpers import eventually, run_of, until_step

pytestmark = pytest.mark.timeout(30)

#: Real seconds to wait for the watcher to see a save (typically ~0.1 s).
SEE = 10.0
#: After the reload a save caused, how long to watch for a spurious second one.
QUIET = 0.6


def source(fn_id: str, returns: str = "'v1'", *, event: str = "demo/x", before: str = "",
           body: str = "") -> str:
    return textwrap.dedent(f"""
        from executor import create_function
        {before}

        @create_function(id={fn_id!r}, trigger={event!r}, retries=0)
        async def handler(ctx):
            {body}
            return {returns}
    """).lstrip()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.fixture
async def executor(make_executor) -> Executor:
    return await make_executor([])


@pytest.fixture
async def watch(executor: Executor):
    started: list[FunctionWatcher] = []

    async def start(*paths: Path, **options) -> FunctionWatcher:
        watcher = FunctionWatcher(executor, paths, **options)
        await watcher.start()
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        await watcher.stop()


async def save(watcher: FunctionWatcher, path: Path, text: str | None) -> ReloadResult:
    """Write (or, with None, delete) ``path`` and wait for the reload that change caused."""
    generation = watcher.generation
    if text is None:
        path.unlink()
    else:
        write(path, text)
    return await watcher.wait_for_reload(generation, path=path, timeout=SEE)


async def invoke(ex: Executor, fn_id: str):
    run = await ex.invoke(fn_id, {})
    return await ex.wait_for_run(run.id, timeout=10)


def drain(sub) -> list[Change]:
    items = list(sub._items)
    sub._items.clear()
    return items


async def test_edit_goes_live_for_new_runs(tmp_path: Path, executor: Executor, watch) -> None:
    a = write(tmp_path / "a.py", source("a", "'v1'"))
    watcher = await watch(tmp_path)
    assert sorted(executor.functions) == ["a"] and watcher.errors == []
    v1 = executor.functions["a"].version
    assert (await invoke(executor, "a")).output == "v1"

    result = await save(watcher, a, source("a", "'v2'"))

    assert result.changed == ("a",) and result.ok and result.reason == "change"
    assert executor.functions["a"].version != v1
    assert (await invoke(executor, "a")).output == "v2"


@pytest.mark.parametrize("broken, needle, message", [
    pytest.param(source("a", "'v2'", body="x = (1,"), "x = (1,", "SyntaxError", id="syntax-error"),
    pytest.param(source("a", "'v2'", before="raise RuntimeError('boom at import')"), "raise RuntimeError",
                 "RuntimeError: boom at import", id="exception-at-import"),
    pytest.param(source("a", "'v2'", event="demo/x").replace("trigger='demo/x'",
                 "trigger=TriggerEvent('demo/x', expression='event.data.n >')").replace(
                 "import create_function", "import TriggerEvent, create_function"),
                 "@create_function", "FunctionDefinitionError", id="bad-cel-trigger"),
    pytest.param(source("a", "'v2'").replace("trigger='demo/x'", "trigger=TriggerCron('every minute')").replace(
                 "import create_function", "import TriggerCron, create_function"),
                 "@create_function", "invalid cron expression", id="bad-cron"),
])
async def test_broken_edit_keeps_last_good_and_fix_clears_error(tmp_path: Path, executor: Executor, watch,
                                                                broken: str, needle: str, message: str) -> None:
    a = write(tmp_path / "a.py", source("a", "'v1'"))
    watcher = await watch(tmp_path)
    good = executor.functions["a"]
    sub = executor.subscribe()

    result = await save(watcher, a, broken)

    [error] = watcher.errors
    assert error.file == str(a) and message in error.message
    assert error.line == line_of(a, needle)
    assert result.stale == {str(a): ("a",)}
    assert executor.functions["a"] is good, "the last good version stays live"
    assert (await invoke(executor, "a")).output == "v1"
    published = drain(sub)
    [load_error] = [c for c in published if c.kind == "function" and c.status == "load_error"]
    assert load_error.id == str(a) and load_error.data["line"] == error.line and load_error.data["stale"] == ["a"]
    [log_line] = [c for c in published if c.kind == "log" and c.data["level"] == "ERROR"]
    assert log_line.data["file"] == str(a) and log_line.data["line"] == error.line
    assert message in log_line.data["message"] and "last good version" in log_line.data["message"]
    assert int(log_line.id) > 0 and log_line.data["source"] == "reload"   # the console's log-line shape

    fixed = await save(watcher, a, source("a", "'v3'"))

    assert watcher.errors == [] and fixed.ok and fixed.stale == {}
    assert executor.functions["a"].version != good.version
    assert (await invoke(executor, "a")).output == "v3"
    published = drain(sub)
    assert [c.id for c in published if c.kind == "function" and c.status == "load_ok"] == [str(a)]
    assert any(c.kind == "log" and "loads again" in c.data["message"] for c in published)
    sub.close()


async def test_error_in_a_file_that_never_loaded_is_reported(tmp_path: Path, executor: Executor, watch) -> None:
    bad = write(tmp_path / "bad.py", "def oops(:\n")
    write(tmp_path / "good.py", source("good"))
    watcher = await watch(tmp_path)
    assert sorted(executor.functions) == ["good"]
    assert [(e.file, e.line) for e in watcher.errors] == [(str(bad), 1)]
    assert watcher.last is not None and watcher.last.reason == "start" and watcher.last.stale == {}


async def test_delete_parks_in_flight_run_and_restore_resumes_it(tmp_path: Path, clock: VirtualClock,
                                                                 executor: Executor, watch) -> None:
    text = source("sleepy", "'woke up'", body="await ctx.step.sleep('nap', '1h')")
    path = write(tmp_path / "sleepy.py", text)
    write(tmp_path / "other.py", source("other", event="demo/other"))
    watcher = await watch(tmp_path)
    run = await run_of(executor, {"name": "demo/x", "data": {}})
    await until_step(executor, run.id, "nap", "Sleeping")

    deleted = await save(watcher, path, None)

    assert deleted.removed == ("sleepy",) and sorted(executor.functions) == ["other"]
    assert watcher.errors == []
    clock.advance(3_600_000)
    await eventually(lambda: executor.parked_functions() == {"sleepy": 1})
    parked = await executor.run(run.id)
    assert parked.status in (RunStatus.QUEUED, RunStatus.RUNNING) and parked.error is None, "parked, not failed"

    restored = await save(watcher, path, text)

    assert restored.added == ("sleepy",)
    done = await executor.wait_for_run(run.id, timeout=10)
    assert (done.status, done.output) == (RunStatus.COMPLETED, "woke up")
    assert executor.parked_functions() == {}


async def test_new_files_and_folders_are_picked_up(tmp_path: Path, executor: Executor, watch) -> None:
    write(tmp_path / "a.py", source("a"))
    watcher = await watch(tmp_path)

    added = await save(watcher, tmp_path / "b.py", source("b", "'from b'"))
    assert added.added == ("b",)
    # A new folder tree: the watcher may see only the folder (it starts watching it once it
    # exists), which is enough, since every reload loads the whole tree.
    generation = watcher.generation
    c = write(tmp_path / "deeper" / "still" / "c.py", source("c", "'from c'"))
    nested = await watcher.wait_for_reload(generation, where=lambda r: "c" in r.added, timeout=SEE)
    assert nested.ok and sorted(executor.functions) == ["a", "b", "c"]
    assert (await invoke(executor, "c")).output == "from c"

    edited = await save(watcher, c, source("c", "'edited'"))   # and the new folders are watched from now on
    assert edited.changed == ("c",) and (await invoke(executor, "c")).output == "edited"


async def test_helper_module_change_reloads_the_files_that_import_it(tmp_path: Path, executor: Executor,
                                                                     watch) -> None:
    helper = write(tmp_path / "_shared.py", "GREETING = 'hello'\n")
    write(tmp_path / "lib" / "_fmt.py", "def shout(s):\n    return s.upper()\n")
    write(tmp_path / "greet.py", source("greet", "shout(GREETING)", before="from _shared import GREETING")
          .replace("from _shared", "from lib._fmt import shout\nfrom _shared"))
    watcher = await watch(tmp_path)
    assert (await invoke(executor, "greet")).output == "HELLO"

    result = await save(watcher, helper, "GREETING = 'bonjour'\n")
    assert result.ok and result.changed == (), "the handler's source (its version) did not change"
    assert (await invoke(executor, "greet")).output == "BONJOUR"

    await save(watcher, tmp_path / "lib" / "_fmt.py", "def shout(s):\n    return s + '!'\n")
    assert (await invoke(executor, "greet")).output == "bonjour!"

    broken = await save(watcher, helper, "GREETING = \n")
    [error] = broken.errors
    assert error.file == str(tmp_path / "greet.py") and "_shared.py" in error.message
    assert (await invoke(executor, "greet")).output == "bonjour!", "a broken helper keeps the last good version"


async def test_duplicate_id_across_files_keeps_the_first(tmp_path: Path, executor: Executor, watch) -> None:
    a = write(tmp_path / "a.py", source("x", "'from a'"))
    watcher = await watch(tmp_path)

    b = tmp_path / "b.py"
    result = await save(watcher, b, source("x", "'from b'") + "\n\n" + source("y").split("\n", 1)[1].replace(
        "async def handler", "async def other"))

    [error] = result.errors
    assert error.file == str(b) and "duplicate function id 'x'" in error.message and str(a) in error.message
    assert error.line == line_of(b, "@create_function(id='x'")
    assert executor.functions["x"].source_file == str(a)
    assert (await invoke(executor, "x")).output == "from a"
    assert "y" in executor.functions, "a file that never loaded cleanly still gives what it can (as at start)"

    # Once b.py has loaded cleanly, a duplicate makes it keep that last good version.
    await save(watcher, b, source("y", "'y1'"))
    assert watcher.errors == [] and sorted(executor.functions) == ["x", "y"]
    clash = await save(watcher, b, source("y", "'y2'") + "\n\n" + source("x").split("\n", 1)[1].replace(
        "async def handler", "async def other"))
    assert [e.file for e in clash.errors] == [str(b)] and clash.stale == {str(b): ("y",)}
    assert (await invoke(executor, "y")).output == "y1"
    assert executor.functions["x"].source_file == str(a)


async def test_on_failure_handler_id_clash_is_a_duplicate_not_a_crash(tmp_path: Path, executor: Executor,
                                                                     watch) -> None:
    write(tmp_path / "a.py", textwrap.dedent("""
        from executor import create_function

        async def compensate(ctx):
            return None

        @create_function(id="x", trigger="demo/x", on_failure=compensate)
        async def handler(ctx):
            return 1
    """))
    watcher = await watch(tmp_path)
    assert sorted(executor.functions) == ["x", "x-failure"]

    b = tmp_path / "b.py"
    result = await save(watcher, b, source("x-failure"))

    [error] = result.errors
    assert error.file == str(b) and "duplicate function id 'x-failure'" in error.message
    assert executor.functions["x-failure"].source_file == str(tmp_path / "a.py")


async def test_temp_file_then_rename_save_is_one_reload(tmp_path: Path, executor: Executor, watch) -> None:
    a = write(tmp_path / "a.py", source("a", "'v1'"))
    watcher = await watch(tmp_path)
    generation = watcher.generation

    temp = tmp_path / ".a.py.tmp~"           # what many editors do: write aside, then rename over
    temp.write_text(source("a", "'v2'"))
    os.replace(temp, a)

    result = await watcher.wait_for_reload(generation, path=a, timeout=SEE)
    assert result.generation == generation + 1 and result.changed == ("a",)
    with pytest.raises(TimeoutError):        # nothing else follows that one save
        await watcher.wait_for_reload(result.generation, timeout=QUIET)
    assert (await invoke(executor, "a")).output == "v2"


async def test_save_in_several_writes_is_one_reload(tmp_path: Path, executor: Executor, watch) -> None:
    a = write(tmp_path / "a.py", source("a", "'v1'"))
    watcher = await watch(tmp_path)
    generation = watcher.generation
    text = source("a", "'v2'")

    with open(a, "w") as f:                  # truncate, several writes and flushes, then a touch
        for start in range(0, len(text), 16):
            f.write(text[start:start + 16])
            f.flush()
    os.utime(a)

    result = await watcher.wait_for_reload(generation, path=a, timeout=SEE)
    assert result.generation == generation + 1 and result.changed == ("a",)
    with pytest.raises(TimeoutError):
        await watcher.wait_for_reload(result.generation, timeout=QUIET)


async def test_watching_a_single_file_survives_rename_over_saves(tmp_path: Path, executor: Executor,
                                                                 watch) -> None:
    a = write(tmp_path / "a.py", source("a", "'v1'"))
    write(tmp_path / "unwatched.py", source("unwatched"))
    watcher = await watch(a)
    assert sorted(executor.functions) == ["a"] and watcher.watched == [(str(tmp_path), False)]

    for version in ("'v2'", "'v3'"):
        generation = watcher.generation
        temp = tmp_path / "a.py.swp.tmp"
        temp.write_text(source("a", version))
        os.replace(temp, a)
        await watcher.wait_for_reload(generation, path=a, timeout=SEE)
        assert (await invoke(executor, "a")).output == version.strip("'")
    assert sorted(executor.functions) == ["a"]


async def test_a_watched_folder_created_later_is_loaded(tmp_path: Path, executor: Executor, watch) -> None:
    folder = tmp_path / "fns"
    watcher = await watch(folder)
    assert executor.functions == {} and watcher.errors[0].message == "no such file or folder"

    generation = watcher.generation
    write(folder / "late.py", source("late", "'here'"))

    # The folder's creation is a change; the folder is then watched itself, and loaded once more
    # (a "rescan") for whatever was written before that watch began.
    await watcher.wait_for_reload(generation, where=lambda r: r.reason == "rescan", timeout=SEE)
    assert "late" in executor.functions and watcher.errors == []
    assert watcher.watched == [(str(folder), True)]
    more = await save(watcher, folder / "later.py", source("later"))   # now watched recursively
    assert more.added == ("later",)


async def test_run_sleeping_across_a_reload_finishes_on_the_new_code(tmp_path: Path, clock: VirtualClock,
                                                                     executor: Executor, watch) -> None:
    def version(label: str) -> str:
        return source("nap", f"{{'label': {label!r}, 'before': before}}",
                      body=f"before = await ctx.step.run('before', lambda: {label!r})\n"
                           f"            await ctx.step.sleep('nap', '1h')")

    path = write(tmp_path / "nap.py", version("old"))
    watcher = await watch(tmp_path)
    run = await run_of(executor, {"name": "demo/x", "data": {}})
    await until_step(executor, run.id, "nap", "Sleeping")

    await save(watcher, path, version("new"))
    clock.advance(3_600_000)
    done = await executor.wait_for_run(run.id, timeout=10)

    assert done.status == RunStatus.COMPLETED
    assert done.output == {"label": "new", "before": "old"}, "new code, memoized step kept"
    assert done.function_version != done.finished_version
    assert done.finished_version == executor.functions["nap"].version
    assert done.nondeterminism == []


async def test_reload_that_reorders_steps_reports_non_determinism(tmp_path: Path, clock: VirtualClock,
                                                                  executor: Executor, watch) -> None:
    old = source("order", "'done'", body="await ctx.step.run('first', lambda: 1)\n"
                                         "            await ctx.step.sleep('nap', '1h')")
    new = source("order", "'done'", body="await ctx.step.run('renamed', lambda: 1)\n"
                                         "            await ctx.step.sleep('nap', '1h')")
    path = write(tmp_path / "order.py", old)
    watcher = await watch(tmp_path)
    run = await run_of(executor, {"name": "demo/x", "data": {}})
    await until_step(executor, run.id, "nap", "Sleeping")

    await save(watcher, path, new)
    clock.advance(3_600_000)
    done = await executor.wait_for_run(run.id, timeout=10)

    assert done.nondeterminism, "a replay that no longer matches its memo is reported"
    assert done.function_version != done.finished_version


async def test_reload_notices_are_logged_and_published(tmp_path: Path, executor: Executor, watch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    a = write(tmp_path / "a.py", source("a"))
    caplog.set_level("INFO", logger="durable_tui.reload")
    seen: list[ReloadResult] = []
    watcher = await watch(tmp_path, on_reload=seen.append)
    sub = executor.subscribe()

    result = await save(watcher, a, source("a", "'v2'"))
    await save(watcher, tmp_path / "b.py", source("b"))
    await save(watcher, tmp_path / "b.py", None)

    assert [r.generation for r in seen] == [1, 2, 3, 4] and seen[1] is result
    notices = [c for c in drain(sub) if c.kind == "log"]
    assert [n.data["generation"] for n in notices] == [2, 3, 4]
    assert "a.py" in notices[0].data["message"] and "changed: a" in notices[0].data["message"]
    assert "added: b" in notices[1].data["message"] and "removed: b" in notices[2].data["message"]
    assert [int(n.id) for n in notices] == sorted(int(n.id) for n in notices)
    messages = [r.getMessage() for r in caplog.records if r.name == "durable_tui.reload"]
    assert any("loaded 1 function(s)" in m for m in messages) and any("removed: b" in m for m in messages)
    sub.close()


async def test_manual_reload_and_stop(tmp_path: Path, executor: Executor, watch) -> None:
    a = write(tmp_path / "a.py", source("a"))
    watcher = await watch(tmp_path)
    result = await watcher.reload()
    assert result.reason == "manual" and result.generation == 2 and result.changed == ()

    await watcher.stop()
    generation = watcher.generation
    write(a, source("a", "'after stop'"))
    with pytest.raises(TimeoutError):
        await watcher.wait_for_reload(generation, timeout=QUIET)


async def test_whole_watched_folder_deleted_and_restored(tmp_path: Path, clock: VirtualClock,
                                                         executor: Executor, watch) -> None:
    import shutil

    folder = tmp_path / "fns"
    text = source("sleepy", "'woke up'", body="await ctx.step.sleep('nap', '1h')")
    write(folder / "sleepy.py", text)
    watcher = await watch(folder)
    run = await run_of(executor, {"name": "demo/x", "data": {}})
    await until_step(executor, run.id, "nap", "Sleeping")

    generation = watcher.generation
    shutil.rmtree(folder)
    await watcher.wait_for_reload(generation, where=lambda r: "sleepy" in r.removed, timeout=SEE)
    assert executor.functions == {} and watcher.errors[0].message == "no such file or folder"
    await eventually(lambda: watcher.watched == [(str(tmp_path), False)], timeout=SEE)
    clock.advance(3_600_000)
    await eventually(lambda: executor.parked_functions() == {"sleepy": 1})

    generation = watcher.generation
    write(folder / "sleepy.py", text)
    await watcher.wait_for_reload(generation, where=lambda r: "sleepy" in r.added, timeout=SEE)
    done = await executor.wait_for_run(run.id, timeout=10)
    assert (done.status, done.output) == (RunStatus.COMPLETED, "woke up")
    await watcher.wait_for_reload(generation, where=lambda r: r.reason == "rescan", timeout=SEE)
    assert watcher.watched == [(str(folder), True)] and watcher.errors == []
