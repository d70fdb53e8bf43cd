"""Exact-output tests of the configuration: ``config show``, defaults and precedence."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.report.jsondoc import load_schema
from tests.fixtures import snapshot_dict, write_mini

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("INSPECTORCTL_DB", raising=False)
    monkeypatch.setenv("COLUMNS", "200")


def test_show_defaults_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", "/data-home")  # shown only, nothing is written there
    res = runner.invoke(app, ["config", "show"])
    assert res.exit_code == 0, res.output
    data = "/data-home/inspectorctl/findings.db"
    assert [line.rstrip() for line in res.stdout.splitlines()] == [
        "Configuration file: none found",
        " Key          Value                                                                 "
        "Source   Variable",
        " inventory    -                                                                     "
        "default  INSPECTORCTL_INVENTORY",
        f" db           {data}".ljust(84) + "default  INSPECTORCTL_DB",
        " packs        cis-linux, aws-best-practices                                         "
        "default  INSPECTORCTL_PACKS",
        " tailoring    -                                                                     "
        "default  INSPECTORCTL_TAILORING",
        " format       table                                                                 "
        "default  INSPECTORCTL_FORMAT",
        " fail_on      -                                                                     "
        "default  INSPECTORCTL_FAIL_ON",
        " become       false                                                                 "
        "default  INSPECTORCTL_BECOME",
        " forks        20                                                                    "
        "default  INSPECTORCTL_FORKS",
        " ignore_file  .inspectorctl-ignore.yml (in the working directory, if there is one)  "
        "default  INSPECTORCTL_IGNORE_FILE",
    ]
    (tmp_path / "inspectorctl.toml").write_text(
        "# fleet defaults\nforks = 5\nbecome = true\n\n[tailoring]\npass_max_days = 90\n")
    monkeypatch.setenv("INSPECTORCTL_FORKS", "8")
    monkeypatch.setenv("INSPECTORCTL_DB", "/srv/f.db")
    res = runner.invoke(app, ["config", "show"])
    assert res.exit_code == 0, res.output
    rows = {line.split()[0]: line.split() for line in res.stdout.splitlines()[2:]}
    assert res.stdout.splitlines()[0] == "Configuration file: inspectorctl.toml (working " \
        "directory)"
    assert rows["forks"] == ["forks", "8", "env", "INSPECTORCTL_FORKS"]
    assert rows["become"] == ["become", "true", "file:3", "INSPECTORCTL_BECOME"]
    assert rows["tailoring"] == ["tailoring", "pass_max_days=90", "file:5",
                                 "INSPECTORCTL_TAILORING"]
    assert rows["db"] == ["db", "/srv/f.db", "env", "INSPECTORCTL_DB"]


def test_show_json_against_its_schema(tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('packs = ["cis-linux"]\nfail_on = "high"\n')
    res = runner.invoke(app, ["--config", str(cfg), "config", "show", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    jsonschema.validate(doc, load_schema("config"))
    assert (doc["kind"], doc["file"], doc["file_source"]) == ("config", str(cfg), "flag")
    by_key = {v["key"]: (v["value"], v["source"]) for v in doc["values"]}
    assert by_key["packs"] == (["cis-linux"], "file:1")
    assert by_key["fail_on"] == ("high", "file:2")
    assert by_key["forks"] == (20, "default")
    res = runner.invoke(app, ["config", "show", "--format", "csv"])
    assert (res.exit_code, res.stderr) == (
        2, "error: config show does not write --format csv; it supports: table, json\n")


def test_user_config_dir_is_read(tmp_path: Path) -> None:
    user = tmp_path / "xdg" / "inspectorctl"
    user.mkdir(parents=True)
    (user / "config.toml").write_text("format = 'json'\n")
    res = runner.invoke(app, ["config", "show"])  # format json: config show prints JSON
    doc = json.loads(res.stdout)
    assert (doc["file"], doc["file_source"]) == (str(user / "config.toml"), "user")


@pytest.mark.parametrize(("text", "error"), [
    ("forks = 'many'\n", "error: {p}:1: forks: expected an integer from 1 to 500, got 'many'\n"),
    ("db = 'x'\n\nformats = 'json'\n", "error: {p}:3: formats: unknown key; valid: inventory, "
     "db, packs, tailoring, format, fail_on, become, forks, ignore_file\n"),
])
def test_bad_file_stops_every_command(tmp_path: Path, text: str, error: str) -> None:
    p = tmp_path / "inspectorctl.toml"
    p.write_text(text)
    for args in (["runs", "list"], ["config", "show"], ["assess", "--from-snapshots", "x"]):
        res = runner.invoke(app, args)
        assert (res.exit_code, res.stdout, res.stderr) == (
            2, "", error.format(p="inspectorctl.toml")), args
    assert not (tmp_path / "data").exists()  # no database was created


def test_missing_explicit_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res = runner.invoke(app, ["--config", "nope.toml", "runs", "list"])
    assert (res.exit_code, res.stderr) == (2, "error: nope.toml: no such configuration file\n")
    monkeypatch.setenv("INSPECTORCTL_CONFIG", "gone.toml")
    res = runner.invoke(app, ["runs", "list"])
    assert (res.exit_code, res.stderr) == (
        2, "error: gone.toml: no such configuration file (from $INSPECTORCTL_CONFIG)\n")


def test_format_precedence_flag_env_file(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "inspectorctl.toml").write_text("format = 'json'\n")
    res = runner.invoke(app, ["runs", "list"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["runs"] == []
    monkeypatch.setenv("INSPECTORCTL_FORMAT", "csv")
    res = runner.invoke(app, ["runs", "list"])
    assert res.stdout.startswith("id,kind,")
    res = runner.invoke(app, ["runs", "list", "--format", "table"])
    assert res.stdout == "No runs recorded yet.\n" or not res.stdout.startswith(("{", "id,"))
    # a format a command does not write is not its default: rulepacks list writes table/json
    res = runner.invoke(app, ["rulepacks", "list"])
    assert res.exit_code == 0 and not res.stdout.startswith(("{", "id,")), res.output


def test_assess_takes_packs_tailoring_fail_on_db_from_the_file(tmp_path: Path) -> None:
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h", tries="6")})
    (tmp_path / "inspectorctl.toml").write_text(
        f'packs = ["{pack.name}"]\nfail_on = "medium"\ndb = "state/f.db"\n')
    (tmp_path / "state").mkdir()
    base = ["assess", "--from-snapshots", str(snaps)]
    res = runner.invoke(app, base)
    assert res.exit_code == 1, res.output  # the medium FAIL trips the configured --fail-on
    # the advisory database is looked for beside the configured findings database
    note, fail_on = res.stderr.splitlines()
    assert note.startswith("note: no advisory database at state/vulns.db: configuration only")
    assert fail_on.startswith("--fail-on medium: 1 FAIL result(s) at or above medium")
    assert (tmp_path / "state" / "f.db").exists()
    # the flag wins over the file
    assert runner.invoke(app, [*base, "--fail-on", "high"]).exit_code == 0
    # tailoring from the file raises the limit; --set wins over it per name
    with (tmp_path / "inspectorctl.toml").open("a") as f:
        f.write("[tailoring]\nmax_tries = 6\n")
    res = runner.invoke(app, base)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [*base, "--set", "max_tries=4"])
    assert res.exit_code == 1, res.output


def test_template_decides_packs_over_the_file(tmp_path: Path) -> None:
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h", tries="6")})
    (tmp_path / "inspectorctl.toml").write_text('packs = ["no-such-pack"]\n')
    res = runner.invoke(app, ["assess", "--from-snapshots", str(snaps)])
    assert res.exit_code == 2 and "no-such-pack" in res.stderr, res.output
    tpl = tmp_path / "t.yml"
    tpl.write_text(f"name: t\npacks: [{pack}]\n")
    res = runner.invoke(app, ["assess", "--template", str(tpl), "--from-snapshots", str(snaps)])
    assert res.exit_code == 0, res.output
    assert "mini-ssh-tries" in res.stdout


def test_which_commands_each_key_sets(tmp_path: Path) -> None:
    """The defaults the configuration gives, per command: selection and targets only where
    they mean the same (not `apply --inventory`, whose default is the plan's), --db
    everywhere, a format only where the command writes it."""
    import typer

    from inspectorctl import config as cfgmod
    from inspectorctl.cli import config as cli_config

    p = tmp_path / "c.toml"
    p.write_text("inventory = '/i.yml'\ndb = '/f.db'\npacks = ['p']\nformat = 'csv'\n"
                 "fail_on = 'low'\nbecome = true\nforks = 3\nignore_file = '/ig.yml'\n")
    group = typer.main.get_command(app)
    ctx = typer._click.core.Context(group)
    m = cli_config.default_map(ctx, group, cfgmod.load(p, tmp_path, {}))
    assert m["assess"] == {"db": "/f.db", "ignore_file": "/ig.yml", "inventory": "/i.yml",
                           "pack": ["p"], "become": True, "forks": 3, "fail_on": "low",
                           "fmt": "csv"}
    assert m["collect"] == {"inventory": "/i.yml", "pack": ["p"], "become": True, "forks": 3}
    assert m["remediate"] == {"db": "/f.db", "inventory": "/i.yml", "pack": ["p"],
                              "become": True}
    assert m["apply"] == {"db": "/f.db"}
    assert m["findings"]["list"] == {"db": "/f.db", "fmt": "csv"}
    assert m["findings"]["ignore"] == {"db": "/f.db", "ignore_file": "/ig.yml"}
    assert m["findings"]["show"] == {"db": "/f.db"}  # show writes table and json only
    assert m["runs"]["list"] == {"db": "/f.db", "fmt": "csv"}
