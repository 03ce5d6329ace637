#!/usr/bin/env python3
"""List import circles between the project's own Python modules.

(The team's shared tool, kept here so that tests/test_architecture.py runs it in any clone.)

Usage (from the project root):  python3 ../shared/tools/import_cycles.py [PACKAGE_DIR ...]
Default package dirs: every top-level folder holding .py files (tests excluded).
Counts every import, including those inside functions: a lazy import still ties two modules.
Prints one line per circle (strongly connected group of modules) and exits 1 if any exist.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, name: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def main(argv: list[str]) -> int:
    root = Path.cwd()
    dirs = [Path(a) for a in argv] or sorted(
        p for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in {"tests", "var"}
        and any(p.glob("*.py")))
    files = [f for d in dirs for f in d.rglob("*.py") if ".venv" not in f.parts]
    names = {module_name(f, root): f for f in files}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        targets = set()
        for imp in imports_of(path, name):
            # an import of a.b.c ties to the deepest project module it names
            parts = imp.split(".")
            for i in range(len(parts), 0, -1):
                cand = ".".join(parts[:i])
                if cand in names and cand != name:
                    targets.add(cand)
                    break
        # a package's __init__ importing its own submodules is not a circle worth naming
        graph[name] = {t for t in targets if not name or not t.startswith(name + ".")
                       or names[name].name != "__init__.py"}
    circles = strongly_connected(graph)
    folder_graph: dict[str, set[str]] = {}
    for name, targets in graph.items():
        top = name.split(".")[0]
        folder_graph.setdefault(top, set()).update(t.split(".")[0] for t in targets
                                                   if t.split(".")[0] != top)
    folder_circles = strongly_connected(folder_graph)
    for group in circles:
        print("module circle: " + " <-> ".join(group))
    for group in folder_circles:
        print("folder circle: " + " <-> ".join(group))
    if not circles and not folder_circles:
        print(f"no import circles among {len(names)} modules")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
