"""Findings as OCSF events, one JSON object per line, for SIEMs.

OCSF 1.3.0, Findings category (``category_uid`` 2):

- a configuration finding is a **Compliance Finding** (``class_uid`` 2003): ``compliance``
  (standards, requirements, control, ``status_id`` Pass/Warning/Fail), ``remediation``;
- a vulnerability finding is a **Vulnerability Finding** (``class_uid`` 2002):
  ``vulnerabilities[]`` with ``cve`` (uid, CVSS), ``affected_packages`` (installed and fixed
  versions), ``fix_available``, ``is_exploit_available`` (in CISA's KEV catalog),
  ``references``, ``remediation``.

Both carry what every OCSF event requires (``activity_id``, ``category_uid``, ``class_uid``,
``type_uid`` = class * 100 + activity, ``severity_id``, ``time``, ``metadata`` with ``product``
and ``version``) and what a finding requires (``finding_info`` with ``uid`` and ``title``), plus
``status_id`` (New / Suppressed / Resolved), ``resources`` (the host) and, under ``unmapped``,
inspectorctl's own fields (evidence, run ids, lifecycle state). ``activity_id`` is Create when
the finding was first seen in the run being exported, Close when it is closed, else Update.
Times are epoch milliseconds (``timestamp_t``).

The JSON Schemas the tests validate against (``schemas/ocsf-1.3.0-*.json`` beside this module)
are a transcription of those classes from the OCSF schema, not the schema itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from importlib import resources
from typing import Any

from inspectorctl import __version__
from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import FindingState, RuleResult, RunRecord
from inspectorctl.models.rule import Rule
from inspectorctl.report.exportable import ExportItem
from inspectorctl.vulns.match import FixAvailable, VulnState

OCSF_VERSION = "1.3.0"
CATEGORY_FINDINGS = 2
CLASS_VULNERABILITY = 2002
CLASS_COMPLIANCE = 2003
ACTIVITY_CREATE, ACTIVITY_UPDATE, ACTIVITY_CLOSE = 1, 2, 3
STATUS_NEW, STATUS_SUPPRESSED, STATUS_RESOLVED = 1, 3, 4
COMPLIANCE_PASS, COMPLIANCE_WARNING, COMPLIANCE_FAIL, COMPLIANCE_UNKNOWN = 1, 2, 3, 0

_SEVERITY_ID = {
    Severity.INFORMATIONAL: (1, "Informational"),
    Severity.LOW: (2, "Low"),
    Severity.MEDIUM: (3, "Medium"),
    Severity.HIGH: (4, "High"),
    Severity.CRITICAL: (5, "Critical"),
}
_ACTIVITY = {ACTIVITY_CREATE: "Create", ACTIVITY_UPDATE: "Update", ACTIVITY_CLOSE: "Close"}
_STATUS = {STATUS_NEW: "New", STATUS_SUPPRESSED: "Suppressed", STATUS_RESOLVED: "Resolved"}
_COMPLIANCE = {COMPLIANCE_PASS: "Pass", COMPLIANCE_WARNING: "Warning",
               COMPLIANCE_FAIL: "Fail", COMPLIANCE_UNKNOWN: "Unknown"}
_CLASS_NAME = {CLASS_VULNERABILITY: "Vulnerability Finding",
               CLASS_COMPLIANCE: "Compliance Finding"}

PRODUCT = {"name": "inspectorctl", "vendor_name": "inspectorctl", "version": __version__}


def ms(d: datetime) -> int:
    """OCSF ``timestamp_t``: milliseconds since the epoch."""
    return int(d.timestamp() * 1000)


def _base(class_uid: int, activity: int, severity: Severity, time: datetime,
          status: int | None) -> dict[str, Any]:
    sev_id, sev = _SEVERITY_ID[severity]
    out: dict[str, Any] = {
        "activity_id": activity,
        "activity_name": _ACTIVITY[activity],
        "category_uid": CATEGORY_FINDINGS,
        "category_name": "Findings",
        "class_uid": class_uid,
        "class_name": _CLASS_NAME[class_uid],
        "type_uid": class_uid * 100 + activity,
        "type_name": f"{_CLASS_NAME[class_uid]}: {_ACTIVITY[activity]}",
        "severity_id": sev_id,
        "severity": sev,
        "time": ms(time),
        "metadata": {"version": OCSF_VERSION, "product": dict(PRODUCT)},
    }
    if status is not None:
        out["status_id"] = status
        out["status"] = _STATUS[status]
    return out


def _resource(host: str) -> dict[str, Any]:
    kind = ("AWS::EC2::Instance" if host.startswith("i-") else
            "AWS::SSM::ManagedInstance" if host.startswith("mi-") else "Host")
    return {"uid": host, "name": host, "type": kind}


def standards(rule: Rule | None, pack: str) -> list[str]:
    """The standards a rule's references name (OCSF requires at least one; a rule that names
    none is held to its pack)."""
    out: list[str] = []
    if rule is not None:
        r = rule.references
        out += sorted({f"CIS {c.benchmark} {c.version}" for c in r.cis})
        if r.pci_dss:
            out.append("PCI DSS v4.0")
        if r.hipaa:
            out.append("HIPAA Security Rule")
        if r.nist_800_53:
            out.append("NIST SP 800-53")
        if r.aws:
            out.append("AWS Foundational Security Best Practices")
    return out or [f"inspectorctl {pack}"]


def _requirements(rule: Rule | None) -> list[str]:
    from inspectorctl.report.asff import requirements

    return requirements(rule)


def from_item(item: ExportItem, run_id: str) -> dict[str, Any]:
    """One OCSF event for a stored finding."""
    f = item.finding
    if f.state is FindingState.CLOSED:
        activity = ACTIVITY_CLOSE
    elif f.first_run == run_id:
        activity = ACTIVITY_CREATE
    else:
        activity = ACTIVITY_UPDATE
    status = {FindingState.ACTIVE: STATUS_NEW, FindingState.SUPPRESSED: STATUS_SUPPRESSED,
              FindingState.CLOSED: STATUS_RESOLVED}[f.state]
    klass = CLASS_VULNERABILITY if item.vuln is not None else CLASS_COMPLIANCE
    out = _base(klass, activity, f.severity, f.last_seen, status)
    info: dict[str, Any] = {
        "uid": f.id,
        "title": f.title or f.rule_id,
        "created_time": ms(f.first_seen),
        "first_seen_time": ms(f.first_seen),
        "last_seen_time": ms(f.last_seen),
        "modified_time": ms(item.updated_at),
        "analytic": {"uid": f.rule_id, "name": item.rule.title if item.rule else f.rule_id,
                     "type_id": 1, "type": "Rule"},
    }
    desc = (item.vuln.summary if item.vuln is not None else
            item.rule.description.strip() if item.rule is not None else None)
    if desc:
        info["desc"] = desc
    out["finding_info"] = info
    out["message"] = f"{f.title} on {f.host}"
    out["resources"] = [_resource(f.host)]
    unmapped: dict[str, Any] = {
        "host": f.host, "rule_id": f.rule_id, "pack": f.pack, "status": f.status.value,
        "state": f.state.value, "score": f.score, "first_run": f.first_run,
        "last_run": f.last_run,
    }
    if f.evidence is not None:
        unmapped["evidence"] = f.evidence.model_dump(mode="json")
    if f.reason:
        unmapped["reason"] = f.reason
    if f.unchecked_note:
        unmapped["not_rechecked"] = f.unchecked_note
    if f.state is FindingState.SUPPRESSED:
        unmapped["suppressed"] = {
            "by": f.suppressed_by, "reason": f.suppress_reason,
            "until": f.suppressed_until.isoformat() if f.suppressed_until else None}
    out["unmapped"] = {"inspectorctl": unmapped}
    if item.vuln is not None:
        out["vulnerabilities"] = [_vulnerability(item)]
        out["remediation"] = {"desc": _vuln_remedy(item)}
    else:
        detail = (f"expected {f.evidence.expected}; found {f.evidence.found}"
                  if f.evidence is not None else f.reason)
        out["compliance"] = _compliance(item.rule, f.pack, f.rule_id, f.status,
                                        f.unchecked_note, detail)
        out["remediation"] = {"desc": _rule_remedy(item.rule, f.rule_id, f.host)}
    return out


def _compliance(rule: Rule | None, pack: str, rule_id: str, status: Status,
                unchecked: str | None, detail: str | None) -> dict[str, Any]:
    if unchecked is not None:
        sid = COMPLIANCE_WARNING
    else:
        sid = {Status.PASS: COMPLIANCE_PASS, Status.FAIL: COMPLIANCE_FAIL,
               Status.ERROR: COMPLIANCE_WARNING,
               Status.NOT_APPLICABLE: COMPLIANCE_UNKNOWN}[status]
    out: dict[str, Any] = {"standards": standards(rule, pack), "control": rule_id,
                           "status_id": sid, "status": _COMPLIANCE[sid],
                           "status_code": status.value}
    reqs = _requirements(rule)
    if reqs:
        out["requirements"] = reqs
    if unchecked or detail:
        out["status_detail"] = unchecked or detail
    return out


def _rule_remedy(rule: Rule | None, rule_id: str, host: str) -> str:
    rem = rule.remediation if rule is not None else None
    if rem is None:
        return f"No remediation is mapped for {rule_id}."
    if rem.manual:
        return "Manual step: " + rem.manual.strip()
    how = (f"the Ansible playbook {rem.playbook}" if rem.playbook
           else f"the SSM document {rem.ssm_document}")
    return (f"Fixed by {how} through inspectorctl's approval gate (inspectorctl plan --rule "
            f"{rule_id} --host {host}, approve, apply).")


def _vuln_remedy(item: ExportItem) -> str:
    v = item.vuln
    assert v is not None
    if v.state is VulnState.AFFECTED_FIX and v.fixed_version:
        return f"Upgrade {v.package} to {v.fixed_version} or later ({v.ecosystem})."
    return f"No fixed {v.package} is available from {v.ecosystem} ({v.state.value})."


def _vulnerability(item: ExportItem) -> dict[str, Any]:
    v = item.vuln
    assert v is not None
    ids = [v.vuln_id, *v.aliases]
    cves = [i for i in ids if i.startswith("CVE-")]
    main = cves[0] if cves else v.vuln_id
    s = v.score
    cvss: dict[str, Any] = {"base_score": s.base, "version": "3.1",
                            "severity": _cvss_severity(s.base)}
    if s.base_vector:
        cvss["vector_string"] = s.base_vector
        if s.base_vector.startswith("CVSS:"):
            cvss["version"] = s.base_vector.split("/", 1)[0].removeprefix("CVSS:")
    manager = next((m for m, p in (("dpkg", "/var/lib/dpkg"), ("rpm", "rpm"),
                                   ("apk", "/lib/apk")) if v.evidence_path.startswith(p)),
                   None)
    packages = []
    for name, version in sorted(v.binaries.items()) or [(v.package, v.installed_version)]:
        pkg: dict[str, Any] = {"name": name, "version": version}
        if v.fixed_version:
            pkg["fixed_in_version"] = v.fixed_version
        if manager:
            pkg["package_manager"] = manager
        packages.append(pkg)
    out: dict[str, Any] = {
        "cve": {"uid": main, "cvss": [cvss]},
        "title": f"{main} in {v.package}",
        "severity": _SEVERITY_ID[s.severity][1],
        "affected_packages": packages,
        "fix_available": v.fix_available is FixAvailable.YES,
        "vendor_name": v.source,
        "remediation": {"desc": _vuln_remedy(item)},
    }
    if v.summary:
        out["desc"] = v.summary
    related = [i for i in ids if i != main]
    if related:
        out["related_vulnerabilities"] = related
    refs = [r for r in v.references if r]
    if refs:
        out["references"] = refs
    if s.kev:
        out["is_exploit_available"] = True
    return out


def _cvss_severity(score: float) -> str:
    if score == 0:
        return "None"
    if score < 4:
        return "Low"
    if score < 7:
        return "Medium"
    if score < 9:
        return "High"
    return "Critical"


#: characters JSON leaves raw in strings that line readers still split on (Python's
#: ``splitlines``, JavaScript): written as escapes, which is the same JSON
_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def lines(events: Iterable[dict[str, Any]]) -> Iterator[str]:
    """JSON lines: one compact event per line. Every character that any line reader breaks
    lines on is escaped (JSON escapes the control characters; U+2028, U+2029 and NEL are
    escaped here), so hostile text can never start a line of its own."""
    for e in events:
        text = json.dumps(e, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        yield text.translate(_LINE_BREAKS)


def export_lines(items: Sequence[ExportItem], run: RunRecord) -> Iterator[str]:
    return lines(from_item(i, run.id) for i in items)


def from_result(res: RuleResult, rule: Rule | None, run: RunRecord) -> dict[str, Any]:
    """One Compliance Finding for a rule result of an assessment (``assess --format ocsf``):
    every result, PASS and NOT_APPLICABLE included, as a compliance check's outcome."""
    when = run.ended_at or run.started_at
    # each result is one evaluation (Create); only a FAIL is a finding to look at (New)
    status = STATUS_NEW if res.status is Status.FAIL else None
    out = _base(CLASS_COMPLIANCE, ACTIVITY_CREATE, res.severity, when, status)
    out["finding_info"] = {
        "uid": res.finding_id, "title": res.title or res.rule_id,
        "analytic": {"uid": res.rule_id, "name": res.title or res.rule_id, "type_id": 1,
                     "type": "Rule"}}
    if rule is not None and rule.description.strip():
        out["finding_info"]["desc"] = rule.description.strip()
    out["message"] = f"{res.title} on {res.host}: {res.status.value}"
    out["resources"] = [_resource(res.host)]
    detail = (f"expected {res.evidence.expected}; found {res.evidence.found}"
              if res.evidence is not None else res.reason)
    out["compliance"] = _compliance(rule, res.pack, res.rule_id, res.status, None, detail)
    out["remediation"] = {"desc": _rule_remedy(rule, res.rule_id, res.host)}
    un: dict[str, Any] = {"host": res.host, "rule_id": res.rule_id, "pack": res.pack,
                          "status": res.status.value, "run": run.id}
    if res.evidence is not None:
        un["evidence"] = res.evidence.model_dump(mode="json")
    if res.reason:
        un["reason"] = res.reason
    out["unmapped"] = {"inspectorctl": un}
    return out


def render_results(run: RunRecord, results: Sequence[RuleResult], rules: Sequence[Rule]) -> str:
    """``assess --format ocsf``: one Compliance Finding per rule result, as JSON lines."""
    by_id = {r.id: r for r in rules}
    return "\n".join(lines(from_result(r, by_id.get(r.rule_id), run) for r in results))


def schema(class_uid: int) -> dict[str, Any]:
    """The JSON Schema (a transcription of OCSF 1.3.0's class) the events are held to."""
    name = {CLASS_COMPLIANCE: "compliance_finding",
            CLASS_VULNERABILITY: "vulnerability_finding"}[class_uid]
    text = (resources.files("inspectorctl.report") / "schemas" /
            f"ocsf-{OCSF_VERSION}-{name}.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc
