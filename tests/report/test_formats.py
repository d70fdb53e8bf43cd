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
    assert res.stderr == "error: --output needs --format json, junit, sarif or ocsf\n"
