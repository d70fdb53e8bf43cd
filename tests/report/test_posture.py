"""``posture``: compliance per framework and failed results by severity per run."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.models.common import Severity
from inspectorctl.report.posture import compute_posture
from inspectorctl.store.db import Store
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


def _started(run_id: str) -> str:
    doc = json.loads(runner.invoke(app, ["runs", "list", "-f", "json"]).stdout)
    (r,) = [r for r in doc["runs"] if r["id"] == run_id]
    return datetime.fromisoformat(r["started_at"]).strftime("%Y-%m-%d %H:%M")


def _history(tmp_path: Path) -> tuple[str, str]:
    pack, snaps = write_mini(tmp_path, {
        "a": snapshot_dict("a", root_login="yes", tries="9"),
        "b": snapshot_dict("b", forward="1"),
    })
    first = _run(pack, snaps)
    write_mini(tmp_path, {"a": snapshot_dict("a"), "b": snapshot_dict("b", tries="7")})
    return first, _run(pack, snaps)


def test_table_exact(tmp_path: Path) -> None:
    first, second = _history(tmp_path)
    res = runner.invoke(app, ["posture"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert re.fullmatch(r"Posture since \d{4}-\d\d-\d\d \d\d:\d\d: 2 assessment run\(s\)",
                        lines[0])
    # pci-dss: 2.2.6 (both ssh rules), 8.2.2 (root login); hipaa: 164.312(a)(1) (root login)
    w = len(first)
    assert [line.rstrip() for line in lines[1:]] == [  # rich pads the last column
        f"{'Run':<{w}} Started          Hosts Crit High Med Low Info Err pci-dss hipaa",
        f"{first} {_started(first)} 2     0    1    1   1   0    0   0/2 0%  0/1 0%",
        f"{second} {_started(second)} 2     0    0    1   0   0    0   1/2 50% 1/1 100%",
        "Framework cells: compliant/assessed requirements (percent); failed results by "
        "severity",
    ]


def test_json_csv_and_one_framework(tmp_path: Path) -> None:
    first, second = _history(tmp_path)
    doc = validate("posture", runner.invoke(app, ["posture", "-f", "json"]).stdout)
    assert [r["run_id"] for r in doc["runs"]] == [first, second]  # oldest first
    assert doc["runs"][0]["failed"] == {"critical": 0, "high": 1, "medium": 1, "low": 1,
                                        "informational": 0}
    assert doc["runs"][1]["frameworks"] == [
        {"framework": "pci-dss", "requirements": 2, "compliant": 1, "non_compliant": 1,
         "unknown": 0, "percent": 50.0},
        {"framework": "hipaa", "requirements": 1, "compliant": 1, "non_compliant": 0,
         "unknown": 0, "percent": 100.0}]
    doc = validate("posture", runner.invoke(app, ["posture", "--framework", "hipaa",
                                                  "--since", "all", "-f", "json"]).stdout)
    assert doc["since"] is None and doc["framework"] == "hipaa"
    assert [[f["framework"] for f in r["frameworks"]] for r in doc["runs"]] == [["hipaa"]] * 2
    out = runner.invoke(app, ["posture", "-f", "csv"]).stdout.splitlines()
    assert out[0].startswith("run_id,started_at,hosts,results,failed_critical,failed_high,"
                             "failed_medium,failed_low,failed_informational,errors,"
                             "cis_compliant,cis_requirements,cis_percent,pci-dss_compliant,")
    assert out[2].split(",")[:10] == [second, out[2].split(",")[1], "2", "6", "0", "0", "1",
                                      "0", "0", "0"]


def test_since_window_and_pruned_runs(tmp_path: Path) -> None:
    first, second = _history(tmp_path)
    with Store(tmp_path / "findings.db") as store:
        later = compute_posture(store, since=datetime.fromisoformat(
            json.loads(runner.invoke(app, ["runs", "list", "-f", "json"]).stdout)
            ["runs"][0]["started_at"]))
        assert [r.run_id for r in later.runs] == [second]
        assert later.runs[0].failed[Severity.MEDIUM] == 1
    assert runner.invoke(app, ["runs", "prune", "--keep", "1", "--by", "ops"]).exit_code == 0
    doc = json.loads(runner.invoke(app, ["posture", "-f", "json"]).stdout)
    assert [r["run_id"] for r in doc["runs"]] == [second]
    assert doc["skipped"][0]["run_id"] == first
    assert doc["skipped"][0]["reason"].startswith("pruned on ")
    assert f"skipped {first}: pruned on " in runner.invoke(app, ["posture"]).stdout


def test_bad_input() -> None:
    res = runner.invoke(app, ["posture", "--since", "soon"])
    assert (res.exit_code, res.stderr) == (2, (
        "error: --since 'soon': expected a duration like 24h, 90m, 7d or 1h30m, got 'soon' "
        "(or 'all')\n"))
    res = runner.invoke(app, ["posture", "--framework", "sox"])
    assert (res.exit_code, res.stderr) == (2, (
        "error: unknown framework 'sox'; valid: cis, pci-dss, hipaa, nist-800-53, aws\n"))
    res = runner.invoke(app, ["posture", "-f", "junit"])
    assert (res.exit_code, res.stderr) == (2, (
        "error: posture does not write --format junit; it supports: table, json, csv\n"))
    res = runner.invoke(app, ["posture"])
    assert res.exit_code == 0
    assert res.stdout.endswith(": 0 assessment run(s)\n")
