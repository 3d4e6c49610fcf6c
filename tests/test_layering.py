"""The package's layering, read from the source (every import, also those inside functions):
each top-level unit of ``vedere`` imports only units of a lower layer (the list in
``vedere/__init__.py``'s docstring), nothing imports ``vedere.cli`` but the entry points, and
no two modules import each other (directly or round a longer circle)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import vedere

SRC = Path(vedere.__file__).resolve().parent

#: the layers, lowest first; a unit may import units of lower layers only (and itself)
LAYERS: list[set[str]] = [
    {"text", "escape", "errors", "fileio", "safejson", "parallel", "executor", "__init__"},
    {"nn"},
    {"data", "viz"},
    {"classify", "detect"},
    {"export", "experiments", "batch", "sweep", "web", "demo", "course_notebooks"},
    {"cli"},
    {"__main__"},
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _targets(node: ast.AST, module: str, package: bool) -> list[str]:
    """The vedere modules an import statement names (a ``from X import name`` where
    X.name is a module counts as importing X.name)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("vedere")]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        origin = ".".join(base + ([node.module] if node.module else []))
    else:
        origin = node.module or ""
    if not origin.startswith("vedere"):
        return []
    out = []
    for a in node.names:
        sub = f"{origin}.{a.name}"
        out.append(sub if sub in MODULES else origin)
    return out


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Ids of import nodes under ``if TYPE_CHECKING:`` (never run)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            ids |= {id(n) for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)}
    return ids


FILES = {_module_name(p): p for p in SRC.rglob("*.py")}
MODULES = set(FILES)


def _imports() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(every import, import-time imports: not inside a function) per module; imports
    under ``if TYPE_CHECKING:`` never run and are left out of both."""
    every: dict[str, set[str]] = {}
    at_import: dict[str, set[str]] = {}
    for name, path in FILES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_only(tree)
        pkg = _is_package(path)
        every[name], at_import[name] = set(), set()
        lazy = {
            id(n)
            for f in ast.walk(tree)
            if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            for n in ast.walk(f)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets = set(_targets(node, name, pkg))
                if id(node) not in skip:
                    every[name] |= targets
                if id(node) not in skip and id(node) not in lazy:
                    at_import[name] |= targets
    return every, at_import


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_unit_is_in_a_layer():
    units = {_unit(m) for m in MODULES}
    assert units == set(RANK), f"not in LAYERS: {units - set(RANK)}; gone: {set(RANK) - units}"


def test_no_unit_imports_one_of_its_own_layer_or_above():
    every, _ = _imports()
    upward = sorted(
        f"{m} imports {t}"
        for m, targets in every.items()
        for t in targets
        if _unit(t) != _unit(m)
        and RANK[_unit(t)] >= RANK[_unit(m)]
        and RANK[_unit(m)] > 0  # the shared helpers may use each other (no circles)
    )
    assert not upward, "\n".join(upward)


def test_nothing_but_the_entry_points_imports_the_cli():
    every, _ = _imports()
    users = sorted(
        m
        for m, targets in every.items()
        if _unit(m) not in ("cli", "__main__") and any(_unit(t) == "cli" for t in targets)
    )
    assert not users


def test_no_import_circles():
    """No module reaches itself through its imports, also those made inside functions to
    dodge a circle at import time (Tarjan's strongly connected components of the module
    graph)."""
    graph, _ = _imports()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            # importing a package's submodule first imports the package: not a circle of ours
            if w not in graph or v.startswith(w + "."):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not circles, circles


def test_the_package_docstring_lists_the_layers_in_order():
    """``vedere/__init__.py`` says which layer each unit is in: the same list as LAYERS."""
    doc = vedere.__doc__ or ""
    items = [item for item in doc.split("\n* ")[1:] if item.startswith("layer ")]
    said = [set(re.findall(r":mod:`vedere\.(\w+)`", item)) for item in items]
    expected = [layer - {"__init__"} for layer in LAYERS[:-1]]  # __main__: the entry point
    assert said == expected
