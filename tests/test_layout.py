"""The layout keeps its promises: data flows one way, so no module of erpgen imports one that imports it
back, however indirectly (lazy imports inside functions included: a circle is a circle)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "erpgen"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:  # `from erpgen import migrate` imports a module, not the package's names
                    sub = f"{node.module}.{a.name}"
                    found.add(sub if sub in modules else node.module)
        # a package's __init__ is imported with any of its modules, but that is not a dependency of ours
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_module_graph_finds_a_planted_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_imports_one_that_imports_it_back():
    graph = _imports()
    assert "erpgen.pipeline" in graph and graph["erpgen.pipeline"], "the import graph came out empty"
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


# Users of the public API (erpgen/__init__.py), as a script would be: they may import the package.
CONSUMERS = {"erpgen.cli", "erpgen.clidoc", "erpgen.pytest_plugin"}


def test_the_library_never_imports_the_api_above_it():
    # erpgen/__init__.py is the public API over the modules; a module of the library reaching up to it
    # turns the layout upside down (the version lives in erpgen.version for that reason)
    graph = _imports()
    assert CONSUMERS <= set(graph)
    assert [
        name for name, deps in graph.items() if "erpgen" in deps and name not in CONSUMERS | {"erpgen"}
    ] == []


def _long_functions(root: Path, limit: int) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > limit:
                    found.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_the_length_check_finds_a_planted_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(80))
    (tmp_path / "planted.py").write_text(f"def short():\n    pass\n\n\ndef long():\n{body}\n")
    assert _long_functions(tmp_path, 80) == ["planted.py:5 long (81 lines)"]


def test_every_stage_of_the_simulation_reads_in_one_screen():
    # each stage can be read, tested and changed alone; a function past a screen is a stage in hiding
    assert _long_functions(PACKAGE / "simulation", 80) == []


def test_docs_layout_names_every_module():
    # docs/layout.md is where a newcomer looks for a concept's owner: a module it does not name is lost
    layout = (PACKAGE.parent / "docs" / "layout.md").read_text()
    missing = [
        path.relative_to(PACKAGE).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "__init__.py" or path.parent == PACKAGE
        if path.name not in layout
    ]
    assert missing == []


def test_no_test_module_imports_another():
    # what tests share lives in tests/helpers.py or conftest.py, so a test module can move or go alone
    tests = Path(__file__).resolve().parent
    found = []
    for path in sorted(tests.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1].startswith("test_"):
                found.append(f"{path.name}: from {'.' * node.level}{node.module}")
    assert found == []
