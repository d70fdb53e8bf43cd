from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from tests.fixtures import snapshot_dict, write_mini

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "findings.db"))


def _assess(tmp_path: Path, *extra: str) -> str:
    pack, snaps = write_mini(tmp_path, {
        "a": snapshot_dict("a", root_login="yes"),
        "b": snapshot_dict("b"),
    })
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps),
                              *extra])
    assert res.exit_code == 0, res.output
    return res.stdout


def test_junit_one_suite_per_host_with_failures(tmp_path: Path) -> None:
    root = ET.fromstring(_assess(tmp_path, "--format", "junit"))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"a", "b"}
    assert (suites["a"].get("tests"), suites["a"].get("failures")) == ("3", "1")
    assert suites["b"].get("failures") == "0"
    (failure,) = list(suites["a"].iter("failure"))
    assert failure.get("message") == (
        "[high] expected permitrootlogin = no; found permitrootlogin yes")


def test_sarif_results_and_fingerprints(tmp_path: Path) -> None:
    doc = json.loads(_assess(tmp_path, "--format", "sarif"))
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["mini-ssh-root"]
    (res,) = run["results"]
    assert res["ruleId"] == "mini-ssh-root" and res["level"] == "error"
    assert res["locations"][0]["logicalLocations"][0]["name"] == "a"
    assert res["partialFingerprints"]["inspectorctlFinding/v1"].startswith("f-")
    assert "pci-dss:8.2.2" in run["tool"]["driver"]["rules"][0]["properties"]["tags"]


def test_output_file_and_refusal_with_table(tmp_path: Path) -> None:
    out = tmp_path / "r.sarif"
    _assess(tmp_path, "--format", "sarif", "--output", str(out))
    assert json.loads(out.read_text())["version"] == "2.1.0"
    pack, snaps = write_mini(tmp_path, {"a": snapshot_dict("a")})
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps),
                              "--output", str(out)])
    assert res.exit_code == 2
    assert res.stderr == (
        "error: --output needs a --format other than table: json, csv, junit, sarif, ocsf, "
        "asff, html\n")


def _rows(text: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_findings_list_in_every_format_with_a_suppressed_finding(tmp_path: Path) -> None:
    _assess(tmp_path)
    listed = json.loads(runner.invoke(app, ["findings", "list", "-f", "json"]).stdout)
    (fid,) = [f["id"] for f in listed["findings"]]
    assert runner.invoke(app, ["findings", "suppress", fid, "--by", "alice", "--reason",
                               "bastion host"]).exit_code == 0
    sarif = json.loads(runner.invoke(app, ["findings", "list", "--all", "-f", "sarif"]).stdout)
    (res,) = sarif["runs"][0]["results"]
    assert res["partialFingerprints"]["inspectorctlFinding/v1"] == fid
    assert res["suppressions"] == [{"kind": "external", "status": "accepted",
                                    "justification": "suppressed by alice: bastion host"}]
    assert "automationDetails" not in sarif["runs"][0]  # a listing spans runs
    root = ET.fromstring(runner.invoke(app, ["findings", "list", "--all", "-f", "junit"]).stdout)
    (case,) = list(root.iter("testcase"))
    (skipped,) = list(case)
    assert (skipped.tag, skipped.get("message")) == (
        "skipped", "suppressed by alice: bastion host (expected permitrootlogin = no; found "
        "permitrootlogin yes)")
    res = runner.invoke(app, ["findings", "list", "--all", "-f", "csv"])
    assert res.exit_code == 0
    (row,) = _rows(res.stdout)
    assert (row["id"], row["host"], row["state"], row["suppressed_by"]) == (
        fid, "a", "suppressed", "alice")
    # CliRunner's .stdout turns \r\n into \n: the bytes keep CSV's line ends, once each
    raw = res.stdout_bytes
    assert raw.count(b"\r\n") == 2 and raw.endswith(b"\r\n") and b"\n\n" not in raw


def test_assess_runs_and_audit_as_csv(tmp_path: Path) -> None:
    out = _assess(tmp_path, "--format", "csv")
    rows = _rows(out)
    assert len(rows) == 6  # 3 rules x 2 hosts, one row per result
    assert {(r["host"], r["status"]) for r in rows if r["rule_id"] == "mini-ssh-root"} == {
        ("a", "FAIL"), ("b", "PASS")}
    (run,) = _rows(runner.invoke(app, ["runs", "list", "-f", "csv"]).stdout)
    assert (run["id"], run["kind"], run["hosts"], run["counts_failed"]) == (
        rows[0]["run_id"], "assess", "2", "1")
    fid = next(r["finding_id"] for r in rows if r["status"] == "FAIL")
    runner.invoke(app, ["findings", "suppress", fid, "--by", "alice", "--reason", "=1+1"])
    (entry,) = _rows(runner.invoke(app, ["audit", "list", "-f", "csv"]).stdout)
    assert (entry["event"], entry["actor"]) == ("suppress", "alice")
    assert json.loads(entry["detail"])["reason"] == "=1+1"  # inside JSON: not at the start
