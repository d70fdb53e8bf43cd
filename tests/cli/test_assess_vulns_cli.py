"""``assess`` matches installed packages against the advisory data in the same run as the
rules (same snapshot): exact output, exit codes and the findings' lifecycle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.models.finding import finding_id
from tests.fixtures import snapshot_dict, write_mini
from tests.vulns import records as R
from tests.vulns.test_match import pkg

runner = CliRunner()

CURL = finding_id("vuln:CVE-2023-38545:curl", "h1")
WEBP = finding_id("vuln:CVE-2023-4863:libwebp", "h1")
SHADOW = finding_id("vuln:CVE-2023-29383:shadow", "h1")
ROOT = finding_id("mini-ssh-root", "h1")
FRESH = ("--max-db-age", "36500")


def host(packages: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    d = snapshot_dict("h1", root_login="yes")
    d["requested"] = [*d["requested"], "sockets", "package_changelogs"]
    d["packages"]["items"] = packages
    d["os"].update(kw)
    return d


VULNERABLE = [pkg("curl", "7.88.1-10+deb12u3"), pkg("libcurl4", "7.88.1-10+deb12u3", "curl"),
              pkg("libwebp7", "1.2.4-0.2", "libwebp"), pkg("login", "1:4.13+dfsg1-1", "shadow")]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "findings.db"))
    monkeypatch.setenv("COLUMNS", "200")
    write_mini(tmp_path, {"h1": host(VULNERABLE)})
    return tmp_path


def imported(env: Path) -> None:
    z = R.osv_zip(env / "Debian.zip", R.OSV_RECORDS)
    kev = R.write_json(env / "kev.json", R.KEV)
    res = runner.invoke(app, ["vulns", "update", "--from", str(z), "--from", str(kev)])
    assert res.exit_code == 0, res.output


def assess(env: Path, *extra: str) -> Any:
    return runner.invoke(app, ["assess", "--pack", str(env / "mini.yml"), "--from-snapshots",
                               str(env / "snaps"), *extra])


def states(kind: str = "") -> dict[str, tuple[str, str]]:
    listed = json.loads(runner.invoke(app, ["findings", "list", "--all", "-f", "json"]
                                      ).stdout)["findings"]
    return {f["id"]: (f["state"], f["status"]) for f in listed if kind in f["rule_id"]}


def test_without_advisory_data_one_note_and_configuration_only(env: Path) -> None:
    res = assess(env)
    assert res.exit_code == 0, res.output
    assert res.stderr == (
        f"note: no advisory database at {env / 'vulns.db'}: configuration only; to match "
        "installed packages against known vulnerabilities too, import advisory data once: "
        "`inspectorctl vulns update --from FILE` (--no-vulns: no note)\n")
    assert "Vulnerabilities" not in res.stdout
    assert not (env / "vulns.db").exists()  # nothing created
    assert (assess(env, "--no-vulns").exit_code, assess(env, "--no-vulns").stderr) == (0, "")
    quiet = runner.invoke(app, ["-q", "assess", "--pack", str(env / "mini.yml"),
                                "--from-snapshots", str(env / "snaps")])
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    missing = assess(env, "--vuln-db", str(env / "none.db"))
    assert (missing.exit_code, missing.output) == (
        2, f"error: no advisory database at {env / 'none.db'}: import data first with "
           "`inspectorctl vulns update --from PATH`\n")
    fresh = assess(env, "--require-fresh")
    assert fresh.exit_code == 2 and fresh.output.startswith("error: no advisory database at ")
    both = assess(env, "--no-vulns", "--vuln-db", str(env / "vulns.db"))
    assert (both.exit_code, both.output) == (
        2, "error: --no-vulns and --vuln-db contradict each other: give one\n")


def test_one_run_holds_rules_and_vulnerabilities(env: Path) -> None:
    imported(env)
    res = assess(env, *FRESH)
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    lines = res.stdout.splitlines()
    rid = lines[0].split()[1].rstrip(":")
    assert lines[0].startswith(f"Run {rid}: 1 host(s), 3 rule(s) in ")
    assert [ln.rstrip() for ln in lines[1:]] == [
        "Host  Pass  Fail  Error  N/A",
        "h1       2     1      0    0",
        "Failed by severity: critical 0, high 1, medium 0, low 0, informational 0",
        "Severity  Finding             Host  Rule           Title",
        f"high      {ROOT}  h1    mini-ssh-root  SSH root login is disabled",
        "New findings: 4, reopened: 0, closed: 0",
        "Vulnerabilities: advisory data is current (within 36500 day(s))",
        "Score Host Vulnerability  Package Installed         Fixed in          KEV",
        "9.8   h1   CVE-2023-38545 curl    7.88.1-10+deb12u3 7.88.1-10+deb12u4",
        "8.9   h1   CVE-2023-4863  libwebp 1.2.4-0.2         1.2.4-0.2+deb12u1 yes",
        "3.3   h1   CVE-2023-29383 shadow  1:4.13+dfsg1-1    -",
        "3 vulnerabilities on 1 host(s) (1 critical, 1 high, 1 low), 2 with a fixed version; "
        "0 probably fixed since the data was built; 0 unimportant (hidden)",
    ]
    run = json.loads(runner.invoke(app, ["runs", "list", "-f", "json"]).stdout)["runs"][0]
    assert run["packs"][-1] == "vulns"
    assert run["targets"]["vuln_db"] == str((env / "vulns.db").resolve())
    assert states() == {ROOT: ("active", "FAIL"), CURL: ("active", "FAIL"),
                        WEBP: ("active", "FAIL"), SHADOW: ("active", "FAIL")}
    shown = json.loads(runner.invoke(app, ["findings", "show", CURL, "-f", "json"]).stdout)
    assert (shown["pack"], shown["score"], shown["last_run"]) == ("vulns", 9.8, rid)
    # the SBOM of the host comes from this run's inventory
    bom = json.loads(runner.invoke(app, ["sbom", "h1"]).stdout)
    assert {c["name"] for c in bom["components"]} == {"curl", "libcurl4", "libwebp7", "login"}


def test_lifecycle_each_kind_closes_only_its_own(env: Path) -> None:
    imported(env)
    assert assess(env, *FRESH).exit_code == 0
    assert runner.invoke(app, ["findings", "suppress", SHADOW, "--by", "alice", "--reason",
                               "no fix upstream"]).exit_code == 0
    # the upgrade: curl fixed, libwebp removed; root login disabled too
    fixed = host([pkg("curl", "7.88.1-10+deb12u4"), pkg("login", "1:4.13+dfsg1-1", "shadow")])
    fixed["sshd"]["config"]["permitrootlogin"] = ["no"]
    (env / "snaps" / "h1.json").write_text(json.dumps(fixed))
    # configuration only: the vulnerability findings are not touched
    res = assess(env, "--no-vulns")
    assert "New findings: 0, reopened: 0, closed: 1" in res.stdout
    assert states() == {ROOT: ("closed", "PASS"), CURL: ("active", "FAIL"),
                        WEBP: ("active", "FAIL"), SHADOW: ("suppressed", "FAIL")}
    # vulnerabilities only (`vulns assess`) leave the rule's finding alone ...
    (env / "snaps" / "h1.json").write_text(json.dumps(host(VULNERABLE)))
    res = runner.invoke(app, ["vulns", "assess", "--from-snapshots", str(env / "snaps"),
                              *FRESH])
    assert res.exit_code == 0, res.output
    assert states()[ROOT] == ("closed", "PASS")
    # ... and both in one run close both kinds
    (env / "snaps" / "h1.json").write_text(json.dumps(fixed))
    res = assess(env, *FRESH, "--fail-on", "high")
    assert res.exit_code == 0, res.output
    assert "New findings: 0, reopened: 0, closed: 2" in res.stdout
    assert states() == {ROOT: ("closed", "PASS"), CURL: ("closed", "PASS"),
                        WEBP: ("closed", "PASS"), SHADOW: ("suppressed", "FAIL")}
    assert ("0 vulnerabilities on 0 host(s), 0 with a fixed version" in res.stdout) is False
    assert "1 vulnerability on 1 host(s) (1 low), 0 with a fixed version" in res.stdout


def test_a_host_that_cannot_be_matched_changes_no_vulnerability_finding(env: Path) -> None:
    imported(env)
    assert assess(env, *FRESH).exit_code == 0
    (env / "snaps" / "h1.json").write_text(json.dumps(host([pkg("curl", "1")], id="gentoo",
                                                           version_id="2.14")))
    res = assess(env, *FRESH, "--fail-on", "critical")
    assert res.exit_code == 0  # the host was assessed; its packages could not be matched
    assert "h1: no advisory ecosystem for this release (gentoo 2.14) (1 rule)" in res.stdout
    assert "0 vulnerabilities on 0 host(s), 0 with a fixed version" in res.stdout
    assert states("vuln:CVE") == {CURL: ("active", "FAIL"), WEBP: ("active", "FAIL"),
                                  SHADOW: ("active", "FAIL")}


def test_fail_on_require_fresh_and_staleness_on_every_format(env: Path) -> None:
    imported(env)
    stale = assess(env, "--require-fresh")
    assert stale.exit_code == 2
    assert stale.output.startswith("error: advisory data is stale: cisa-kev, osv:Debian ")
    assert stale.output.endswith("(--require-fresh)\n")
    assert json.loads(runner.invoke(app, ["runs", "list", "-f", "json"]).stdout)["runs"] == []
    res = assess(env, "--fail-on", "critical")
    assert res.exit_code == 1
    assert res.stdout.splitlines()[7].startswith(
        "Vulnerabilities: STALE DATA: advisory data is stale: cisa-kev, osv:Debian ")
    assert res.stderr == ("--fail-on critical: 1 FAIL result(s) at or above critical "
                          f"(critical 1): {CURL} (vuln:CVE-2023-38545:curl on h1)\n")
    base = ["--no-store"]
    out = assess(env, *base, "-f", "json", "--framework", "pci-dss")
    assert out.stderr.startswith("warning: advisory data is stale: cisa-kev, osv:Debian ")
    doc = json.loads(out.stdout)
    assert doc["advisory_data"]["stale"] is True
    webp = next(f for f in doc["vulnerabilities"] if f["vuln_id"] == "CVE-2023-4863")
    assert (webp["fix_available"], webp["score"]["kev"]) == ("YES", True)
    assert {r["rule_id"] for r in doc["results"] if r["pack"] == "vulns"} == {
        "vuln:CVE-2023-38545:curl", "vuln:CVE-2023-4863:libwebp", "vuln:CVE-2023-29383:shadow"}
    rows = {c["requirement"]: c for c in doc["compliance"]}
    assert (rows["6.3.3"]["rules"], rows["6.3.3"]["failed"], rows["6.3.3"]["state"],
            rows["6.3.3"]["failing_hosts"]) == (["vuln:*"], 3, "non-compliant", ["h1"])
    assert rows["2.2.6"]["rules"] == ["mini-ssh-root", "mini-ssh-tries"]
    sarif = json.loads(assess(env, *base, "-f", "sarif").stdout)["runs"][0]
    assert sarif["properties"]["advisoryData"]["stale"] is True
    rules = {r["id"]: r for r in sarif["tool"]["driver"]["rules"]}
    assert rules["vuln:CVE-2023-4863:libwebp"]["properties"]["security-severity"] == "8.9"
    assert rules["mini-ssh-root"]["name"] == "SSH root login is disabled"
    junit = assess(env, *base, "-f", "junit").stdout
    assert '<testsuite name="advisory-data" tests="1" failures="1"' in junit
    assert 'name="mini-ssh-root: SSH root login is disabled"' in junit
    csv = assess(env, *base, "-f", "csv")
    assert csv.stderr.startswith("warning: advisory data is stale")
    assert sum(",vulns,vuln:CVE-" in ln for ln in csv.stdout.splitlines()) == 3


def test_json_output_validates_against_its_schema(env: Path) -> None:
    import jsonschema

    from inspectorctl.report.jsondoc import load_schema

    imported(env)
    doc = json.loads(assess(env, "--no-store", "-f", "json").stdout)
    jsonschema.validate(doc, load_schema("assessment"))


def test_a_plan_from_one_run_fixes_both_kinds(env: Path) -> None:
    imported(env)
    assert assess(env, *FRESH).exit_code == 0
    plan = env / "plan.json"
    res = runner.invoke(app, ["plan", "-o", str(plan)])
    assert res.exit_code == 0, res.output
    doc = json.loads(plan.read_text())
    by_playbook = {a["playbook"]: sorted(f["rule_id"] for f in a["findings"])
                   for a in doc["actions"]}
    assert by_playbook["package_upgrade"] == ["vuln:CVE-2023-38545:curl",
                                              "vuln:CVE-2023-4863:libwebp"]
    # the rule's finding is planned from the same run (the mini pack names no playbook)
    assert "  mini-ssh-root on h1: no_remediation: " in res.output
    assert doc["source"]["packs"][-1] == "vulns"
