"""executor.drivers.local.loader: finding function files, importing them in isolation, reporting broken
ones with a file and line, and re-importing changed files on a second call."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from executor import Function
from executor.drivers.local.loader import LoadError, load_paths

pytestmark = pytest.mark.timeout(10)


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def function_file(fn_id: str, event: str = "demo/x", returns: str = "None") -> str:
    return f"""
        from executor import create_function

        @create_function(id={fn_id!r}, trigger={event!r})
        async def handler(ctx):
            return {returns}
    """


def ids(result) -> list[str]:
    return [fn.id for fn in result.functions]


def test_load_folder_finds_functions_recursively_and_skips_private_files(tmp_path: Path) -> None:
    write(tmp_path / "alpha.py", function_file("alpha"))
    write(tmp_path / "nested" / "beta.py", function_file("beta"))
    write(tmp_path / "many.py", """
        from executor import create_function

        def make(fn_id):
            @create_function(id=fn_id, trigger="demo/many")
            async def handler(ctx):
                return fn_id
            return handler

        ALL = [make("gamma"), make("delta")]
        PAIR = (ALL[0],)      # the same object twice counts once
    """)
    write(tmp_path / "_private.py", function_file("private"))
    write(tmp_path / ".hidden.py", function_file("hidden"))
    write(tmp_path / "_helpers" / "skipped.py", function_file("skipped"))
    write(tmp_path / "notes.txt", "not python")

    result = load_paths([tmp_path])

    assert result.errors == []
    assert ids(result) == ["alpha", "gamma", "delta", "beta"]   # files sorted: alpha, many, nested/beta
    assert result.files == [str(tmp_path / "alpha.py"), str(tmp_path / "many.py"),
                            str(tmp_path / "nested" / "beta.py")]
    alpha = result.functions[0]
    assert isinstance(alpha, Function)
    assert alpha.source_file == str(tmp_path / "alpha.py")
    assert [t.event for t in alpha.triggers] == ["demo/x"]


def test_single_file_and_missing_or_non_python_paths(tmp_path: Path) -> None:
    one = write(tmp_path / "one.py", function_file("one"))
    write(tmp_path / "data.json", "{}")

    result = load_paths([one, tmp_path / "nope", tmp_path / "data.json", one])

    assert ids(result) == ["one"]
    assert result.files == [str(one)]
    assert [(Path(e.file).name, e.line, e.message) for e in result.errors] == [
        ("nope", None, "no such file or folder"),
        ("data.json", None, "not a Python file (expected a .py file or a folder)"),
    ]


def test_syntax_error_reports_file_and_line_and_other_files_still_load(tmp_path: Path) -> None:
    write(tmp_path / "a_good.py", function_file("good"))
    broken = write(tmp_path / "b_broken.py", """
        from executor import create_function

        def oops(:
            pass
    """)
    write(tmp_path / "c_good.py", function_file("also-good"))

    result = load_paths([tmp_path])

    assert ids(result) == ["good", "also-good"]
    assert result.errors == [LoadError(str(broken), 3, "SyntaxError: invalid syntax")]
    assert result.errors[0].to_dict() == {"file": str(broken), "line": 3, "message": "SyntaxError: invalid syntax",
                                          "where": f"{broken}:3"}
    assert str(broken) in result.files     # still watched, so fixing it reloads it


def test_exception_at_import_reports_the_line_in_the_file(tmp_path: Path) -> None:
    boom = write(tmp_path / "boom.py", """
        from executor import create_function

        RATE = 1 / 0
    """)
    bad_def = write(tmp_path / "bad_def.py", """
        from executor import create_function

        @create_function(id="sync", trigger="demo/x")
        def not_async(ctx):
            pass
    """)
    write(tmp_path / "fine.py", function_file("fine"))

    result = load_paths([tmp_path])

    assert ids(result) == ["fine"]
    errors = {Path(e.file).name: e for e in result.errors}
    assert errors["boom.py"] == LoadError(str(boom), 3, "ZeroDivisionError: division by zero")
    assert errors["bad_def.py"].file == str(bad_def)
    assert errors["bad_def.py"].line == 3
    assert errors["bad_def.py"].message.startswith("FunctionDefinitionError: function 'sync': ")
    assert not any(name.startswith("durable_user_functions.boom") for name in sys.modules)


def test_a_bad_flow_control_option_is_a_load_error_naming_the_function(tmp_path: Path) -> None:
    bad = write(tmp_path / "limits.py", """
        from executor import Concurrency, create_function

        @create_function(id="sync-user", trigger="user/updated",
                         concurrency=Concurrency(limit=1, scope="galaxy", key="event.data.userId"))
        async def sync_user(ctx):
            pass
    """)
    write(tmp_path / "fine.py", function_file("fine"))

    result = load_paths([tmp_path])

    assert ids(result) == ["fine"]
    [error] = result.errors
    assert (error.file, error.line) == (str(bad), 3)
    assert error.message == ("FunctionDefinitionError: function 'sync-user': concurrency: unknown scope 'galaxy'; "
                             "use one of fn, env, account")


def test_module_level_sys_exit_is_a_load_error(tmp_path: Path) -> None:
    write(tmp_path / "quits.py", "import sys\nsys.exit(3)\n")

    result = load_paths([tmp_path])

    assert [(e.line, e.message) for e in result.errors] == [(2, "SystemExit: 3")]


def test_duplicate_ids_name_both_files_and_keep_the_first(tmp_path: Path) -> None:
    first = write(tmp_path / "first.py", function_file("shared", returns="'first'"))
    second = write(tmp_path / "second.py", function_file("shared", returns="'second'"))

    result = load_paths([tmp_path])

    assert ids(result) == ["shared"]
    assert result.functions[0].source_file == str(first)
    [error] = result.errors
    assert error.file == str(second)
    assert error.line == 3
    assert str(first) in error.message and "'shared'" in error.message


def test_function_imported_from_a_sibling_function_file_is_not_a_duplicate(tmp_path: Path) -> None:
    write(tmp_path / "square.py", function_file("compute-square", "calc/square"))
    write(tmp_path / "uses_square.py", """
        from executor import create_function
        from square import handler as compute_square   # e.g. to invoke it

        @create_function(id="uses-square", trigger="calc/use")
        async def uses(ctx):
            return compute_square.id
    """)

    result = load_paths([tmp_path])

    assert result.errors == []
    assert ids(result) == ["compute-square", "uses-square"]


def test_sibling_helper_module_imports_and_is_not_left_in_sys_modules(tmp_path: Path) -> None:
    write(tmp_path / "_fake_db.py", "USERS = {1: 'ada'}\n")
    write(tmp_path / "shared_util.py", "def greet(name):\n    return 'hi ' + name\n")
    write(tmp_path / "nested" / "lookup.py", """
        from executor import create_function
        from _fake_db import USERS          # sibling in the root folder
        from shared_util import greet

        @create_function(id="lookup", trigger="demo/lookup")
        async def lookup(ctx):
            return greet(USERS[1])
    """)
    path_before = list(sys.path)

    result = load_paths([tmp_path])

    assert result.errors == []
    [lookup] = result.functions
    assert lookup.handler.__globals__["greet"]("bob") == "hi bob"
    assert sys.path == path_before
    assert "_fake_db" not in sys.modules and "shared_util" not in sys.modules


def test_error_inside_a_helper_points_at_the_import_line_and_names_the_helper(tmp_path: Path) -> None:
    helper = write(tmp_path / "_settings.py", "import os\n\nraise KeyError('API_URL')\n")
    user = write(tmp_path / "user.py", """
        import json
        import _settings
    """)

    [error] = load_paths([user]).errors

    assert error.file == str(user)
    assert error.line == 2
    assert error.message == f"KeyError: 'API_URL' (raised in {helper}, line 3)"


def test_reload_picks_up_a_changed_file_and_changed_helper(tmp_path: Path) -> None:
    write(tmp_path / "_config.py", "GREETING = 'hello'\n")
    source = write(tmp_path / "flow.py", """
        from executor import create_function
        from _config import GREETING

        @create_function(id="flow", trigger="demo/one")
        async def flow(ctx):
            return GREETING + " v1"
    """)
    first = load_paths([tmp_path]).functions[0]

    # Same size, same second: a bytecode cache keyed on mtime and size would miss this edit.
    source.write_text(source.read_text().replace("v1", "v2").replace("demo/one", "demo/two"))
    (tmp_path / "_config.py").write_text("GREETING = 'howdy'\n")
    [second] = load_paths([tmp_path]).functions

    assert second is not first
    assert [t.event for t in second.triggers] == ["demo/two"]
    assert second.handler.__globals__["GREETING"] == "howdy"
    assert second.version != first.version
    assert first.handler.__globals__["GREETING"] == "hello"   # the old module is untouched


def test_reload_after_fixing_a_broken_file(tmp_path: Path) -> None:
    source = write(tmp_path / "flow.py", "this is not python\n")
    assert [e.line for e in load_paths([tmp_path]).errors] == [1]

    write(source, function_file("fixed"))
    result = load_paths([tmp_path])

    assert result.errors == []
    assert ids(result) == ["fixed"]


async def test_loaded_function_runs_in_an_executor(tmp_path: Path) -> None:
    from executor import Executor, VirtualClock

    write(tmp_path / "_prices.py", "PRICES = {'apple': 3}\n")
    write(tmp_path / "price.py", """
        from executor import create_function
        from _prices import PRICES

        @create_function(id="price", trigger="demo/price")
        async def price(ctx):
            return await ctx.step.run("look-up", PRICES.get, ctx.event.data["item"])
    """)
    result = load_paths([tmp_path])

    async with Executor(":memory:", result.functions, clock=VirtualClock()) as ex:
        [event_id] = await ex.send({"name": "demo/price", "data": {"item": "apple"}})
        [run] = await ex.runs(event_id=event_id)
        run = await ex.wait_for_run(run.id, timeout=5)

    assert (run.status, run.output) == ("Completed", 3)


def test_helper_package_is_reimported_on_reload(tmp_path: Path) -> None:
    write(tmp_path / "_lib" / "__init__.py", "")
    tools = write(tmp_path / "_lib" / "tools.py", "RATE = 10\n")
    write(tmp_path / "billing.py", """
        from executor import create_function
        from _lib.tools import RATE

        @create_function(id="billing", trigger="demo/bill")
        async def billing(ctx):
            return RATE
    """)
    assert load_paths([tmp_path]).functions[0].handler.__globals__["RATE"] == 10

    tools.write_text("RATE = 20\n")     # same size, same second
    [billing] = load_paths([tmp_path]).functions

    assert billing.handler.__globals__["RATE"] == 20
    assert "_lib" not in sys.modules and "_lib.tools" not in sys.modules
    assert not (tmp_path / "_lib" / "__pycache__").exists()


def test_same_file_and_helper_names_in_two_folders_stay_apart(tmp_path: Path) -> None:
    for team in ("red", "blue"):
        write(tmp_path / team / "_helper.py", f"TEAM = {team!r}\n")
        write(tmp_path / team / "tasks.py", f"""
            from executor import create_function
            from _helper import TEAM

            @create_function(id="{team}-task", trigger="demo/task")
            async def task(ctx):
                return TEAM
        """)

    result = load_paths([tmp_path])

    assert result.errors == []
    assert {fn.id: fn.handler.__globals__["TEAM"] for fn in result.functions} == {"red-task": "red", "blue-task": "blue"}
    assert len({fn.handler.__module__ for fn in result.functions}) == 2
