"""The console's pure parts: filter parsing, change coalescing, wait pre-fill, formatting, layout."""

from __future__ import annotations

import pytest

from console.backend import Kind, LogLine
from console.messages import RELOAD_ABOVE, Dirty
from console.logbook import LogBook
from console.screens.prefill import data_for_expression
from console.screens.run_query import RunQuery
from console.sending import distinct_events
from console.widgets.format import countdown, duration, fit, short_id, status_text
from console.widgets.live_table import Column, Flex, lay_out
from console.widgets.step_tree import shape_of
from executor import Change, Event, Run, StepState


def run(**fields) -> Run:
    base = dict(id="01RUN", function_id="send-email", event_id="01EV", status="Running", created_at=0,
                current_step="render")
    return Run(**{**base, **fields})


def test_run_query_parses_status_function_and_text():
    q = RunQuery.parse("status:fail fn:send-email Welcome")
    assert (q.status, q.function_id, q.text) == ("Failed", "send-email", "welcome")
    assert q.describe() == "status:failed fn:send-email welcome"
    assert RunQuery.parse("STATUS:completed").status == "Completed"
    with pytest.raises(ValueError, match="unknown status 'nope'"):
        RunQuery.parse("status:nope")
    with pytest.raises(ValueError):
        RunQuery.parse("status:c")      # Completed or Cancelled: ambiguous


def test_run_query_matches_what_the_row_shows():
    assert RunQuery.parse("render").matches(run(), "app/user.created")
    assert RunQuery.parse("user.created").matches(run(), "app/user.created")
    assert not RunQuery.parse("status:failed").matches(run(), None)
    assert not RunQuery.parse("fn:other").matches(run(), None)
    assert not RunQuery.parse("welcome").matches(run(), "app/user.created")


def test_dirty_coalesces_changes_and_reloads_past_a_burst():
    d = Dirty()
    d.add([Change("run", "r1", "r1", "Running"), Change("run", "r1", "r1", "Completed"),
           Change("step", "r2/abc", "r2", "Sleeping"), Change("event", "e1"), Change("function", "f"),
           Change(Kind.LOG, "1")])
    assert d.runs == {"r1"} and d.step_runs == {"r2"} and d.events == {"e1"}
    assert d.functions and d.waits and d.logs and not d.reload
    taken = d.take()
    assert taken.runs == {"r1"} and not d
    d.add([Change("run", f"r{i}", f"r{i}") for i in range(RELOAD_ABOVE + 1)])
    assert d.reload and not d.runs, "past the burst limit a reload is cheaper than patching rows"
    other = Dirty(runs={"x"})
    other.merge(Dirty(events={"y"}, reload=True))
    assert other.runs == {"x"} and other.events == {"y"} and other.reload


def test_prefill_turns_match_and_if_expressions_into_event_data():
    trigger = Event(id="e", name="app/invoice.created", data={"invoiceId": "inv-1", "user": {"id": 7}})
    assert data_for_expression("data.invoiceId", trigger) == {"invoiceId": "inv-1"}
    expression = 'event.data.user.id == async.data.user.id && async.data.plan == "pro" && async.data.n > 3'
    assert data_for_expression(expression, trigger) == {"user": {"id": 7}, "plan": "pro"}
    assert data_for_expression(None, trigger) == {}
    assert data_for_expression("this is not CEL ((", trigger) == {}


def test_formatting_never_relies_on_colour_alone():
    assert status_text("Failed").plain == "✘ Failed"
    assert status_text("Sleeping").plain == "◷ Sleeping"
    assert status_text("Mystery").plain == "? Mystery"
    assert short_id("01HXYZABCDEFGH12345678") == "12345678"
    assert fit("a very long function name", 10) == "a very lo…"
    assert [duration(ms) for ms in (None, 850, 4_200, 65_000, 7_800_000, 266_400_000)] == \
        ["—", "850ms", "4.2s", "1m05s", "2h10m", "3d02h"]
    assert countdown(10_000, 4_000) == "in 6.0s" and countdown(1_000, 4_000) == "3.0s overdue"


def test_lay_out_shares_the_room_left_by_fixed_columns():
    columns = lay_out(80, [Column("a", "a", 10), Flex("b", "b", 1), Flex("c", "c", 3)])
    assert [c.width for c in columns] == [10, 15, 47]
    assert sum(c.width for c in columns) + 2 * 3 + 2 == 80
    assert lay_out(10, [Flex("b", "b", minimum=6)])[0].width == 6


def test_logbook_numbers_lines_in_arrival_order_and_keeps_the_latest():
    book = LogBook(keep=2)
    book.add_line(LogLine(7, 0, "INFO", "engine", "one"))
    book.add_line(LogLine(1, 0, "INFO", "reload", "two"))
    book.add(0, "INFO", "console", "three")
    assert [line.message for line in book.since(0)] == ["two", "three"]
    assert [line.message for line in book.since(2)] == ["three"]


def test_logbook_puts_a_late_line_in_its_place_and_says_so():
    book = LogBook()
    book.add(10, "PRINT", "stdout", "printed at once")
    book.add(5, "INFO", "engine", "logged earlier, delivered later")
    book.add(10, "INFO", "console", "same time, after")
    assert [line.message for line in book.since(0)] == ["logged earlier, delivered later", "printed at once",
                                                         "same time, after"]
    assert book.rewrites == 1


def test_recent_events_are_distinct_and_leave_out_the_executors_own():
    pairs = [("a", {"x": 1}), ("inngest/function.finished", {}), ("a", {"x": 1}), ("b", {}), ("a", {"x": 2})]
    assert distinct_events(pairs) == [("a", {"x": 1}), ("b", {}), ("a", {"x": 2})]


def test_parallel_steps_are_grouped_where_the_first_was_reached():
    def step(hashed: str, group: str | None) -> StepState:
        return StepState(run_id="r", hashed_id=hashed, step_id=hashed, name=hashed, op="run", seq=0, group=group)

    steps = [step("s1", "s1"), step("p1", "p1"), step("p2", "p1"), step("s2", None)]
    assert shape_of(steps) == [("s1", ()), ("group:p1", ("p1", "p2")), ("s2", ())]


def test_keymap_file_flattens_dotted_ids_and_reports_what_it_cannot_use(tmp_path):
    from console import keymap

    known = {"send.event", "runs.filter", "quit"}
    assert keymap.load(tmp_path / "missing.toml", known) == ({}, [])
    path = tmp_path / "keys.toml"
    path.write_text('send.event = "E"\n"runs.filter" = "ctrl+f, slash"\nquit = ""\n')
    mapping, problems = keymap.load(path, known)
    assert mapping == {"send.event": "E", "runs.filter": "ctrl+f,slash"}
    assert problems == [f"{path}: quit = '' is not a key or a comma-separated list of keys "
                        "(e.g. \"E\", \"ctrl+f\", \"slash,f3\")"]
    path.write_text("send.event = E\n")
    mapping, problems = keymap.load(path, known)
    assert mapping == {} and "the default keys apply" in problems[0]


def test_default_keys_file_follows_xdg_config_home(monkeypatch, tmp_path):
    from console import keymap

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert keymap.default_path() == tmp_path / "durable-tui" / "keys.toml"


# ---- issue 12: tracebacks, the log filter, timeline bars, JSON folding -------------------------

def test_a_python_traceback_is_trimmed_to_the_users_frames_first():
    from console.tracebacks import trim

    stack = ('Traceback (most recent call last):\n'
             '  File "/srv/app/.venv/lib/python3.11/site-packages/executor/drivers/local/attempt.py", line 76, in x\n'
             '    result = await call_handler(state.step_id, handler, args)\n'
             '             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n'
             '  File "/usr/lib/python3.11/asyncio/threads.py", line 25, in to_thread\n'
             '    return await loop.run_in_executor(None, func_call)\n'
             '  File "/srv/app/flows/billing.py", line 12, in charge\n'
             '    raise ValueError("declined")\n'
             'ValueError: declined\n')
    trimmed = trim(stack)
    assert trimmed.headline == ["ValueError: declined"]
    [frame] = trimmed.user
    assert frame.lines == ('  File "/srv/app/flows/billing.py", line 12, in charge', '    raise ValueError("declined")')
    assert len(trimmed.library) == 2 and len(trimmed.lines) == 9


def test_a_javascript_stack_is_trimmed_the_same_way():
    from console.tracebacks import trim

    trimmed = trim("Error: boom\n    at charge (/app/src/billing.ts:3:9)\n"
                   "    at processTicksAndRejections (node:internal/process/task_queues:95:5)\n"
                   "    at async run (/app/node_modules/inngest/components/execution.js:1:1)")
    assert trimmed.headline == ["Error: boom"]
    assert [f.lines for f in trimmed.user] == [("    at charge (/app/src/billing.ts:3:9)",)]
    assert len(trimmed.library) == 2


def test_the_log_filter_reads_levels_runs_functions_steps_and_words():
    from console.backend import LogLine
    from console.logbook import LogFilter

    line = LogLine(1, 0, "WARNING", "functions.order", "slow pricing", "01KRUN0000000000000ABCDEFGH", "order", "price")
    assert LogFilter.parse("level:warn run:ABCDEFGH fn:order step:price slow").matches(line)
    assert not LogFilter.parse("level:error").matches(line)
    assert LogFilter.parse("level:info").matches(line), "a level and the ones above it"
    assert not LogFilter.parse("run:ZZZZ").matches(line)
    assert not LogFilter.parse("fast").matches(line)
    assert LogFilter.parse("level:warning run:X").describe() == "level:warning run:X"
    with pytest.raises(ValueError, match="unknown level 'loud'"):
        LogFilter.parse("level:loud")


def test_timeline_bars_put_each_segment_on_the_axis_at_least_one_cell_wide():
    from console.widgets.timeline import Segment, bar

    drawn = bar([Segment(0, 50, "▒"), Segment(50, 100, "█"), Segment(100, 100, "┄")], 0, 100, 10).plain
    assert drawn == "▒▒▒▒▒█████", "execution is drawn over what it meets"
    assert bar([Segment(0, 0, "█"), Segment(0, 100, "┄"), Segment(100, 100, "█")], 0, 100, 10).plain == \
        "█┄┄┄┄┄┄┄┄█", "instant attempts show between the backoffs"
    assert bar([Segment(20, 40, "░")], 0, 100, 10).plain == "  ░░      "


def test_json_folds_long_values_and_walks_every_value_for_search():
    from console.widgets.json_tree import children_of, is_long, preview, walk

    assert preview(list(range(40))) == "[…] 40 items" and preview({}) == "{}" and preview("x") == '"x"'
    long = "line one\nline two"
    assert is_long(long) and [c[2] for c in children_of(long)] == ["line one", "line two"]
    found = [(path, text) for path, text in walk("s", {"a": [1, {"b": "hit"}]}) if "hit" in text]
    assert found == [(("a", 1, "b"), "b hit")]


def test_flow_control_is_said_on_runs_and_functions():
    from rich.console import Console

    from console.backend import FunctionInfo
    from console.widgets.details import function_details, run_details
    from console.widgets.format import flow_note

    def text(renderable) -> str:
        console = Console(record=True, width=100, color_system=None)
        console.print(renderable)
        return console.export_text()

    held = run(status="Queued", current_step=None, waiting_for="queued: concurrency 1/1 for userId=u-42")
    assert "queued: concurrency 1/1 for userId=u-42" in text(run_details(held, None, 0))
    assert flow_note(run(status="Skipped", skip_reason="rate limited (userId=u-1)")) == \
        "skipped: rate limited (userId=u-1)"
    assert flow_note(run()) == "" and status_text("Skipped").plain == "⤼ Skipped"
    assert RunQuery.parse("status:skipped").status == "Skipped"
    info = FunctionInfo(id="sync-user", name="sync-user", mode="checkpointing",
                        flow={"settings": {"concurrency": [{"limit": 1, "key": "event.data.userId"}]}, "queued": 2})
    shown = text(function_details(info))
    assert "flow control" in shown and '"queued": 2' in shown


def test_the_state_column_says_when_flow_control_holds_a_run_back_or_skipped_it():
    from console.run_state import RunContext, run_state

    held = run(status="Queued", current_step=None, waiting_for="queued: concurrency 1/1 for userId=u-42")
    assert run_state(held, RunContext(), 0).plain == "queued: concurrency 1/1 for userId=u-42"
    skipped = run(status="Skipped", skip_reason="rate limited (userId=u-1)")
    assert run_state(skipped, RunContext(), 0).plain == "skipped: rate limited (userId=u-1)"
    assert run_state(run(status="Queued", current_step=None), RunContext(), 0).plain == "queued"
