"""``findings suppress`` with globs and filters: counted, confirmed, audited with the change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inspectorctl.cli import assess as assess_cli
from inspectorctl.cli.main import app
from inspectorctl.models.finding import finding_id
from tests.fixtures import snapshot_dict, write_mini

runner = CliRunner()
WHO = ["--by", "alice", "--reason", "lab hosts"]


@pytest.fixture(autouse=True)
def _fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "findings.db"))
    monkeypatch.setenv("COLUMNS", "100")
    pack, snaps = write_mini(tmp_path, {
        "web-1": snapshot_dict("web-1", root_login="yes", tries="6"),
        "web-2": snapshot_dict("web-2", root_login="yes", forward="1"),
        "db-1": snapshot_dict("db-1", root_login="yes"),
    })
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps)])
    assert res.exit_code == 0, res.output


def _active() -> set[tuple[str, str]]:
    doc = json.loads(runner.invoke(app, ["findings", "list", "-f", "json"]).stdout)
    return {(f["rule_id"], f["host"]) for f in doc["findings"]}


def _audit() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(
        runner.invoke(app, ["audit", "list", "-f", "json"]).stdout)["entries"]
    return entries


def test_globs_with_yes_suppress_what_they_match_audited() -> None:
    res = runner.invoke(app, ["findings", "suppress", "--rule", "mini-ssh-*", "--host", "web-?",
                              "--yes", *WHO])
    assert res.exit_code == 0, res.output
    ids = sorted([finding_id("mini-ssh-root", "web-1"), finding_id("mini-ssh-root", "web-2"),
                  finding_id("mini-ssh-tries", "web-1")])
    assert sorted(res.stdout.splitlines()) == sorted([
        f"suppressed {finding_id('mini-ssh-root', 'web-1')} (mini-ssh-root on web-1)",
        f"suppressed {finding_id('mini-ssh-root', 'web-2')} (mini-ssh-root on web-2)",
        f"suppressed {finding_id('mini-ssh-tries', 'web-1')} (mini-ssh-tries on web-1)",
    ])
    assert _active() == {("mini-ip-forward", "web-2"), ("mini-ssh-root", "db-1")}
    (entry,) = _audit()
    assert entry["event"] == "suppress" and entry["actor"] == "alice"
    assert sorted(entry["detail"]["findings"]) == ids
    assert entry["detail"]["filter"] == {"rule": ["mini-ssh-*"], "host": ["web-?"]}
    assert entry["detail"]["reason"] == "lab hosts"


def test_severity_and_status_filters() -> None:
    res = runner.invoke(app, ["findings", "suppress", "--severity", "high", "--status", "FAIL",
                              "-y", *WHO])
    assert res.exit_code == 0, res.output
    assert _active() == {("mini-ip-forward", "web-2"), ("mini-ssh-tries", "web-1")}
    assert _audit()[0]["detail"]["filter"] == {"severity": "high", "status": ["FAIL"]}


def test_no_terminal_and_no_yes_changes_nothing() -> None:
    before = _active()
    res = runner.invoke(app, ["findings", "suppress", "--host", "web-*", *WHO])
    assert (res.exit_code, res.stdout, res.stderr) == (
        2, "", "error: 4 active finding(s) match; no terminal to confirm on: check them with "
        "`findings list` and the same filters, then give --yes\n")
    assert _active() == before
    assert _audit() == []


def test_a_person_confirms_or_declines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assess_cli, "stdin_is_terminal", lambda: True)
    before = _active()
    res = runner.invoke(app, ["findings", "suppress", "--host", "db-1", *WHO], input="n\n")
    root_db = finding_id("mini-ssh-root", "db-1")
    assert res.exit_code == 1
    assert "suppressed " not in res.stdout  # (the test runner echoes the answer there)
    assert res.stderr == (f"1 active finding(s) match:\n  {root_db} high mini-ssh-root on db-1\n"
                          "Suppress these 1 finding(s)? [y/N]:nothing suppressed\n")
    assert (_active(), _audit()) == (before, [])
    res = runner.invoke(app, ["findings", "suppress", "--host", "db-1", *WHO], input="y\n")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[-1] == f"suppressed {root_db} (mini-ssh-root on db-1)"
    assert ("mini-ssh-root", "db-1") not in _active()
    assert [e["detail"]["findings"] for e in _audit()] == [[root_db]]


def test_many_matches_are_counted_not_all_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assess_cli, "stdin_is_terminal", lambda: True)
    monkeypatch.setattr(assess_cli, "SUPPRESS_SHOWN", 2)
    res = runner.invoke(app, ["findings", "suppress", "--rule", "*", *WHO], input="n\n")
    lines = res.stderr.splitlines()
    assert lines[0] == "5 active finding(s) match:"
    assert lines[3] == "  and 3 more"


@pytest.mark.parametrize(("args", "error"), [
    (["f-0000000000000000", "--host", "web-1"], "error: give finding ids or filters (--rule, "
     "--host, --severity, --status), not both"),
    ([], "error: nothing selected: give finding ids or filters (--rule, --host, --severity, "
     "--status)"),
])
def test_ids_or_filters(args: list[str], error: str) -> None:
    res = runner.invoke(app, ["findings", "suppress", *args, *WHO])
    assert (res.exit_code, res.stderr) == (2, error + "\n")
    assert _audit() == []


def test_no_match_changes_nothing() -> None:
    res = runner.invoke(app, ["findings", "suppress", "--host", "nowhere-*", "--yes", *WHO])
    assert (res.exit_code, res.stdout) == (0, "No active finding matches; nothing suppressed.\n")
    assert _audit() == []


def test_the_change_and_its_audit_entry_are_one_transaction(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import inspectorctl.remediate.audit as audit

    def broken(*_: Any, **__: Any) -> None:
        raise OSError(28, "No space left on device")

    before = _active()
    monkeypatch.setattr(audit, "append", broken)
    res = runner.invoke(app, ["findings", "suppress", "--host", "web-1", "--yes", *WHO])
    assert res.exit_code == 1
    assert _active() == before  # rolled back with the audit entry that could not be written
