"""``vulns update|status|show|assess`` and ``sbom``: exact output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from tests.vulns import records as R
from tests.vulns.test_match import pkg, snap

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "findings.db"))
    monkeypatch.setenv("COLUMNS", "200")
    z = R.osv_zip(tmp_path / "Debian.zip", R.OSV_RECORDS)
    kev = R.write_json(tmp_path / "kev.json", R.KEV)
    res = runner.invoke(app, ["vulns", "update", "--from", str(z), "--from", str(kev)])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith(
        f"osv:Debian (osv) from {z}: 6 read, 6 added, 0 updated, 0 unchanged, 0 withdrawn, in ")
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    s = snap([pkg("curl", "7.88.1-10+deb12u3"), pkg("libcurl4", "7.88.1-10+deb12u3", "curl"),
              pkg("libwebp7", "1.2.4-0.2", "libwebp"), pkg("login", "1:4.13+dfsg1-1", "shadow"),
              pkg("bash", "5.2.15-2+b2", "bash", "5.2.15-2")])
    (snaps / "h1.json").write_text(s.model_dump_json())
    return tmp_path


def test_update_twice_changes_nothing_and_status_shows_age(env: Path) -> None:
    res = runner.invoke(app, ["vulns", "update", "--from", str(env / "Debian.zip")])
    assert " 6 read, 0 added, 0 updated, 6 unchanged, 0 withdrawn" in res.output
    res = runner.invoke(app, ["vulns", "status", "--max-db-age", "36500"])
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert lines[0] == f"Advisory database {env / 'vulns.db'}"
    assert lines[1].split() == ["Source", "Kind", "Records", "Newest", "record", "Age", "(days)",
                                "Imported", "Origin"]
    assert lines[2].split()[:4] == ["cisa-kev", "kev", "1", "2023-09-13"]
    assert lines[3].split()[:4] == ["osv:Debian", "osv", "6", "2025-02-06"]
    assert lines[-1] == "advisory data is current (within 36500 day(s))"
    stale = runner.invoke(app, ["vulns", "status", "--format", "json"])
    doc = json.loads(stale.output)
    assert doc["advisory_data"]["stale"] is True
    assert {s["name"]: s["stale"] for s in doc["advisory_data"]["sources"]} == {
        "cisa-kev": True, "osv:Debian": True}


def test_show_one_vulnerability(env: Path) -> None:
    res = runner.invoke(app, ["vulns", "show", "cve-2023-4863"])
    assert res.exit_code == 0
    assert res.output.splitlines() == [
        "CVE-2023-4863  (osv:Debian, modified 2025-02-03)",
        "  score     8.8 high (vendor record osv:Debian, "
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H)",
        "  Debian:12        libwebp                  introduced 0; fixed 1.2.4-0.2+deb12u1",
        "CVE-2023-4863 is in CISA KEV since 2023-09-13: Google Chromium WebP Heap-Based Buffer "
        "Overflow Vulnerability (known ransomware use: Unknown)",
    ]
    missing = runner.invoke(app, ["vulns", "show", "CVE-1999-0001"])
    assert missing.exit_code == 2
    assert missing.output == ("error: CVE-1999-0001: not in the advisory database; see "
                              "`inspectorctl vulns status`\n")


def test_update_refuses_urls_and_bad_files_with_nothing_written(env: Path) -> None:
    res = runner.invoke(app, ["vulns", "update", "--from", "https://osv.dev/x.zip"])
    assert (res.exit_code, res.output) == (2, "error: https://osv.dev/x.zip: downloading is not "
                                              "supported; fetch the file (osv.dev publishes "
                                              "per-ecosystem zips) and pass its path\n")
    bad = R.write_json(env / "bad" / "x.json", {"id": "CVE-9", "modified": "nope"})
    res = runner.invoke(app, ["vulns", "update", "--from", str(env / "bad"), "--format", "osv"])
    assert res.exit_code == 2
    assert res.output == f"error: {bad}: modified: not an ISO date: 'nope'\n"


def test_assess_table_fail_on_require_fresh_and_lifecycle(env: Path) -> None:
    base = ["vulns", "assess", "--from-snapshots", str(env / "snaps")]
    res = runner.invoke(app, [*base, "--require-fresh"])
    assert res.exit_code == 2
    assert res.output.startswith("error: advisory data is stale: cisa-kev, osv:Debian ")
    assert res.output.endswith("(--require-fresh)\n")
    res = runner.invoke(app, [*base, "--fail-on", "critical"])
    assert res.exit_code == 1, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("STALE DATA: advisory data is stale")
    rows = [ln.split() for ln in lines[2:5]]
    assert [r[:5] for r in rows] == [
        ["h1", "CVE-2023-38545", "curl", "7.88.1-10+deb12u3", "7.88.1-10+deb12u4"],
        ["h1", "CVE-2023-4863", "libwebp", "1.2.4-0.2", "1.2.4-0.2+deb12u1"],
        ["h1", "CVE-2023-29383", "shadow", "1:4.13+dfsg1-1", "-"]]
    assert [r[5:] for r in rows] == [
        ["affected-fix-available", "YES", "9.8", "critical"],
        ["affected-fix-available", "YES", "8.9", "(8.8)", "high", "yes"],
        ["affected-no-fix", "NO", "3.3", "low"]]
    assert lines[5].endswith("3 vulnerabilities shown (1 critical, 1 high, 1 low); 0 probably "
                             "fixed since the data was built; 0 unimportant (hidden); new 3, "
                             "closed 0")
    assert runner.invoke(app, [*base, "--fail-on", "critical", "--max-db-age", "36500"]
                         ).exit_code == 1
    # the upgrade: curl fixed, libwebp gone -> both findings close; shadow stays
    s = snap([pkg("curl", "7.88.1-10+deb12u4"), pkg("login", "1:4.13+dfsg1-1", "shadow")])
    (env / "snaps" / "h1.json").write_text(s.model_dump_json())
    res = runner.invoke(app, [*base, "--fail-on", "high"])
    assert res.exit_code == 0, res.output
    assert "new 0, closed 2" in res.output
    listed = json.loads(runner.invoke(app, ["findings", "list", "--all", "--format", "json"]
                                      ).output)["findings"]
    assert sorted((f["rule_id"], f["state"], f["score"]) for f in listed) == [
        ("vuln:CVE-2023-29383:shadow", "active", 3.3),
        ("vuln:CVE-2023-38545:curl", "closed", 9.8),
        ("vuln:CVE-2023-4863:libwebp", "closed", 8.9)]


def test_assess_json_sarif_junit_carry_staleness(env: Path) -> None:
    base = ["vulns", "assess", "--from-snapshots", str(env / "snaps"), "--no-store"]
    doc = json.loads(runner.invoke(app, [*base, "--format", "json", "--framework", "pci-dss"]
                                   ).stdout)
    assert doc["advisory_data"]["stale"] is True
    webp = next(f for f in doc["findings"] if f["vuln_id"] == "CVE-2023-4863")
    assert (webp["fix_available"], webp["fixed_version"], webp["score"]["kev"],
            webp["score"]["adjustments"][0]["name"]) == ("YES", "1.2.4-0.2+deb12u1", True, "kev")
    assert [c["requirement"] for c in doc["compliance"]] == ["6.3.3", "11.3.1"]
    sarif = json.loads(runner.invoke(app, [*base, "--format", "sarif"]).stdout)
    run = sarif["runs"][0]
    assert run["properties"]["advisoryData"]["stale"] is True
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["vuln:CVE-2023-4863:libwebp"]["properties"]["security-severity"] == "8.9"
    res = next(r for r in run["results"] if r["ruleId"] == "vuln:CVE-2023-38545:curl")
    assert res["properties"] == {"fixAvailable": "YES", "state": "affected-fix-available",
                                 "kev": False, "fixedVersion": "7.88.1-10+deb12u4"}
    junit = runner.invoke(app, [*base, "--format", "junit"]).stdout
    assert '<testsuite name="advisory-data" tests="1" failures="1"' in junit
    assert 'name="vuln:CVE-2023-38545:curl: CVE-2023-38545 in curl 7.88.1-10+deb12u3"' in junit


def test_assess_without_database_and_sbom(env: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["vulns", "assess", "--from-snapshots", str(env / "snaps"),
                              "--vuln-db", str(tmp_path / "none.db")])
    assert (res.exit_code, res.output) == (
        2, f"error: no advisory database at {tmp_path / 'none.db'}: import data first with "
           "`inspectorctl vulns update --from PATH`\n")
    none = runner.invoke(app, ["sbom", "h1"])
    assert none.exit_code == 2 and "no package inventory of 'h1'" in none.output
    assert runner.invoke(app, ["vulns", "assess", "--from-snapshots", str(env / "snaps")]
                         ).exit_code == 0
    bom = json.loads(runner.invoke(app, ["sbom", "h1", "--vex"]).stdout)
    assert bom["specVersion"] == "1.6"
    purls = {c["name"]: c["purl"] for c in bom["components"]}
    assert purls["bash"] == ("pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12")
    assert purls["login"] == ("pkg:deb/debian/login@1:4.13%2Bdfsg1-1?arch=amd64&distro=debian-12"
                              "&upstream=shadow")
    vex = {v["id"]: v for v in bom["vulnerabilities"]}
    assert set(vex) == {"CVE-2023-38545", "CVE-2023-4863", "CVE-2023-29383"}
    assert vex["CVE-2023-38545"]["analysis"]["state"] == "exploitable"
    assert vex["CVE-2023-38545"]["analysis"]["response"] == ["update"]
    assert vex["CVE-2023-29383"]["analysis"]["response"] == ["can_not_fix"]
    assert sorted(a["ref"] for a in vex["CVE-2023-38545"]["affects"]) == [
        purls["curl"], purls["libcurl4"]]
    plain = json.loads(runner.invoke(app, ["sbom", "h1"]).stdout)
    assert "vulnerabilities" not in plain or plain["vulnerabilities"] == []


def test_a_host_that_cannot_be_matched_keeps_its_findings(env: Path) -> None:
    base = ["vulns", "assess", "--from-snapshots", str(env / "snaps")]
    assert runner.invoke(app, base).exit_code == 0
    broken = snap([pkg("curl", "1")], os_id="gentoo", version_id="2.14")
    (env / "snaps" / "h1.json").write_text(broken.model_dump_json())
    res = runner.invoke(app, base)
    assert res.exit_code == 0
    assert "error: h1: no advisory ecosystem for this release (gentoo 2.14)" in res.output
    assert "new 0, closed 0" in res.output
    listed = json.loads(
        runner.invoke(app, ["findings", "list", "--format", "json"]).output)["findings"]
    assert {f["rule_id"] for f in listed} >= {"vuln:CVE-2023-38545:curl",
                                              "vuln:CVE-2023-4863:libwebp"}
