"""The run view of issue 12: the timeline selecting with the step tree, attempts under their step,
the inspector (input, output, error, trimmed traceback, attempts; folding, search, copy), going
to a child run, its parent and the trigger event and back, rerunning from a step, and the run's
own log."""

from __future__ import annotations

import re

import pytest

from console.screens.dialogs import ConfirmScreen
from console.screens.event_detail import EventDetailScreen
from console.screens.inspector import InspectorScreen
from console.screens.run_detail import RunDetailScreen
from console.widgets.json_tree import JsonTree
from console.widgets.step_tree import AttemptNode, StepTree
from console.widgets.timeline import Timeline

from tests.console.support import (
    make_console,
    notifications,
    pane_text,
    run_is,
    send,
    started,
    step_is,
    until,
)

pytestmark = pytest.mark.timeout(30)


async def open_run(app, run_id: str, steps: int) -> RunDetailScreen:
    app.open_run(run_id)
    await until(lambda: isinstance(app.screen, RunDetailScreen) and len(app.screen._steps) == steps,
                what=f"the run view with {steps} steps")
    return app.screen


def timeline_rows(screen: RunDetailScreen) -> list[str]:
    timeline = screen.query_one(Timeline)
    return [" | ".join(c.plain.rstrip() for c in timeline.row_cells(key).values()) for key in timeline.keys()]


async def test_the_timeline_draws_the_run_its_steps_and_the_child_and_selects_with_the_tree():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/order", {"orderId": "o-1", "items": [2, 3]})).started[0]
        await until(lambda: run_is(backend, run_id, "Completed"))
        screen = await open_run(app, run_id, 2)
        timeline = screen.query_one(Timeline)
        await until(lambda: len(timeline.keys()) == 4, what="run, price, receipt and the child run")
        rows = timeline_rows(screen)
        assert rows[0].startswith("✔ run order |") and "━" in rows[0]
        assert rows[1].startswith("  ✔ price |")
        assert rows[2].startswith("  ✔ receipt |") and "░" in rows[2], "an invoke waits"
        assert rows[3].startswith("      ↳ ✔ compute"), "the child run under its invoke step"
        legend = timeline._labels["bar"]     # the long or the short form, by how long the run's axis label is
        assert re.search(r"█ ?run ░ ?wait ┄ ?backoff ▒ ?queued", legend), legend
        assert timeline.display and screen.step_tree.display, "both show on a wide, tall terminal"

        tree = screen.query_one(StepTree)
        tree.move_cursor(tree.root.children[1])                 # receipt, in the tree
        await until(lambda: timeline.cursor_key == tree.root.children[1].data.hashed_id, what="the timeline follows")
        await pilot.press("t")                                   # into the timeline
        assert timeline.has_focus
        await pilot.press("up")
        await until(lambda: tree.cursor_node is tree.root.children[0], what="the tree follows the timeline")
        await until(lambda: pane_text(app).startswith("✔ Completed  price"))


async def test_t_swaps_the_timeline_in_for_the_tree_on_a_small_terminal():
    app, backend, clock = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/fanout")).started[0]
        await until(lambda: run_is(backend, run_id, "Completed"))
        screen = await open_run(app, run_id, 3)
        assert not screen.query_one(Timeline).display and screen.step_tree.display
        await pilot.press("t")
        assert screen.query_one(Timeline).display and not screen.step_tree.display
        assert screen.query_one(Timeline).has_focus
        await pilot.press("t")
        assert screen.step_tree.display and screen.step_tree.has_focus


async def test_retries_show_each_attempt_under_the_step_and_in_the_inspector():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/flaky", {"card": "4000"})).started[0]
        await until(lambda: step_is(backend, run_id, "charge", "Retrying"))
        await backend.on_executor(lambda ex: ex.clock.advance(400))   # 0.4 s into the 1 s backoff,
        await backend.fire((await backend.waits())[0].id)               # retry now: a second failed attempt
        await until(lambda: _attempts(backend, run_id, 2))
        screen = await open_run(app, run_id, 1)
        tree = screen.query_one(StepTree)
        await until(lambda: len(tree.root.children[0].children) == 2, what="two attempt lines under the step")
        first = tree.root.children[0].children[0]
        assert isinstance(first.data, AttemptNode)
        assert str(first.label).startswith("↻ attempt 1") and "ValueError: card 4000 declined" in str(first.label)
        rows = timeline_rows(screen)
        assert any(r.strip().startswith("↻ attempt 1") for r in rows) and "┄" in rows[1], "backoffs between attempts"

        tree.move_cursor(first)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, InspectorScreen) and app.screen._shown is not None)
        inspector = app.screen
        json_tree = inspector.query_one(JsonTree)
        assert json_tree.cursor_node.data.section == "attempts", "opened on the attempt chosen"
        sections = [node.data.section for node in json_tree.root.children]
        assert sections[:2] == ["input (the handler's arguments)", "error"] and "attempts" in sections
        assert "traceback" in sections
        traceback = next(n for n in json_tree.root.children if n.data.section == "traceback")
        labels = [str(n.label) for n in traceback.children]
        assert labels[0] == "raised" and labels[1] == "your code (1 frame)", labels
        assert [str(line.label) for line in traceback.children[0].children] == [
            "ValueError: card 4000 declined for 1250 cents"]
        assert "support.py" in str(traceback.children[1].children[0].label), "the user's frame first"
        assert labels[2].startswith("executor and library frames") and not traceback.children[2].is_expanded


async def _attempts(backend, run_id: str, count: int) -> bool:
    steps = {s.step_id: s for s in await backend.steps(run_id)}
    return "charge" in steps and steps["charge"].attempts >= count


async def test_the_inspector_searches_folded_values_and_copies_what_is_under_the_cursor():
    app, backend, clock = make_console()
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot, app)
        items = list(range(40))                                   # long: folded at first
        run_id = (await send(backend, "app/order", {"orderId": "o-2", "items": items})).started[0]
        await until(lambda: run_is(backend, run_id, "Completed"))
        screen = await open_run(app, run_id, 2)
        screen.step_tree.move_cursor(screen.step_tree.root.children[0])
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, InspectorScreen) and app.screen._shown is not None)
        json_tree = app.screen.query_one(JsonTree)
        args = json_tree.root.children[0]
        assert str(args.label) == "input (the handler's arguments)" and args.is_expanded
        listing = args.children[0]
        assert str(listing.label) == "[0]: […] 40 items" and not listing.is_expanded, "40 items start folded"
        assert str(json_tree.root.children[1].label) == "output  780"

        await pilot.press("slash", *"37", "enter")
        await until(lambda: "match 1/1" in str(app.screen.query_one("#inspect-status").content))
        assert listing.is_expanded and json_tree.cursor_node.data.path == (0, 37), "unfolded to the match"
        copied: list[str] = []
        app.copy_to_clipboard = copied.append                      # type: ignore[method-assign]
        await pilot.press("y")
        assert copied == ["37"] and "copied [37]" in notifications(app)
        json_tree.move_cursor(args)
        await pilot.press("y")
        assert copied[-1].startswith("[\n  [\n    0,"), "a section copies as JSON"
        await pilot.press("escape")                                # clears the search first
        assert not json_tree.query_text
        await pilot.press("escape")
        assert isinstance(app.screen, RunDetailScreen)


async def test_child_parent_and_trigger_event_and_back():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/order", {"orderId": "o-3"})).started[0]
        await until(lambda: run_is(backend, run_id, "Completed"))
        screen = await open_run(app, run_id, 2)
        await until(lambda: screen._children, what="the child run read")
        child = next(iter(screen._children.values()))
        screen.step_tree.move_cursor(screen.step_tree.root.children[1])
        await pilot.press("greater_than_sign")
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run_id == child.id)
        await until(lambda: app.screen._run is not None)
        await pilot.press("less_than_sign")
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run_id == run_id)
        await pilot.press("E")
        await until(lambda: isinstance(app.screen, EventDetailScreen) and app.screen.info is not None)
        assert app.screen.table.keys() == [run_id]
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run_id == run_id)
        for expected in (EventDetailScreen, RunDetailScreen, RunDetailScreen, RunDetailScreen):
            await pilot.press("escape")
            await until(lambda: isinstance(app.screen, expected))
        assert app.screen is screen
        screen.step_tree.move_cursor(screen.step_tree.root)
        await pilot.press("greater_than_sign")                     # on the run itself: nothing to open
        assert "Put the cursor on an invoke step" in notifications(app)


async def test_rerun_from_a_step_keeps_the_earlier_results_and_opens_the_new_run():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        run_id = (await send(backend, "app/order", {"orderId": "o-4", "items": [5]})).started[0]
        await until(lambda: run_is(backend, run_id, "Completed"))
        screen = await open_run(app, run_id, 2)
        screen.step_tree.move_cursor(screen.step_tree.root.children[1])         # receipt
        await pilot.press("R")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        assert "from step receipt" in str(app.screen.query_one("#dialog-title").content)
        await pilot.press("y")
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run_id != run_id)
        new = app.screen.run_id
        await until(lambda: run_is(backend, new, "Completed"))
        [price, _] = await backend.steps(new)
        assert price.detail.get("rerun_of") == run_id, "price was kept, not run again"
        assert f"rerun of {run_id[-8:]} from receipt: started order {new[-8:]}" in notifications(app)


async def test_the_run_log_shows_its_own_lines_tagged_with_the_step():
    app, backend, clock = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        other = (await send(backend, "app/order", {"orderId": "o-5"})).started[0]
        run_id = (await send(backend, "app/order", {"orderId": "o-6"})).started[0]
        await until(lambda: run_is(backend, run_id, "Completed"))
        await until(lambda: run_is(backend, other, "Completed"))
        screen = await open_run(app, run_id, 2)
        await pilot.press("l")
        log = screen.run_log
        assert log.display and not screen.pane.display
        await until(lambda: log.shown == 3, what="its three lines")
        text = "".join(line.text for line in log.lines)          # wrapped to the pane: joined back
        assert "placing order o-6" in text and "[price] pricing 2 items" in text and "order completed" in text
        assert "o-5" not in text, "only this run's lines"
        await pilot.press("l")
        assert screen.pane.display and not log.display
