"""Mutation testing of the modules whose decisions must not change unnoticed.

    .venv/bin/python benchmarks/mutation.py                      # the default modules
    .venv/bin/python benchmarks/mutation.py inspectorctl/vulns/versions.py
    .venv/bin/python benchmarks/mutation.py inspectorctl/vulns/matcher.py=tests/vulns
    .venv/bin/python benchmarks/mutation.py --list inspectorctl/rules/checks.py

Each module is parsed, and every mutant of it is generated from its syntax tree:

- operator replacement: ``+`` ``-`` ``*`` ``/`` ``//`` ``%`` ``**`` ``<<`` ``>>`` ``&`` ``|``
  ``^`` (in expressions and augmented assignments), unary ``not``/``-``/``~`` removed;
- comparison flips: ``<`` to ``<=`` and to ``>=`` (the boundary and the negation; likewise
  for the others), ``==``/``!=``, ``is``/``is not``, ``in``/``not in``;
- boolean flips: ``and``/``or``, ``True``/``False``, the condition of ``if``, ``while`` and
  ``x if c else y`` negated;
- constant changes: every integer ``n`` to ``n + 1`` and ``n - 1``;
- statement deletion: ``return``, ``raise``, a call statement and an augmented assignment
  replaced by ``pass``; ``continue`` to ``break`` and ``break`` to ``continue``.

String constants are left alone (they are messages and keys; the tests that matter pin
them through exact evidence). A line with ``# pragma: no mutate`` or ``# pragma: no cover``
is not mutated.

How a mutant runs: the unit tests of the module (``-m 'not lab'``) run once, recording which
test executes which line of the module (and how long each takes). Then, per mutant, the
process forks, the child replaces the code of the one function (or re-binds the one
module-level name) the mutant changes, and runs with ``-x`` only the tests that execute the
mutated line (every test for module-level code), the quickest first. A failing test or a
timeout (a test taking ten
times its own traced time, at least 5 s, or the selection ten times its total, at least 10 s)
kills the mutant. A mutant no test executes survives.

Mutants known to be equivalent (no behaviour can tell them from the original) are listed in
``benchmarks/mutation-equivalent.txt`` with the reason; the score is killed / (all - those).
Not run in CI: it takes minutes per module. Run it before resolving an issue that touches
these modules, and record the figures in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import ast
import copy
import enum
import importlib
import json
import os
import signal
import sys
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "benchmarks" / "mutation-equivalent.txt"

#: module -> the unit tests that decide it (modules not listed: tests/<its subpackage>)
DEFAULT_TESTS: dict[str, list[str]] = {
    "inspectorctl/remediate/approval.py": ["tests/remediate/test_approval.py",
                                           "tests/remediate/test_audit.py",
                                           "tests/remediate/test_approval_mutants.py",
                                           "tests/adversarial/test_signed_approvals.py"],
    "inspectorctl/remediate/integrity.py": ["tests/remediate/test_approval.py",
                                            "tests/remediate/test_approval_mutants.py",
                                            "tests/remediate/test_integrity_mutants.py",
                                            "tests/remediate/test_rollout.py"],
    "inspectorctl/remediate/plansign.py": ["tests/remediate/test_approval.py",
                                           "tests/remediate/test_approval_mutants.py",
                                           "tests/remediate/test_integrity_mutants.py"],
    "inspectorctl/rules/checks.py": ["tests/rules/test_checks.py",
                                     "tests/rules/test_checks_decisions.py",
                                     "tests/rules/test_checks_evidence.py"],
    "inspectorctl/vulns/versions.py": ["tests/vulns/test_versions.py",
                                       "tests/vulns/test_versions_mutants.py"],
}
DEFAULT_MODULES = list(DEFAULT_TESTS)

_BINOP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult,
    ast.LShift: ast.RShift, ast.RShift: ast.LShift, ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd, ast.BitXor: ast.BitOr, ast.MatMult: ast.Mult,
}
_CMPOP: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE, ast.GtE), ast.LtE: (ast.Lt, ast.Gt), ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,), ast.IsNot: (ast.Is,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,),
}


class MutationError(Exception):
    """Bad input to the mutation run (a module or test path that does not exist...)."""


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to the repository
    index: int  # the node's position in ast.walk order of the module
    kind: str  # operator, comparison, boolean, constant, delete
    line: int
    qualname: str  # the function (or <module>) the node is in
    description: str
    top: int  # index of the module-level statement that contains it
    lines: tuple[int, ...]  # the lines a test must execute to reach it
    #: in a function's body or defaults (else module or class-body code, run at import)
    in_function: bool
    apply: Callable[[ast.AST], ast.AST | None] = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.path} | {self.qualname} | {self.description}"


@dataclass
class Result:
    mutant: Mutant
    outcome: str  # killed, timeout, survived, uncovered, equivalent, error
    tests: int = 0
    detail: str = ""


# ------------------------------------------------------------------------------- generation


def _short(node: ast.AST, limit: int = 70) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _skipped_lines(source: str) -> set[int]:
    return {i for i, line in enumerate(source.splitlines(), 1)
            if "pragma: no mutate" in line or "pragma: no cover" in line}


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside a type annotation (never mutated)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        anns: list[ast.AST | None] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            anns.append(node.returns)
        elif isinstance(node, (ast.arg, ast.AnnAssign)):
            anns.append(node.annotation)
        for a in anns:
            if a is not None:
                out.update(id(n) for n in ast.walk(a))
    return out


def _contexts(tree: ast.Module) -> dict[int, tuple[int, str, ast.stmt]]:
    """id(node) -> (index of its top-level statement, qualname, innermost statement)."""
    out: dict[int, tuple[int, str, ast.stmt]] = {}

    def visit(node: ast.AST, top: int, qual: str, stmt: ast.stmt) -> None:
        for child in ast.iter_child_nodes(node):
            q, s = qual, stmt
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                q = child.name if qual == "<module>" else f"{qual}.{child.name}"
            if isinstance(child, ast.stmt):
                s = child
            out[id(child)] = (top, q, s)
            visit(child, top, q, s)

    for i, stmt in enumerate(tree.body):
        qual = stmt.name if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef,
                                              ast.ClassDef)) else "<module>"
        out[id(stmt)] = (i, qual, stmt)
        visit(stmt, i, qual, stmt)
    return out


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(
        node.value.value, str)


def _replace_in_parent(tree: ast.AST, target: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is target:
                        value[i] = new
                        return
    raise MutationError("node to replace not found")  # pragma: no cover - internal


Apply = Callable[[ast.AST, ast.AST], None]


def _mutations(node: ast.AST, parent: ast.AST) -> Iterator[tuple[str, str, Apply]]:
    """(kind, description, apply(tree, node)) for one node; apply mutates in place."""
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _BINOP:
        new_op = _BINOP[type(node.op)]

        def binop(tree: ast.AST, n: ast.AST, new_op: type[ast.operator] = new_op) -> None:
            assert isinstance(n, (ast.BinOp, ast.AugAssign))
            n.op = new_op()

        before = _short(node)
        after = copy.deepcopy(node)
        after.op = new_op()
        yield "operator", f"{before} -> {_short(after)}", binop
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.Invert)):
        def unary(tree: ast.AST, n: ast.AST) -> None:
            assert isinstance(n, ast.UnaryOp)
            _replace_in_parent(tree, n, n.operand)

        yield ("boolean" if isinstance(node.op, ast.Not) else "operator",
               f"{_short(node)} -> {_short(node.operand)}", unary)
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for new in _CMPOP.get(type(op), ()):
                def cmp(tree: ast.AST, n: ast.AST, i: int = i,
                        new: type[ast.cmpop] = new) -> None:
                    assert isinstance(n, ast.Compare)
                    n.ops[i] = new()

                after_c = copy.deepcopy(node)
                after_c.ops[i] = new()
                yield "comparison", f"{_short(node)} -> {_short(after_c)}", cmp
    if isinstance(node, ast.BoolOp):
        other: type[ast.boolop] = ast.Or if isinstance(node.op, ast.And) else ast.And

        def boolop(tree: ast.AST, n: ast.AST, other: type[ast.boolop] = other) -> None:
            assert isinstance(n, ast.BoolOp)
            n.op = other()

        after_b = copy.deepcopy(node)
        after_b.op = other()
        yield "boolean", f"{_short(node)} -> {_short(after_b)}", boolop
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool):
            def flip(tree: ast.AST, n: ast.AST) -> None:
                assert isinstance(n, ast.Constant)
                n.value = not n.value

            yield "boolean", f"{v} -> {not v} in {_short(parent, 50)}", flip
        elif isinstance(v, int):
            for delta in (1, -1):
                def number(tree: ast.AST, n: ast.AST, delta: int = delta) -> None:
                    assert isinstance(n, ast.Constant) and isinstance(n.value, int)
                    n.value = n.value + delta

                yield "constant", f"{v!r} -> {v + delta!r} in {_short(parent, 50)}", number
    if isinstance(node, (ast.If, ast.While, ast.IfExp)):
        def negate(tree: ast.AST, n: ast.AST) -> None:
            assert isinstance(n, (ast.If, ast.While, ast.IfExp))
            n.test = ast.UnaryOp(op=ast.Not(), operand=n.test)

        word = {ast.If: "if", ast.While: "while", ast.IfExp: "if-expression"}[type(node)]
        yield "boolean", f"{word} {_short(node.test)} -> {word} not ({_short(node.test)})", negate
    if isinstance(node, (ast.Return, ast.Raise, ast.AugAssign)) or (
            isinstance(node, ast.Expr) and isinstance(node.value, (ast.Call, ast.Await))):
        def delete(tree: ast.AST, n: ast.AST) -> None:
            _replace_in_parent(tree, n, ast.copy_location(ast.Pass(), n))

        yield "delete", f"{_short(node)} -> pass", delete
    if isinstance(node, (ast.Continue, ast.Break)):
        new_stmt: type[ast.stmt] = ast.Break if isinstance(node, ast.Continue) else ast.Continue

        def swap(tree: ast.AST, n: ast.AST, new_stmt: type[ast.stmt] = new_stmt) -> None:
            _replace_in_parent(tree, n, ast.copy_location(new_stmt(), n))

        yield "delete", f"{_short(node)} -> {new_stmt.__name__.lower()}", swap


def generate(path: Path) -> tuple[str, list[Mutant]]:
    """The source of ``path`` and its mutants."""
    rel = str(path.resolve().relative_to(ROOT))
    source = path.read_text()
    tree = ast.parse(source, filename=rel)
    skipped = _skipped_lines(source)
    annotations = _annotation_nodes(tree)
    contexts = _contexts(tree)
    parents = {id(c): p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef,
                                                                   ast.AsyncFunctionDef))
                   for n in ast.walk(f) if n is not f}
    mutants: list[Mutant] = []
    seen: dict[tuple[str, str], int] = {}
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in annotations or id(node) not in contexts:
            continue
        line = getattr(node, "lineno", None)
        if line is None or line in skipped or _is_docstring(node):
            continue
        top, qual, stmt = contexts[id(node)]
        if isinstance(node, ast.stmt):
            stmt = node
        end = getattr(node, "end_lineno", line) or line
        if isinstance(stmt, (ast.If, ast.While, ast.For, ast.With, ast.Try)) and stmt is not node:
            # a header expression: the lines of the expression itself
            lines = tuple(range(min(line, stmt.lineno), end + 1))
        else:
            lines = tuple(range(stmt.lineno, max(end, stmt.end_lineno or end) + 1))
        for kind, description, fn in _mutations(node, parents.get(id(node), node)):
            n = seen.get((qual, description), 0)
            seen[(qual, description)] = n + 1
            desc = description if n == 0 else f"{description} (#{n + 1})"

            def apply(t: ast.AST, index: int = index, fn: Callable[[ast.AST, ast.AST], None]
                      = fn) -> ast.AST:
                target = next(x for i, x in enumerate(ast.walk(t)) if i == index)
                fn(t, target)
                return t

            mutants.append(Mutant(rel, index, kind, line, qual, desc, top, lines,
                                  id(node) in in_function, apply))
    mutants.sort(key=lambda m: (m.line, m.index))
    return source, mutants


# -------------------------------------------------------------------------------- applying


def _functions(obj: Any) -> Iterator[tuple[str, types.FunctionType]]:
    """(name, plain function) of a function or of every method of a class, recursively."""
    if isinstance(obj, types.FunctionType):
        while hasattr(obj, "__wrapped__") and isinstance(obj.__wrapped__, types.FunctionType):
            obj = obj.__wrapped__
        yield "", obj
        return
    if isinstance(obj, type):
        for name, attr in vars(obj).items():
            for inner in (attr, getattr(attr, "__func__", None), getattr(attr, "fget", None),
                          getattr(attr, "fset", None), getattr(attr, "wrapped", None)):
                if isinstance(inner, types.FunctionType):
                    for sub, fn in _functions(inner):
                        yield f"{name}{'.' + sub if sub else ''}", fn
                    break
            else:
                if isinstance(attr, type) and attr.__qualname__.startswith(obj.__qualname__):
                    for sub, fn in _functions(attr):
                        yield f"{name}.{sub}", fn


def _bound_names(stmt: ast.stmt) -> list[str]:
    names: list[str] = []
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    for t in targets:
        names.extend(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def apply_in_process(module: types.ModuleType, source: str, mutant: Mutant) -> None:
    """Make the loaded ``module`` behave as the mutant: replace the code of the functions of
    the changed top-level statement (so every reference to them, ``from m import f``
    included, runs the mutant) and a class's plain constants, or re-bind the names a changed
    module-level statement binds.
    """
    tree = ast.parse(source, filename=mutant.path)
    tree = mutant.apply(tree)  # type: ignore[assignment]
    stmt = tree.body[mutant.top]
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        # only the code objects are taken: decorators (which may register the function
        # somewhere and refuse a second registration) and bases are not run again
        stmt.decorator_list = []
        if isinstance(stmt, ast.ClassDef):
            stmt.bases, stmt.keywords = [], []
    ast.fix_missing_locations(tree)
    import __future__

    code = compile(ast.Module(body=[stmt], type_ignores=[]), str(ROOT / mutant.path), "exec",
                   flags=__future__.annotations.compiler_flag, dont_inherit=True)
    scope = dict(vars(module))
    exec(code, scope)
    for name in _bound_names(stmt):
        new, old = scope.get(name), getattr(module, name, None)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            olds = dict(_functions(old))
            for sub, fn in _functions(new):
                if sub in olds:
                    olds[sub].__code__ = fn.__code__
                    olds[sub].__defaults__ = fn.__defaults__
                    olds[sub].__kwdefaults__ = fn.__kwdefaults__
            if (isinstance(stmt, ast.ClassDef) and isinstance(old, type)
                    and not isinstance(old, enum.EnumMeta)):
                # plain class constants (``exit_code = 3``): set on the loaded class (enum
                # members cannot be re-assigned: such a mutant is not applied, it survives)
                for attr, value in vars(new).items():
                    if (not attr.startswith("__")
                            and isinstance(value, (int, float, str, bytes, tuple, type(None)))
                            and attr in vars(old) and vars(old)[attr] != value):
                        setattr(old, attr, value)
            clear = getattr(old, "cache_clear", None)
            if callable(clear):
                clear()
        else:
            setattr(module, name, new)


# --------------------------------------------------------------------------------- running


PYTEST_ARGS = ["-q", "-s", "-m", "not lab", "-p", "no:cacheprovider", "-p", "no:randomly",
               "--noconftest", "-W", "ignore::pytest.PytestAssertRewriteWarning",
               "--hypothesis-seed=0"]


class _Campaign:
    """A pytest plugin that runs the whole campaign inside one pytest session: the tests run
    once, traced (which test executes which line, and how long it takes); then each mutant
    runs in a forked child of the session, which has the tests collected and imported
    already: the child applies the mutant and runs the selected tests, stopping at the
    first failure."""

    def __init__(self, module: types.ModuleType, source: str, mutants: list[Mutant],
                 equivalent: dict[str, str], jobs: int) -> None:
        self.module, self.source, self.mutants = module, source, mutants
        self.equivalent, self.jobs = equivalent, jobs
        self.filename = str(ROOT / mutants[0].path) if mutants else ""
        self.failed: list[str] = []
        self.results: list[Result] = []
        self.problem: str | None = None
        self.lines: dict[str, set[int]] = {}
        self.durations: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed.append(report.nodeid)

    def _trace(self, hits: set[int]) -> Callable[..., Any]:
        target = self.filename

        def local(frame: types.FrameType, event: str, arg: Any) -> Any:
            if event == "line":
                hits.add(frame.f_lineno)
            return local

        def trace(frame: types.FrameType, event: str, arg: Any) -> Any:
            if frame.f_code.co_filename != target:
                return None
            hits.add(frame.f_lineno)
            return local

        return trace

    @staticmethod
    def _run(items: list[pytest.Item], i: int) -> None:
        nxt = items[i + 1] if i + 1 < len(items) else None
        items[i].ihook.pytest_runtest_protocol(item=items[i], nextitem=nxt)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        items = list(session.items)
        for i, item in enumerate(items):
            hits: set[int] = set()
            self.lines[item.nodeid] = hits
            start = time.perf_counter()
            sys.settrace(self._trace(hits))
            try:
                self._run(items, i)
            finally:
                sys.settrace(None)
            self.durations[item.nodeid] = time.perf_counter() - start
        if self.failed or not items:
            self.problem = (f"the tests do not pass unmutated ({', '.join(self.failed[:5])})"
                            if self.failed else "no test was collected")
            return True
        print(f"{self.mutants[0].path if self.mutants else ''}: {len(self.mutants)} mutants, "
              f"{len(items)} tests ({sum(self.durations.values()):.1f} s unmutated)",
              file=sys.stderr, flush=True)
        covering: dict[int, list[pytest.Item]] = {}
        for item in items:
            for line in self.lines[item.nodeid]:
                covering.setdefault(line, []).append(item)
        rank = {item.nodeid: n for n, item in enumerate(items)}
        queue: list[tuple[Mutant, list[pytest.Item], float]] = []
        for m in self.mutants:
            if m.key in self.equivalent:
                self.results.append(Result(m, "equivalent", detail=self.equivalent[m.key]))
                continue
            if not m.in_function:
                selected = items  # module-level code runs at import: every test may see it
            else:
                chosen = {it.nodeid: it for ln in m.lines for it in covering.get(ln, ())}
                # the quickest first: a killed mutant stops at its first failing test
                selected = sorted(chosen.values(),
                                  key=lambda it: (self.durations[it.nodeid], rank[it.nodeid]))
            if not selected:
                self.results.append(Result(m, "uncovered"))
                continue
            timeout = max(10.0, 10 * sum(self.durations[it.nodeid] for it in selected) + 5)
            queue.append((m, selected, timeout))
        self._run_all(queue)
        return True

    def _child(self, mutant: Mutant, selected: list[pytest.Item]) -> None:
        code = 3
        try:
            _quiet()
            apply_in_process(self.module, self.source, mutant)
            self.failed = []
            code = 0

            def too_slow(signum: int, frame: types.FrameType | None) -> None:
                os._exit(5)

            signal.signal(signal.SIGALRM, too_slow)
            for i in range(len(selected)):
                # each test gets ten times its own (traced, so slower) time, at least 5 s:
                # a mutant that loops forever is a timeout at its first endless test, not
                # after the whole selection's budget
                signal.setitimer(signal.ITIMER_REAL,
                                 max(5.0, 10 * self.durations[selected[i].nodeid]))
                self._run(selected, i)
                signal.setitimer(signal.ITIMER_REAL, 0)
                if self.failed:
                    code = 1
                    break
        except BaseException:  # a mutant that breaks loading or the run is killed
            code = 4
            if os.environ.get("MUTATION_DEBUG"):
                import traceback

                Path(os.environ["MUTATION_DEBUG"]).write_text(traceback.format_exc())
        finally:
            os._exit(code)

    def _run_all(self, queue: list[tuple[Mutant, list[pytest.Item], float]]) -> None:
        running: dict[int, tuple[Mutant, int, float]] = {}
        total, done = len(queue), 0
        pending = list(reversed(queue))
        while pending or running:
            while pending and len(running) < self.jobs:
                m, selected, timeout = pending.pop()
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    self._child(m, selected)
                running[pid] = (m, len(selected), time.monotonic() + timeout)
            time.sleep(0.01)
            for pid, (m, n, deadline) in list(running.items()):
                got, status = os.waitpid(pid, os.WNOHANG)
                if not got:
                    if time.monotonic() > deadline:
                        os.kill(pid, signal.SIGKILL)
                        os.waitpid(pid, 0)
                        self.results.append(Result(m, "timeout", n))
                        del running[pid]
                        done += 1
                    continue
                del running[pid]
                done += 1
                code = os.waitstatus_to_exitcode(status)
                outcome = {0: "survived", 1: "killed", 4: "crashed", 5: "timeout"}.get(
                    code, "error")
                self.results.append(Result(m, outcome, n,
                                           "" if outcome != "error" else f"exit {code}"))
                if done % 25 == 0 or done == total:
                    print(f"  {done}/{total}", file=sys.stderr, flush=True)


def _quiet() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def load_equivalent(path: Path) -> dict[str, str]:
    """``path | qualname | description | reason`` lines -> reason."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(" | ")]
        if len(parts) != 4:
            raise MutationError(f"{path}:{n}: expected 'path | function | mutation | reason'")
        out[" | ".join(parts[:3])] = parts[3]
    return out


def _module_name(path: Path) -> str:
    rel = path.resolve().relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts)


def _targets(specs: list[str]) -> list[tuple[Path, list[str]]]:
    out = []
    for spec in specs or DEFAULT_MODULES:
        mod, _, tests_s = spec.partition("=")
        path = (ROOT / mod).resolve()
        if not path.is_file() or path.suffix != ".py":
            raise MutationError(f"{mod}: no such Python module")
        rel = str(path.relative_to(ROOT))
        if tests_s:
            tests = tests_s.split(",")
        else:
            tests = DEFAULT_TESTS.get(rel) or [f"tests/{path.parent.name}"]
        tests = [t for t in tests if (ROOT / t.split("::", 1)[0]).exists()]
        if not tests:
            raise MutationError(f"{rel}: none of its tests exist; give them as {rel}=TESTS")
        out.append((path, tests))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("modules", nargs="*",
                    help="MODULE.py or MODULE.py=TEST[,TEST...] (default: "
                         + ", ".join(DEFAULT_MODULES) + ")")
    ap.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    ap.add_argument("--lines", help="only mutants on these lines, e.g. 10-40,55")
    ap.add_argument("--jobs", type=int, default=1, help="mutants run in parallel (forks)")
    ap.add_argument("-k", dest="keyword", help="only the tests pytest -k selects (e.g. to "
                    "leave out a slow oracle; say so with the figures)")
    ap.add_argument("--equivalent", type=Path, default=EQUIVALENT_FILE)
    ap.add_argument("--json", type=Path, help="write every result here")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    try:
        targets = _targets(args.modules)
        equivalent = load_equivalent(args.equivalent)
    except MutationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    wanted: set[int] | None = None
    if args.lines:
        wanted = set()
        for part in args.lines.split(","):
            lo, _, hi = part.partition("-")
            wanted.update(range(int(lo), int(hi or lo) + 1))
    all_results: list[Result] = []
    summary = []
    for path, tests in targets:
        source, mutants = generate(path)
        if wanted is not None:
            mutants = [m for m in mutants if m.line in wanted]
        rel = str(path.relative_to(ROOT))
        if args.list:
            for m in mutants:
                print(f"{rel}:{m.line} ({m.qualname}) {m.kind}: {m.description}")
            print(f"{rel}: {len(mutants)} mutants")
            continue
        if args.keyword:
            tests = [*tests, "-k", args.keyword]
        results = run_module(path, source, mutants, tests, equivalent, args.jobs)
        all_results.extend(results)
        summary.append(report(rel, results, equivalent))
    if args.list:
        return 0
    print("\n".join(summary))
    if args.json:
        args.json.write_text(json.dumps([
            {"path": r.mutant.path, "line": r.mutant.line, "function": r.mutant.qualname,
             "kind": r.mutant.kind, "mutation": r.mutant.description, "outcome": r.outcome,
             "tests": r.tests, "detail": r.detail} for r in all_results], indent=1))
    return 0


def run_module(path: Path, source: str, mutants: list[Mutant], tests: list[str],
               equivalent: dict[str, str], jobs: int) -> list[Result]:
    module = importlib.import_module(_module_name(path))
    campaign = _Campaign(module, source, mutants, equivalent, max(1, jobs))
    saved = os.dup(1)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        code = pytest.main([*PYTEST_ARGS, *tests], plugins=[campaign])
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    if campaign.problem or code not in (0, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise SystemExit(f"error: {path.relative_to(ROOT)}: "
                         f"{campaign.problem or f'pytest exit {int(code)}'}; fix that first")
    order = {id(m): n for n, m in enumerate(mutants)}
    return sorted(campaign.results, key=lambda r: order[id(r.mutant)])


def report(rel: str, results: list[Result], equivalent: dict[str, str]) -> str:
    by: dict[str, int] = {}
    for r in results:
        by[r.outcome] = by.get(r.outcome, 0) + 1
    killed = sum(by.get(k, 0) for k in ("killed", "timeout", "crashed", "error"))
    total = len(results)
    eq = by.get("equivalent", 0)
    scored = total - eq
    score = 100.0 * killed / scored if scored else 100.0
    lines = [f"{rel}: {total} mutants, {killed} killed ({by.get('timeout', 0)} by timeout, "
             f"{by.get('crashed', 0)} crashed the module), "
             f"{by.get('survived', 0)} survived, {by.get('uncovered', 0)} not executed by any "
             f"test, {eq} equivalent: {score:.1f} % of {scored} non-equivalent killed"]
    for r in results:
        if r.outcome in ("survived", "uncovered"):
            tag = "" if r.outcome == "survived" else "  [no test executes it]"
            lines.append(f"  SURVIVED {r.mutant.path}:{r.mutant.line} ({r.mutant.qualname}) "
                         f"{r.mutant.description}{tag}")
    for r in results:
        if r.outcome == "error":
            lines.append(f"  error {r.mutant.path}:{r.mutant.line} {r.mutant.description}: "
                         f"{r.detail}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
