"""The package's layering, read from its source: no import cycles, and each layer imports only
the layers below it (every import counts, also those inside functions)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "inspectorctl"

#: layer -> the inspectorctl layers it must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # the bottom: shared types
    "models": ("assess", "cli", "collect", "lab", "probe", "remediate", "report", "rules",
               "store", "vulns"),
    # evaluation is pure: it is given snapshots (and the remediations that exist)
    "rules": ("assess", "cli", "collect", "lab", "remediate", "report", "store"),
    "vulns": ("assess", "cli", "collect", "lab", "remediate", "report", "rules", "store"),
    # the store owns its SQL and migrations; workflows call it, not the other way round
    "store": ("assess", "cli", "collect", "lab", "remediate", "report"),
    "collect": ("assess", "cli", "lab", "remediate", "report", "rules", "store"),
    "report": ("cli", "lab", "remediate"),
    "remediate": ("cli", "lab"),
    "lab": ("cli", "remediate", "store"),
    # ansible-runner set-up, shared by collection and remediation
    "runner": ("assess", "cli", "collect", "lab", "models", "probe", "remediate", "report",
               "rules", "store", "vulns"),
    # the host side: the standard library only (the bundler's error base aside)
    "probe": ("assess", "cli", "collect", "lab", "models", "remediate", "report", "rules",
              "store", "vulns"),
}

#: violations that exist today and are scheduled to go, each with the reason; this test fails
#: when one disappears, so that its entry is removed with it
KNOWN: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The package module ``name`` refers to (a module, or the module defining the name)."""
    mods = modules()
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                # ``from pkg import submodule`` depends on the submodule, else on ``base``
                yield full if full in modules() else base


@cache
def graph() -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for module, path in modules().items():
        deps = set()
        for name in _imports(module, path):
            if name == "inspectorctl" or name.startswith("inspectorctl."):
                target = _resolve(name)
                if target is not None and target != module:
                    deps.add(target)
        out[module] = frozenset(deps)
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
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
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_the_imports_it_should() -> None:
    """The reader itself: lazy imports, relative imports and submodule imports are edges."""
    g = graph()
    assert "inspectorctl.rules.checks" in g["inspectorctl.rules.engine"]
    assert "inspectorctl.probe.context" in g["inspectorctl.probe.run"]  # relative
    assert "inspectorctl.lab.hostinit" in g["inspectorctl.lab.processes"]  # pkg import submodule
    assert "inspectorctl.rules.expression" in g["inspectorctl.rules.loader"]  # inside a function
    assert _cycles({"a": frozenset({"b"}), "b": frozenset({"a"}), "c": frozenset()}) == [
        ["a", "b"]
    ]


def test_no_import_cycles() -> None:
    known = {tuple(sorted(pair)) for pair in KNOWN}
    cycles = [c for c in _cycles(graph()) if tuple(c) not in known]
    assert cycles == []


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    bad = []
    for module, deps in graph().items():
        if _layer(module) != layer:
            continue
        for dep in sorted(deps):
            if _layer(dep) in FORBIDDEN[layer] and (module, dep) not in KNOWN:
                bad.append(f"{module} imports {dep}")
    assert bad == []


def test_known_violations_still_exist() -> None:
    """An entry of KNOWN that no longer holds must be removed (and its layer rule tightened)."""
    g = graph()
    gone = [f"{a} -> {b}" for a, b in KNOWN if b not in g.get(a, frozenset())]
    assert gone == []


def test_probe_host_modules_import_nothing_of_inspectorctl() -> None:
    """What runs on hosts is the standard library and its sibling modules only."""
    controller_only = {"inspectorctl.probe", "inspectorctl.probe.bundle"}
    for module, deps in graph().items():
        if _layer(module) == "probe" and module not in controller_only:
            assert all(d.startswith("inspectorctl.probe.") for d in deps), (module, deps)
            assert "inspectorctl.probe.bundle" not in deps, module


# ------------------------------------------------------------------------ the store owns SQL

#: modules outside ``inspectorctl/store/`` allowed to run SQL, each with the reason
OWN_DATABASE: dict[str, str] = {
    # the advisory database: a separate SQLite file (OSV/NVD/KEV data imported by `vulns
    # update`) with its own schema and migrations, not the findings store; it is the vulns
    # layer's own repository and shares nothing with inspectorctl/store/
    "inspectorctl.vulns.db": "the advisory database's own store",
}

#: modules that still run SQL of the findings store, each with the reason; this test fails
#: when one no longer does, so that its entry is removed with it
SQL_STILL_TO_MOVE: dict[str, str] = {}

_EXECUTE = frozenset({"execute", "executemany", "executescript"})
#: SQL as the package writes it: upper-case keywords at a statement's start
_SQL = re.compile(
    r"^\s*(SELECT\s+\S.*\sFROM\s|SELECT\s+(1|count\(|run_id\b)|INSERT\s+(OR\s+\w+\s+)?INTO\s|"
    r"UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|(CREATE|DROP)\s+(TABLE|INDEX|TRIGGER|VIEW)\s|"
    r"ALTER\s+TABLE\s|PRAGMA\s|BEGIN\b|COMMIT\b|ROLLBACK\b|VACUUM\b)",
    re.DOTALL,
)


def _docstrings(tree: ast.AST) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                out.add(id(body[0].value))
    return out


def sql_uses(path: Path) -> list[str]:
    """Where ``path`` runs SQL: calls of ``.execute``/``.executemany``/``.executescript`` and
    string literals (f-string parts included) that are SQL statements (docstrings aside)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in _EXECUTE):
            found.append(f"line {node.lineno}: calls .{node.func.attr}")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docs and _SQL.match(node.value)):
            found.append(f"line {node.lineno}: SQL {node.value.strip()[:40]!r}")
    return found


def test_the_sql_reader_sees_sql() -> None:
    """The reader itself, on the store (which must be seen to run SQL) and on samples."""
    assert sql_uses(PACKAGE / "store" / "runs.py")
    assert _SQL.match("SELECT * FROM runs WHERE id=?")
    assert _SQL.match("INSERT OR IGNORE INTO plans(digest) VALUES (?)")
    assert _SQL.match(" UPDATE journal SET state=? WHERE run_id=?")
    assert _SQL.match("SELECT 1 FROM findings WHERE id=?")
    assert not _SQL.match("Update the findings of a run")
    assert not _SQL.match("SQLite triggers raise on UPDATE and DELETE")


def test_only_the_store_runs_sql() -> None:
    """Every SQL statement and every ``execute`` lives in ``inspectorctl/store/`` (one
    repository module per record type), apart from the databases listed in OWN_DATABASE."""
    bad: list[str] = []
    for module, path in modules().items():
        if _layer(module) == "store" or module in OWN_DATABASE or module in SQL_STILL_TO_MOVE:
            continue
        bad.extend(f"{module} {use}" for use in sql_uses(path))
    assert bad == []


def test_sql_still_to_move_still_there() -> None:
    mods = modules()
    gone = [m for m in SQL_STILL_TO_MOVE if m not in mods or not sql_uses(mods[m])]
    assert gone == []


def test_the_store_imports_no_workflow() -> None:
    """The store is below every workflow: nothing of remediate/, report/, cli/ (nor of the
    assessment and vulnerability workflows) is imported by it, not even lazily."""
    bad = [f"{m} imports {d}" for m, deps in graph().items() if _layer(m) == "store"
           for d in sorted(deps)
           if _layer(d) in ("remediate", "report", "cli", "assess", "vuln_assess", "lab")]
    assert bad == []
