"""The configuration loader: values, lines in errors, precedence, hostile files."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inspectorctl import config
from inspectorctl.errors import InputError
from inspectorctl.models.common import Severity

F = Path("/etc-not/inspectorctl.toml")


def test_every_key_with_its_line_and_type() -> None:
    text = """# comment
inventory = "hosts.yml"
db = "/var/lib/x/findings.db"
packs = ["cis-linux", "my.yml"]
format = "json"
fail_on = "high"
become = true
forks = 7
ignore_file = "/srv/accepted.yml"

[tailoring]
pass_max_days = 90
"cis-linux.min_len" = "14"
strict = false
"""
    values = config.parse_text(text, F)
    assert {k: (v.value, v.source) for k, v in values.items()} == {
        "inventory": (Path("/etc-not/hosts.yml"), "file:2"),  # relative to the file
        "db": (Path("/var/lib/x/findings.db"), "file:3"),
        "packs": (["cis-linux", "my.yml"], "file:4"),
        "format": ("json", "file:5"),
        "fail_on": (Severity.HIGH, "file:6"),
        "become": (True, "file:7"),
        "forks": (7, "file:8"),
        "ignore_file": (Path("/srv/accepted.yml"), "file:9"),
        "tailoring": ({"pass_max_days": "90", "cis-linux.min_len": "14", "strict": "false"},
                      "file:11"),
    }


@pytest.mark.parametrize(("text", "message"), [
    ("db = 'a'\ninvetory = 'x'\n", f"{F}:2: invetory: unknown key; valid: inventory, db, "
     "packs, tailoring, format, fail_on, become, forks, ignore_file"),
    ("\n\nforks = 0\n", f"{F}:3: forks: expected an integer from 1 to 500, got 0"),
    ("forks = true\n", f"{F}:1: forks: expected an integer from 1 to 500, got True"),
    ("become = 'yes'\n", f"{F}:1: become: expected true or false, got 'yes'"),
    ("packs = []\n", f"{F}:1: packs: expected a non-empty list of rulepack ids or files, "
     "got []"),
    ("packs = 'cis-linux'\n", f"{F}:1: packs: expected a non-empty list of rulepack ids or "
     "files, got 'cis-linux'"),
    ("format = 'xml'\n", f"{F}:1: format: expected one of table, json, csv, sarif, junit, "
     "ocsf, asff, html, got 'xml'"),
    ("fail_on = 'urgent'\n", f"{F}:1: fail_on: expected one of critical, high, medium, low, "
     "informational, got 'urgent'"),
    ("db = ''\n", f"{F}:1: db: expected a file path (a non-empty string), got ''"),
    ("[tailoring]\na = 1\nb = [1]\n", f"{F}:3: tailoring.b: expected a string, number or "
     "boolean"),
    ("tailoring.'bad name' = 1\n", f"{F}:1: tailoring.bad name: not a tailoring name "
     "(letters, digits, _ . -; PACK.NAME for one pack)"),
    ("tailoring = 3\n", f"{F}:1: tailoring: expected a table of NAME = VALUE (at most 500), "
     "got 3"),
    ("[assess]\nforks = 3\n", f"{F}:1: assess: unknown key; valid: inventory, db, packs, "
     "tailoring, format, fail_on, become, forks, ignore_file"),
])
def test_bad_values_name_file_line_and_key(text: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        config.parse_text(text, F)
    assert str(e.value) == message


def test_not_toml_too_large_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text("db = \n")
    with pytest.raises(InputError, match=rf"^{p}: not valid TOML: "):
        config.read_file(p)
    p.write_bytes(b"# " + b"x" * config.MAX_BYTES)
    with pytest.raises(InputError, match=rf"^{p}: the configuration is larger than 65536 bytes$"):
        config.read_file(p)
    p.write_bytes(b"db = '\xff'\n")
    with pytest.raises(InputError, match=rf"^{p}: the configuration is not UTF-8 \(byte 6\)$"):
        config.read_file(p)
    with pytest.raises(InputError, match="no such configuration file"):
        config.load(tmp_path / "missing.toml", tmp_path, {})


def test_discovery_order(tmp_path: Path) -> None:
    cwd, xdg, home = tmp_path / "cwd", tmp_path / "xdg", tmp_path / "home"
    for d in (cwd, xdg / "inspectorctl", home / ".config" / "inspectorctl"):
        d.mkdir(parents=True)
    assert config.find(None, cwd, {"XDG_CONFIG_HOME": str(xdg)}) == (None, "none")
    user_home = home / ".config" / "inspectorctl" / "config.toml"
    user_home.write_text("forks = 2\n")
    assert config.find(None, cwd, {"HOME": str(home)}) == (user_home, "user")
    # XDG_CONFIG_HOME set: ~/.config is not looked at
    assert config.find(None, cwd, {"HOME": str(home), "XDG_CONFIG_HOME": str(xdg)}) == (
        None, "none")
    user = xdg / "inspectorctl" / "config.toml"
    user.write_text("forks = 3\n")
    env = {"XDG_CONFIG_HOME": str(xdg)}
    assert config.find(None, cwd, env) == (user, "user")
    (cwd / "inspectorctl.toml").write_text("forks = 4\n")
    assert config.find(None, cwd, env) == (cwd / "inspectorctl.toml", "cwd")
    assert config.find(None, cwd, {**env, "INSPECTORCTL_CONFIG": str(user)}) == (user, "env")
    assert config.find(Path("x.toml"), cwd, {**env, "INSPECTORCTL_CONFIG": str(user)}) == (
        Path("x.toml"), "flag")
    assert config.load(None, cwd, env).get("forks") == 4


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text("forks = 3\nbecome = true\npacks = ['a']\n[tailoring]\nx = 1\n")
    cfg = config.load(p, tmp_path, {"INSPECTORCTL_FORKS": "9", "INSPECTORCTL_BECOME": "no",
                                    "INSPECTORCTL_TAILORING": "y=2, z = a b",
                                    "INSPECTORCTL_DB": "rel.db", "INSPECTORCTL_FORMAT": ""})
    assert {k: (v.value, v.source) for k, v in cfg.values.items()} == {
        "forks": (9, "env"), "become": (False, "env"), "packs": (["a"], "file:3"),
        "tailoring": ({"y": "2", "z": "a b"}, "env"), "db": (Path("rel.db"), "env"),
    }


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("INSPECTORCTL_FORKS", "many", "environment: $INSPECTORCTL_FORKS: expected an integer "
     "from 1 to 500, got 'many'"),
    ("INSPECTORCTL_BECOME", "sure", "$INSPECTORCTL_BECOME: expected true or false (1/0, "
     "yes/no), got 'sure'"),
    ("INSPECTORCTL_TAILORING", "a=1,b", "$INSPECTORCTL_TAILORING: 'b': expected "
     "NAME=VALUE[,NAME=VALUE...]"),
    ("INSPECTORCTL_FAIL_ON", "HIGH", "environment: $INSPECTORCTL_FAIL_ON: expected one of "
     "critical, high, medium, low, informational, got 'HIGH'"),
    ("INSPECTORCTL_PACKS", " , ", "environment: $INSPECTORCTL_PACKS: expected a non-empty "
     "list of rulepack ids or files, got []"),
])
def test_bad_environment(tmp_path: Path, name: str, raw: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        config.load(None, tmp_path, {name: raw, "XDG_CONFIG_HOME": str(tmp_path)})
    assert str(e.value) == message


@given(st.text(max_size=400))
def test_any_text_is_values_or_one_input_error(text: str) -> None:
    try:
        values = config.parse_text(text, F)
    except InputError as e:
        assert str(e).startswith(str(F))
    else:
        assert set(values) <= set(config.BY_NAME)


_keys = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=12)
_scalars = st.one_of(st.integers(-2**40, 2**40), st.booleans(), st.text(max_size=20),
                     st.floats(allow_nan=False, allow_infinity=False))


def _toml(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"
                             for c in v) + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return repr(v)


@given(st.lists(st.tuples(_keys, st.one_of(_scalars, st.lists(_scalars, max_size=3))),
                min_size=1, max_size=6, unique_by=lambda kv: kv[0]),
       st.integers(0, 5))
def test_hostile_documents_error_names_the_key_and_its_line(
        pairs: list[tuple[str, object]], blank: int) -> None:
    """Any document of top-level keys: accepted only when every key is known and typed
    right; otherwise the error names a key of the document and the line it is on."""
    lines = [""] * blank + [f"{k} = {_toml(v)}" for k, v in pairs]
    text = "\n".join(lines) + "\n"
    try:
        values = config.parse_text(text, F)
    except InputError as e:
        msg = str(e)
        where, _, rest = msg.partition(": ")
        key = rest.split(":", 1)[0]
        index = [k for k, _ in pairs].index(key)
        assert where == f"{F}:{blank + index + 1}"
    else:
        assert [k for k, _ in pairs] == list(values)
        assert all(v.source == f"file:{blank + i + 1}" for i, v in enumerate(values.values()))


def test_key_line_ignores_values_and_other_tables() -> None:
    text = 'x = "db = 1"\n[tailoring]\ndb = 2\n[other]\n"db" = 3\n'
    assert config.key_line(text, "db") is None
    assert config.key_line(text, "db", "tailoring") == 3
    assert config.key_line("tailoring.db = 1\n", "db", "tailoring") == 1
    assert config.key_line('a = 1\n[[db]]\nx = 1\n', "db") == 2
    assert config.key_line('"tailoring" . "p.q" = 1\n', "p.q", "tailoring") == 1
