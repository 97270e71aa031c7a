"""Durability: closing and reopening on the same database resumes everything; non-determinism
is reported; the schema is versioned."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from executor import Executor, RunStatus, StepStatus, create_function
from executor.engine.events import validate_event
from executor.store import SCHEMA_VERSION, SchemaError, Store
from executor.store.schema import MIGRATIONS
from executor.testing import run_all_to_end

from tests.helpers import eventually, run_of, until_step

pytestmark = pytest.mark.timeout(20)


def _sleepy(log: list[str], checkpointing: bool = True):
    @create_function(id="sleepy", trigger="go", checkpointing=checkpointing)
    async def sleepy(ctx):
        a = await ctx.step.run("before", lambda: log.append("before") or 1)
        await ctx.step.sleep("nap", "1h")
        b = await ctx.step.run("after", lambda: log.append("after") or 2)
        return a + b

    return sleepy


@pytest.mark.parametrize("checkpointing", [True, False])
async def test_sleeping_runs_survive_a_restart(make_executor, clock, tmp_path, checkpointing):
    db = str(tmp_path / "state.db")
    log: list[str] = []
    ex = await make_executor([_sleepy(log, checkpointing)], db=db)
    run = await run_of(ex, {"name": "go"})
    await until_step(ex, run.id, "nap", StepStatus.SLEEPING)
    await ex.close()

    clock.advance(3_600_000)
    ex2 = await make_executor([_sleepy(log, checkpointing)], db=db)
    run = await ex2.wait_for_run(run.id, timeout=5)
    assert run.status == RunStatus.COMPLETED and run.output == 3
    assert log == ["before", "after"], "the step committed before the restart is not run again"


async def test_runs_queued_while_no_function_is_loaded_resume_when_it_is(make_executor, clock, tmp_path):
    db = str(tmp_path / "state.db")
    log: list[str] = []
    ex = await make_executor([], db=db)
    await ex.send({"name": "go"})   # nobody listens: stored only
    ex.set_functions([_sleepy(log)])
    run = await run_of(ex, {"name": "go"})
    await ex.close()
    # The run may have reached its sleep before the close: an hour on, its next item is due either way.
    clock.advance(3_600_000)
    ex2 = await make_executor([], db=db)
    await eventually(lambda: ex2.parked_functions() == {"sleepy": 1})
    assert (await ex2.run(run.id)).status in (RunStatus.QUEUED, RunStatus.RUNNING), "parked, not failed, while its function is missing"
    ex2.set_functions([_sleepy(log)])
    [done] = await run_all_to_end(ex2, clock)
    assert (done.id, done.status, done.output, log) == (run.id, RunStatus.COMPLETED, 3, ["before", "after"])


async def test_changed_code_reports_non_determinism(make_executor, clock):
    @create_function(id="evolving", trigger="go")
    async def v1(ctx):
        await ctx.step.run("load", lambda: 1)
        await ctx.step.run("save", lambda: 2)
        await ctx.step.sleep("wait", "1m")
        return "v1"

    @create_function(id="evolving", trigger="go")
    async def v2(ctx):
        await ctx.step.run("save", lambda: 2)
        await ctx.step.run("load", lambda: 1)
        await ctx.step.sleep("wait", "1m")
        await ctx.step.run("new-step", lambda: 3)
        return "v2"

    ex = await make_executor([v1])
    run = await run_of(ex, {"name": "go"})
    await until_step(ex, run.id, "wait", StepStatus.SLEEPING)
    ex.set_functions([v2])
    clock.advance(60_000)
    run = await ex.wait_for_run(run.id, timeout=5)
    assert run.output == "v2"
    [warning] = run.nondeterminism
    assert "'load'" in warning["message"] and "different order" in warning["message"]
    assert set(warning["steps"]) == {"load", "save"}


async def test_memo_never_reached_is_reported(make_executor, clock):
    @create_function(id="shrinking", trigger="go")
    async def v1(ctx):
        await ctx.step.run("obsolete", lambda: 1)
        await ctx.step.sleep("wait", "1m")

    @create_function(id="shrinking", trigger="go")
    async def v2(ctx):
        await ctx.step.sleep("wait", "1m")
        return "done"

    ex = await make_executor([v1])
    run = await run_of(ex, {"name": "go"})
    await until_step(ex, run.id, "wait", StepStatus.SLEEPING)
    ex.set_functions([v2])
    clock.advance(60_000)
    run = await ex.wait_for_run(run.id, timeout=5)
    assert run.status == RunStatus.COMPLETED
    assert run.nondeterminism == [{"message": "memoized step(s) obsolete were never reached on replay",
                                   "steps": ["obsolete"]}]


async def test_schema_is_versioned_and_newer_databases_are_refused(tmp_path):
    db = str(tmp_path / "state.db")
    store = Store(db)
    await store.open()
    await store.close()
    con = sqlite3.connect(db)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(SchemaError, match="schema version 999"):
        async with Executor(db=db):
            pass


@pytest.mark.parametrize("durability, synchronous", [("normal", 1), ("full", 2)])
async def test_durability_sets_the_writers_synchronous_level(tmp_path, durability, synchronous):
    async with Executor(db=str(tmp_path / "state.db"), durability=durability) as ex:
        # ``synchronous`` is a per-connection setting: the writer's is the one commits obey.
        writer = ex.store._writer
        assert writer.execute("PRAGMA synchronous").fetchone()[0] == synchronous
        assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_unknown_durability_is_refused_naming_the_allowed_values(tmp_path):
    with pytest.raises(ValueError, match="durability must be one of 'normal', 'full', not 'fsync'"):
        Executor(db=str(tmp_path / "state.db"), durability="fsync")


def _shape(con: sqlite3.Connection) -> dict[str, list[str]]:
    tables = [row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%' AND name != 'meta'")]
    return {t: [col[1] for col in con.execute(f"PRAGMA table_info({t})")] for t in sorted(tables)}


async def test_a_v2_database_with_a_run_in_flight_migrates_to_the_current_schema(make_executor, clock, tmp_path):
    """Databases written before flow control (schema 2) open: the migration adds flow control's
    tables and column, and runs in flight go on."""
    db = str(tmp_path / "state.db")
    log: list[str] = []
    ex = await make_executor([_sleepy(log)], db=db)
    run = await run_of(ex, {"name": "go"})
    await until_step(ex, run.id, "nap", StepStatus.SLEEPING)
    await ex.close()
    # Take the database back to schema 2: what version 3 added goes, and the shape must then be
    # exactly that of migrations 1 and 2.
    con = sqlite3.connect(db)
    for table in ("run_events", "pending_starts", "flow_limits", "singletons"):
        con.execute(f"DROP TABLE {table}")
    con.execute("ALTER TABLE runs DROP COLUMN skip_reason")
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.commit()
    v2 = sqlite3.connect(":memory:")
    for version in (1, 2):
        v2.executescript(MIGRATIONS[version])
    assert _shape(con) == _shape(v2)
    con.close()

    clock.advance(3_600_000)
    ex2 = await make_executor([_sleepy(log)], db=db)
    run = await ex2.wait_for_run(run.id, timeout=5)
    assert (run.status, run.output, run.skip_reason, log) == (RunStatus.COMPLETED, 3, None, ["before", "after"])
    con = sqlite3.connect(db)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    assert {"run_events", "pending_starts", "flow_limits", "singletons"} <= set(_shape(con))
    con.close()


@pytest.mark.parametrize("others_busy, threaded", [(False, 0), (True, 1)])
async def test_a_full_commit_waits_for_its_fsync_in_a_thread_only_when_others_could_use_the_loop(
        tmp_path, monkeypatch, others_busy, threaded):
    event = validate_event({"name": "go", "data": {}}, 1)
    hops: list[object] = []
    real_to_thread = asyncio.to_thread

    async def counting_to_thread(func, *args):
        hops.append(args)
        return await real_to_thread(func, *args)

    store = Store(str(tmp_path / "full.db"), "full")
    await store.open()
    try:
        store.others_busy = lambda: others_busy
        monkeypatch.setattr(asyncio, "to_thread", counting_to_thread)
        async with store.tx() as tx:
            await tx.insert_events([event], 1)
        monkeypatch.undo()
        assert [args for args in hops if args == ("COMMIT",)] == [("COMMIT",)] * threaded
        assert await store.get_event(event.internal_id) is not None, "committed either way"
    finally:
        await store.close()
