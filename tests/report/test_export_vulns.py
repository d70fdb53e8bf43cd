"""The exports of what ``vulns assess`` really stores (matching, scoring, KEV, details as
JSON), first seen and then closed by an upgrade."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.report import asff, ocsf
from inspectorctl.report.exportable import load
from inspectorctl.store.db import Store
from tests.cli.test_vulns_cli import env  # noqa: F401  (the fixture)
from tests.vulns.test_match import pkg, snap

runner = CliRunner()
TARGET = asff.AsffTarget(account_id="123456789012", region="us-east-1")


def _ocsf(db: Path) -> dict[str, dict[str, Any]]:
    res = runner.invoke(app, ["export", "ocsf", "--db", str(db)])
    assert res.exit_code == 0, res.output
    v = Draft202012Validator(ocsf.schema(ocsf.CLASS_VULNERABILITY))
    out = {}
    for line in res.stdout.splitlines():
        e = json.loads(line)
        assert e["class_uid"] == 2002
        assert list(v.iter_errors(e)) == []
        out[e["vulnerabilities"][0]["cve"]["uid"]] = e
    return out


def test_vulnerability_findings_of_a_real_run_export_and_close(env: Path) -> None:  # noqa: F811
    db = env / "findings.db"
    base = ["vulns", "assess", "--from-snapshots", str(env / "snaps")]
    assert runner.invoke(app, base).exit_code == 0
    events = _ocsf(db)
    assert sorted(events) == ["CVE-2023-29383", "CVE-2023-38545", "CVE-2023-4863"]
    webp = events["CVE-2023-4863"]["vulnerabilities"][0]
    assert webp["is_exploit_available"] is True  # in the KEV fixture
    assert webp["affected_packages"] == [{"name": "libwebp7", "version": "1.2.4-0.2",
                                          "fixed_in_version": "1.2.4-0.2+deb12u1",
                                          "package_manager": "dpkg"}]
    assert "is_exploit_available" not in events["CVE-2023-38545"]["vulnerabilities"][0]
    assert events["CVE-2023-29383"]["vulnerabilities"][0]["fix_available"] is False
    with Store(db) as store:
        ready, refused = asff.prepare(load(store).items, TARGET)
    assert refused == []
    by_cve = {f["Vulnerabilities"][0]["Id"]: f for f in ready}
    assert by_cve["CVE-2023-4863"]["Vulnerabilities"][0]["ExploitAvailable"] == "YES"
    assert by_cve["CVE-2023-29383"]["Vulnerabilities"][0]["FixAvailable"] == "NO"
    assert by_cve["CVE-2023-38545"]["FindingProviderFields"]["Severity"] == {
        "Label": "CRITICAL", "Original": "9.8"}

    # the upgrade: curl fixed, libwebp gone; both findings close, shadow stays
    s = snap([pkg("curl", "7.88.1-10+deb12u4"), pkg("login", "1:4.13+dfsg1-1", "shadow")])
    (env / "snaps" / "h1.json").write_text(s.model_dump_json())
    assert runner.invoke(app, base).exit_code == 0
    events = _ocsf(db)
    assert {k: (e["activity_name"], e["status"]) for k, e in events.items()} == {
        "CVE-2023-29383": ("Update", "New"),
        "CVE-2023-38545": ("Close", "Resolved"),
        "CVE-2023-4863": ("Close", "Resolved")}
    with Store(db) as store:
        ready, refused = asff.prepare(load(store).items, TARGET)
    assert refused == []
    assert sorted((f["Vulnerabilities"][0]["Id"], f["RecordState"], f["Workflow"]["Status"])
                  for f in ready) == [("CVE-2023-29383", "ACTIVE", "NEW"),
                                      ("CVE-2023-38545", "ARCHIVED", "RESOLVED"),
                                      ("CVE-2023-4863", "ARCHIVED", "RESOLVED")]
