"""Build the one file the transports ship from the probe package's modules.

The probe is written as small standard-library modules (``inspectorctl/probe/*.py``, one per fact
family) and shipped as one self-contained Python file: Ansible pipes it to the host's interpreter
as a module, the local transport runs it, an SSM document carries it. This module builds that
file, the way Ansible folds ``module_utils`` into one payload, but flat: the modules' bodies are
concatenated in dependency order under one merged block of standard-library imports, and the
package-relative imports (``from .context import ProbeContext``) are dropped, since every name
then lives in one namespace. That is sound because the build refuses anything that would make
the flat file behave differently from the package:

* a module imports only the standard library (``import x`` / ``from x import a, b``, no
  aliases) and names from sibling modules (``from .sibling import a, b``), all at its top;
* every top-level name is defined in exactly one module and never shadows an imported name;
* a sibling import names something the sibling defines at its top level;
* the modules import each other without cycles, ``__main__`` last (nothing imports it);
* the result parses as Python 3.6 and holds Ansible's JSON-args marker exactly once.

The output is deterministic: the same sources give the same bytes, hence the same sha256 (module
order is the dependency order with ties broken by name; imports are sorted; nothing depends on
time, paths or the environment).

When it is built: at package build time a hatch build hook (``hatch_build.py``) writes it into
the wheel as ``inspectorctl/_data/probe/inspectorctl_probe.py``; in a checkout (editable install)
:func:`shipped_probe` builds it from the modules on first use, so an edited module is shipped at
once and nothing generated is ever committed or hand-edited. ``scripts/build-probe`` writes it
on demand and prints its digest and sizes.

Standard library only, like the probe itself: the build hook imports this module in hatch's
isolated build environment.
"""

from __future__ import annotations

import ast
import base64
import functools
import gzip
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from inspectorctl.errors import InspectorctlError

PACKAGE_DIR = Path(__file__).resolve().parent
#: where the wheel carries the prebuilt file (see ``hatch_build.py``)
PREBUILT = PACKAGE_DIR.parent / "_data" / "probe" / "inspectorctl_probe.py"
#: files of the package that run on the controller and are not shipped
CONTROLLER_ONLY = frozenset({"__init__.py", "bundle.py"})
MAIN = "__main__"
SHEBANG = "#!/usr/bin/python"
ANSIBLE_ARGS_MARKER = "<<INCLUDE_ANSIBLE_" + "MODULE_JSON_ARGS>>"
#: the size limit the next transport lives with: one SSM Command document (64 KB) carries the
#: probe and its run-time parameters (the probe request), both gzip+base64
SIZE_BUDGET = 60_000


class ProbeBuildError(InspectorctlError):
    """The probe's modules cannot be folded into one file without changing what they do."""


@dataclass(frozen=True)
class ShippedProbe:
    """The file the transports ship to hosts, and its digest."""

    source: bytes
    #: hex sha256 of ``source``
    sha256: str

    @property
    def encoded_size(self) -> int:
        """Bytes of ``source`` gzip+base64 (how an SSM document would carry it)."""
        return encoded_size(self.source)


@dataclass(frozen=True)
class _Module:
    name: str
    path: Path
    docstring: str
    #: ``import x`` names
    imports: frozenset[str]
    #: ``from x import a`` as (x, a)
    from_imports: frozenset[tuple[str, str]]
    #: ``from .sibling import a`` as (sibling, a)
    siblings: frozenset[tuple[str, str]]
    defines: frozenset[str]
    body: str


def encoded_size(data: bytes) -> int:
    """Length of ``data`` gzip-compressed (level 9, no timestamp) and base64-encoded."""
    return len(base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)))


def _where(path: Path, node: ast.AST | None = None) -> str:
    line = getattr(node, "lineno", None)
    return f"{path}:{line}" if line else str(path)


def _top_level_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    names: set[str] = set()
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
    return names


def _parse_module(path: Path, shipped: frozenset[str]) -> _Module:
    name = path.stem
    text = path.read_bytes().decode("utf-8")
    try:
        tree = ast.parse(text, filename=str(path), feature_version=(3, 6))
    except SyntaxError as e:
        raise ProbeBuildError(
            f"{path}:{e.lineno}: not Python 3.6 syntax ({e.msg}); the probe runs on the host's "
            "python3, 3.6 or newer"
        ) from e
    body = list(tree.body)
    docstring = ast.get_docstring(tree) or ""
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    imports: set[str] = set()
    from_imports: set[tuple[str, str]] = set()
    siblings: set[tuple[str, str]] = set()
    last_import_line = 0
    stdlib = sys.stdlib_module_names
    index = 0
    for index, node in enumerate(body):  # noqa: B007 - index is used after the loop
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname is not None or alias.name.split(".")[0] not in stdlib:
                    raise ProbeBuildError(
                        f"{_where(path, node)}: `import {alias.name}`: the probe imports only "
                        "the standard library, without `as`"
                    )
                imports.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            names = [(a.name, a.asname) for a in node.names]
            if any(asname is not None or n == "*" for n, asname in names):
                raise ProbeBuildError(
                    f"{_where(path, node)}: import names one by one, without `as` or `*`"
                )
            if node.level == 0:
                module = node.module or ""
                if module.split(".")[0] not in stdlib or module == "__future__":
                    raise ProbeBuildError(
                        f"{_where(path, node)}: `from {module} import ...`: the probe imports "
                        "only the standard library (and no __future__: it runs on Python 3.6)"
                    )
                from_imports.update((module, n) for n, _ in names)
            elif node.level == 1 and node.module in shipped:
                siblings.update((node.module, n) for n, _ in names)
            else:
                raise ProbeBuildError(
                    f"{_where(path, node)}: sibling imports are `from .MODULE import NAME` with "
                    f"MODULE one of {', '.join(sorted(shipped))}"
                )
        else:
            break
        last_import_line = node.end_lineno or node.lineno
    else:
        index = len(body)
    defines: set[str] = set()
    for node in body[index:]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise ProbeBuildError(
                f"{_where(path, node)}: imports go at the top of the module, before any code"
            )
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
            and name != MAIN
        ):
            raise ProbeBuildError(
                f"{_where(path, node)}: only __main__.py may test __name__ (the bundle runs "
                "as one script)"
            )
        defines |= _top_level_names(node)
    lines = text.splitlines()
    module_body = "\n".join(lines[last_import_line:]).strip("\n")
    return _Module(
        name=name,
        path=path,
        docstring=docstring,
        imports=frozenset(imports),
        from_imports=frozenset(from_imports),
        siblings=frozenset(siblings),
        defines=frozenset(defines),
        body=module_body,
    )


def _order(modules: dict[str, _Module]) -> list[str]:
    """Dependency order, ties broken by name, ``__main__`` last."""
    deps = {name: {sib for sib, _ in m.siblings} for name, m in modules.items()}
    for name, needs in deps.items():
        if MAIN in needs:
            raise ProbeBuildError(f"{modules[name].path}: nothing may import from __main__")
    done: list[str] = []
    remaining = set(modules) - {MAIN}
    while remaining:
        ready = sorted(n for n in remaining if deps[n] <= set(done))
        if not ready:
            cycle = ", ".join(sorted(remaining))
            raise ProbeBuildError(f"the probe modules import each other in a cycle among: {cycle}")
        done.append(ready[0])
        remaining.discard(ready[0])
    if MAIN not in modules:
        raise ProbeBuildError(f"{PACKAGE_DIR}/__main__.py is missing: the probe has no entry")
    return [*done, MAIN]


def _check_names(modules: dict[str, _Module]) -> None:
    owner: dict[str, str] = {}
    imported: dict[str, str] = {}
    for m in modules.values():
        for _, n in m.from_imports:
            imported.setdefault(n, m.name)
        for n in m.imports:
            imported.setdefault(n.split(".")[0], m.name)
    for name in sorted(modules):
        m = modules[name]
        for n in sorted(m.defines):
            if n in owner:
                raise ProbeBuildError(
                    f"{m.path}: {n!r} is also defined in {owner[n]}.py; top-level names are "
                    "unique across the probe's modules (they share one namespace when shipped)"
                )
            if n in imported:
                raise ProbeBuildError(
                    f"{m.path}: {n!r} shadows a name {imported[n]}.py imports from the standard "
                    "library"
                )
            owner[n] = name
    for m in modules.values():
        for sib, n in sorted(m.siblings):
            if n not in modules[sib].defines:
                raise ProbeBuildError(
                    f"{m.path}: `from .{sib} import {n}`: {sib}.py defines no {n!r}"
                )


def _imports_block(modules: list[_Module]) -> str:
    plain = sorted({n for m in modules for n in m.imports})
    grouped: dict[str, set[str]] = {}
    for m in modules:
        for module, n in m.from_imports:
            grouped.setdefault(module, set()).add(n)
    out = [f"import {n}" for n in plain]
    for module in sorted(grouped):
        out.append(f"from {module} import {', '.join(sorted(grouped[module]))}")
    return "\n".join(out)


def build(package_dir: Path = PACKAGE_DIR) -> bytes:
    """The shipped probe, built from the modules in ``package_dir``."""
    files = sorted(
        p for p in package_dir.glob("*.py") if p.name not in CONTROLLER_ONLY
    )
    shipped = frozenset(p.stem for p in files)
    modules = {p.stem: _parse_module(p, shipped) for p in files}
    _check_names(modules)
    order = [modules[n] for n in _order(modules)]
    init = package_dir / "__init__.py"
    header = ast.get_docstring(ast.parse(init.read_text("utf-8"))) if init.is_file() else ""
    note = (
        "Built by inspectorctl.probe.bundle from the modules of inspectorctl/probe/ ("
        + ", ".join(f"{m.name}.py" for m in order)
        + "): do not edit this file; edit the modules and rebuild (scripts/build-probe)."
    )
    parts = [SHEBANG, '"""' + (header or "inspectorctl probe").rstrip() + "\n\n" + note + '\n"""']
    parts.append(_imports_block(order))
    for m in order:
        summary = m.docstring.strip().splitlines()[0] if m.docstring.strip() else ""
        banner = f"# {'=' * 20} {m.name}.py: {summary}".rstrip()
        parts.append(banner + "\n\n" + m.body)
    text = "\n\n\n".join(parts) + "\n"
    if '"""' in (header or "") or '"""' in note:
        raise ProbeBuildError(f"{init}: the package docstring may not contain triple quotes")
    if text.count(ANSIBLE_ARGS_MARKER) != 1:
        raise ProbeBuildError(
            f"Ansible's JSON-args marker appears {text.count(ANSIBLE_ARGS_MARKER)} times in the "
            "probe; it must appear exactly once (in __main__.py), since Ansible replaces each one"
        )
    try:
        ast.parse(text, feature_version=(3, 6))
    except SyntaxError as e:  # each module was checked already: a bug of this builder
        raise ProbeBuildError(
            f"the built probe is not Python 3.6 syntax: line {e.lineno}: {e.msg}"
        ) from e
    return text.encode("utf-8")


@functools.cache
def shipped_probe() -> ShippedProbe:
    """The probe the transports ship: the wheel's prebuilt file, else (in a checkout) a fresh
    build of the modules. Built once per process."""
    source = PREBUILT.read_bytes() if PREBUILT.is_file() else build()
    return ShippedProbe(source=source, sha256=hashlib.sha256(source).hexdigest())


def main(argv: list[str] | None = None) -> int:
    """``python -m inspectorctl.probe.bundle [OUTPUT]``: build the probe (to OUTPUT, else to
    stdout) and report its digest and sizes on stderr."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0].startswith("-")):
        sys.stderr.write("usage: python -m inspectorctl.probe.bundle [OUTPUT]\n")
        return 2
    try:
        data = build()
    except ProbeBuildError as e:
        sys.stderr.write(f"build-probe: {e}\n")
        return 1
    if args:
        Path(args[0]).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
    sys.stderr.write(
        f"sha256 {hashlib.sha256(data).hexdigest()}  {len(data)} bytes, "
        f"{encoded_size(data)} gzip+base64 (budget with the largest request: {SIZE_BUDGET})\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
