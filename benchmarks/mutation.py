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
mutated line (every test for module-level code). A failing test or a timeout (ten times the
tests' own time, at least 10 s) kills the mutant. A mutant no test executes survives.

Mutants known to be equivalent (no behaviour can tell them from the original) are listed in
``benchmarks/mutation-equivalent.txt`` with the reason; the score is killed / (all - those).
Not run in CI: it takes minutes per module. Run it before resolving an issue that touches
these modules, and record the figures in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import ast
import copy
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
                                           "tests/remediate/test_approval_mutants.py"],
    "inspectorctl/rules/checks.py": ["tests/rules/test_checks.py",
                                     "tests/rules/test_checks_decisions.py"],
    "inspectorctl/vulns/versions.py": ["tests/vulns/test_versions.py"],
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
    included, runs the mutant), or re-bind the names a changed module-level statement binds.
    """
    tree = ast.parse(source, filename=mutant.path)
    tree = mutant.apply(tree)  # type: ignore[assignment]
    stmt = tree.body[mutant.top]
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
            clear = getattr(old, "cache_clear", None)
            if callable(clear):
                clear()
        else:
            setattr(module, name, new)


# --------------------------------------------------------------------------------- running


class _Tracer:
    """A pytest plugin recording, per test, the lines of the target files it executes."""

    def __init__(self, files: set[str]) -> None:
        self.files = files
        self.lines: dict[str, set[tuple[str, int]]] = {}
        self.durations: dict[str, float] = {}
        self.failed: list[str] = []

    def _local(self, hits: set[tuple[str, int]]) -> Callable[..., Any]:
        def trace(frame: types.FrameType, event: str, arg: Any) -> Any:
            filename = frame.f_code.co_filename
            if filename not in self.files:
                return None
            hits.add((filename, frame.f_lineno))

            def local(frame: types.FrameType, event: str, arg: Any) -> Any:
                if event == "line":
                    hits.add((filename, frame.f_lineno))
                return local

            return local

        return trace

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: Any) -> Iterator[None]:
        hits: set[tuple[str, int]] = set()
        self.lines[item.nodeid] = hits
        start = time.perf_counter()
        sys.settrace(self._local(hits))
        try:
            yield
        finally:
            sys.settrace(None)
            self.durations[item.nodeid] = time.perf_counter() - start

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed:
            self.failed.append(report.nodeid)


PYTEST_ARGS = ["-q", "-m", "not lab", "-p", "no:cacheprovider", "-p", "no:randomly",
               "--noconftest", "-W", "ignore::pytest.PytestAssertRewriteWarning",
               "--hypothesis-seed=0"]


def _quiet() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def run_mutant(module: types.ModuleType, source: str, mutant: Mutant, tests: list[str],
               timeout: float) -> Result:
    if not tests:
        return Result(mutant, "uncovered")
    pid = os.fork()
    if pid == 0:  # the child: apply, test, exit with pytest's code
        code = 3
        try:
            _quiet()
            apply_in_process(module, source, mutant)
            code = int(pytest.main([*PYTEST_ARGS, "-x", *tests]))
        except BaseException:
            code = 4
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return Result(mutant, "timeout", len(tests))
        time.sleep(0.02)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return Result(mutant, "survived", len(tests))
    if code in (1, 4):
        return Result(mutant, "killed", len(tests))
    return Result(mutant, "error", len(tests), f"pytest exit code {code}")


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
    ap.add_argument("--jobs", type=int, default=1, help="mutants run in parallel")
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
    filename = str(path)
    tracer = _Tracer({filename})
    started = time.perf_counter()
    saved = os.dup(1)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        code = pytest.main([*PYTEST_ARGS, *tests], plugins=[tracer])
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    if code != 0 or tracer.failed:
        raise SystemExit(f"error: the tests of {path.relative_to(ROOT)} do not pass unmutated "
                         f"(pytest exit {int(code)}: {', '.join(tracer.failed[:5])}); fix "
                         "them first")
    baseline = time.perf_counter() - started
    covering: dict[int, list[str]] = {}
    for nodeid, hits in tracer.lines.items():
        for _, line in hits:
            covering.setdefault(line, []).append(nodeid)
    order = list(tracer.lines)  # collection order
    rank = {n: i for i, n in enumerate(order)}
    results: list[Result] = []
    queue = list(mutants)
    print(f"{path.relative_to(ROOT)}: {len(mutants)} mutants, {len(order)} tests "
          f"({baseline:.1f} s unmutated)", file=sys.stderr, flush=True)
    done = 0
    pending: list[tuple[Mutant, list[str], float]] = []
    for m in queue:
        if m.key in equivalent:
            results.append(Result(m, "equivalent", detail=equivalent[m.key]))
            continue
        if not m.in_function:
            selected = order  # module-level code runs at import: every test may see it
        else:
            selected = sorted({t for ln in m.lines for t in covering.get(ln, ())},
                              key=rank.__getitem__)
        timeout = max(10.0, 10 * sum(tracer.durations.get(t, 0.0) for t in selected) + 5)
        pending.append((m, selected, timeout))
    if jobs <= 1:
        for m, selected, timeout in pending:
            results.append(run_mutant(module, source, m, selected, timeout))
            done += 1
            _progress(done, len(pending))
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(jobs) as pool:
            futures = [pool.submit(run_mutant, module, source, m, s, t) for m, s, t in pending]
            for f in futures:
                results.append(f.result())
                done += 1
                _progress(done, len(pending))
    print(file=sys.stderr)
    return results


def _progress(done: int, total: int) -> None:
    if done % 10 == 0 or done == total:
        print(f"  {done}/{total}", end="\r", file=sys.stderr, flush=True)


def report(rel: str, results: list[Result], equivalent: dict[str, str]) -> str:
    by: dict[str, int] = {}
    for r in results:
        by[r.outcome] = by.get(r.outcome, 0) + 1
    killed = by.get("killed", 0) + by.get("timeout", 0) + by.get("error", 0)
    total = len(results)
    eq = by.get("equivalent", 0)
    scored = total - eq
    score = 100.0 * killed / scored if scored else 100.0
    lines = [f"{rel}: {total} mutants, {killed} killed ({by.get('timeout', 0)} by timeout), "
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
