"""The shape docs/architecture.md promises, read from the code itself (its imports,
through ``ast``): dependencies between apps point one way, no module-level import
cycles, hand-written SQL only in queries.py, no application module over 500 lines."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Lowest first: a package may import only those before it (and itself).
LAYERS = ["core", "knowledge", "conversations", "canned", "routing", "sla", "analytics", "privacy", "demo", "helpdesk"]
# The project package wires every app's URLs and sockets; the settings name every app.
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if "migrations" in rel.parts:
                continue
            found[".".join(rel.with_suffix("").parts).removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The project modules ``path`` imports (functions' own imports too, unless top_level_only)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {n for n in names if n in MODULES}


def test_apps_import_only_the_layers_below_them():
    upward = []
    for name, path in MODULES.items():
        layer = LAYERS.index(name.split(".")[0])
        for target in _imports(path, top_level_only=False):
            if LAYERS.index(target.split(".")[0]) > layer:
                upward.append(f"{name} -> {target}")
    assert upward == []


def test_no_module_level_import_cycles():
    graph = {name: _imports(path, top_level_only=True) - {name} for name, path in MODULES.items()}
    cycles, done = [], set()

    def visit(node, stack):
        if node in stack:
            cycles.append(" -> ".join([*stack[stack.index(node) :], node]))
            return
        if node in done:
            return
        for target in sorted(graph[node]):
            # A package's __init__ re-exporting its own submodules is not a cycle of theirs.
            if not target.startswith(node + "."):
                visit(target, [*stack, node])
        done.add(node)

    for name in sorted(graph):
        visit(name, [])
    assert cycles == []


_SQL = re.compile(r"\b(sql_run|sql_rows|sql_get|sql_for_update|cursor\(|\.raw\(|\.extra\()")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.split(".")[0] not in ("core", "helpdesk")))
def test_hand_written_sql_only_in_queries_modules(module):
    """docs/architecture.md: SQL written by hand lives in each app's queries.py
    (``core.db.bulk_insert`` takes model instances: it is the ORM's bulk_create, faster)."""
    if module.rsplit(".", 1)[-1] == "queries" or module.startswith("demo."):
        return
    assert not _SQL.search(MODULES[module].read_text()), f"{module} writes SQL by hand: move it to queries.py"


def test_no_application_module_is_over_500_lines():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
