"""Every sample in sample_functions/ loads and runs to the result the spec describes, on an
in-memory executor with a virtual clock (sleeps of days end as soon as the run reaches them)."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from executor import Executor, Function, Run, StepState, VirtualClock
from executor.loader import load_paths

pytestmark = pytest.mark.timeout(20)

SAMPLES = Path(__file__).resolve().parent.parent / "sample_functions"

SECOND, HOUR, DAY = 1000, 3_600_000, 86_400_000


def iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@pytest.fixture
def functions() -> dict[str, Function]:
    """Loaded fresh for each test, so module state (the fake outbox) starts empty."""
    result = load_paths([SAMPLES])
    assert result.errors == []
    return {fn.id: fn for fn in result.functions}


async def run_to_end(ex: Executor, clock: VirtualClock, run_id: str) -> Run:
    """Wait for the run to finish, moving the virtual clock to the run's next due item
    whenever everything left is in the future (a sleep, a retry backoff)."""
    with ex.subscribe() as changes:
        async with asyncio.timeout(10):
            while True:
                run = await ex.run(run_id)
                assert run is not None
                if run.finished:
                    return run
                due = [item["due_at"] for item in ex.pending() if item["run_id"] == run_id]
                if due and min(due) > clock.now_ms():
                    clock.set(min(due))
                await changes.get_batch()


async def trigger(fn: Function, name: str, data: dict[str, Any] | None = None,
                  clock: VirtualClock | None = None) -> tuple[Run, list[StepState]]:
    """Send one event to a fresh executor holding only ``fn``; return the finished run and its steps."""
    clock = clock or VirtualClock()
    async with Executor(":memory:", [fn], clock=clock, backoff=lambda attempt: 0.1) as ex:
        started = await ex.send_and_route({"name": name, "data": data or {}})
        [run_id] = [run_id for ids in started.values() for run_id in ids]
        run = await run_to_end(ex, clock, run_id)
        return run, await ex.steps(run_id)


def step_ids(steps: list[StepState]) -> list[str]:
    return [s.step_id for s in steps]


# A week before the spec's Christmas date: its sleep_until example is then 5 days ahead (the
# VirtualClock's default start, in 2023, would put it beyond the 366-day limit).
CASES_START_MS = iso_ms("2024-12-20T00:00:00Z")

# function id -> (event name, event data, expected output)
CASES: dict[str, tuple[str, dict[str, Any], Any]] = {
    "bad-example": ("demo/bad-example", {}, None),
    "good-example": ("demo/good-example", {}, "done"),
    "fetch-user-profile": ("demo/user.fetch", {"userId": 1},
                           {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"}),
    "sleep-durations": ("demo/sleep.durations", {}, {"slept": ["30s", "24h", "7d"]}),
    "onboarding-drip": ("demo/user.signup", {"email": "ada@example.com"},
                        [{"to": "ada@example.com", "template": "welcome"},
                         {"to": "ada@example.com", "template": "followup"}]),
    "christmas-reminder": ("demo/reminder.christmas", {}, {"sent": "Merry Christmas!"}),
    "scheduled-reminder": ("demo/reminder.scheduled", {"remind_at": "2025-01-01T08:00:00Z", "message": "Pay rent"},
                           {"sent": "Pay rent"}),
    "sync-products": ("demo/products.sync", {},
                      {"count": 120, "total_price_cents": sum(100 + n for n in range(1, 121)),
                       "first": "prod_001", "last": "prod_120"}),
    "parallel-signup": ("demo/user.created", {"user": {"id": 7, "email": "ada@example.com"}},
                        ["email-to-ada@example.com", {"crm_id": "crm-7", "email": "ada@example.com"},
                         {"subscription_id": "sub-7", "plan": "free"}]),
    "parallel-heavy-function": ("demo/batch.process", {"items": [{"sku": "A-1", "quantity": 2},
                                                                 {"sku": "B-2", "quantity": 1}]},
                                [{"sku": "A-1", "quantity": 2, "status": "reserved"},
                                 {"sku": "B-2", "quantity": 1, "status": "reserved"}]),
    "process-large-dataset": ("demo/data.process-large", {"items": list(range(1, 46))},
                              {"chunks": 5, "count": 45, "sum": 1035}),
}


def sample_sources() -> Iterator[Path]:
    return (p for p in sorted(SAMPLES.glob("*.py")) if not p.name.startswith("_"))


def test_every_sample_loads_has_a_case_and_is_documented(functions: dict[str, Function]) -> None:
    assert set(functions) == set(CASES)
    readme = (SAMPLES / "README.md").read_text()
    for fn_id, (event, _, _) in CASES.items():
        assert [t.event for t in functions[fn_id].triggers] == [event]
        assert f"`{fn_id}`" in readme and f"`{event}`" in readme
    assert len({event for event, _, _ in CASES.values()}) == len(CASES)   # one event per sample
    for source in sample_sources():
        doc = ast.get_docstring(ast.parse(source.read_text()))
        assert doc and doc.startswith("Spec: ") and "demo/" in doc, source.name


@pytest.mark.parametrize("checkpointing", [True, False], ids=["checkpointing", "replay"])
@pytest.mark.parametrize("fn_id", sorted(CASES))
async def test_sample_completes_with_the_same_output_in_both_modes(
        functions: dict[str, Function], fn_id: str, checkpointing: bool) -> None:
    event, data, expected = CASES[fn_id]
    fn = dataclasses.replace(functions[fn_id], checkpointing=checkpointing)

    run, _ = await trigger(fn, event, data, clock=VirtualClock(start_ms=CASES_START_MS))

    assert (run.status, run.error) == ("Completed", None)
    assert run.output == expected


async def test_bad_example_prints_its_outside_line_four_times(functions: dict[str, Function], capsys) -> None:
    run, steps = await trigger(functions["bad-example"], "demo/bad-example")

    out = capsys.readouterr().out.splitlines()
    assert run.invocations == 4
    assert out.count("This logs 4 times!") == 4
    assert [line for line in out if line in "abc"] == ["a", "b", "c"]
    assert step_ids(steps) == ["a", "b", "c"]


async def test_good_example_prints_and_logs_each_line_once(functions: dict[str, Function], capsys, caplog) -> None:
    caplog.set_level(logging.INFO, logger="durable_tui.functions")

    run, steps = await trigger(functions["good-example"], "demo/good-example")

    assert run.invocations == 5       # strict replay: one per step, plus the one that returns
    assert capsys.readouterr().out.splitlines() == ["hello", "a", "b", "c"]
    assert [r.getMessage() for r in caplog.records if r.name.startswith("durable_tui.functions")] == [
        "good-example finished"]
    assert step_ids(steps) == ["log-hello", "a", "b", "c"]


async def test_fetch_user_profile_runs_each_step_once(functions: dict[str, Function]) -> None:
    fn = functions["fetch-user-profile"]

    run, steps = await trigger(fn, "demo/user.fetch", {"userId": 2})

    assert run.output == {"id": 2, "name": "Alan Turing", "email": "alan@example.com"}
    assert step_ids(steps) == ["fetch-user", "transform-data", "send-notification"]
    assert steps[0].output["first_name"] == "Alan"
    assert steps[2].output is None
    assert fn.handler.__globals__["OUTBOX"] == [{"to": "alan@example.com", "subject": "Welcome!"}]


async def test_fetch_user_profile_unknown_user_fails_without_retrying(functions: dict[str, Function]) -> None:
    run, steps = await trigger(functions["fetch-user-profile"], "demo/user.fetch", {"userId": 99})

    assert run.status == "Failed"
    assert (run.error["name"], run.error["message"]) == ("NonRetriableError", "no user with id 99")
    assert [(s.step_id, s.status, s.attempts) for s in steps] == [("fetch-user", "Failed", 1)]


async def test_sleep_durations_sleep_30s_then_24h_then_7d(functions: dict[str, Function]) -> None:
    run, steps = await trigger(functions["sleep-durations"], "demo/sleep.durations")

    assert [(s.step_id, s.op, s.detail["duration_ms"]) for s in steps] == [
        ("short-delay", "sleep", 30 * SECOND), ("wait-24h", "sleep", 24 * HOUR), ("weekly-pause", "sleep", 7 * DAY)]
    assert run.ended_at - run.created_at == 30 * SECOND + 24 * HOUR + 7 * DAY


async def test_onboarding_drip_sends_the_followup_three_days_after_the_welcome(functions: dict[str, Function]) -> None:
    run, steps = await trigger(functions["onboarding-drip"], "demo/user.signup", {"email": "ada@example.com"})

    welcome, pause, followup = steps
    assert step_ids(steps) == ["send-welcome", "wait-for-engagement", "send-followup"]
    assert pause.detail["duration_ms"] == 3 * DAY
    assert followup.started_at - welcome.ended_at == 3 * DAY


async def test_christmas_reminder_sleeps_until_christmas_morning(functions: dict[str, Function]) -> None:
    clock = VirtualClock(start_ms=iso_ms("2024-12-01T00:00:00Z"))

    run, steps = await trigger(functions["christmas-reminder"], "demo/reminder.christmas", clock=clock)

    christmas = iso_ms("2024-12-25T09:00:00Z")
    assert step_ids(steps) == ["wait-for-christmas", "send-christmas-greeting"]
    assert steps[0].detail == {"until": christmas}
    assert run.ended_at == christmas


async def test_christmas_reminder_after_christmas_continues_at_once(functions: dict[str, Function]) -> None:
    clock = VirtualClock(start_ms=iso_ms("2025-01-02T00:00:00Z"))

    run, _ = await trigger(functions["christmas-reminder"], "demo/reminder.christmas", clock=clock)

    assert run.output == {"sent": "Merry Christmas!"}
    assert run.ended_at == run.created_at


async def test_scheduled_reminder_sleeps_until_remind_at_from_the_event(functions: dict[str, Function]) -> None:
    clock = VirtualClock()
    remind_at = datetime.fromtimestamp((clock.now_ms() + 2 * HOUR) / 1000).astimezone().isoformat()

    run, steps = await trigger(functions["scheduled-reminder"], "demo/reminder.scheduled",
                               {"remind_at": remind_at, "message": "Stand-up"}, clock=clock)

    assert run.output == {"sent": "Stand-up"}
    assert steps[0].detail == {"until": iso_ms(remind_at)}
    assert run.ended_at - run.created_at == 2 * HOUR


async def test_sync_products_reuses_the_fetch_page_id_for_three_pages(functions: dict[str, Function]) -> None:
    run, steps = await trigger(functions["sync-products"], "demo/products.sync")

    assert run.output["count"] == 120
    assert step_ids(steps) == ["fetch-page", "fetch-page:1", "fetch-page:2", "process-products"]
    assert {s.name for s in steps[:3]} == {"fetch-page"}
    assert [len(s.output["products"]) for s in steps[:3]] == [50, 50, 20]
    assert steps[1].output["products"][0]["id"] == "prod_051"


async def test_parallel_signup_runs_three_steps_together_and_keeps_their_order(
        functions: dict[str, Function]) -> None:
    run, steps = await trigger(functions["parallel-signup"], "demo/user.created",
                               {"user": {"id": 7, "email": "ada@example.com"}})

    assert run.output[0] == "email-to-ada@example.com"         # finished last, still first
    assert step_ids(steps) == ["send-email", "update-crm", "create-subscription"]
    assert len({s.group for s in steps}) == 1                   # one parallel batch
    assert run.invocations == 1


async def test_optimize_parallelism_reinvokes_once_for_the_whole_batch(functions: dict[str, Function]) -> None:
    items = [{"sku": f"SKU-{i}", "quantity": i} for i in range(5)]
    optimized = functions["parallel-heavy-function"]
    plain = dataclasses.replace(optimized, optimize_parallelism=False)

    run, steps = await trigger(optimized, "demo/batch.process", {"items": items})
    plain_run, _ = await trigger(plain, "demo/batch.process", {"items": items})

    assert [r["sku"] for r in run.output] == [f"SKU-{i}" for i in range(5)]
    assert step_ids(steps) == [f"process-item-{i}" for i in range(5)]
    assert run.invocations == 2
    assert plain_run.output == run.output
    assert plain_run.invocations > run.invocations


async def test_chunked_processing_runs_chunks_in_parallel_then_combines(functions: dict[str, Function]) -> None:
    run, steps = await trigger(functions["process-large-dataset"], "demo/data.process-large",
                               {"items": list(range(1, 46))})

    chunks = steps[:-1]
    assert step_ids(steps) == [f"process-chunk-{i}" for i in range(5)] + ["combine-results"]
    assert [c.output for c in chunks] == [{"count": 10, "sum": sum(range(10 * i + 1, 10 * i + 11))}
                                          for i in range(4)] + [{"count": 5, "sum": 41 + 42 + 43 + 44 + 45}]
    assert len({c.group for c in chunks}) == 1
    assert run.output == {"chunks": 5, "count": 45, "sum": 1035}
