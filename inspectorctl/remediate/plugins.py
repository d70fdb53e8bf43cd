"""Which Ansible modules, filters and tests a playbook uses, and whether this installation has
them, found before anything runs.

Ansible resolves a module when it parses a task and a filter only when it templates one, so a
playbook that needs a collection the installation lacks fails half-way through a run with
errors such as ``can only concatenate list (not "CapturedExceptionMarker") to list``. Here the
names are read from the playbook's YAML (its directory and the roles it uses) and resolved the
way Ansible would: ansible-core's own plugins, ansible-core's routing table (bare ``sysctl``
is ``ansible.posix.sysctl``), and the collections on Ansible's collection paths (with their
``meta/runtime.yml`` redirects). Nothing is imported from a collection and nothing is executed.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from inspectorctl.models.common import Frozen
from inspectorctl.yamlfile import safe_load


class PluginKind(StrEnum):
    module = "module"
    filter = "filter"
    test = "test"


class PluginRef(Frozen):
    kind: PluginKind
    name: str
    #: the file that uses it, relative to the playbooks root
    file: str


_TASK_LISTS = ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_FQCN = rf"{_NAME}\.{_NAME}\.{_NAME}"
#: ``| name`` (a filter) and ``is name`` (a test) in a Jinja expression
_PIPE = re.compile(rf"\|\s*({_FQCN}|{_NAME})\b(?!\s*\.)")
_IS = re.compile(rf"\bis\s+(?:not\s+)?({_FQCN}|{_NAME})\b(?!\s*\.)")
#: the filter of ``map('name', ...)``; the test of ``select('name')``/``selectattr('a', 'name')``
_MAP = re.compile(rf"\bmap\(\s*['\"]({_FQCN}|{_NAME})['\"]")
_SELECT = re.compile(rf"\b(?:select|reject)\(\s*['\"]({_FQCN}|{_NAME})['\"]")
_SELECTATTR = re.compile(
    rf"\b(?:selectattr|rejectattr)\(\s*['\"][^'\"]*['\"]\s*,\s*['\"]({_FQCN}|{_NAME})['\"]")
_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
#: keys of a task that are not its action
_LOOP_PREFIX = "with_"


@functools.cache
def _task_keywords() -> frozenset[str]:
    import ansible

    desc = Path(ansible.__file__).parent / "keyword_desc.yml"
    data = safe_load(desc.read_text(encoding="utf-8"))
    return frozenset(data) | {"local_action", "action", "block", "rescue", "always", "args"}


def _is_task_list(key: str) -> bool:
    return key in _TASK_LISTS


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for k, v in data.items():
            if isinstance(k, str):
                yield k
            yield from _strings(v)
    elif isinstance(data, list):
        for x in data:
            yield from _strings(x)


def _actions(data: Any, in_tasks: bool = False) -> Iterator[str]:
    """Module names of the tasks in a YAML document (plays, task files, handlers, blocks)."""
    if isinstance(data, list):
        for x in data:
            yield from _actions(x, in_tasks)
        return
    if not isinstance(data, dict):
        return
    if in_tasks:
        words = _task_keywords()
        for key, value in data.items():
            if not isinstance(key, str):
                continue
            if key in ("action", "local_action"):
                if isinstance(value, str) and value.split():
                    yield value.split()[0]
                elif isinstance(value, dict) and isinstance(value.get("module"), str):
                    yield value["module"]
            elif key not in words and not key.startswith(_LOOP_PREFIX):
                yield key
    for key, value in data.items():
        if isinstance(key, str) and _is_task_list(key):
            yield from _actions(value, True)


def _templated(text: str) -> Iterator[tuple[PluginKind, str]]:
    for expr in _JINJA.findall(text):
        # '|' and 'is' inside string literals (regular expressions, messages) are not Jinja
        bare = _LITERAL.sub("''", expr)
        for m in _PIPE.finditer(bare):
            yield PluginKind.filter, m.group(1)
        for m in _MAP.finditer(expr):
            yield PluginKind.filter, m.group(1)
        for m in _IS.finditer(bare):
            yield PluginKind.test, m.group(1)
        for m in _SELECT.finditer(expr):
            yield PluginKind.test, m.group(1)
        for m in _SELECTATTR.finditer(expr):
            yield PluginKind.test, m.group(1)


def _bare_conditionals(data: Any) -> Iterator[str]:
    """``when``/``that``/``changed_when``/``failed_when``/``until``: Jinja without braces."""
    if isinstance(data, dict):
        for k, v in data.items():
            if k in ("when", "that", "changed_when", "failed_when", "until"):
                for s in _strings(v):
                    yield "{{ " + s + " }}"
            else:
                yield from _bare_conditionals(v)
    elif isinstance(data, list):
        for x in data:
            yield from _bare_conditionals(x)


def references(files: list[tuple[str, Path]]) -> list[PluginRef]:
    """Modules, filters and tests the YAML files use (``(relative name, path)`` pairs)."""
    out: dict[tuple[PluginKind, str], PluginRef] = {}
    for rel, path in files:
        if path.suffix not in (".yml", ".yaml"):
            continue
        try:
            data = safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # the catalogue's digest and ansible's own parse report it
        # a role's tasks/handlers file is a task list itself
        parts = Path(rel).parts
        top_is_tasks = "tasks" in parts or "handlers" in parts or path.name == "playbook.yml"
        is_play_list = path.name == "playbook.yml"
        found: list[tuple[PluginKind, str]] = [
            (PluginKind.module, a) for a in _actions(data, top_is_tasks and not is_play_list)]
        for text in list(_strings(data)) + list(_bare_conditionals(data)):
            found.extend(_templated(text))
        for kind, name in found:
            out.setdefault((kind, name), PluginRef(kind=kind, name=name, file=rel))
    return sorted(out.values(), key=lambda r: (r.kind.value, r.name))


# ---------------------------------------------------------------------------------------------
# Resolution
# ---------------------------------------------------------------------------------------------

_CORE_NS = ("ansible.builtin", "ansible.legacy")
_DIRS = {PluginKind.module: ("modules", "action"), PluginKind.filter: ("filter",),
         PluginKind.test: ("test",)}
_ROUTING_KEY = {PluginKind.module: "modules", PluginKind.filter: "filter",
                PluginKind.test: "test"}


@functools.cache
def _core_root() -> Path:
    import ansible

    return Path(ansible.__file__).parent


@functools.cache
def _core_jinja_names(kind: PluginKind) -> frozenset[str]:
    """Filters or tests ansible-core and Jinja provide under a bare name."""
    from jinja2.filters import FILTERS
    from jinja2.tests import TESTS

    names: set[str] = set(FILTERS if kind is PluginKind.filter else TESTS)
    d = _core_root() / "plugins" / kind.value
    names.update(p.stem for p in d.glob("*.yml"))
    if kind is PluginKind.filter:
        from ansible.plugins.filter import core, mathstuff

        names.update(core.FilterModule().filters())
        names.update(mathstuff.FilterModule().filters())
    else:
        from ansible.plugins.test import core as tcore
        from ansible.plugins.test import files
        from ansible.plugins.test import mathstuff as tmath

        names.update(tcore.TestModule().tests())
        names.update(files.TestModule().tests())
        names.update(tmath.TestModule().tests())
    return frozenset(names)


def _routing(path: Path) -> dict[str, Any]:
    try:
        data = safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    routing = data.get("plugin_routing") if isinstance(data, dict) else None
    return routing if isinstance(routing, dict) else {}


@functools.cache
def _core_routing() -> dict[str, Any]:
    return _routing(_core_root() / "config" / "ansible_builtin_runtime.yml")


def collection_paths() -> list[Path]:
    """Where Ansible looks for collections, as its configuration says (environment, the
    defaults, and Python's path unless ``ANSIBLE_COLLECTIONS_SCAN_SYS_PATH`` is false)."""
    env = os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.environ.get(
        "ANSIBLE_COLLECTIONS_PATHS")
    raw = env.split(os.pathsep) if env else [
        "~/.ansible/collections", "/usr/share/ansible/collections"]
    paths = [Path(os.path.expanduser(p)) for p in raw if p]
    scan = os.environ.get("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "true").lower()
    if scan not in ("0", "false", "no", "off", "n", "f"):
        paths.extend(Path(p) for p in sys.path if p)
    return paths


def _collection_dir(ns: str, coll: str) -> Path | None:
    for base in collection_paths():
        for root in (base / "ansible_collections", base):
            d = root / ns / coll
            if (d / "plugins").is_dir() or (d / "meta" / "runtime.yml").is_file():
                return d
    return None


def _redirect(routing: dict[str, Any], kind: PluginKind, short: str) -> str | None:
    entry = (routing.get(_ROUTING_KEY[kind]) or {}).get(short)
    if isinstance(entry, dict) and isinstance(entry.get("redirect"), str):
        return str(entry["redirect"])
    return None


def resolves(kind: PluginKind, name: str, _depth: int = 0) -> bool:
    """Whether this installation has the module, filter or test ``name``."""
    if _depth > 5:
        return False
    parts = name.split(".")
    if len(parts) == 1:
        ns_coll, short = "ansible.builtin", name
    elif len(parts) == 3:
        ns_coll, short = ".".join(parts[:2]), parts[2]
    else:
        return False
    if ns_coll in _CORE_NS:
        if kind is PluginKind.module:
            if any((_core_root() / sub / f"{short}.py").is_file()
                   for sub in ("modules", "plugins/action")):
                return True
        elif short in _core_jinja_names(kind):
            return True
        target = _redirect(_core_routing(), kind, short)
        return target is not None and resolves(kind, target, _depth + 1)
    ns, coll = parts[0], parts[1]
    d = _collection_dir(ns, coll)
    if d is None:
        return False
    if any((d / "plugins" / sub / f"{short}.py").is_file() for sub in _DIRS[kind]):
        return True
    if kind is not PluginKind.module and (d / "plugins" / kind.value / f"{short}.yml").is_file():
        return True
    target = _redirect(_routing(d / "meta" / "runtime.yml"), kind, short)
    return target is not None and resolves(kind, target, _depth + 1)


def missing(refs: list[PluginRef]) -> list[PluginRef]:
    """The references this installation cannot resolve."""
    return [r for r in refs if not resolves(r.kind, r.name)]
