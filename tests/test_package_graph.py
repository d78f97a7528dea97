"""The import graph of hub/ and tasks/: layered packages without cycles, small modules, a pure core.

Every import counts, including those inside functions (a deferred import is still a
dependency); relative imports are resolved. A failure names the cycle or the module and the
import, with file:line, to change. Only the CLI and the process wiring import modules of ours
inside functions, to keep `mihub --help` fast; everywhere else imports sit at the top.
"""

from __future__ import annotations

import ast
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOPS = ("hub", "tasks")
MAX_ROOT_MODULES = 12
MAX_SCC_MODULES = 4
MAX_MODULE_LINES = 500
MAX_MEDIAN_LINES = 200
UNCOUNTED = ("hub/app/migrations/versions/",)  # generated migration scripts
# Sub-packages that are nodes of their own in the package graph (not part of their parent).
OWN_NODES = ("hub.channels.email", "hub.channels.teams", "hub.intake.email", "hub.intake.teams")
CORE_FORBIDDEN = (
    "sqlalchemy", "flask", "werkzeug", "huey", "requests", "msal", "redis", "psycopg",
    "psycopg2", "smtplib", "socket", "aiosmtpd",
)  # fmt: skip
CORE_MAY_IMPORT = ("hub.core", "hub.policy.model", "hub.app.errors")
# Where a module of ours may be imported inside a function (start-up time of the CLI).
MAY_DEFER = ("hub/cli/", "hub/runner.py", "hub/__init__.py")


@dataclass(frozen=True)
class Import:
    """One import statement's target: `name` as written (made absolute), `target` if ours."""

    module: str
    name: str
    target: str | None
    path: Path
    line: int
    deferred: bool = False  # inside a function

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def __str__(self) -> str:
        return f"{self.where}: {self.module} imports {self.name}"


@cache
def modules() -> dict[str, Path]:
    """Every module of hub/ and tasks/ by dotted name (a package by its own name)."""
    found = {}
    for top in TOPS:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _ours(name: str) -> str | None:
    """The module of ours that importing `name` runs last (hub.a.b.func -> hub.a.b)."""
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


@cache
def imports() -> tuple[Import, ...]:
    """Every import in hub/ and tasks/, at module level or inside functions."""
    found = []
    for module, path in modules().items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        in_functions = {
            id(inner)
            for func in ast.walk(tree)
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            for inner in ast.walk(func)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                # `from a import b`: b is a module of a, or a name defined in a
                names = []
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    names.append(full if full in modules() else base)
            else:
                continue
            for name in names:
                target = _ours(name)
                deferred = id(node) in in_functions
                found.append(Import(module, name, target, path, node.lineno, deferred))
    return tuple(found)


def node_of(module: str) -> str:
    """The package-graph node of a module: `tasks`, a root module of hub, or `hub.<pkg>`."""
    if module.split(".")[0] == "tasks":
        return "tasks"
    for own in OWN_NODES:
        if module == own or module.startswith(own + "."):
            return own
    return ".".join(module.split(".")[:2])  # hub, hub.<root module> or hub.<package>


def _graph(node) -> dict[str, dict[str, Import]]:
    """node -> {other node: the first import that makes the edge}."""
    edges: dict[str, dict[str, Import]] = defaultdict(dict)
    for imp in imports():
        if imp.target is None or imp.target == imp.module:
            continue
        a, b = node(imp.module), node(imp.target)
        if a != b:
            edges[a].setdefault(b, imp)
    return edges


def strongly_connected(nodes, edges) -> list[list[str]]:
    """Tarjan's strongly connected components, each sorted, groups of two or more only."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
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

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return groups


def a_cycle(group: list[str], edges) -> list[str]:
    """One shortest cycle through the first node of a strongly connected group."""
    start, inside = group[0], set(group)
    paths = {start: [start]}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(edges.get(v, ())):
            if w == start:
                return [*paths[v], start]
            if w in inside and w not in paths:
                paths[w] = [*paths[v], w]
                todo.append(w)
    return group  # not reached: every node of a group is on a cycle


def describe(groups, edges) -> str:
    """Each group, one cycle in it, and the import that makes each step of that cycle."""
    lines = []
    for group in groups:
        cycle = a_cycle(group, edges)
        lines.append(f"{len(group)} in a cycle: {', '.join(group)}")
        lines.append("  for one: " + " -> ".join(cycle))
        lines += [f"    {edges[a][b]}" for a, b in zip(cycle, cycle[1:], strict=False)]
        lines.append(f"  closed by {edges[cycle[-2]][cycle[-1]]}")
        if len(group) > 2:
            lines.append("  every import between them:")
            lines += [f"    {edges[a][b]}" for a in group for b in sorted(edges[a]) if b in group]
    return "\n".join(lines)


def package_cycles() -> str:
    edges = _graph(node_of)
    groups = strongly_connected({node_of(m) for m in modules()}, edges)
    return describe(groups, edges)


def module_cycles(larger_than: int = MAX_SCC_MODULES) -> str:
    edges = _graph(lambda module: module)
    groups = [g for g in strongly_connected(modules(), edges) if len(g) > larger_than]
    return describe(groups, edges)


def deferred_imports() -> list[Import]:
    """Imports of our modules inside functions, outside the CLI and the process wiring."""
    return [
        imp
        for imp in imports()
        if imp.deferred
        and imp.target is not None
        and not imp.path.relative_to(ROOT).as_posix().startswith(MAY_DEFER)
    ]


def counted_lengths() -> dict[str, int]:
    """Lines per module of hub/, generated migrations left out."""
    lengths = {}
    for path in sorted((ROOT / "hub").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith(UNCOUNTED):
            lengths[rel] = len(path.read_text(encoding="utf-8").splitlines())
    return lengths


def test_the_graph_sees_deferred_and_relative_imports():
    found = {(imp.module, imp.target) for imp in imports()}
    assert ("hub.cli.processes", "hub.runner") in found  # inside a function
    deferred = {(imp.module, imp.target) for imp in imports() if imp.deferred}
    assert ("hub.cli.processes", "hub.runner") in deferred
    assert ("hub.cli", "hub.cli.processes") not in deferred
    assert ("hub.cli", "hub.cli.processes") in found
    assert node_of("hub.intake.email.store") == "hub.intake.email"
    assert node_of("hub.reviews.publish.site") == "hub.reviews"
    assert node_of("hub.runner") == "hub.runner" and node_of("tasks.delivery") == "tasks"


def test_hub_root_holds_at_most_12_modules():
    root = sorted(p.name for p in (ROOT / "hub").glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, f"hub/ holds {len(root)} modules: {root}"


def test_no_import_cycle_between_packages():
    cycles = package_cycles()
    assert not cycles, "packages import each other in a cycle:\n" + cycles


def test_no_strongly_connected_group_of_more_than_4_modules():
    cycles = module_cycles()
    assert not cycles, f"modules in a cycle of more than {MAX_SCC_MODULES}:\n" + cycles


def test_no_two_modules_import_each_other():
    cycles = module_cycles(larger_than=1)
    assert not cycles, "modules import each other (directly or round a cycle):\n" + cycles


def test_only_the_cli_and_process_wiring_import_our_modules_inside_functions():
    late = deferred_imports()
    assert not late, (
        f"imports of hub/tasks modules inside functions outside {', '.join(MAY_DEFER)} "
        "(move them to the top of the module; a circular import there means a cycle to "
        "break, not to hide):\n" + "\n".join(f"  {imp}" for imp in late)
    )


def test_no_module_is_over_500_lines():
    long = {path: n for path, n in counted_lengths().items() if n > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them): {long}"


def test_median_module_is_at_most_200_lines():
    median = statistics.median(counted_lengths().values())
    assert median <= MAX_MEDIAN_LINES, f"median module length {median} > {MAX_MEDIAN_LINES}"


def test_the_core_imports_no_io_and_no_outer_layer():
    wrong = []
    for imp in imports():
        if node_of(imp.module) != "hub.core":
            continue
        top = imp.name.split(".")[0]
        if imp.target is None and top in CORE_FORBIDDEN:
            wrong.append(f"{imp} (I/O or framework)")
        elif imp.target is not None and not any(
            imp.target == allowed or imp.target.startswith(allowed + ".")
            for allowed in CORE_MAY_IMPORT
        ):
            wrong.append(f"{imp} (outside {', '.join(CORE_MAY_IMPORT)})")
    assert not wrong, "hub/core must stay pure:\n" + "\n".join(wrong)
