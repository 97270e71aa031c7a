"""The writer's run cache (``store/runcache.py``) never disagrees with the database: checked after
every transition of a workload that takes runs through every kind of change, and through a
transition that is rolled back."""

from __future__ import annotations

import pytest

from executor import NonRetriableError, RunStatus, StepStatus, create_function
from executor.engine.core import Core
from executor.records import Run
from executor.store.runcache import RunCache
from executor.store.schema import RUN_COLUMNS, run_from_row
from executor.testing import run_all_to_end

from tests.helpers import run_of, until_step

pytestmark = pytest.mark.timeout(30)


def kept_runs(ex) -> dict[str, Run]:
    return ex.store._runs._runs


def disagreements(ex) -> list[str]:
    return store_disagreements(ex.store)


def store_disagreements(store) -> list[str]:
    """Every kept run that differs from its row."""
    db = store._writer
    found = []
    for run_id, kept in store._runs._runs.items():
        row = db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        stored = run_from_row(row) if row else None
        if stored is None or kept.to_dict() != stored.to_dict():
            found.append(f"{run_id}: kept {kept.to_dict()} but the row says {stored and stored.to_dict()}")
    return found


@pytest.fixture
def checked(monkeypatch):
    """After every committed transition, the kept runs must equal their rows."""
    seen: dict[str, int] = {"transitions": 0, "kept": 0}
    problems: list[str] = []
    announce = Core.announce

    def checking(core, t):
        announce(core, t)
        seen["transitions"] += 1
        seen["kept"] += len(core.store._runs)
        problems.extend(store_disagreements(core.store))

    monkeypatch.setattr(Core, "announce", checking)
    return seen, problems


flaky_calls: dict[str, int] = {}


def flaky(key: str) -> str:
    flaky_calls[key] = flaky_calls.get(key, 0) + 1
    if flaky_calls[key] < 3:
        raise RuntimeError("not yet")
    return "ok"


@create_function(id="child", trigger="never/child")
async def child(ctx):
    return {"doubled": ctx.event.data["n"] * 2, "as_tuple": (1, 2)}


@create_function(id="workload", trigger="cache/go", retries=2)
async def workload(ctx):
    first = await ctx.step.run("flaky", flaky, ctx.event.data["key"])
    await ctx.step.sleep("nap", "1m")
    got = await ctx.step.wait_for_event("approval", event="cache/approve", timeout="1h",
                                        if_exp="async.data.key == event.data.key")
    kid = await ctx.step.invoke("kid", function=child, data={"n": 21})
    return [first, got is not None, kid, (3, 4)]


@create_function(id="doomed", trigger="cache/doom", retries=1)
async def doomed(ctx):
    await ctx.step.run("fails", lambda: (_ for _ in ()).throw(NonRetriableError("no")))


@create_function(id="sleeper", trigger="cache/sleep")
async def sleeper(ctx):
    await ctx.step.sleep("long", "1d")


async def test_the_kept_runs_equal_their_rows_after_every_transition(make_executor, clock, checked):
    seen, problems = checked
    flaky_calls.clear()
    ex = await make_executor([workload, child, doomed, sleeper], backoff=lambda attempt: 0)
    approved = await run_of(ex, {"name": "cache/go", "data": {"key": "a"}})
    timed_out = await run_of(ex, {"name": "cache/go", "data": {"key": "b"}})
    await run_of(ex, {"name": "cache/doom"})
    cancelled = await run_of(ex, {"name": "cache/sleep"})
    await until_step(ex, approved.id, "nap", StepStatus.SLEEPING)
    clock.advance(60_000)
    await until_step(ex, approved.id, "approval", StepStatus.WAITING)
    await ex.send({"name": "cache/approve", "data": {"key": "a"}})
    await ex.cancel(cancelled.id)
    clock.advance(3_600_000)
    runs = {r.id: r for r in await run_all_to_end(ex, clock)}
    assert runs[approved.id].output == ["ok", True, {"doubled": 42, "as_tuple": [1, 2]}, [3, 4]]
    assert [s.attempts for s in await ex.steps(approved.id) if s.step_id == "flaky"] == [3]   # it retried
    assert runs[timed_out.id].output[1] is False
    assert runs[cancelled.id].status == RunStatus.CANCELLED
    assert {r.status for r in runs.values()} >= {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}
    assert problems == []
    assert seen["transitions"] > 30 and seen["kept"] > 0, seen
    assert kept_runs(ex) == {}, "a run that ended is not kept"


async def test_a_rolled_back_transition_leaves_nothing_kept_that_it_wrote(make_executor):
    ex = await make_executor([sleeper])
    run = await run_of(ex, {"name": "cache/sleep"})
    await until_step(ex, run.id, "long", StepStatus.SLEEPING)
    core = ex._engine.core
    with pytest.raises(RuntimeError, match="undo"):
        async with core.transition() as (tx, _):
            assert (await tx.get_run(run.id)).attempt == 0
            await tx.update_run(run.id, attempt=7, output={"half": "done"})
            await tx.add_run_usage(run.id, 5, 100, "ghost", None)
            assert (await tx.get_run(run.id)).attempt == 7        # the transition sees its own writes
            raise RuntimeError("undo")
    async with core.transition() as (tx, _):
        again = await tx.get_run(run.id)
    assert (again.attempt, again.output, again.current_step) == (0, None, "long")
    assert disagreements(ex) == []


def test_the_cache_hands_out_copies_and_keeps_a_bounded_number():
    cache = RunCache(limit=3)
    runs = [Run(id=f"r{i}", function_id="f", event_id=None, status=RunStatus.RUNNING, created_at=i) for i in range(4)]
    for run in runs:
        cache.put(run)
    assert len(cache) == 3 and cache.get("r0") is None        # the longest-kept went
    got = cache.get("r1")
    got.attempt = 99
    assert cache.get("r1").attempt == 0                       # a caller's change is its own
    cache.add_usage("r2", 2, 10, "s", 1234)
    kept = cache.get("r2")
    assert (kept.step_count, kept.state_bytes, kept.current_step, kept.started_at) == (2, 10, "s", 1234)
    cache.put(Run(id="r3", function_id="f", event_id=None, status=RunStatus.COMPLETED, created_at=0))
    assert cache.get("r3") is None                            # finished: not kept


async def test_a_kept_run_reads_back_json_fields_as_the_database_would(make_executor):
    ex = await make_executor([sleeper])
    run = await run_of(ex, {"name": "cache/sleep"})
    await until_step(ex, run.id, "long", StepStatus.SLEEPING)
    async with ex._engine.core.transition() as (tx, _):
        await tx.update_run(run.id, error={"name": "E", "where": (1, 2)}, nondeterminism=None)
        kept = await tx.get_run(run.id)
    assert kept.error == {"name": "E", "where": [1, 2]} and kept.nondeterminism == []
    assert disagreements(ex) == []
