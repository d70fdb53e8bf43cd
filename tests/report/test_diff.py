"""``findings diff``: every category, the default pair, refusals; exact output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.models.finding import finding_id
from tests.fixtures import snapshot_dict, write_mini
from tests.report.schemacheck import validate

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "findings.db"))


def _run(pack: Path, snaps: Path) -> str:
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps)])
    assert res.exit_code == 0, res.output
    m = re.match(r"Run (\S+):", res.stdout)
    assert m
    return m.group(1)


def _two_runs(tmp_path: Path) -> tuple[str, str]:
    pack, snaps = write_mini(tmp_path, {
        "a": snapshot_dict("a", root_login="yes", forward="1"),
        "b": snapshot_dict("b", tries="9"),
        "d": snapshot_dict("d", root_login="yes"),
    })
    first = _run(pack, snaps)
    write_mini(tmp_path, {
        "a": snapshot_dict("a", root_login="yes", tries="6"),  # forward fixed, tries regressed
        "b": snapshot_dict("b", tries="8"),  # still failing, other evidence
        "c": snapshot_dict("c", root_login="yes"),  # a new host
    })
    (snaps / "d.json").unlink()  # d is not assessed again
    return first, _run(pack, snaps)


def test_every_category_exact(tmp_path: Path) -> None:
    a, b = _two_runs(tmp_path)
    res = runner.invoke(app, ["findings", "diff"])  # the last two runs of the same targets
    assert res.exit_code == 0, res.output
    fid = finding_id
    assert res.stdout == (
        f"Findings diff {a} -> {b}\n"
        "new 1, regressed 1, changed evidence 1, still failing 1, fixed 1, not re-checked 1\n"
        "New (1):\n"
        f"  high          {fid('mini-ssh-root', 'c')} mini-ssh-root on c: "
        "found permitrootlogin yes\n"
        "Regressed (1):\n"
        f"  medium        {fid('mini-ssh-tries', 'a')} mini-ssh-tries on a: "
        "found maxauthtries 6 (was found maxauthtries 3)\n"
        "Changed evidence (1):\n"
        f"  medium        {fid('mini-ssh-tries', 'b')} mini-ssh-tries on b: "
        "found maxauthtries 8 (was maxauthtries 9)\n"
        "Still failing (1):\n"
        f"  high          {fid('mini-ssh-root', 'a')} mini-ssh-root on a: "
        "found permitrootlogin yes\n"
        "Fixed (1):\n"
        f"  low           {fid('mini-ip-forward', 'a')} mini-ip-forward on a: "
        "now PASS, found runtime 0; configured 0 (was found runtime 1; configured 1)\n"
        "Not re-checked (1):\n"
        f"  high          {fid('mini-ssh-root', 'd')} mini-ssh-root on d: "
        "not assessed in this run; was found permitrootlogin yes\n")
    assert runner.invoke(app, ["findings", "diff", a, b]).stdout == res.stdout


def test_json_and_csv(tmp_path: Path) -> None:
    a, b = _two_runs(tmp_path)
    doc = validate("findings-diff", runner.invoke(app, ["findings", "diff", "-f", "json"]
                                                  ).stdout)
    assert (doc["kind"], doc["run_a"]["id"], doc["run_b"]["id"]) == ("findings-diff", a, b)
    assert doc["counts"] == {"new": 1, "regressed": 1, "changed_evidence": 1,
                             "still_failing": 1, "fixed": 1, "not_rechecked": 1}
    (reg,) = [e for e in doc["entries"] if e["change"] == "regressed"]
    assert (reg["host"], reg["before"]["status"], reg["after"]["status"]) == ("a", "PASS",
                                                                             "FAIL")
    (gone,) = [e for e in doc["entries"] if e["change"] == "not_rechecked"]
    assert gone["after"] is None
    csv_lines = runner.invoke(app, ["findings", "diff", "-f", "csv"]).stdout.splitlines()
    assert csv_lines[0] == (
        "change,finding_id,host,pack,rule_id,title,severity,before_status,before_found,"
        "before_source,before_reason,after_status,after_found,after_source,after_reason")
    assert [line.split(",")[0] for line in csv_lines[1:]] == [
        "new", "regressed", "changed_evidence", "still_failing", "fixed", "not_rechecked"]
    # the reverse direction swaps new and not re-checked, regressed and fixed
    back = json.loads(runner.invoke(app, ["findings", "diff", b, a, "-f", "json"]).stdout)
    assert back["counts"]["new"] == 1 and back["counts"]["regressed"] == 1


def test_refusals(tmp_path: Path) -> None:
    res = runner.invoke(app, ["findings", "diff"])
    assert res.exit_code == 2 and res.stderr.startswith("error: no assessment in ")
    pack, snaps = write_mini(tmp_path, {"a": snapshot_dict("a")})
    only = _run(pack, snaps)
    res = runner.invoke(app, ["findings", "diff"])
    assert res.exit_code == 2
    assert res.stderr.startswith(f"error: run {only} is the only assessment of its targets")
    res = runner.invoke(app, ["findings", "diff", only])
    assert (res.exit_code, res.stderr) == (2, (
        "error: findings diff takes two runs (RUN_A RUN_B) or none (the last two runs of "
        "the same targets)\n"))
    res = runner.invoke(app, ["findings", "diff", only, "r-nope"])
    assert res.exit_code == 2 and res.stderr.startswith("error: no run 'r-nope' in ")
    res = runner.invoke(app, ["findings", "diff", "-f", "sarif"])
    assert (res.exit_code, res.stderr) == (2, (
        "error: findings diff does not write --format sarif; it supports: table, json, "
        "csv\n"))


def test_other_targets_are_not_the_previous_run(tmp_path: Path) -> None:
    """The default pair is the same targets: a run of another snapshot set in between is
    skipped, and a pruned run is refused rather than diffed with half its results."""
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    pack, snaps = write_mini(tmp_path / "one", {"a": snapshot_dict("a", root_login="yes")})
    first = _run(pack, snaps)
    pack2, snaps2 = write_mini(tmp_path / "two", {"z": snapshot_dict("z")})
    _run(pack2, snaps2)
    last = _run(pack, snaps)
    doc = json.loads(runner.invoke(app, ["findings", "diff", "-f", "json"]).stdout)
    assert (doc["run_a"]["id"], doc["run_b"]["id"]) == (first, last)
    assert doc["counts"]["still_failing"] == 1
    assert runner.invoke(app, ["runs", "prune", "--keep", "1", "--by", "ops"]).exit_code == 0
    res = runner.invoke(app, ["findings", "diff", first, last])
    assert res.exit_code == 2
    assert res.stderr.startswith(f"error: run {first} was pruned on ")


def test_hostile_evidence_is_shown_not_obeyed(tmp_path: Path) -> None:
    """Evidence comes from hosts: an escape sequence in it is printed escaped in the table,
    and JSON keeps the value as it is."""
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h", root_login="yes")})
    _run(pack, snaps)
    write_mini(tmp_path, {"h": snapshot_dict("h", root_login="=cmd|'/C calc'!A0\x1b[2J")})
    _run(pack, snaps)
    res = runner.invoke(app, ["findings", "diff"])
    assert res.exit_code == 0
    assert "\x1b" not in res.stdout and "\\x1b[2J" in res.stdout
    doc = json.loads(runner.invoke(app, ["findings", "diff", "-f", "json"]).stdout)
    (entry,) = doc["entries"]
    assert entry["change"] == "changed_evidence"
    assert entry["after"]["found"] == "permitrootlogin =cmd|'/C calc'!A0\x1b[2J"
