"""The import graph of a package: its cycles, and per module its size and longest function.

Usage: python scripts/import_graph.py [PACKAGE_DIR]   (default: worktree_agents)

Every import inside the package counts, wherever it is written: at module level, inside a
function (a lazy import), or under `if TYPE_CHECKING:`. A lazy or type-only import does
not make a cycle harmless, it only hides it from Python at import time, so each is an
edge here. `from pkg import name` is an edge to `pkg.name` when that is a module, else to
`pkg`. Importing a submodule runs its package's `__init__` too, but that is no dependency
of the importer's own, so it is not an edge.

Prints the cycles (each edge with where it is written) and then a table of modules; exits
1 when there is a cycle, 0 (after printing "no import cycles") when there is none.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

DEFAULT_PACKAGE = Path(__file__).resolve().parent.parent / "worktree_agents"


@dataclass(frozen=True)
class Edge:
    """One import statement from `source` to `target`, and how it is written."""

    source: str
    target: str
    line: int
    kind: str  # "module", "function" or "type-only"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    lines: int
    longest: str  # "name (N lines)", or "-" when the module has no function


def module_name(package: Path, path: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def imported(
    node: ast.Import | ast.ImportFrom, name: str, is_package: bool, modules: set[str]
) -> set[str]:
    """The package's modules that `node`, written in module `name`, imports."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names} & modules
    base = node.module or ""
    if node.level:
        anchor = name.split(".") if is_package else name.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base]) if base else ".".join(anchor)
    # `from pkg import mod` depends on mod; `from pkg import name` on pkg itself
    targets = {f"{base}.{alias.name}" for alias in node.names}
    found = targets & modules
    if len(found) < len(targets) and base in modules:
        found.add(base)
    return found


def import_nodes(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import in `tree` with its kind, found by walking with the enclosing context."""
    found: list[tuple[ast.Import | ast.ImportFrom, str]] = []

    def walk(node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append((child, kind))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                walk(child, "type-only" if kind == "type-only" else "function")
            elif isinstance(child, ast.If) and is_type_checking(child):
                for stmt in child.body:
                    walk(ast.Module(body=[stmt], type_ignores=[]), "type-only")
                for stmt in child.orelse:
                    walk(ast.Module(body=[stmt], type_ignores=[]), kind)
            else:
                walk(child, kind)

    walk(tree, "module")
    return found


def longest_function(tree: ast.Module) -> str:
    best: tuple[int, str] | None = None

    def walk(node: ast.AST, prefix: str) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                qualified = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    length = (child.end_lineno or child.lineno) - child.lineno + 1
                    if best is None or length > best[0]:
                        best = (length, qualified)
                walk(child, qualified + ".")
            else:
                walk(child, prefix)

    walk(tree, "")
    return "-" if best is None else f"{best[1]} ({best[0]} lines)"


def scan(package: Path) -> tuple[list[Module], list[Edge]]:
    paths = sorted(package.rglob("*.py"))
    names = {module_name(package, path): path for path in paths}
    modules: list[Module] = []
    edges: list[Edge] = []
    for name, path in names.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path))
        modules.append(Module(name, path, len(text.splitlines()), longest_function(tree)))
        is_package = path.name == "__init__.py"
        for node, kind in import_nodes(tree):
            for target in sorted(imported(node, name, is_package, set(names)) - {name}):
                edges.append(Edge(name, target, node.lineno, kind))
    return modules, edges


def cycles(edges: list[Edge]) -> list[list[str]]:
    graph = nx.DiGraph()
    graph.add_edges_from((edge.source, edge.target) for edge in edges)
    found = []
    for cycle in nx.simple_cycles(graph):
        start = cycle.index(min(cycle))  # the same cycle always starts at the same module
        found.append(cycle[start:] + cycle[:start])
    return sorted(found, key=lambda cycle: (len(cycle), cycle))


def report(package: Path) -> tuple[str, bool]:
    """The printed report, and whether the package has an import cycle."""
    modules, edges = scan(package)
    found = cycles(edges)
    out: list[str] = []
    if not found:
        out.append("no import cycles")
    else:
        out.append(f"{len(found)} import cycle(s):")
        paths = {module.name: module.path for module in modules}
        for cycle in found:
            out.append("  " + " -> ".join([*cycle, cycle[0]]))
            for source, target in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
                for edge in edges:
                    if edge.source == source and edge.target == target:
                        where = paths[source].relative_to(package.parent)
                        out.append(f"    {source} -> {target}: {where}:{edge.line} ({edge.kind})")
    out.append("")
    width = max(len(module.name) for module in modules)
    out.append(f"{'module':<{width}}  {'lines':>5}  longest function")
    for module in modules:
        out.append(f"{module.name:<{width}}  {module.lines:>5}  {module.longest}")
    return "\n".join(out), bool(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?", type=Path, default=DEFAULT_PACKAGE)
    args = parser.parse_args()
    package = args.package.resolve()
    if not (package / "__init__.py").is_file():
        print(f"import_graph: {package} is not a package (no __init__.py)", file=sys.stderr)
        return 2
    text, has_cycles = report(package)
    print(text)
    return 1 if has_cycles else 0


if __name__ == "__main__":
    sys.exit(main())
