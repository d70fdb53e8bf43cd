"""The remediation catalogue: playbooks and SSM documents shipped with inspectorctl.

A playbook is a directory ``playbooks/<id>/`` with ``playbook.yml`` (targets ``hosts: all``,
takes the extra vars ``items`` and ``inspectorctl_run_id``), ``meta.yml`` (a ``PlaybookMeta``)
and ``molecule/`` scenarios. Shared roles live in ``playbooks/roles/``. Ids starting with ``_``
(``_rollback``) are internal: in the catalogue, but never a rule's remediation.

``playbook_digest(id)`` is what approvals are bound to: a sha256 over every file of the
playbook's directory (except ``molecule/``) and of every role it uses, transitively.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator

from inspectorctl.errors import InputError
from inspectorctl.models.common import Frozen
from inspectorctl.models.plan import Disruption, Privilege
from inspectorctl.models.rule import RULE_ID_RE, RemediationNames
from inspectorctl.paths import data_dir, playbook_ids, ssm_document_names
from inspectorctl.yamlfile import check_yaml, load_model, read_text_limited, safe_load

PLAYBOOK_ID_RE = re.compile(r"^_?[a-z][a-z0-9_]{1,63}$")
ROLE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
#: directories of a playbook that are not part of what runs (test scenarios)
_NOT_DIGESTED = frozenset({"molecule"})
_SKIPPED_NAMES = frozenset({"__pycache__", ".pytest_cache", ".ansible", ".cache"})


class CatalogError(InputError):
    """A playbook of the catalogue is missing, or its metadata or roles are invalid."""


ParamType = Literal["str", "int", "bool", "scalar", "list[str]"]


def _type_ok(kind: ParamType, value: Any) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "scalar":
        return isinstance(value, str | int | float | bool)
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


class ItemParam(Frozen):
    """One key of an item (a per-finding parameter dict the planner passes in ``items``).
    ``scalar`` is a string, number or boolean (an sshd or sysctl value)."""

    type: ParamType
    required: bool = True
    description: str = ""


class PlaybookMeta(Frozen):
    """``meta.yml``: what a remediation fixes, needs and disturbs."""

    id: str
    title: str
    description: str
    #: parameter name -> its type; the keys of every item of ``items``
    item_schema: dict[str, ItemParam] = Field(default_factory=dict)
    privilege: Privilege
    disruption: Disruption
    #: ``inspectorctl rollback`` restores every file the remediation changes
    reversible: bool
    #: the playbook runs in ``--check`` mode and reports what it would change
    check_mode: bool
    #: ids of the shipped rules whose remediation is this playbook
    rules: list[str] = Field(default_factory=list)
    #: paths (or a description of them) backed up before they change
    backs_up: list[str] = Field(default_factory=list)
    #: what a rollback does not undo (runtime state), shown with ``reversible``
    rollback_note: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not PLAYBOOK_ID_RE.match(v):
            raise ValueError(f"playbook id {v!r} must be 2-64 characters of a-z, 0-9, '_'")
        return v

    @field_validator("rules")
    @classmethod
    def _rules(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if not RULE_ID_RE.match(r)]
        if bad:
            raise ValueError(f"not rule ids: {', '.join(bad)}")
        dupes = sorted({r for r in v if v.count(r) > 1})
        if dupes:
            raise ValueError(f"listed more than once: {', '.join(dupes)}")
        return v

    def item_problems(self, item: Mapping[str, Any]) -> list[str]:
        """What is wrong with one item for this playbook (empty when it fits the schema)."""
        problems: list[str] = []
        for key, param in self.item_schema.items():
            if key not in item:
                if param.required:
                    problems.append(f"missing {key}")
            elif not _type_ok(param.type, item[key]):
                problems.append(
                    f"{key}: expected {param.type}, got {type(item[key]).__name__}")
        problems.extend(f"unknown key {k}" for k in sorted(set(item) - set(self.item_schema)))
        return problems

    @property
    def internal(self) -> bool:
        """Not a remediation (``_rollback``)."""
        return self.id.startswith("_")


def playbooks_root() -> Path:
    return data_dir("playbooks")


def roles_root() -> Path:
    return playbooks_root() / "roles"


def _playbook_dirs() -> Iterator[Path]:
    root = playbooks_root()
    if not root.is_dir():
        return
    for p in sorted(root.iterdir()):
        if p.is_dir() and (p / "playbook.yml").is_file():
            yield p


def available_playbooks() -> set[str]:
    """Remediation ids: directories of ``playbooks/`` holding a ``playbook.yml``, except the
    internal ones (``_rollback``), which no rule may name."""
    return playbook_ids(playbooks_root())


def available_ssm_documents() -> set[str]:
    """SSM document names: files of ``ssm_documents/`` (``NAME.json`` or ``NAME.yml``)."""
    return ssm_document_names(data_dir("ssm_documents"))


def remediation_names() -> RemediationNames:
    """What a rule may name as its remediation, for the rulepack loader."""
    return RemediationNames(
        playbooks=frozenset(available_playbooks()),
        ssm_documents=frozenset(available_ssm_documents()),
    )


def load_meta(playbook_id: str) -> PlaybookMeta:
    """``meta.yml`` of one playbook, validated; the id must be the directory's name."""
    d = playbooks_root() / playbook_id
    if not (d / "playbook.yml").is_file():
        raise CatalogError(
            f"unknown playbook {playbook_id!r}; valid: {', '.join(sorted(_all_ids()))}"
        )
    meta_path = d / "meta.yml"
    if not meta_path.is_file():
        raise CatalogError(f"{meta_path}: missing (every playbook needs its metadata)")
    meta = load_model(meta_path, PlaybookMeta, f"playbook {playbook_id}")
    if meta.id != playbook_id:
        raise CatalogError(f"{meta_path}:1: id {meta.id!r} differs from the directory name "
                           f"{playbook_id!r}")
    return meta


def _all_ids() -> list[str]:
    return [p.name for p in _playbook_dirs()]


def load_catalog() -> dict[str, PlaybookMeta]:
    """Every playbook's metadata by id, internal ones (``_rollback``) included."""
    return {pid: load_meta(pid) for pid in _all_ids()}


# ---------------------------------------------------------------------------------------------
# Roles and digests
# ---------------------------------------------------------------------------------------------

_ROLE_KEYS = ("include_role", "import_role", "ansible.builtin.include_role",
              "ansible.builtin.import_role", "ansible.legacy.include_role",
              "ansible.legacy.import_role")


def _role_refs(data: Any) -> Iterator[str]:
    """Role names a YAML document uses: ``roles:`` of plays, ``include_role``/``import_role``
    of tasks, handlers and blocks, and ``dependencies`` of a role's meta."""
    if isinstance(data, list):
        for x in data:
            yield from _role_refs(x)
        return
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if key in _ROLE_KEYS and isinstance(value, dict):
            name = value.get("name")
            if not isinstance(name, str):
                raise CatalogError(f"{key} without a role name")
            yield name
        elif key in ("roles", "dependencies") and isinstance(value, list):
            for r in value:
                if isinstance(r, str):
                    yield r
                elif isinstance(r, dict):
                    name = r.get("role") or r.get("name")
                    if not isinstance(name, str):
                        raise CatalogError(f"{key} entry without a role name: {r!r}")
                    yield name
        else:
            yield from _role_refs(value)


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def _walk(root: Path, d: Path, allowed: Sequence[Path]) -> Iterator[tuple[str, Path]]:
    """(path relative to ``root`` as Ansible sees it, the real file) of every file under ``d``
    that Ansible may load, sorted; ``molecule/`` and caches are left out. A symlink is followed
    when its target stays inside one of ``allowed`` (resolved) and refused otherwise, so the
    digest covers the content Ansible reads through it; anything but files, directories and
    such symlinks (a FIFO, a device, a dangling link) is refused."""
    real_d = d.resolve()
    if not _inside(real_d, allowed):
        raise CatalogError(f"{d} is a symlink to {real_d}, outside {allowed[0]}: refused (a "
                           "playbook may only load files of its own directory and the shared "
                           "roles)")
    seen_dirs: set[Path] = set()

    def walk(cur: Path, real: Path) -> Iterator[tuple[str, Path]]:
        if real in seen_dirs:
            raise CatalogError(f"{cur}: a symlink loop")
        seen_dirs.add(real)
        try:
            names = sorted(os.listdir(real))
        except OSError as e:
            raise CatalogError(f"{cur}: cannot list it: {e}") from e
        for name in names:
            if name in _NOT_DIGESTED or name in _SKIPPED_NAMES or name.endswith(".pyc"):
                continue
            seen = cur / name
            path = real / name
            target = path
            if path.is_symlink():
                target = path.resolve()
                if not target.exists():
                    raise CatalogError(f"{seen}: a dangling symlink (to {target})")
                if not _inside(target, allowed):
                    raise CatalogError(
                        f"{seen} is a symlink to {target}, outside {allowed[0]}: refused (a "
                        "playbook may only load files of its own directory and the shared "
                        "roles); replace the link by the files themselves")
            st = target.stat()
            if stat.S_ISDIR(st.st_mode):
                yield from walk(seen, target)
                seen_dirs.discard(target)
            elif stat.S_ISREG(st.st_mode):
                yield seen.relative_to(root).as_posix(), target
            else:
                raise CatalogError(f"{seen}: not a regular file or directory (refused)")

    yield from walk(d, real_d)


def _allowed(root: Path, d: Path) -> list[Path]:
    return [d.resolve(), (root / "roles").resolve()]


#: the role names a YAML text refers to, by the sha256 of the text: a gate check digests the
#: same playbooks several times (plugins, digests, the private copy), and a text is parsed once
#: per process whatever its path (keyed by content, so an edited file is parsed again)
_ROLE_REFS: dict[bytes, frozenset[str]] = {}


def _roles_in(root: Path, d: Path) -> set[str]:
    names: set[str] = set()
    for _, f in _walk(root, d, _allowed(root, d)):
        if f.suffix not in (".yml", ".yaml"):
            continue
        try:
            text = read_text_limited(f)
        except InputError as e:
            raise CatalogError(str(e)) from e
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        refs = _ROLE_REFS.get(key)
        if refs is None:
            refs = frozenset(_role_refs_of(text, f))
            _ROLE_REFS[key] = refs
        names.update(refs)
    return names


def _role_refs_of(text: str, f: Path) -> set[str]:
    try:
        check_yaml(text, f)
        data = safe_load(text)
    except InputError as e:
        raise CatalogError(str(e)) from e
    except yaml.YAMLError as e:
        raise CatalogError(f"{f}: cannot read it: {e}") from e
    try:
        return set(_role_refs(data))
    except CatalogError as e:
        raise CatalogError(f"{f}: {e}") from e


def roles_used(playbook_id: str, root: Path | None = None) -> list[str]:
    """Names of the shared roles a playbook uses, directly or through other roles, sorted."""
    root = root or playbooks_root()
    d = root / playbook_id
    if not PLAYBOOK_ID_RE.match(playbook_id) or not (d / "playbook.yml").is_file():
        raise CatalogError(
            f"unknown playbook {playbook_id!r}; valid: {', '.join(sorted(_all_ids()))}"
        )
    seen: set[str] = set()
    todo = sorted(_roles_in(root, d))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if "{{" in name or not ROLE_NAME_RE.match(name):
            raise CatalogError(
                f"playbook {playbook_id}: role {name!r} is not a role of playbooks/roles "
                "(templated names and collection roles cannot be digested)"
            )
        role_dir = root / "roles" / name
        if not role_dir.is_dir():
            raise CatalogError(f"playbook {playbook_id}: role {name!r} not found in "
                               f"{root / 'roles'}")
        seen.add(name)
        todo.extend(sorted(_roles_in(root, role_dir) - seen))
    return sorted(seen)


def playbook_files(playbook_id: str, root: Path | None = None) -> list[tuple[str, Path]]:
    """(path relative to ``playbooks/``, the real file) of every digested file, sorted: what
    Ansible loads for this playbook (its directory but ``molecule/``, the roles it uses)."""
    root = root or playbooks_root()
    d = root / playbook_id
    roles = roles_used(playbook_id, root)  # first: an unknown id is told as such
    files = list(_walk(root, d, _allowed(root, d)))
    for role in roles:
        rd = root / "roles" / role
        files.extend(_walk(root, rd, _allowed(root, rd)))
    return sorted(files)


def _digest(files: Iterable[tuple[str, Path]]) -> str:
    h = hashlib.sha256()
    for rel, path in files:
        h.update(rel.encode("utf-8") + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).hexdigest().encode("ascii") + b"\n")
    return h.hexdigest()


def playbook_digest(playbook_id: str, root: Path | None = None) -> str:
    """sha256 (hex) over every file of the playbook's directory except ``molecule/`` and of the
    roles it uses, in order of their path relative to ``playbooks/``: for each file its path, a
    NUL, the sha256 of its content, a newline. A symlink inside counts as the file it points
    to (under the link's path); one leaving the playbook's directory is refused."""
    return _digest(playbook_files(playbook_id, root))


def stage_playbooks(digests: Mapping[str, str], dest: Path) -> Path:
    """Copy each playbook (id -> the digest it was approved with) and the roles it uses into
    ``dest/playbooks`` once, as regular files (symlinks resolved), and check the copy's digest:
    the rollout runs only that private copy, so a playbook edited during the rollout cannot run.
    Raises ``PlaybookChanged`` when a copy is not what was approved."""
    root = playbooks_root()
    out = dest / "playbooks"
    for pid in sorted(digests):
        for rel, src in playbook_files(pid, root):
            target = out / rel
            if target.exists():
                continue  # a shared role copied for an earlier playbook
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copyfile(src, target)
            target.chmod(stat.S_IMODE(src.stat().st_mode) & 0o755)
    for pid, want in sorted(digests.items()):
        got = playbook_digest(pid, out)
        if got != want:
            raise PlaybookChanged(pid, want, got)
    return out


class PlaybookChanged(CatalogError):
    """The copy of a playbook is not the approved one (it changed since the plan was made)."""

    def __init__(self, playbook: str, want: str, got: str) -> None:
        super().__init__(f"playbook {playbook} changed (digest {want[:12]} in the plan, now "
                         f"{got[:12]}) since the plan was made; make a new plan and have it "
                         "approved again")
        self.playbook = playbook


# ---------------------------------------------------------------------------------------------
# Modules, filters and tests the playbooks need
# ---------------------------------------------------------------------------------------------


class MissingPluginError(CatalogError):
    """A playbook uses an Ansible module, filter or test this installation does not have."""


def missing_plugins(playbook_id: str) -> list[str]:
    """``KIND NAME (FILE)`` for each module, filter or test the playbook (and its roles) uses
    that this installation of Ansible cannot resolve; empty when everything resolves."""
    from inspectorctl.remediate import plugins

    files = playbook_files(playbook_id)
    own = local_modules(files)
    refs = plugins.references(files)
    return [f"{r.kind.value} {r.name} ({r.file})" for r in plugins.missing(refs)
            if not (r.kind is plugins.PluginKind.module and r.name in own)]


def local_modules(files: Iterable[tuple[str, Path]]) -> set[str]:
    """Names of the modules a playbook ships itself: ``library/NAME.py`` of its directory or
    of a role it uses (Ansible finds them there; they travel and are digested with it)."""
    out = set()
    for rel, _path in files:
        parts = Path(rel).parts
        if len(parts) >= 2 and parts[-2] == "library" and parts[-1].endswith(".py"):
            out.add(parts[-1][:-3])
    return out


def require_plugins(playbook_ids: Iterable[str]) -> None:
    """Raise MissingPluginError naming every module, filter or test the playbooks need that
    this installation lacks: checked before anything runs, so that a run does not fail half-way
    through with Ansible's templating error."""
    known = set(_all_ids())  # an unknown id is the executor's to report
    problems = [f"playbook {pid}: {m}" for pid in sorted(set(playbook_ids) & known)
                for m in missing_plugins(pid)]
    if problems:
        raise MissingPluginError(
            "this installation of Ansible lacks what these playbooks use: "
            + "; ".join(problems)
            + " (install the collection that provides it into inspectorctl's environment, "
            "or use a playbook that needs only ansible.builtin)")
