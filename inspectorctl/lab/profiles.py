"""Lab profiles: YAML data files with a typed schema, applied inside a host as root at first boot.

A profile names what it does as a list of typed steps (write a file, edit a line, set
permissions, set a runtime ``net.*`` sysctl in the host's own namespace, add an account, record
a package as installed, start a listener that stands for an unwanted service, run a command).
``expected`` records, for review, which checks the profile is meant to make pass or fail, under
descriptive names that the rule packs are aligned with.

Profiles compose: ``--profile weak --profile ./extra.yml`` applies ``weak`` then ``extra.yml``.
A profile is the name of a shipped one (``inspectorctl/lab/profiles/NAME.yml``) or a path to a
user's file. Loading fails with one message naming the file, the line and the field.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from inspectorctl.errors import InputError
from inspectorctl.lab.errors import ProfileError
from inspectorctl.models.common import Frozen, Status
from inspectorctl.yamlfile import MAX_BYTES, check_yaml, read_text_limited

SHIPPED_DIR = Path(__file__).resolve().parent / "profiles"

PROFILE_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,30}$"
_MODE = r"^0?[0-7]{3,4}$"
_ACCOUNT = r"^[a-z_][a-z0-9_-]{0,31}$"
_PACKAGE = r"^[a-z0-9][a-z0-9+.-]+$"
_SERVICE = r"^[a-z0-9][a-z0-9_-]{0,40}$"


def _abs_path(value: str) -> str:
    if not value.startswith("/") or "\0" in value or "/../" in value + "/":
        raise ValueError(f"must be an absolute path without '..' (got {value!r})")
    return value


class _Step(Frozen):
    #: why the step is there; shown when a step fails
    note: str | None = None

    @field_validator("mode", mode="before", check_fields=False)
    @classmethod
    def _mode_is_text(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError('write modes as quoted octal strings, e.g. "0644"')
        return value


class FileStep(_Step):
    """Write a whole file (parents are created 0755 root:root when missing)."""

    kind: Literal["file"]
    path: str
    content: str
    mode: str = Field("0644", pattern=_MODE)
    owner: str = "root"
    group: str = "root"

    _path = field_validator("path")(_abs_path)


class Unmatched(enum.StrEnum):
    """What a ``line`` step does when no line matches."""

    APPEND = "append"
    SKIP = "skip"
    ERROR = "error"


class LineStep(_Step):
    """Make ``line`` present: replace the lines matching ``match`` (a regex; without one, an
    identical line), else do what ``unmatched`` says (append it by default)."""

    kind: Literal["line"]
    path: str
    line: str
    match: str | None = None
    unmatched: Unmatched = Unmatched.APPEND
    create: bool = True
    mode: str | None = Field(None, pattern=_MODE)

    _path = field_validator("path")(_abs_path)

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class MissingPolicy(enum.StrEnum):
    ERROR = "error"
    SKIP = "skip"


class PermsStep(_Step):
    """Set mode and/or ownership of paths (glob patterns allowed)."""

    kind: Literal["perms"]
    paths: tuple[str, ...] = Field(min_length=1)
    mode: str | None = Field(None, pattern=_MODE)
    owner: str | None = None
    group: str | None = None
    #: what to do when a path (or a pattern) matches nothing
    missing: MissingPolicy = MissingPolicy.ERROR

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_abs_path(p) for p in value)

    @model_validator(mode="after")
    def _something(self) -> PermsStep:
        if self.mode is None and self.owner is None and self.group is None:
            raise ValueError("perms needs at least one of mode, owner, group")
        return self


class RemoveStep(_Step):
    """Remove files or empty-able folders (glob patterns allowed; absent paths are fine)."""

    kind: Literal["remove"]
    paths: tuple[str, ...] = Field(min_length=1)

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for p in value:
            _abs_path(p)
            if p.rstrip("/") in ("", "/etc", "/usr", "/bin", "/sbin", "/lib", "/var", "/root"):
                raise ValueError(f"refusing to remove {p}")
        return value


class MkdirStep(_Step):
    kind: Literal["mkdir"]
    path: str
    mode: str = Field("0755", pattern=_MODE)
    owner: str = "root"
    group: str = "root"

    _path = field_validator("path")(_abs_path)


class SysctlStep(_Step):
    """Set a kernel parameter at runtime (``net.*`` only: the rest is the machine's kernel),
    and/or persist it as ``key = value`` in ``file`` (e.g. ``/etc/sysctl.d/60-x.conf``)."""

    kind: Literal["sysctl"]
    key: str = Field(pattern=r"^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$")
    value: str
    runtime: bool = True
    file: str | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _value_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("file")
    @classmethod
    def _file(cls, value: str | None) -> str | None:
        return None if value is None else _abs_path(value)

    @model_validator(mode="after")
    def _runtime_net_only(self) -> SysctlStep:
        if self.runtime and not self.key.startswith("net."):
            raise ValueError(
                f"{self.key}: only net.* can be set at runtime in a lab host (it shares the "
                "machine's kernel); set runtime: false and give a file"
            )
        if not self.runtime and self.file is None:
            raise ValueError("a sysctl step needs runtime: true or a file (or both)")
        return self


class PasswordState(enum.StrEnum):
    #: empty password field in /etc/shadow: logs in without a password where PAM allows it
    EMPTY = "empty"
    #: ``!`` locked
    LOCKED = "locked"


class AccountStep(_Step):
    """Add (or change) a local account with the host's own ``useradd``/``usermod``."""

    kind: Literal["account"]
    name: str = Field(pattern=_ACCOUNT)
    uid: int = Field(ge=0, lt=2**31)
    #: primary group id; default: a new group of the account's name (or gid 0 for uid 0)
    gid: int | None = Field(None, ge=0, lt=2**31)
    home: str | None = None
    create_home: bool = False
    shell: str = "/bin/bash"
    password: PasswordState = PasswordState.LOCKED
    comment: str = ""


class PackageStep(_Step):
    """Record a package as installed in dpkg's status file without installing anything."""

    kind: Literal["package"]
    name: str = Field(pattern=_PACKAGE)
    version: str = Field(pattern=r"^[A-Za-z0-9.+~:-]+$")
    #: ``native`` = the machine's dpkg architecture
    architecture: str = "native"
    source: str | None = None
    section: str = "misc"
    description: str = "recorded as installed by an inspectorctl lab profile (no files)"


class Protocol(enum.StrEnum):
    TCP = "tcp"
    UDP = "udp"


class ListenStep(_Step):
    """A listener that stands for a service: started at every boot of the host
    (``/etc/inspectorctl-lab/boot.d/60-listen-NAME``), pid in ``/run/inspectorctl-lab/NAME.pid``.
    """

    kind: Literal["listen"]
    name: str = Field(pattern=_SERVICE)
    port: int = Field(ge=1, le=65535)
    protocol: Protocol = Protocol.TCP
    address: str = "0.0.0.0"

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if value not in ("0.0.0.0", "127.0.0.1", "::", "::1"):
            raise ValueError("address must be 0.0.0.0, 127.0.0.1, :: or ::1")
        return value


class CommandStep(_Step):
    """Run a command inside the host: ``argv`` (no shell) or ``shell`` (``/bin/sh -c``)."""

    kind: Literal["command"]
    argv: tuple[str, ...] | None = Field(None, min_length=1)
    shell: str | None = None
    ok_codes: tuple[int, ...] = (0,)
    timeout: float = Field(120.0, gt=0, le=1800)

    @model_validator(mode="after")
    def _one(self) -> CommandStep:
        if (self.argv is None) == (self.shell is None):
            raise ValueError("a command step needs exactly one of argv, shell")
        return self


Step = Annotated[
    FileStep
    | LineStep
    | PermsStep
    | RemoveStep
    | MkdirStep
    | SysctlStep
    | AccountStep
    | PackageStep
    | ListenStep
    | CommandStep,
    Field(discriminator="kind"),
]


class Expectation(Frozen):
    status: Literal[Status.PASS, Status.FAIL, Status.NOT_APPLICABLE]
    reason: str | None = None

    @model_validator(mode="after")
    def _na_has_reason(self) -> Expectation:
        if self.status is Status.NOT_APPLICABLE and not self.reason:
            raise ValueError("NOT_APPLICABLE needs a reason")
        return self


class Profile(Frozen):
    name: str = Field(pattern=PROFILE_NAME_PATTERN)
    description: str
    #: descriptive check name -> what this profile is meant to make it (for review and tests)
    expected: dict[str, Expectation] = Field(default_factory=dict)
    steps: tuple[Step, ...] = ()


class LoadedProfile(Frozen):
    profile: Profile
    #: the file it came from
    source: Path
    shipped: bool


# ---------------------------------------------------------------------------------------------
# Loading with line numbers
# ---------------------------------------------------------------------------------------------

_Loc = tuple[str | int, ...]


def _construct(node: yaml.Node, loc: _Loc, lines: dict[_Loc, int], loader: Any) -> Any:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                raise ProfileError(f"line {key_node.start_mark.line + 1}: keys must be text")
            lines[(*loc, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*loc, key), lines, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*loc, i), lines, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _load_yaml(text: str, source: Path) -> tuple[Any, dict[_Loc, int]]:
    try:
        check_yaml(text, source)
    except InputError as exc:
        cause = exc.__cause__
        if isinstance(cause, yaml.MarkedYAMLError):  # said as for the other profile errors
            mark = cause.problem_mark
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ProfileError(f"profile {source}{where}: invalid YAML: {cause.problem}"
                               ) from cause
        raise ProfileError(f"profile {exc}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            raise ProfileError(f"profile {source}: the file is empty")
        lines: dict[_Loc, int] = {}
        return _construct(node, (), lines, yaml.SafeLoader("")), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ProfileError(f"profile {source}{where}: invalid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ProfileError(f"profile {source}: invalid YAML: {exc}") from exc
    except ProfileError as exc:
        if str(exc).startswith("line "):
            raise ProfileError(f"profile {source} {exc}") from exc
        raise


def _locate(loc: _Loc, lines: dict[_Loc, int]) -> tuple[int | None, str]:
    """Line and dotted field name of a pydantic error location.

    pydantic puts the union's tag into the location (``steps.2.file.mode``); parts that are
    not in the data are such tags and are left out.
    """
    kept: list[str | int] = []
    for part in loc:
        if (*kept, part) in lines:
            kept.append(part)
    name = ""
    for part in kept:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return lines.get(tuple(kept)), name or "(top level)"


def parse_profile(text: str, source: Path, *, shipped: bool = False) -> LoadedProfile:
    data, lines = _load_yaml(text, source)
    if not isinstance(data, dict):
        raise ProfileError(f"profile {source} line 1: a profile is a mapping (name, steps, ...)")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        line, field = _locate(tuple(first["loc"]), lines)
        where = f" line {line}" if line is not None else ""
        more = len(exc.errors()) - 1
        tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        msg = first["msg"].removeprefix("Value error, ")
        raise ProfileError(f"profile {source}{where}: {field}: {msg}{tail}") from exc
    if shipped and profile.name != source.stem:
        raise ProfileError(f"profile {source}: name {profile.name!r} differs from the file name")
    return LoadedProfile(profile=profile, source=source, shipped=shipped)


def shipped_profiles() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.yml"))}


def _looks_like_path(ref: str) -> bool:
    return "/" in ref or ref.endswith((".yml", ".yaml"))


def load_profile(ref: str) -> LoadedProfile:
    """A shipped profile by name, or a user's profile by path."""
    if _looks_like_path(ref):
        path = Path(ref).expanduser()
        try:
            text = read_text_limited(path, MAX_BYTES, "profile")
        except InputError as exc:
            if isinstance(exc.__cause__, OSError):
                raise ProfileError(f"profile {path}: cannot read it: "
                                   f"{exc.__cause__.strerror}") from exc
            raise ProfileError(f"profile {exc}") from exc
        return parse_profile(text, path)
    shipped = shipped_profiles()
    if ref not in shipped:
        valid = ", ".join(shipped)
        raise ProfileError(
            f"unknown profile {ref!r}; valid profiles: {valid} (or a path to a .yml file)"
        )
    return parse_profile(shipped[ref].read_text(encoding="utf-8"), shipped[ref], shipped=True)


def load_profiles(refs: list[str] | tuple[str, ...]) -> list[LoadedProfile]:
    """Load profiles in the order they are applied; at least one is needed."""
    if not refs:
        raise ProfileError("no profile given")
    loaded = [load_profile(ref) for ref in refs]
    names = [lp.profile.name for lp in loaded]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ProfileError(f"profile {dupes[0]!r} given more than once")
    return loaded
