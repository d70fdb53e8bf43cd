"""The configuration: ``inspectorctl.toml`` and ``INSPECTORCTL_*`` variables.

One file is read, the first of: ``--config FILE``, ``$INSPECTORCTL_CONFIG``, ``inspectorctl.toml``
in the working directory, ``$XDG_CONFIG_HOME/inspectorctl/config.toml`` (``~/.config`` when
``XDG_CONFIG_HOME`` is unset). Every key can also be set by an environment variable, which wins
over the file; a command-line option wins over both. The CLI turns the effective values into
its options' defaults; this module only reads and checks them (it never prints or exits).

A file is untrusted input: it is read with a size limit, parsed by ``tomllib`` (data, never
code), and an unknown key or a value of the wrong type is one :class:`InputError` naming the
file, the line of the key and the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue

from inspectorctl.errors import InputError
from inspectorctl.models.common import Severity

#: the largest configuration file read (a real one is a few hundred bytes)
MAX_BYTES = 64 * 1024
#: the most tailoring values, and the longest tailoring name and value
MAX_TAILORING = 500
MAX_TEXT = 4096

FILE_NAME = "inspectorctl.toml"
ENV_FILE = "INSPECTORCTL_CONFIG"
#: output formats a config file may name (each command uses it only where it writes it)
FORMATS = ("table", "json", "csv", "sarif", "junit", "ocsf", "asff", "html")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class Key:
    name: str
    kind: str  # path | packs | tailoring | format | severity | bool | forks
    help: str

    @property
    def env(self) -> str:
        return "INSPECTORCTL_" + self.name.upper()


#: every key, in the order ``config show`` prints them
KEYS: tuple[Key, ...] = (
    Key("inventory", "path", "Ansible inventory of assess, collect and remediate"),
    Key("db", "path", "the findings database of every command"),
    Key("packs", "packs", "rulepacks of assess, collect and remediate"),
    Key("tailoring", "tailoring", "tailoring values of assess (under --set)"),
    Key("format", "format", "--format of every command that writes it"),
    Key("fail_on", "severity", "assess --fail-on"),
    Key("become", "bool", "--become of assess, collect and remediate"),
    Key("forks", "forks", "--forks of assess and collect"),
    Key("ignore_file", "path", "--ignore-file of assess and findings ignore"),
)
BY_NAME = {k.name: k for k in KEYS}


@dataclass(frozen=True)
class Value:
    """One effective value and where it came from: ``env``, ``file:LINE`` or ``default``
    (the CLI adds ``flag``)."""

    value: Any
    source: str


@dataclass(frozen=True)
class Config:
    """The effective configuration: the file read (if any) and each key's value."""

    path: Path | None
    path_source: str  # flag, env, cwd, user, none
    values: dict[str, Value] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        v = self.values.get(name)
        return None if v is None else v.value


def _error(where: str, key: str, message: str) -> InputError:
    return InputError(f"{where}: {key}: {message}")


_SEGMENT = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*""")


def _key_parts(text: str) -> tuple[list[str], str] | None:
    """The dotted key at the start of ``text`` (quotes removed, escapes as written) and what
    follows it; None when ``text`` does not start with a key."""
    parts: list[str] = []
    pos = 0
    while True:
        m = _SEGMENT.match(text, pos)
        if not m:
            return None
        seg = m.group(1)
        parts.append(seg[1:-1] if seg[0] in "\"'" else seg)
        pos = m.end()
        if not text.startswith(".", pos):
            return parts, text[pos:]
        pos += 1


def key_line(text: str, key: str, table: str | None = None) -> int | None:
    """The line (1-based) where ``key`` is set: at the top level, or in ``[table]`` when given
    (``tomllib`` keeps no positions). Quoted and dotted keys are recognised."""
    current: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):  # a table, or an array of tables
            found = _key_parts(line[2:] if line.startswith("[[") else line[1:])
            current = found[0] if found and found[1].lstrip().startswith("]") else ["?"]
            if table is None and current[:1] == [key]:
                return n
            continue
        found = _key_parts(line)
        if found is None or not found[1].startswith("="):
            continue
        parts = [*current, *found[0]]
        if table is None and parts[:1] == [key]:
            return n
        if table is not None and parts == [table, key]:
            return n
    return None


def _where(path: Path, text: str, key: str, table: str | None = None) -> str:
    line = key_line(text, key, table)
    return f"{path}:{line}" if line is not None else str(path)


def _check(key: Key, value: Any, where: str, label: str) -> Any:
    """``value`` (from TOML or parsed from a variable) as the key's type, or InputError."""
    def bad(expected: str) -> InputError:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return _error(where, label, f"expected {expected}, got {shown}")

    if key.kind == "path":
        if not isinstance(value, str) or not value or len(value) > MAX_TEXT or "\0" in value:
            raise bad("a file path (a non-empty string)")
        return Path(os.path.expanduser(value))
    if key.kind == "packs":
        if (not isinstance(value, list) or not value
                or not all(isinstance(p, str) and p and len(p) <= MAX_TEXT and "\0" not in p
                           for p in value)):
            raise bad("a non-empty list of rulepack ids or files")
        return list(value)
    if key.kind == "tailoring":
        if not isinstance(value, dict) or len(value) > MAX_TAILORING:
            raise bad(f"a table of NAME = VALUE (at most {MAX_TAILORING})")
        out: dict[str, str] = {}
        for name, v in value.items():
            if not _NAME.fullmatch(name):
                raise _error(where, f"{label}.{name}", "not a tailoring name (letters, digits, "
                             "_ . -; PACK.NAME for one pack)")
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, int | float):
                v = str(v)
            if not isinstance(v, str) or len(v) > MAX_TEXT or "\0" in v:
                raise _error(where, f"{label}.{name}", "expected a string, number or boolean")
            out[name] = v
        return out
    if key.kind == "format":
        if value not in FORMATS:
            raise bad("one of " + ", ".join(FORMATS))
        return value
    if key.kind == "severity":
        valid = [s.value for s in Severity]
        if not isinstance(value, str) or value not in valid:
            raise bad("one of " + ", ".join(valid))
        return Severity(value)
    if key.kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if key.kind == "forks":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 500:
            raise bad("an integer from 1 to 500")
        return value
    raise AssertionError(key.kind)  # pragma: no cover


def parse_text(text: str, path: Path) -> dict[str, Value]:
    """The values of a configuration file's text, checked."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML: {e} (see inspectorctl config show)") from e
    out: dict[str, Value] = {}
    for name, value in data.items():
        key = BY_NAME.get(name)
        line = key_line(text, name)
        where = f"{path}:{line}" if line is not None else str(path)
        if key is None:
            raise _error(where, name, "unknown key; valid: " + ", ".join(k.name for k in KEYS))
        if key.kind == "tailoring" and isinstance(value, dict) and len(value) <= MAX_TAILORING:
            checked: dict[str, str] = {}
            for sub, v in value.items():
                sub_line = key_line(text, sub, "tailoring")
                sub_where = f"{path}:{sub_line}" if sub_line is not None else where
                checked.update(_check(key, {sub: v}, sub_where, name))
            parsed: Any = checked
        else:
            parsed = _check(key, value, where, name)
            if key.kind == "path" and not parsed.is_absolute():
                parsed = path.parent / parsed  # relative to the file, wherever it is read
        out[name] = Value(parsed, f"file:{line}" if line is not None else "file")
    return out


def read_file(path: Path) -> dict[str, Value]:
    """A configuration file's values; InputError when it cannot be read or is malformed."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise InputError(f"{path}: cannot read the configuration: {e.strerror or e}") from e
    if len(raw) > MAX_BYTES:
        raise InputError(f"{path}: the configuration is larger than {MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: the configuration is not UTF-8 (byte {e.start})") from e
    return parse_text(text, path)


def _parse_env(key: Key, raw: str) -> Any:
    label = key.env
    if key.kind == "packs":
        value: Any = [p.strip() for p in raw.split(",") if p.strip()]
    elif key.kind == "tailoring":
        value = {}
        for item in raw.split(","):
            if not item.strip():
                continue
            name, sep, v = item.partition("=")
            if not sep or not name.strip():
                raise InputError(f"${label}: {item.strip()!r}: expected NAME=VALUE[,NAME=VALUE...]")
            value[name.strip()] = v.strip()
    elif key.kind == "bool":
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            value = True
        elif low in ("0", "false", "no", "off"):
            value = False
        else:
            raise InputError(f"${label}: expected true or false (1/0, yes/no), got {raw!r}")
    elif key.kind == "forks":
        try:
            value = int(raw.strip())
        except ValueError:
            value = raw
    else:
        value = raw.strip()
    return _check(key, value, "environment", f"${label}")


def find(explicit: Path | None, cwd: Path, environ: dict[str, str]) -> tuple[Path | None, str]:
    """The file to read and why: ``flag``, ``env``, ``cwd``, ``user`` or ``none``."""
    if explicit is not None:
        return explicit, "flag"
    if environ.get(ENV_FILE):
        return Path(environ[ENV_FILE]), "env"
    local = cwd / FILE_NAME
    if local.is_file():
        return Path(FILE_NAME) if cwd == Path() else local, "cwd"
    base = environ.get("XDG_CONFIG_HOME")
    if base:
        user = Path(base) / "inspectorctl" / "config.toml"
    else:
        home = environ.get("HOME")
        user = (Path(home) if home else Path.home()) / ".config" / "inspectorctl" / "config.toml"
    if user.is_file():
        return user, "user"
    return None, "none"


def load(explicit: Path | None = None, cwd: Path | None = None,
         environ: dict[str, str] | None = None) -> Config:
    """The effective configuration: the file's values, overridden by ``INSPECTORCTL_*``."""
    env = dict(os.environ) if environ is None else environ
    path, why = find(explicit, cwd if cwd is not None else Path(), env)
    if path is not None and why in ("flag", "env") and not path.is_file():
        raise InputError(f"{path}: no such configuration file"
                         + (f" (from ${ENV_FILE})" if why == "env" else ""))
    values = read_file(path) if path is not None else {}
    for key in KEYS:
        raw = env.get(key.env)
        if raw is not None and raw != "":
            values[key.name] = Value(_parse_env(key, raw), "env")
    return Config(path, why, values)


class ShownValue(BaseModel):
    """One row of ``config show``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    value: JsonValue
    source: str
    env: str
    help: str


class ShownConfig(BaseModel):
    """``config show --format json``: the file read and every effective value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str | None
    file_source: str
    values: list[ShownValue]
