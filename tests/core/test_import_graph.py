"""The import graph of the whole tree, read by grimp (every import statement, function-level ones included).

The library stands alone: nothing under ``ingenium`` imports ``ledger`` or ``services``, nor names them in a string
that something imports (``services.portfolio:RiskPortfolio``); they contribute through entry points. And no two
modules import each other, directly or round a longer loop, counting imports under ``if TYPE_CHECKING:`` too: a
loop of annotations is still two modules that cannot be read apart (a shared type goes where both import it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ingenium", "ledger", "services", "migrations", "tests")
APPLICATIONS = ("ledger", "services")
#: A string that names a module or class of the applications: ``services.executor``, ``ledger.cli:register``.
_APP = "|".join(APPLICATIONS)
NAMES_AN_APPLICATION = re.compile(
    rf"^(?:{_APP})(?:\.\w+)+(?::\w+)?$|^(?:{_APP}):\w+$|(?<![\w.])(?:{_APP})(?:\.\w+)*:\w+")


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=False,
                             exclude_type_checking_imports=False, cache_dir=None)


def _belongs(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def test_the_library_imports_nothing_of_its_applications() -> None:
    graph = _graph()
    wrong = sorted(
        f"{importer} imports {imported} (line {detail['line_number']}: {detail['line_contents']})"
        for importer in graph.find_descendants("ingenium") | {"ingenium"}
        for imported in graph.find_modules_directly_imported_by(importer)
        if any(_belongs(imported, app) for app in APPLICATIONS)
        for detail in graph.get_import_details(importer=importer, imported=imported)
    )
    assert wrong == []


def test_the_library_names_no_application_module_in_its_code() -> None:
    found = []
    for path in sorted((ROOT / "ingenium").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        found += [f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                  and NAMES_AN_APPLICATION.search(node.value)]
    assert found == []


def test_the_name_check_sees_module_and_class_names() -> None:
    named = ["services.portfolio:RiskPortfolio", "ledger.cli", "services:x", "run services.strategies:SmaCross"]
    assert all(NAMES_AN_APPLICATION.search(text) for text in named)
    assert not any(NAMES_AN_APPLICATION.search(text) for text in ["ledger", "ingenium-ledger", "ledger_checkpoints"])


def test_no_module_imports_itself_round_a_loop() -> None:
    graph = _graph()
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    cycles = _cycles(imports)
    assert [f"modules importing each other: {', '.join(cycle)}" for cycle in cycles] == []


def _cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of the graph with more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for start in sorted(imports):
        if start in index:
            continue
        work = [(start, iter(sorted(imports[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    work.append((target, iter(sorted(imports[target]))))
                    break
                if target in stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    part = []
                    while True:
                        member = stack.pop()
                        part.append(member)
                        if member == node:
                            break
                    if len(part) > 1:
                        found.append(sorted(part))
    return found


def test_the_cycle_finder_finds_a_loop() -> None:
    # The check above can only pass honestly if it would see a loop: here is one, and a module outside it.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
