"""Vulnerability findings remediated end to end on a lab host: plan -> approve -> apply ->
re-assess, through the same gate as configuration findings.

The host (``vfix-1``, baseline) gets three test-double packages installed at 1.0-1 and a local
``file:`` apt repository (its only source: a lab host has no network) offering each at 1.0-2.
An advisory fixture of our own (OSV, Debian:12) says ``inspectorctl-vfix-a`` is fixed in 1.0-2
and ``inspectorctl-vfix-c`` in 1.0-3; nothing is said of ``inspectorctl-vfix-b``. So the
upgrade fixes a, leaves c "still failing: repository offers 1.0-2, fixed in 1.0-3", and never
touches b; the re-assessment closes a's finding and keeps c's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from inspectorctl.cli.main import app
from inspectorctl.lab import Lab
from inspectorctl.store.db import Store
from tests.vulns import records as R

pytestmark = [pytest.mark.lab, pytest.mark.slow]

runner = CliRunner()
PKGS = ("inspectorctl-vfix-a", "inspectorctl-vfix-b", "inspectorctl-vfix-c")

SETUP = r"""
set -eu
b=/var/tmp/vfix-build
rm -rf "$b" /srv/vfix-repo
mkdir -p "$b" /srv/vfix-repo
mk() {
  d="$b/$1-$2"
  mkdir -p "$d/DEBIAN" "$d/usr/share/doc/$1"
  {
    echo "Package: $1"; echo "Version: $2"; echo "Architecture: all"
    echo "Maintainer: inspectorctl e2e <e2e@localhost>"; echo "Section: misc"
    echo "Priority: optional"; echo "Description: test double of an inspectorctl e2e test"
  } > "$d/DEBIAN/control"
  echo "$2" > "$d/usr/share/doc/$1/README.inspectorctl"
  dpkg-deb --root-owner-group --build "$d" "$b/$1_$2_all.deb" >/dev/null
}
for p in inspectorctl-vfix-a inspectorctl-vfix-b inspectorctl-vfix-c; do
  mk "$p" 1.0-1
  mk "$p" 1.0-2
  dpkg -i "$b/${p}_1.0-1_all.deb" >/dev/null
  cp "$b/${p}_1.0-2_all.deb" /srv/vfix-repo/
done
cd /srv/vfix-repo
dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null
for f in /etc/apt/sources.list.d/*; do
  case "$f" in *.list|*.sources) mv "$f" "$f.disabled-by-test" ;; esac
done
echo '# disabled by the inspectorctl package_upgrade test (lab host without network)' \
  > /etc/apt/sources.list
echo 'deb [trusted=yes] file:/srv/vfix-repo ./' > /etc/apt/sources.list.d/vfix.list
apt-get update -qq
"""


def advisory(vid: str, package: str, fixed: str) -> dict[str, object]:
    """An OSV record as osv.dev publishes Debian's (the package is a source package)."""
    return {
        "schema_version": "1.6.0", "id": vid, "modified": "2026-11-01T00:00:00Z",
        "published": "2026-10-01T00:00:00Z",
        "details": f"test advisory of the package_upgrade end-to-end test for {package}",
        "severity": [{"type": "CVSS_V3",
                      "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{"package": {"ecosystem": "Debian:12", "name": package},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
    }


RECORDS = [advisory("CVE-2099-10001", "inspectorctl-vfix-a", "1.0-2"),
           advisory("CVE-2099-10002", "inspectorctl-vfix-c", "1.0-3")]
RULE_A = "vuln:CVE-2099-10001:inspectorctl-vfix-a"
RULE_C = "vuln:CVE-2099-10002:inspectorctl-vfix-c"


def assert_a_fixed_c_not_offered(res: Result, h: str, db: Path,
                                 now_installed: dict[str, str]) -> None:
    """After the upgrade: a is fixed (its finding closed), c's repository does not offer its
    fix (said so, its finding still active), b was never touched."""
    lines = res.stdout.splitlines()
    summary = next(ln for ln in lines if ln.startswith("Re-assessed "))
    assert summary.endswith("fixed 1, still failing 1, regressed 0, not verified 0"), summary
    assert f"  still_failing: {RULE_C} on {h}: repository offers 1.0-2, fixed in 1.0-3" \
        in lines
    assert now_installed == {"inspectorctl-vfix-a": "1.0-2", "inspectorctl-vfix-b": "1.0-1",
                             "inspectorctl-vfix-c": "1.0-1"}
    with Store(db) as store:
        states = {f.rule_id: f.state.value for f in store.findings(hosts=[h], states=[])}
    assert (states[RULE_A], states[RULE_C]) == ("closed", "active")


def test_upgrade_through_the_gate_fixes_what_the_repository_offers(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "250")
    (host,) = lab.up(1, ["baseline"], "vfix")
    h = host.name
    r = lab.exec(h, ["sh", "-c", SETUP], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    db = tmp_path / "findings.db"
    vdb = tmp_path / "vulns.db"

    def cli(*args: str) -> Result:
        return runner.invoke(app, [*args, "--db", str(db)])

    def installed() -> dict[str, str]:
        out = lab.exec(h, ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *PKGS])
        assert out.returncode == 0, out.stderr
        return dict(line.split() for line in out.stdout.splitlines())

    def assess() -> dict[str, object]:
        res = cli("vulns", "assess", "-i", str(lab.inventory_path), "--limit", h,
                  "--vuln-db", str(vdb), "--max-db-age", "36500", "--format", "json")
        assert res.exit_code == 0, res.output
        doc: dict[str, object] = json.loads(res.stdout)
        return doc

    z = R.osv_zip(tmp_path / "advisories.zip", RECORDS)
    res = cli("vulns", "update", "--from", str(z), "--vuln-db", str(vdb))
    assert res.exit_code == 0, res.output
    first = assess()
    mine = {f["rule_id"]: f for f in first["findings"]  # type: ignore[attr-defined]
            if f["package"].startswith("inspectorctl-vfix-")}
    assert {k: (v["installed_version"], v["fixed_version"], v["state"])
            for k, v in mine.items()} == {
        RULE_A: ("1.0-1", "1.0-2", "affected-fix-available"),
        RULE_C: ("1.0-1", "1.0-3", "affected-fix-available")}

    # plan with a check-mode preview: the versions it would install, and nothing changes
    plan = tmp_path / "plan.json"
    res = cli("plan", "--rule", "vuln:*:inspectorctl-vfix-*", "--preview", "-o", str(plan))
    assert res.exit_code == 0, res.output
    doc = json.loads(plan.read_text())
    (action,) = doc["actions"]
    assert action["playbook"] == "package_upgrade"
    assert action["hosts"] == [h]
    assert action["items"] == [
        {"package": "inspectorctl-vfix-a", "fixed_version": "1.0-2",
         "binaries": ["inspectorctl-vfix-a"]},
        {"package": "inspectorctl-vfix-c", "fixed_version": "1.0-3",
         "binaries": ["inspectorctl-vfix-c"]}]
    preview = action["preview"][h]
    assert preview["status"] == "changed"
    assert preview["message"] == (
        "upgrade inspectorctl-vfix-a 1.0-1 -> 1.0-2; repository offers: "
        "inspectorctl-vfix-a=1.0-2, inspectorctl-vfix-c=1.0-2")
    assert "    item: {\"binaries\":[\"inspectorctl-vfix-a\"],\"fixed_version\":\"1.0-2\"," \
           "\"package\":\"inspectorctl-vfix-a\"}" in res.output
    assert installed() == dict.fromkeys(PKGS, "1.0-1")

    # not approved: refused, nothing changes
    res = cli("apply", str(plan))
    assert res.exit_code == 3, res.output
    assert installed() == dict.fromkeys(PKGS, "1.0-1")

    res = cli("approve", str(plan), "--by", "alice")
    assert res.exit_code == 0, res.output
    res = cli("apply", str(plan))
    # c's repository does not offer its fix: the apply says so and exits 1
    assert res.exit_code == 1, res.output
    assert_a_fixed_c_not_offered(res, h, db, installed())

    # an assessment of its own agrees: a is fixed, c is not
    again = assess()
    left = {f["rule_id"] for f in again["findings"]  # type: ignore[attr-defined]
            if f["package"].startswith("inspectorctl-vfix-")}
    assert left == {RULE_C}

    # applying the same plan again is refused (its findings changed since it was made)
    res = cli("apply", str(plan))
    assert res.exit_code == 3, res.output
    assert installed()["inspectorctl-vfix-c"] == "1.0-1"


def test_remediate_upgrades_what_its_own_assessment_matched(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unattended: `remediate` matches the packages in its assessment, the policy approves
    the upgrade (and only it), the apply re-assesses; with --no-vulns nothing is upgraded."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "250")
    (host,) = lab.up(1, ["baseline"], "vfixr")
    h = host.name
    r = lab.exec(h, ["sh", "-c", SETUP], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    db = tmp_path / "findings.db"
    vdb = tmp_path / "vulns.db"  # beside the findings database: the default
    policy = tmp_path / "policy.yml"
    policy.write_text("rules:\n  - name: vulnerable packages\n    auto_approve: true\n"
                      "    rules: ['vuln:*']\ndefault_approvers: 1\n")

    def installed() -> dict[str, str]:
        out = lab.exec(h, ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *PKGS])
        assert out.returncode == 0, out.stderr
        return dict(line.split() for line in out.stdout.splitlines())

    def remediate(*extra: str) -> Result:
        return runner.invoke(app, ["remediate", "--policy", str(policy), "-i",
                                   str(lab.inventory_path), "--limit", h, "--db", str(db),
                                   "--max-db-age", "36500", *extra])

    z = R.osv_zip(tmp_path / "advisories.zip", RECORDS)
    res = runner.invoke(app, ["vulns", "update", "--from", str(z), "--vuln-db", str(vdb)])
    assert res.exit_code == 0, res.output

    # configuration only: no upgrade is planned, nothing is auto-approved, nothing changes
    res = remediate("--no-vulns")
    assert res.exit_code == 4, res.output
    assert "package_upgrade" not in res.output
    assert "The policy approves no action automatically; nothing applied." in res.output
    assert installed() == dict.fromkeys(PKGS, "1.0-1")
    with Store(db) as store:
        assert not [f for f in store.findings(hosts=[h], states=[])
                    if f.rule_id.startswith("vuln:")]

    # with the advisory data beside the database: the upgrade is planned, approved by the
    # policy and applied; a is fixed, c's repository does not offer its fix (exit 1)
    res = remediate()
    assert res.exit_code == 1, res.output
    assert_a_fixed_c_not_offered(res, h, db, installed())
