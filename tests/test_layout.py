"""The package layout is the data flow: no import circles, heavy libraries only in their rooms, and
docs/architecture.md names only modules that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "planner"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Every planner module -> the planner modules it imports (at top level or inside functions)."""
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                # the longest prefix that is a planner module
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name and t != "planner":
                    deps.add(t)
        graph[name] = deps
    return graph


def _third_party(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
    return out


def test_no_import_circle() -> None:
    """No module reaches itself through imports, lazy ones included (a circle is a layering mistake)."""
    graph = _imports()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycle = [*stack[stack.index(d):], d]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_heavy_libraries_stay_in_their_rooms() -> None:
    """OR-Tools only in planner/solve; pandas, jinja2 and openpyxl only in planner/report."""
    rooms = {"ortools": "solve", "highspy": "solve", "pandas": "report", "jinja2": "report", "openpyxl": "report"}
    wrong = []
    for path in sorted(PKG.rglob("*.py")):
        room = path.relative_to(PKG).parts[0]
        wrong.extend(f"{path.relative_to(ROOT)} imports {lib}" for lib in sorted(_third_party(path) & set(rooms))
                     if room != rooms[lib])
    assert wrong == []


def test_architecture_doc_names_only_real_modules() -> None:
    """Every `planner/...py` or `planner/<folder>/` path in docs/architecture.md exists."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"planner/[A-Za-z_/]+(?:\.py|/)", text))
    assert len(named) >= 20, "the architecture page names the modules of every stage"
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert missing == []
