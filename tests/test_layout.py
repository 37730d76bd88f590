"""The shape of the code base: a module is one job (800 lines at most), a function is one idea
(120 lines at most), and bench/ stands on the product, never on tests/.

Sizes are measured with `ast` on every .py file outside tests/ and migrations/.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 120
NOT_MEASURED = {"tests", "migrations"}  # and hidden folders (.venv)

# Modules and functions allowed past the limits, with the reason each; none today.
# test_the_allow_lists_name_only_todays_offenders says when an entry is no longer needed.
LONG_MODULES: set[str] = set()
LONG_FUNCTIONS: set[str] = set()


@dataclass(frozen=True)
class Size:
    name: str  # path, or path::qualified.function
    lines: int


def _sources() -> list[Path]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in NOT_MEASURED or any(p.startswith(".") for p in parts):
            continue
        out.append(path)
    return out


def _functions(tree: ast.Module, rel: str) -> list[Size]:
    sizes: list[Size] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                end = child.end_lineno or child.lineno
                sizes.append(Size(f"{rel}::{name}", end - child.lineno + 1))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return sizes


def _measure() -> tuple[list[Size], list[Size]]:
    modules: list[Size] = []
    functions: list[Size] = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        source = path.read_text(encoding="utf-8")
        modules.append(Size(rel, len(source.splitlines())))
        functions.extend(_functions(ast.parse(source, filename=rel), rel))
    return modules, functions


def _report(offenders: list[Size], limit: int, what: str) -> str:
    lines = [f"{len(offenders)} {what} over {limit} lines (split them; do not grow the allow-list):"]
    lines += [f"  {s.name}: {s.lines} lines" for s in sorted(offenders, key=lambda s: -s.lines)]
    return "\n".join(lines)


def test_no_module_is_over_800_lines() -> None:
    modules, _ = _measure()
    offenders = [m for m in modules if m.lines > MAX_MODULE_LINES and m.name not in LONG_MODULES]
    assert not offenders, _report(offenders, MAX_MODULE_LINES, "modules")


def test_no_function_is_over_120_lines() -> None:
    _, functions = _measure()
    offenders = [f for f in functions if f.lines > MAX_FUNCTION_LINES and f.name not in LONG_FUNCTIONS]
    assert not offenders, _report(offenders, MAX_FUNCTION_LINES, "functions")


def test_the_allow_lists_name_only_todays_offenders() -> None:
    modules, functions = _measure()
    still_long = {m.name for m in modules if m.lines > MAX_MODULE_LINES}
    still_long |= {f.name for f in functions if f.lines > MAX_FUNCTION_LINES}
    stale = sorted((LONG_MODULES | LONG_FUNCTIONS) - still_long)
    assert not stale, "no longer too long (or gone): remove from the allow-list in tests/test_layout.py:\n  " + (
        "\n  ".join(stale)
    )


def test_the_measure_finds_methods_and_nested_functions() -> None:
    tree = ast.parse("class A:\n    def f(self):\n        def g():\n            pass\n        return g\n")
    assert _functions(tree, "m.py") == [Size("m.py::A.f", 4), Size("m.py::A.f.g", 2)]


def test_bench_imports_nothing_from_tests() -> None:
    """Directly or through any module of ours: what bench shares with the tests lives in bot/stack."""
    graph = grimp.build_graph("bench", "bot", "channels", "actions", "tests", cache_dir=None)
    chain = graph.find_shortest_chain(importer="bench", imported="tests", as_packages=True)
    assert chain is None, "bench reaches tests: " + " -> ".join(chain or ())
