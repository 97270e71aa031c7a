"""Every sample in sample_functions/ loads and runs to the result the spec describes, on an
in-memory executor with a virtual clock (sleeps of days end as soon as the run reaches them)."""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from executor import Executor, Function, Run, SignalNotFoundError, StepState, StepStatus, VirtualClock
from executor import load_paths
from executor.testing import only_run, run_all_to_end, run_to_end, settle, wait_until

pytestmark = pytest.mark.timeout(20)

SAMPLES = Path(__file__).resolve().parents[2] / "sample_functions"

SECOND, HOUR, DAY = 1000, 3_600_000, 86_400_000


def iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@pytest.fixture
def functions() -> dict[str, Function]:
    """Loaded fresh for each test, so module state (the fake outbox) starts empty."""
    result = load_paths([SAMPLES])
    assert result.errors == []
    return {fn.id: fn for fn in result.functions}


@contextlib.asynccontextmanager
async def executor(functions: Iterable[Function], clock: VirtualClock | None = None) -> AsyncIterator[Executor]:
    async with Executor(":memory:", list(functions), clock=clock or VirtualClock(),
                        backoff=lambda attempt: 0.1) as ex:
        yield ex


async def trigger(fn: Function, name: str, data: dict[str, Any] | None = None,
                  clock: VirtualClock | None = None, *, also: Iterable[Function] = ()) -> tuple[Run, list[StepState]]:
    """Send one event to a fresh executor holding ``fn`` (and ``also``, say an invoked function);
    return the finished run and its steps."""
    clock = clock or VirtualClock()
    async with executor([fn, *also], clock) as ex:
        run_id = await only_run(ex, {"name": name, "data": data or {}})
        run = await run_to_end(ex, clock, run_id)
        return run, await ex.steps(run_id)


async def step_status(ex: Executor, run_id: str, step_id: str) -> str | None:
    return next((s.status for s in await ex.steps(run_id) if s.step_id == step_id), None)


async def waiting_on(ex: Executor, clock: VirtualClock, run_id: str, step_id: str) -> None:
    """Return once the run's ``step_id`` is stored as waiting (from then on, events can match)."""
    async def waiting() -> bool:
        return await step_status(ex, run_id, step_id) == StepStatus.WAITING

    await wait_until(ex, clock, waiting)


def in_mode(fn: Function, checkpointing: bool) -> Function:
    return dataclasses.replace(fn, checkpointing=checkpointing)


MODES = pytest.mark.parametrize("checkpointing", [True, False], ids=["checkpointing", "replay"])


def step_ids(steps: list[StepState]) -> list[str]:
    return [s.step_id for s in steps]


# A week before the spec's Christmas date: its sleep_until example is then 5 days ahead (the
# VirtualClock's default start, in 2023, would put it beyond the 366-day limit).
CASES_START_MS = iso_ms("2024-12-20T00:00:00Z")

# function id -> (event name, event data, expected output). Nobody sends an approval, a subscription
# or a signal here, so the waiting samples finish on their timeout branch.
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
    "invoice-approval": ("demo/invoice.created", {"invoiceId": "inv-1", "amount": 120},
                         {"invoiceId": "inv-1", "status": "timed_out", "notified": "accounting@example.com"}),
    "subscription-upgrade": ("demo/trial.started", {"userId": "u-42"}, {"userId": "u-42", "upgraded": False}),
    "signal-task": ("demo/task.started", {"taskId": "task-42"}, {"taskId": "task-42", "status": "timed_out"}),
    "profile-update": ("demo/profile.update", {"userId": 1, "changes": {"email": "ada@newmail.example"}},
                       {"userId": 1, "invoiceId": "inv-1-0001", "sent": 3}),
    "sync-profile-to-crm": ("user/profile.updated", {"userId": 1, "changes": {"email": "ada@newmail.example"}},
                            {"userId": 1, "synced": ["email"]}),
    "record-invoice": ("billing/invoice.created", {"invoiceId": "inv-1-0001"},
                       {"invoiceId": "inv-1-0001", "recorded": True}),
    "send-invoice-email": ("email/invoice.send", {"email": "ada@example.com", "invoiceId": "inv-1-0001"},
                           {"to": "ada@example.com", "subject": "Your invoice inv-1-0001"}),
    "compute-square": ("calculate/square", {"number": 4}, {"result": 16}),
    "sum-of-squares": ("demo/math.sum-of-squares", {"numbers": [1, 2, 3, 4]},
                       {"numbers": [1, 2, 3, 4], "squares": [1, 4, 9, 16], "total": 30}),
    "cancellable-onboarding": ("demo/user.registered", {"userId": "u-7", "email": "grace@example.com"},
                               [{"to": "grace@example.com", "template": "welcome"},
                                {"to": "grace@example.com", "template": "followup"}]),
    "charge-card": ("demo/payment.charge", {"orderId": "ord-1", "amount": 120, "card": "4242-4242-4242-4242"},
                    {"orderId": "ord-1", "charged": 120, "card": "…4242"}),
}

# Functions a sample needs loaded next to it (the ones it invokes).
NEEDS: dict[str, list[str]] = {"sum-of-squares": ["compute-square"]}


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
    fn = in_mode(functions[fn_id], checkpointing)

    run, _ = await trigger(fn, event, data, clock=VirtualClock(start_ms=CASES_START_MS),
                           also=[functions[need] for need in NEEDS.get(fn_id, [])])

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


# ---- step.waitForEvent ----------------------------------------------------------------------

@MODES
async def test_invoice_approval_resumes_on_the_matching_approval_only(
        functions: dict[str, Function], checkpointing: bool) -> None:
    fn = in_mode(functions["invoice-approval"], checkpointing)
    clock = VirtualClock()
    async with executor([fn], clock) as ex:
        run_id = await only_run(ex, {"name": "demo/invoice.created", "data": {"invoiceId": "inv-1", "amount": 120}})
        await waiting_on(ex, clock, run_id, "wait-for-approval")
        [wait] = await ex.waits()
        assert (wait["event"], wait["expression"], wait["deadline"]) == (
            "app/invoice.approved", "data.invoiceId", clock.now_ms() + 7 * DAY)

        other = await ex.send_and_route({"name": "app/invoice.approved", "data": {"invoiceId": "inv-2"}})
        assert list(other.values()) == [[]], "another invoice's approval does not resume it"
        [approval_id] = await ex.send({"name": "app/invoice.approved",
                                       "data": {"invoiceId": "inv-1", "approvedBy": "grace"}})
        run = await run_to_end(ex, clock, run_id)
        steps = await ex.steps(run_id)

    assert run.status == "Completed"
    assert run.output == {"invoiceId": "inv-1", "status": "approved", "approvedBy": "grace"}
    assert step_ids(steps) == ["wait-for-approval", "mark-approved"]
    assert steps[0].output["id"] == approval_id
    assert run.ended_at == run.created_at, "resumed by the event, not by the timeout"
    module = fn.handler.__globals__
    assert module["APPROVED_INVOICES"] == {"inv-1": {"approvedBy": "grace"}}
    assert module["ACCOUNTING_INBOX"] == []


async def test_invoice_approval_timeout_notifies_accounting_after_7_days(functions: dict[str, Function]) -> None:
    fn = functions["invoice-approval"]

    run, steps = await trigger(fn, "demo/invoice.created", {"invoiceId": "inv-9", "amount": 75})

    assert run.output["status"] == "timed_out"
    assert step_ids(steps) == ["wait-for-approval", "handle-timeout"]
    assert steps[0].output is None
    assert run.ended_at - run.created_at == 7 * DAY
    assert fn.handler.__globals__["ACCOUNTING_INBOX"] == [
        {"to": "accounting@example.com", "subject": "Invoice inv-9 (75) was never approved"}]


async def test_an_approval_sent_with_the_invoice_is_not_caught(functions: dict[str, Function]) -> None:
    """The spec's warning: waitForEvent only catches events sent after the wait is stored."""
    clock = VirtualClock()
    async with executor([functions["invoice-approval"]], clock) as ex:
        routed = await ex.send_and_route([
            {"name": "demo/invoice.created", "data": {"invoiceId": "inv-3"}},
            {"name": "app/invoice.approved", "data": {"invoiceId": "inv-3", "approvedBy": "too early"}},
        ])
        [[run_id], resumed] = routed.values()
        run = await run_to_end(ex, clock, run_id)

    assert resumed == []
    assert run.output["status"] == "timed_out"


@MODES
async def test_subscription_upgrade_ignores_free_and_other_users_then_takes_pro(
        functions: dict[str, Function], checkpointing: bool) -> None:
    fn = in_mode(functions["subscription-upgrade"], checkpointing)
    clock = VirtualClock()
    async with executor([fn], clock) as ex:
        run_id = await only_run(ex, {"name": "demo/trial.started", "data": {"userId": "u-42"}})
        await waiting_on(ex, clock, run_id, "wait-for-subscription")
        [wait] = await ex.waits()
        assert wait["expression"] == "event.data.userId == async.data.userId && async.data.plan == 'pro'"
        assert wait["deadline"] == clock.now_ms() + 30 * DAY

        ignored = await ex.send_and_route([
            {"name": "app/subscription.created", "data": {"userId": "u-42", "plan": "free"}},
            {"name": "app/subscription.created", "data": {"userId": "u-41", "plan": "pro"}},
        ])
        assert list(ignored.values()) == [[], []]
        await settle(ex, clock)
        assert (await ex.run(run_id)).status == "Running"
        resumed = await ex.send_and_route({"name": "app/subscription.created",
                                           "data": {"userId": "u-42", "plan": "pro"}})
        assert list(resumed.values()) == [[run_id]]
        run = await run_to_end(ex, clock, run_id)
        steps = await ex.steps(run_id)

    assert run.output == {"userId": "u-42", "upgraded": True,
                          "activated": {"userId": "u-42", "plan": "pro", "features": ["priority-support", "exports"]}}
    assert step_ids(steps) == ["wait-for-subscription", "activate-pro"]
    assert steps[0].output["data"] == {"userId": "u-42", "plan": "pro"}


async def test_subscription_upgrade_gives_up_after_30_days(functions: dict[str, Function]) -> None:
    run, steps = await trigger(functions["subscription-upgrade"], "demo/trial.started", {"userId": "u-1"})

    assert run.output == {"userId": "u-1", "upgraded": False}
    assert step_ids(steps) == ["wait-for-subscription"]
    assert run.ended_at - run.created_at == 30 * DAY


# ---- step.waitForSignal ---------------------------------------------------------------------

@MODES
async def test_signal_task_resumes_on_its_signal(functions: dict[str, Function], checkpointing: bool) -> None:
    fn = in_mode(functions["signal-task"], checkpointing)
    clock = VirtualClock()
    async with executor([fn], clock) as ex:
        run_id = await only_run(ex, {"name": "demo/task.started", "data": {"taskId": "task-42"}})
        await waiting_on(ex, clock, run_id, "wait-for-task-completion")
        [wait] = await ex.waits()
        assert (wait["kind"], wait["signal"], wait["deadline"]) == ("signal", "task-42", clock.now_ms() + HOUR)

        assert await ex.send_signal("task-42", {"status": "done", "rows": 3}) == run_id
        run = await run_to_end(ex, clock, run_id)
        steps = await ex.steps(run_id)
        with pytest.raises(SignalNotFoundError):
            await ex.send_signal("task-42", {})        # 1:1 — consumed

    assert run.output == {"taskId": "task-42", "status": "completed", "result": {"status": "done", "rows": 3}}
    assert step_ids(steps) == ["create-task-id", "start-task", "wait-for-task-completion"]
    assert steps[2].output == {"signal": "task-42", "data": {"status": "done", "rows": 3}}
    assert fn.handler.__globals__["WORK_QUEUE"] == [{"taskId": "task-42", "payload": {}}]


@MODES
async def test_signal_task_generates_its_id_once_in_a_step(functions: dict[str, Function], checkpointing: bool) -> None:
    fn = in_mode(functions["signal-task"], checkpointing)
    clock = VirtualClock()
    async with executor([fn], clock) as ex:
        run_id = await only_run(ex, {"name": "demo/task.started", "data": {}})
        await waiting_on(ex, clock, run_id, "wait-for-task-completion")
        [wait] = await ex.waits()
        task_id = wait["signal"]
        assert re.fullmatch(r"task-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", task_id)

        await ex.send_signal(task_id, "ok")
        run = await run_to_end(ex, clock, run_id)
        steps = await ex.steps(run_id)

    assert run.output == {"taskId": task_id, "status": "completed", "result": "ok"}
    assert steps[0].output == task_id, "the replays got the memoized id, not a new uuid"
    assert fn.handler.__globals__["WORK_QUEUE"] == [{"taskId": task_id, "payload": {}}]


async def test_signal_task_times_out_after_an_hour(functions: dict[str, Function]) -> None:
    run, steps = await trigger(functions["signal-task"], "demo/task.started", {"taskId": "task-7"})

    assert run.output == {"taskId": "task-7", "status": "timed_out"}
    assert step_ids(steps) == ["create-task-id", "start-task", "wait-for-task-completion", "handle-timeout"]
    assert run.ended_at - run.created_at == HOUR


# ---- step.sendEvent -------------------------------------------------------------------------

FAN_OUT = ["profile-update", "sync-profile-to-crm", "record-invoice", "send-invoice-email"]


@MODES
async def test_profile_update_fans_out_to_the_three_receivers_once_each(
        functions: dict[str, Function], checkpointing: bool) -> None:
    fns = [in_mode(functions[fn_id], checkpointing) for fn_id in FAN_OUT]
    clock = VirtualClock()
    async with executor(fns, clock) as ex:
        run_id = await only_run(ex, {"name": "demo/profile.update",
                                     "data": {"userId": 2, "changes": {"email": "alan@newmail.example"}}})
        run = await run_to_end(ex, clock, run_id)
        steps = await ex.steps(run_id)
        await settle(ex, clock)
        runs = {fn_id: await ex.runs(function_id=fn_id) for fn_id in FAN_OUT[1:]}
        sent = {step.step_id: [(await ex.event(i)).name for i in step.output]
                for step in steps if step.op == "send_event"}

    assert run.output == {"userId": 2, "invoiceId": "inv-2-0001", "sent": 3}
    assert step_ids(steps) == ["update-profile", "notify-systems", "create-invoice", "batch-notifications"]
    assert sent == {"notify-systems": ["user/profile.updated"],
                    "batch-notifications": ["billing/invoice.created", "email/invoice.send"]}
    assert {fn_id: [(r.status, r.output) for r in rs] for fn_id, rs in runs.items()} == {
        "sync-profile-to-crm": [("Completed", {"userId": 2, "synced": ["email"]})],
        "record-invoice": [("Completed", {"invoiceId": "inv-2-0001", "recorded": True})],
        "send-invoice-email": [("Completed", {"to": "alan@newmail.example", "subject": "Your invoice inv-2-0001"})],
    }
    module = fns[0].handler.__globals__
    assert module["LEDGER"] == ["inv-2-0001"] and len(module["OUTBOX"]) == 1, "replays never send twice"


# ---- step.invoke ----------------------------------------------------------------------------

@MODES
async def test_sum_of_squares_invokes_compute_square_per_number(
        functions: dict[str, Function], checkpointing: bool) -> None:
    fns = [in_mode(functions["sum-of-squares"], checkpointing), functions["compute-square"]]
    clock = VirtualClock()
    async with executor(fns, clock) as ex:
        run_id = await only_run(ex, {"name": "demo/math.sum-of-squares", "data": {"numbers": [3, -2, 10]}})
        run = await run_to_end(ex, clock, run_id)
        steps = await ex.steps(run_id)
        children = await ex.runs(parent_run_id=run_id)

    assert (run.status, run.output) == ("Completed", {"numbers": [3, -2, 10], "squares": [9, 4, 100], "total": 113})
    assert step_ids(steps) == ["get-square", "get-square:1", "get-square:2", "sum"]
    assert [s.op for s in steps] == ["invoke"] * 3 + ["run"]
    assert sorted((c.function_id, c.status, c.output["result"]) for c in children) == [
        ("compute-square", "Completed", 4), ("compute-square", "Completed", 9), ("compute-square", "Completed", 100)]
    assert [s.detail["child_run_id"] for s in steps[:3]] == [c.id for c in reversed(children)]


async def test_sum_of_squares_without_compute_square_loaded_fails_naming_it(functions: dict[str, Function]) -> None:
    run, steps = await trigger(functions["sum-of-squares"], "demo/math.sum-of-squares", {"numbers": [2]})

    assert run.status == "Failed"
    assert "no function with id 'compute-square'" in run.error["message"]
    assert [(s.step_id, s.status) for s in steps] == [("get-square", "Failed")]


# ---- cancel and on_failure ------------------------------------------------------------------

@MODES
async def test_deleting_the_user_cancels_only_their_onboarding(
        functions: dict[str, Function], checkpointing: bool) -> None:
    fn = in_mode(functions["cancellable-onboarding"], checkpointing)
    clock = VirtualClock()
    async with executor([fn], clock) as ex:
        deleted = await only_run(ex, {"name": "demo/user.registered",
                                      "data": {"userId": "u-7", "email": "a@example.com"}})
        kept = await only_run(ex, {"name": "demo/user.registered",
                                   "data": {"userId": "u-8", "email": "b@example.com"}})
        await settle(ex, clock)
        assert await step_status(ex, deleted, "wait-for-engagement") == StepStatus.SLEEPING
        clock.advance(DAY)
        await ex.send({"name": "demo/user.deleted", "data": {"userId": "u-7"}})
        cancelled = await run_to_end(ex, clock, deleted)
        completed = await run_to_end(ex, clock, kept)

    assert cancelled.status == "Cancelled"
    assert completed.output == [{"to": "b@example.com", "template": "welcome"},
                                {"to": "b@example.com", "template": "followup"}]
    assert fn.handler.__globals__["OUTBOX"] == [
        {"to": "a@example.com", "template": "welcome"}, {"to": "b@example.com", "template": "welcome"},
        {"to": "b@example.com", "template": "followup"}], "the cancelled run never sent its follow-up"


@MODES
async def test_a_declined_card_fails_the_charge_and_runs_the_failure_handler(
        functions: dict[str, Function], checkpointing: bool) -> None:
    fn = in_mode(functions["charge-card"], checkpointing)
    clock = VirtualClock()
    async with executor([fn], clock) as ex:
        assert "charge-card-failure" in ex.functions
        ok = await only_run(ex, {"name": "demo/payment.charge",
                                 "data": {"orderId": "ord-1", "amount": 120, "card": "4242-4242-4242-4242"}})
        declined = await only_run(ex, {"name": "demo/payment.charge",
                                       "data": {"orderId": "ord-2", "amount": 80, "card": "4000-0000-0000-0002"}})
        ok_run = await run_to_end(ex, clock, ok)
        failed = await run_to_end(ex, clock, declined)
        await settle(ex, clock)
        handler_runs = await ex.runs(function_id="charge-card-failure")

    assert ok_run.output == {"orderId": "ord-1", "charged": 120, "card": "…4242"}
    assert failed.status == "Failed"
    assert (failed.error["name"], failed.error["message"]) == ("NonRetriableError", "card declined for order ord-2")
    [handler] = handler_runs
    ticket = {"function": "charge-card", "run": declined, "order": "ord-2", "error": "card declined for order ord-2"}
    assert (handler.status, handler.output) == ("Completed", ticket)
    assert fn.handler.__globals__["SUPPORT_INBOX"] == [ticket]


# ---- the --demo events ----------------------------------------------------------------------

async def test_demo_events_each_start_a_run_and_none_fails(functions: dict[str, Function]) -> None:
    events = json.loads((SAMPLES / "demo_events.json").read_text())
    assert isinstance(events, list) and 8 <= len(events) <= 15
    assert not any(event["name"].startswith("inngest/") for event in events)
    assert all(not f.endswith(".json") for f in load_paths([SAMPLES]).files), "the loader skips the JSON file"

    clock = VirtualClock()
    async with executor(functions.values(), clock) as ex:
        started = await ex.send_and_route(events)
        assert len(started) == len(events)
        assert all(started.values()), [events[i]["name"] for i, ids in enumerate(started.values()) if not ids]

        # What a newcomer sees first: everything done except the waits and sleeps.
        await settle(ex, clock)
        runs = await ex.runs(limit=1000)
        assert not [r for r in runs if r.status == "Failed"], [(r.function_id, r.error) for r in runs]
        unfinished = sorted(r.function_id for r in runs if not r.finished)
        assert unfinished == ["cancellable-onboarding", "invoice-approval", "onboarding-drip",
                              "signal-task", "subscription-upgrade"]
        waits = {w["function_id"]: w["kind"] for w in await ex.waits()}
        assert {fn_id: waits.get(fn_id) for fn_id in unfinished} == {
            "cancellable-onboarding": "sleep", "invoice-approval": "event", "onboarding-drip": "sleep",
            "signal-task": "signal", "subscription-upgrade": "event"}

        # And once every wait has timed out and every sleep ended, all of them completed.
        runs = await run_all_to_end(ex, clock)
    assert {r.status for r in runs} == {"Completed"}, [(r.function_id, r.status, r.error) for r in runs]
