"""A findings database with every kind of finding the exports map: active, closed by a PASS,
closed as not applicable, suppressed (with its audit entry), not re-checked (an ERROR), new,
a vulnerability with its details; on a plain host name, an EC2 instance and an SSM managed
instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import Evidence, RuleResult, RunRecord, finding_id
from inspectorctl.remediate.audit import AuditEvent, append, chain_key
from inspectorctl.store.db import Store
from inspectorctl.vuln_assess import VulnFinding
from inspectorctl.vulns import match as m
from inspectorctl.vulns import score as sc
from tests.fixtures import MINI_PACK

T0 = datetime(2026, 11, 1, 8, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
T_SUPPRESS = T1 + timedelta(hours=3)
WEB = "web-1"
EC2 = "i-0123456789abcdef0"
MI = "mi-0123456789abcdef0"
VULN_RULE = "vuln:CVE-2023-38545:curl"


def result(rule: str, host: str, status: Status, severity: Severity = Severity.HIGH,
           *, pack: str = "mini", title: str | None = None,
           found: str = "permitrootlogin yes", expected: str = "permitrootlogin = no",
           reason: str | None = None) -> RuleResult:
    ev = (Evidence(expected=expected, found=found, source="sshd -T")
          if status in (Status.PASS, Status.FAIL) else None)
    return RuleResult(rule_id=rule, pack=pack, host=host, status=status, severity=severity,
                      title=title or f"title of {rule}", evidence=ev,
                      reason=reason if reason or ev else "a reason")


def vuln_finding(host: str = WEB, *, kev: bool = True) -> VulnFinding:
    s = sc.Score(base=9.8, base_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                 base_source="NVD via debian-osv", adjusted=9.8,
                 adjusted_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                 severity=Severity.CRITICAL,
                 adjustments=(sc.Adjustment(name="kev", before=9.8, after=10.0,
                                            reason="in CISA KEV"),) if kev else (),
                 kev=kev)
    return VulnFinding(
        finding_id=finding_id(VULN_RULE, host), rule_id=VULN_RULE, host=host,
        vuln_id="DEBIAN-CVE-2023-38545", aliases=("CVE-2023-38545",), source="debian-osv",
        package="curl", ecosystem="Debian:12",
        binaries={"curl": "7.88.1-10", "libcurl4": "7.88.1-10"},
        installed_version="7.88.1-10", fixed_version="7.88.1-10+deb12u4",
        state=m.VulnState.AFFECTED_FIX, fix_available=m.FixAvailable.YES, reason=None,
        kernel=False, score=s,
        references=("https://security-tracker.debian.org/tracker/CVE-2023-38545",
                    "https://curl.se/docs/CVE-2023-38545.html"),
        evidence_path="/var/lib/dpkg/status", summary="SOCKS5 heap buffer overflow")


def build(tmp: Path, *, extra_found: str | None = None) -> Path:
    """The database (two runs: r-1 then r-2); returns its path."""
    pack = tmp / "mini.yml"
    pack.write_text(MINI_PACK)
    db = tmp / "findings.db"
    with Store(db) as store:
        store.record_run(RunRecord(id="r-1", started_at=T0, ended_at=T0, packs=[str(pack)]), [
            result("mini-ssh-root", WEB, Status.FAIL),
            result("mini-ip-forward", WEB, Status.FAIL, Severity.LOW),
            result("mini-ssh-tries", EC2, Status.FAIL, Severity.MEDIUM),
            result("mini-ssh-root", MI, Status.FAIL),
        ])
        store.record_run(RunRecord(id="r-2", started_at=T1, ended_at=T1, packs=[str(pack)]), [
            result("mini-ssh-root", WEB, Status.PASS, found="permitrootlogin no"),
            result("mini-ip-forward", WEB, Status.FAIL, Severity.LOW,
                   found=extra_found or "net.ipv4.ip_forward = 1"),
            result("mini-ssh-tries", EC2, Status.ERROR, Severity.MEDIUM,
                   reason="host unreachable: ssh timed out"),
            result("mini-ssh-root", MI, Status.NOT_APPLICABLE,
                   reason="openssh-server is not installed"),
            result("mini-ssh-tries", WEB, Status.FAIL, Severity.MEDIUM,
                   found="maxauthtries 6"),
            result(VULN_RULE, WEB, Status.FAIL, Severity.CRITICAL, pack="vulns",
                   title="DEBIAN-CVE-2023-38545 in curl 7.88.1-10",
                   expected="curl at or above 7.88.1-10+deb12u4 (Debian:12)",
                   found="curl 7.88.1-10 installed"),
        ])
        fid = finding_id("mini-ip-forward", WEB)
        key = chain_key(store)
        store.suppress([fid], by="alice", reason="router by design",
                       until=T1 + timedelta(days=90),
                       audit=lambda tx: append(tx, AuditEvent.SUPPRESS, "alice", T_SUPPRESS,
                                               key=key, detail={"findings": [fid]}))
        v = vuln_finding()
        store.execute("UPDATE findings SET score=? WHERE id=?", (9.8, v.finding_id))
        store.execute("INSERT INTO vuln_details(finding_id, run_id, host, data) VALUES (?,?,?,?)",
                      (v.finding_id, "r-2", WEB, v.model_dump_json()))
    return db
