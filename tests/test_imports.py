"""The package's import graph: every module imports, and no module imports another that
(directly or through others) imports it back, counting imports inside functions too."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rnnlab"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
SCRIPTS = {"rnnlab.__main__"}  # runs the command line when imported


def imported(name: str) -> set[str]:
    """The rnnlab modules that module ``name`` imports, anywhere in its body; ``from rnnlab.x
    import y`` counts as importing ``rnnlab.x.y`` when that is a module, else ``rnnlab.x``."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
    return {module for module in found if module in MODULES and module != name}


def graph() -> dict[str, set[str]]:
    """Each module's imports, plus its parent packages' (importing ``a.b.c`` runs ``a.b``)."""
    edges = {name: imported(name) for name in MODULES}
    for name, targets in edges.items():
        for target in list(targets):
            parts = target.split(".")
            targets.update(
                parent
                for parent in (".".join(parts[:i]) for i in range(2, len(parts)))
                if parent in MODULES and parent != name and not name.startswith(parent + ".")
            )
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("name", sorted(set(MODULES) - SCRIPTS))
def test_every_module_imports(name):
    importlib.import_module(name)


def test_the_import_graph_has_no_cycles():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
