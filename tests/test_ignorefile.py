"""The ignore file: accepted risks as code. Matching, expiry, lifting, refusal, audit."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from inspectorctl import ignorefile
from inspectorctl.cli.main import app
from inspectorctl.errors import InputError
from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import Finding, FindingState, finding_id
from tests.fixtures import snapshot_dict, write_mini

runner = CliRunner()
TODAY = datetime.now(UTC).date()
SOON = TODAY + timedelta(days=30)


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "findings.db"))
    monkeypatch.chdir(tmp_path)


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / ".inspectorctl-ignore.yml"
    p.write_text("version: 1\nignore:\n" + body, encoding="utf-8")
    return p


def _assess(tmp_path: Path, *extra: str) -> Result:
    pack, snaps = write_mini(tmp_path, {
        "web-1": snapshot_dict("web-1", root_login="yes"),
        "bastion-1": snapshot_dict("bastion-1", root_login="yes", tries="9"),
    })
    return runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps),
                               *extra])


def _findings() -> dict[tuple[str, str], dict[str, Any]]:
    doc = json.loads(runner.invoke(app, ["findings", "list", "--all", "-f", "json"]).stdout)
    return {(f["rule_id"], f["host"]): f for f in doc["findings"]}


def _audit() -> list[dict[str, Any]]:
    doc = json.loads(runner.invoke(app, ["audit", "list", "-f", "json"]).stdout)
    return [e for e in doc["entries"] if e["event"] == "ignore"]


def test_assess_suppresses_what_the_file_matches_and_audits_it(tmp_path: Path) -> None:
    path = _write(tmp_path, f"""\
  - host: "bastion-*"
    reason: the vendor agent needs root login
    owner: Alice
    expires: {SOON}
""")
    res = _assess(tmp_path)
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines()[-1] == (
        f"{path.name}: suppressed 2 finding(s), updated 0, lifted 0 (audited)")
    rows = _findings()
    for key in (("mini-ssh-root", "bastion-1"), ("mini-ssh-tries", "bastion-1")):
        f = rows[key]
        assert (f["state"], f["suppressed_by"], f["suppress_reason"]) == (
            "suppressed", "alice", "the vendor agent needs root login")
        assert f["suppressed_until"] == f"{SOON}T00:00:00Z"
        assert f["suppress_source"] == f"ignore-file {path.resolve()} entry 1"
    assert rows[("mini-ssh-root", "web-1")]["state"] == "active"
    shown = runner.invoke(app, ["findings", "show", finding_id("mini-ssh-root", "bastion-1")])
    assert (f"Suppressed by alice until {SOON}T00:00:00+00:00: the vendor agent needs root "
            f"login\nVia       ignore-file {path.resolve()} entry 1\n") in shown.stdout
    (entry,) = _audit()
    assert sorted(entry["detail"]["suppressed"]) == sorted(
        [finding_id("mini-ssh-root", "bastion-1"), finding_id("mini-ssh-tries", "bastion-1")])
    assert entry["detail"]["file"] == str(path.resolve())
    # the same file again changes nothing and writes no audit entry
    res = _assess(tmp_path)
    assert "suppressed" not in res.stderr
    assert len(_audit()) == 1
    res = runner.invoke(app, ["audit", "verify"])
    assert res.exit_code == 0, res.output


def test_changes_to_the_file_lift_and_update_but_never_a_persons_suppression(
    tmp_path: Path
) -> None:
    _write(tmp_path, f"""\
  - rule: "mini-ssh-*"
    reason: r1
    owner: alice
    expires: {SOON}
""")
    assert _assess(tmp_path).exit_code == 0
    manual = finding_id("mini-ssh-root", "web-1")
    # a person takes one over: the file never touches it again
    assert runner.invoke(app, ["findings", "suppress", manual, "--by", "bob", "--reason",
                               "mine"]).exit_code == 0
    _write(tmp_path, f"""\
  - finding: "{finding_id('mini-ssh-root', 'bastion-1')}"
    reason: r2
    owner: carol
    expires: {SOON}
""")
    res = runner.invoke(app, ["findings", "ignore"])
    assert res.exit_code == 0, res.output
    assert res.stderr == (".inspectorctl-ignore.yml: suppressed 0 finding(s), updated 1, "
                          "lifted 1 (audited)\n")
    rows = _findings()
    assert rows[("mini-ssh-root", "bastion-1")]["suppressed_by"] == "carol"
    assert rows[("mini-ssh-tries", "bastion-1")]["state"] == "active"
    assert (rows[("mini-ssh-root", "web-1")]["suppressed_by"],
            rows[("mini-ssh-root", "web-1")]["suppress_source"]) == ("bob", None)
    last = _audit()[-1]["detail"]
    assert (last["updated"], last["lifted"]) == (
        [finding_id("mini-ssh-root", "bastion-1")], [finding_id("mini-ssh-tries", "bastion-1")])
    res = runner.invoke(app, ["findings", "ignore"])
    assert res.stdout == ".inspectorctl-ignore.yml: nothing to change\n"


def test_an_expired_entry_is_reported_and_stops_applying(tmp_path: Path) -> None:
    _write(tmp_path, f"""\
  - host: web-1
    reason: r
    owner: alice
    expires: {SOON}
""")
    assert _assess(tmp_path).exit_code == 0
    assert _findings()[("mini-ssh-root", "web-1")]["state"] == "suppressed"
    past = TODAY - timedelta(days=1)
    _write(tmp_path, f"""\
  - host: web-1
    reason: r
    owner: alice
    expires: {past}
""")
    res = runner.invoke(app, ["findings", "ignore"])
    assert res.exit_code == 0
    assert res.stderr.splitlines() == [
        f"warning: .inspectorctl-ignore.yml:3: ignore entry 1 (host=web-1) expired on {past}; "
        "it no longer suppresses anything: remove or renew it",
        ".inspectorctl-ignore.yml: suppressed 0 finding(s), updated 0, lifted 1 (audited)"]
    assert _findings()[("mini-ssh-root", "web-1")]["state"] == "active"
    assert _audit()[-1]["detail"]["expired_entries"] == [1]


@pytest.mark.parametrize(("body", "message"), [
    ("  - reason: r\n    owner: a\n    expires: 2030-01-01\n",
     ".inspectorctl-ignore.yml:3: ignore file: ignore.0: give at least one of rule, host, "
     "finding (an entry that matched everything would hide every finding)"),
    ("  - rule: x\n    owner: a\n    expires: 2030-01-01\n",
     ".inspectorctl-ignore.yml:3: ignore file: ignore.0.reason: Field required"),
    ("  - rule: x\n    reason: r\n    owner: a\n    expires: someday\n",
     ".inspectorctl-ignore.yml:6: ignore file: ignore.0.expires: Input should be a valid "
     "date or datetime, input is too short"),
    ("  - rule: x\n    reason: r\n    owner: a\n    expires: 2030-01-01\n    hots: y\n",
     ".inspectorctl-ignore.yml:7: ignore file: ignore.0.hots: unknown field (check its "
     "spelling)"),
    ("  - rule: x\n    reason: \"a\\nb\"\n    owner: a\n    expires: 2030-01-01\n",
     ".inspectorctl-ignore.yml:4: ignore file: ignore.0.reason: reason: contains control or "
     "format character(s) \\n; write it on one line without them"),
])
def test_a_bad_file_is_refused_before_anything_runs(tmp_path: Path, body: str,
                                                    message: str) -> None:
    _write(tmp_path, body)
    res = _assess(tmp_path)
    assert (res.exit_code, res.stdout) == (2, "")
    assert res.stderr == f"error: {message}\n"
    assert json.loads(runner.invoke(app, ["runs", "list", "-f", "json"]).stdout)["runs"] == []


def test_too_far_ahead_and_missing_file(tmp_path: Path) -> None:
    _write(tmp_path, "  - rule: x\n    reason: r\n    owner: a\n    expires: 2999-01-01\n")
    res = runner.invoke(app, ["findings", "ignore"])
    assert res.exit_code == 2
    assert res.stderr == (
        "error: .inspectorctl-ignore.yml:3: ignore entry 1 (rule=x): expires 2999-01-01 is "
        "more than 10 years ahead; accepted risks are reviewed: give a nearer date\n")
    res = runner.invoke(app, ["findings", "ignore", "--ignore-file", "nope.yml"])
    assert (res.exit_code, res.stderr) == (2, "error: nope.yml: no such ignore file\n")


def _finding(rule: str, host: str, state: FindingState = FindingState.ACTIVE) -> Finding:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Finding(id=finding_id(rule, host), rule_id=rule, pack="p", host=host, title="t",
                   severity=Severity.HIGH, score=7.5, status=Status.FAIL, state=state,
                   first_seen=at, last_seen=at, first_run="r", last_run="r")


def _loaded(*entries: dict[str, object]) -> ignorefile.Loaded:
    items = [ignorefile.IgnoreEntry.model_validate(
        {"reason": "r", "owner": "o", "expires": date(2030, 1, 1), **e}) for e in entries]
    return ignorefile.Loaded(Path("/x/ignore.yml"), "0" * 64, items, [None] * len(items))


def test_matching_needs_every_given_pattern() -> None:
    plan = ignorefile.plan_sync(
        _loaded({"rule": "ssh-*", "host": "db-?"}),
        [_finding("ssh-root", "db-1"), _finding("ssh-root", "db-10"),
         _finding("kernel", "db-1"), _finding("ssh-root", "db-2", FindingState.CLOSED)],
        datetime(2026, 6, 1, tzinfo=UTC))
    assert [s.finding_id for s in plan.suppress] == [finding_id("ssh-root", "db-1")]


@settings(max_examples=200, deadline=None)
@given(rule=st.text(max_size=20), host=st.text(max_size=20))
def test_a_literal_entry_matches_only_its_own_finding(rule: str, host: str) -> None:
    """An entry naming a finding id matches that finding, whatever its rule and host hold."""
    f = _finding(rule or "r", host or "h")
    other = _finding((rule or "r") + "x", host or "h")
    plan = ignorefile.plan_sync(_loaded({"finding": f.id}), [f, other],
                                datetime(2026, 6, 1, tzinfo=UTC))
    assert [s.finding_id for s in plan.suppress] == [f.id]


def test_entry_model_refuses_control_characters_in_patterns() -> None:
    with pytest.raises(ValueError, match="control characters"):
        ignorefile.IgnoreEntry.model_validate({"rule": "a\x1bb", "reason": "r", "owner": "o",
                                               "expires": "2030-01-01"})
    with pytest.raises(InputError):
        ignorefile.find(Path("/nonexistent/ignore.yml"), Path("/"))
