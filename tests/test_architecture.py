"""The shape of the code, checked: dependency direction (import-linter contracts in pyproject.toml),
no import cycles among executor modules (type-checking imports count), small modules, and a
console that imports no server stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 600


def test_import_contracts_hold(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0, "run `lint-imports` to see the broken contract"


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), i.e. import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.find_modules_directly_imported_by(node) & modules):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles_among_executor_modules():
    graph = grimp.build_graph("executor", exclude_type_checking_imports=False, cache_dir=None)
    # The package itself only re-exports the public names; its submodules never import it.
    modules = {m for m in graph.modules if m.startswith("executor.")}
    assert _cycles(graph, modules) == []


def test_no_module_is_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in [*ROOT.glob("executor/**/*.py"), *ROOT.glob("console/**/*.py")]
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_importing_the_console_app_loads_no_server_stack():
    code = ("import sys, console.app; "
            "print(sorted(m for m in ('uvicorn', 'fastapi', 'starlette', 'sse_starlette') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
