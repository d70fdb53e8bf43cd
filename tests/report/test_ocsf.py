"""OCSF JSON lines: ``export ocsf`` and ``assess --format ocsf``, validated against the
transcribed OCSF 1.3.0 Compliance Finding (2003) and Vulnerability Finding (2002) schemas."""

from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from inspectorctl import __version__
from inspectorctl.cli.main import app
from inspectorctl.models.finding import finding_id
from inspectorctl.report import ocsf
from tests.fixtures import snapshot_dict, write_mini
from tests.report.exportdata import EC2, MI, T0, T1, VULN_RULE, WEB, build

runner = CliRunner()


def _validator(class_uid: int) -> Draft202012Validator:
    schema = ocsf.schema(class_uid)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _errors(event: dict[str, Any]) -> list[str]:
    v = _validator(event.get("class_uid", ocsf.CLASS_COMPLIANCE))
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in v.iter_errors(event))


def _export(tmp_path: Path, *extra: str) -> dict[str, dict[str, Any]]:
    db = build(tmp_path)
    res = runner.invoke(app, ["export", "ocsf", "--db", str(db), *extra])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 6
    events = [json.loads(line) for line in lines]
    return {e["finding_info"]["uid"]: e for e in events}


def test_every_event_validates_against_its_class(tmp_path: Path) -> None:
    events = _export(tmp_path)
    classes = sorted(e["class_uid"] for e in events.values())
    assert classes == [2002, 2003, 2003, 2003, 2003, 2003]
    for e in events.values():
        assert _errors(e) == []
        assert e["metadata"] == {"version": "1.3.0", "product": {
            "name": "inspectorctl", "vendor_name": "inspectorctl", "version": __version__}}
        assert e["type_uid"] == e["class_uid"] * 100 + e["activity_id"]
        assert e["category_uid"] == 2


def test_lifecycle_maps_to_activity_status_and_compliance(tmp_path: Path) -> None:
    events = _export(tmp_path)

    def row(rule: str, host: str) -> tuple[Any, ...]:
        e = events[finding_id(rule, host)]
        c = e.get("compliance", {})
        return (e["activity_name"], e["status"], c.get("status"), c.get("status_code"),
                e["severity"], e["time"])

    t0, t1 = ocsf.ms(T0), ocsf.ms(T1)
    assert row("mini-ssh-root", WEB) == ("Close", "Resolved", "Pass", "PASS", "High", t1)
    assert row("mini-ip-forward", WEB) == ("Update", "Suppressed", "Fail", "FAIL", "Low", t1)
    assert row("mini-ssh-tries", EC2) == ("Update", "New", "Warning", "FAIL", "Medium", t0)
    assert row("mini-ssh-root", MI) == ("Close", "Resolved", "Unknown", "NOT_APPLICABLE",
                                        "High", t1)
    assert row("mini-ssh-tries", WEB) == ("Create", "New", "Fail", "FAIL", "Medium", t1)
    assert row(VULN_RULE, WEB) == ("Create", "New", None, None, "Critical", t1)
    root = events[finding_id("mini-ssh-root", MI)]
    assert root["compliance"]["standards"] == ["PCI DSS v4.0", "HIPAA Security Rule"]
    assert root["compliance"]["requirements"] == ["PCI DSS v4.0 2.2.6", "PCI DSS v4.0 8.2.2",
                                                  "HIPAA 164.312(a)(1)"]
    assert root["compliance"]["status_detail"] == "openssh-server is not installed"
    assert root["resources"] == [{"uid": MI, "name": MI, "type": "AWS::SSM::ManagedInstance"}]
    # a rule that names no standard is held to its pack
    fwd = events[finding_id("mini-ip-forward", WEB)]
    assert fwd["compliance"]["standards"] == ["inspectorctl mini"]
    assert fwd["unmapped"]["inspectorctl"]["suppressed"] == {
        "by": "alice", "reason": "router by design", "until": "2027-01-31T08:00:00+00:00"}
    ec2 = events[finding_id("mini-ssh-tries", EC2)]
    assert ec2["compliance"]["status_detail"] == (
        "not re-checked since r-1: host unreachable: ssh timed out (run r-2)")
    info = events[finding_id("mini-ssh-tries", WEB)]["finding_info"]
    assert info == {"uid": finding_id("mini-ssh-tries", WEB),
                    "title": "title of mini-ssh-tries", "desc": "d",
                    "created_time": t1, "first_seen_time": t1, "last_seen_time": t1,
                    "modified_time": t1,
                    "analytic": {"uid": "mini-ssh-tries", "name": "SSH MaxAuthTries is limited",
                                 "type_id": 1, "type": "Rule"}}


def test_vulnerability_finding_carries_cve_packages_and_kev(tmp_path: Path) -> None:
    e = _export(tmp_path)[finding_id(VULN_RULE, WEB)]
    (v,) = e["vulnerabilities"]
    assert v["cve"] == {"uid": "CVE-2023-38545", "cvss": [{
        "base_score": 9.8, "version": "3.1", "severity": "Critical",
        "vector_string": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}
    assert v["affected_packages"] == [
        {"name": "curl", "version": "7.88.1-10", "fixed_in_version": "7.88.1-10+deb12u4",
         "package_manager": "dpkg"},
        {"name": "libcurl4", "version": "7.88.1-10", "fixed_in_version": "7.88.1-10+deb12u4",
         "package_manager": "dpkg"}]
    assert (v["fix_available"], v["is_exploit_available"]) == (True, True)
    assert v["related_vulnerabilities"] == ["DEBIAN-CVE-2023-38545"]
    assert v["remediation"] == {"desc": "Upgrade curl to 7.88.1-10+deb12u4 or later "
                                        "(Debian:12)."}
    assert e["finding_info"]["desc"] == "SOCKS5 heap buffer overflow"


def test_the_schemas_refuse_what_ocsf_requires(tmp_path: Path) -> None:
    events = _export(tmp_path)
    comp = events[finding_id("mini-ssh-tries", WEB)]
    vuln = events[finding_id(VULN_RULE, WEB)]

    def broken(e: dict[str, Any], *path: str, value: Any = None, drop: bool = True
               ) -> list[str]:
        x = copy.deepcopy(e)
        node = x
        for p in path[:-1]:
            node = node[p]
        if drop:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return _errors(x)

    assert broken(comp, "finding_info", "uid") == ["finding_info: 'uid' is a required property"]
    assert broken(comp, "metadata", "version") == ["metadata: 'version' is a required property"]
    assert broken(comp, "compliance", "standards") == [
        "compliance: 'standards' is a required property"]
    assert broken(comp, "severity_id", value=7, drop=False) == [
        "severity_id: 7 is not one of [0, 1, 2, 3, 4, 5, 6, 99]"]
    assert broken(comp, "type_uid", value=200302, drop=False) == [
        "type_uid: 200301 was expected"]
    assert broken(comp, "time", value="2026-11-02", drop=False) == [
        "time: '2026-11-02' is not of type 'integer'"]
    assert broken(comp, "compliance") == [": 'compliance' is a required property"]
    assert broken(vuln, "vulnerabilities", value=[{"title": "x"}], drop=False) == [
        "vulnerabilities/0: 'cve' is a required property"]
    assert broken(vuln, "class_uid", value=2003, drop=False) != []


def test_hostile_text_stays_inside_its_line(tmp_path: Path) -> None:
    hostile = "a\nb\r\n{\"class_uid\": 1}\u2028\u2029\x85\x0b\x1c\x00"
    db = build(tmp_path, extra_found=hostile)
    res = runner.invoke(app, ["export", "ocsf", "--db", str(db)])
    assert res.exit_code == 0
    assert res.stdout.endswith("}\n")
    lines = res.stdout.splitlines()  # splits on every Unicode line boundary
    assert len(lines) == 6
    e = next(json.loads(x) for x in lines
             if json.loads(x)["finding_info"]["uid"] == finding_id("mini-ip-forward", WEB))
    assert e["unmapped"]["inspectorctl"]["evidence"]["found"] == hostile


def test_output_file_is_private_and_bad_input_exits_2(tmp_path: Path) -> None:
    db = build(tmp_path)
    out = tmp_path / "events.jsonl"
    res = runner.invoke(app, ["export", "ocsf", "--db", str(db), "--run", "r-1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stderr == f"wrote 4 event(s) of run r-1 to {out}\n"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert all(_errors(json.loads(x)) == [] for x in out.read_text().splitlines())
    res = runner.invoke(app, ["export", "ocsf", "--db", str(db), "--run", "nope"])
    assert (res.exit_code, res.stdout, res.stderr) == (
        2, "", f"error: no run 'nope' in {db}; see `inspectorctl runs list`\n")
    res = runner.invoke(app, ["export", "ocsf", "--db", str(db), "-o",
                              str(tmp_path / "missing" / "x.jsonl")])
    assert res.exit_code == 2
    assert res.stderr.startswith(f"error: {tmp_path / 'missing' / 'x.jsonl'}: cannot write:")
    assert not (tmp_path / "missing").exists()


@pytest.fixture
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "assess.db"))


def test_assess_format_ocsf_writes_one_compliance_finding_per_result(
        tmp_path: Path, _env: None) -> None:
    pack, snaps = write_mini(tmp_path, {"a": snapshot_dict("a", root_login="yes"),
                                        "b": snapshot_dict("b")})
    res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps),
                              "--format", "ocsf"])
    assert res.exit_code == 0, res.output
    events = [json.loads(x) for x in res.stdout.splitlines()]
    assert len(events) == 6
    for e in events:
        assert _errors(e) == []
    by = {(e["unmapped"]["inspectorctl"]["host"], e["compliance"]["control"]): e for e in events}
    fail = by[("a", "mini-ssh-root")]
    assert (fail["compliance"]["status"], fail["status"], fail["severity_id"]) == (
        "Fail", "New", 4)
    assert fail["compliance"]["status_detail"] == (
        "expected permitrootlogin = no; found permitrootlogin yes")
    ok = by[("b", "mini-ssh-root")]
    assert ok["compliance"]["status"] == "Pass" and "status_id" not in ok
    res = runner.invoke(app, ["findings", "list", "--format", "ocsf"])
    assert (res.exit_code, res.stderr) == (
        2, "error: findings list does not write --format ocsf; it supports: table, json, csv, "
           "junit, sarif, asff (`inspectorctl export ocsf` writes the stored findings)\n")
