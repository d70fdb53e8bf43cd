"""Findings in the AWS Security Finding Format (ASFF), for Security Hub's BatchImportFindings.

A pure mapping (:func:`to_asff`) from an :class:`~inspectorctl.report.exportable.ExportItem`
to one ``AwsSecurityFinding``, and :func:`problems`, which holds a finding to botocore's own
model of that shape (``inspectorctl.aws.model_check``), never to a hand-written copy of it.

What is mapped:

- ``Id`` ``inspectorctl/<finding id>``: the finding id is a digest of (rule, host), so the same
  problem updates the same Security Hub finding run after run. ``ProductArn`` is the account's
  own custom integration (``arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default``),
  ``GeneratorId`` the rule (``inspectorctl/<pack>/<rule>``) or, for a vulnerability, its id.
- ``FindingProviderFields``: ``Severity`` (label from the rule's severity or the vulnerability's
  adjusted score band; a check that passes is INFORMATIONAL, as Security Hub's own controls
  are; ``Original`` keeps ours) and ``Types`` (the standards the rule references, or
  ``Vulnerabilities/CVE``).
- ``Compliance`` (configuration findings): FAIL → FAILED, PASS → PASSED, NOT_APPLICABLE →
  NOT_AVAILABLE, a finding the newest run could not re-check → WARNING with the reason;
  ``RelatedRequirements`` are the rule's CIS / PCI DSS / HIPAA / NIST / AWS references.
- ``Vulnerabilities`` (vulnerability findings): the CVE (other ids as related), the vulnerable
  package(s) with installed and fixed versions, CVSS (base score and vector, its source, our
  adjustments), ``FixAvailable``, ``ExploitAvailable`` YES when the CVE is in CISA's KEV
  catalog (absent otherwise: not being in KEV does not prove there is no exploit), vendor and
  references.
- ``Remediation.Recommendation.Text``: how inspectorctl fixes it (playbook through the
  approval gate, manual text, or the package upgrade).
- ``Resources``: the host. An EC2 instance id (``i-…``) is ``AwsEc2Instance`` with its ARN, an
  SSM managed-instance id (``mi-…``) is ``Other`` with its managed-instance ARN, any other host
  name is ``Other`` with the name as its id.
- Lifecycle: ``CreatedAt``/``FirstObservedAt`` the first time it failed, ``LastObservedAt`` the
  newest observation, ``UpdatedAt`` the newest change (observation, closing, suppression);
  ``RecordState`` ARCHIVED for closed (fixed) and suppressed findings, ACTIVE otherwise;
  ``Workflow.Status`` NEW (active), RESOLVED (closed), SUPPRESSED (with a ``Note`` giving who,
  why and until when). Security Hub takes ``Workflow`` and ``Note`` only when it creates a
  finding (afterwards they are its users', through BatchUpdateFindings); ``RecordState`` and
  the ``inspectorctl/state`` product field follow every change.
- Evidence (expected, found, source, reason) travels in ``ProductFields`` under
  ``inspectorctl/…`` keys.

Every string is cut to the limit the model documents for its member (with a visible marker),
and a finding is cut to fit BatchImportFindings' 240 KB per finding (:func:`fit`): evidence
first, largest first, each cut marked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from inspectorctl.models.common import Frozen, Severity, Status
from inspectorctl.models.finding import FindingState
from inspectorctl.models.rule import Rule
from inspectorctl.report.exportable import ExportItem
from inspectorctl.vulns.match import VulnState

SCHEMA_VERSION = "2018-10-08"
PRODUCT_NAME = "inspectorctl"
COMPANY_NAME = "inspectorctl"
#: BatchImportFindings: at most this many bytes per finding (240 KB)
MAX_FINDING_BYTES = 240 * 1024
#: what the model documents for the members inspectorctl fills (checked by :func:`problems`
#: against the model itself; a test holds these to the model's documentation)
MAX_TITLE = 256
MAX_DESCRIPTION = 1024
MAX_RECOMMENDATION = 512
MAX_NOTE = 512
MAX_FIELD_KEY = 128
MAX_FIELD_VALUE = 2048
MAX_OTHER_VALUE = 1023
MAX_REQUIREMENTS = 32
MAX_TYPES = 50

_EC2_INSTANCE = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_MANAGED_INSTANCE = re.compile(r"^mi-[0-9a-f]{17}$")
_ACCOUNT = re.compile(r"^\d{12}$")

_LABEL = {
    Severity.CRITICAL: "CRITICAL",
    Severity.HIGH: "HIGH",
    Severity.MEDIUM: "MEDIUM",
    Severity.LOW: "LOW",
    Severity.INFORMATIONAL: "INFORMATIONAL",
}

_STANDARD = "Software and Configuration Checks/Industry and Regulatory Standards/"
NOT_RECHECKED = "INSPECTORCTL_NOT_RECHECKED"
NOT_APPLICABLE = "INSPECTORCTL_NOT_APPLICABLE"

#: ProductFields evidence keys, in the order :func:`fit` shortens them
EVIDENCE_KEYS = ("inspectorctl/evidence/found", "inspectorctl/evidence/expected",
                 "inspectorctl/evidence/source", "inspectorctl/reason")


class AsffTarget(Frozen):
    """Where the findings are imported: account, region and partition."""

    account_id: str
    region: str
    partition: str = "aws"

    @property
    def product_arn(self) -> str:
        return (f"arn:{self.partition}:securityhub:{self.region}:{self.account_id}:"
                f"product/{self.account_id}/default")


def partition_of(region: str) -> str:
    """The ARN partition of a region (the names ARNs use; ``Resources[].Partition`` takes
    its own spelling, see :data:`_RESOURCE_PARTITION`)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    return "aws"


#: ARN partition -> the model's ``Resource.Partition`` enum value
_RESOURCE_PARTITION = {"aws": "aws", "aws-cn": "aws-cn", "aws-us-gov": "aws-us-gov",
                       "aws-iso": "aws-us-iso", "aws-iso-b": "aws-us-iso-b"}


def check_account_id(value: str) -> str:
    if not _ACCOUNT.match(value):
        raise ValueError(f"{value!r} is not an AWS account id (12 digits)")
    return value


def truncated(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a visible marker saying how much was cut."""
    if len(text) <= limit:
        return text
    keep = max(0, limit - 48)
    while True:
        marker = f" [...truncated by inspectorctl: {len(text) - keep} of {len(text)} chars]"
        if keep + len(marker) <= limit or keep == 0:
            return (text[:keep] + marker)[:limit]
        keep -= 1


def asff_time(d: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as Security Hub's examples write timestamps."""
    return d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def _nonblank(text: str | None, fallback: str) -> str:
    return text if text is not None and text.strip() else fallback


def finding_asff_id(finding_id: str) -> str:
    return f"inspectorctl/{finding_id}"


def to_asff(item: ExportItem, target: AsffTarget) -> dict[str, Any]:
    """One ASFF finding; call :func:`fit` on it before sending."""
    f = item.finding
    rule = item.rule
    vuln = item.vuln
    closed = f.state is not FindingState.ACTIVE
    passed = f.status is Status.PASS
    severity = f.severity
    label = "INFORMATIONAL" if (passed and not item.is_vulnerability) else _LABEL[severity]
    original = (f"{vuln.score.adjusted:g}" if vuln is not None else severity.value)
    title = truncated(_nonblank(f.title, f.rule_id), MAX_TITLE)
    if vuln is not None:
        description = _nonblank(vuln.summary, f"{f.title} on {f.host}")
        generator = f"inspectorctl/vulns/{vuln.vuln_id}"
    else:
        description = _nonblank(rule.description.strip() if rule else None,
                                 f"{f.title} (rule {f.rule_id} on {f.host})")
        generator = f"inspectorctl/{f.pack}/{f.rule_id}"
    out: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_asff_id(f.id),
        "ProductArn": target.product_arn,
        "ProductName": PRODUCT_NAME,
        "CompanyName": COMPANY_NAME,
        # no top-level Region: Security Hub sets it and refuses it in BatchImportFindings
        "GeneratorId": truncated(generator, 512),
        "AwsAccountId": target.account_id,
        "FirstObservedAt": asff_time(f.first_seen),
        "LastObservedAt": asff_time(f.last_seen),
        "CreatedAt": asff_time(f.first_seen),
        "UpdatedAt": asff_time(item.updated_at),
        "Title": title,
        "Description": truncated(description, MAX_DESCRIPTION),
        "FindingProviderFields": {
            "Severity": {"Label": label, "Original": original},
            "Types": _types(item)[:MAX_TYPES],
        },
        "Remediation": {"Recommendation": {
            "Text": truncated(_recommendation(item), MAX_RECOMMENDATION)}},
        "ProductFields": _product_fields(item),
        "Resources": [_resource(f.host, target)],
        "RecordState": "ARCHIVED" if closed else "ACTIVE",
        "Workflow": {"Status": ("SUPPRESSED" if f.state is FindingState.SUPPRESSED
                                else "RESOLVED" if closed else "NEW")},
    }
    if vuln is None:
        out["Compliance"] = _compliance(item)
    else:
        out["Vulnerabilities"] = [_vulnerability(item)]
    if f.state is FindingState.SUPPRESSED:
        until = (f" until {f.suppressed_until:%Y-%m-%d}" if f.suppressed_until else "")
        out["Note"] = {
            "Text": truncated(f"accepted risk{until}: {_nonblank(f.suppress_reason, '-')}",
                              MAX_NOTE),
            "UpdatedBy": truncated(_nonblank(f.suppressed_by, "inspectorctl"), 512),
            "UpdatedAt": asff_time(item.updated_at),
        }
    return out


def _types(item: ExportItem) -> list[str]:
    if item.vuln is not None:
        ids = (item.vuln.vuln_id, *item.vuln.aliases)
        cve = any(i.startswith("CVE-") for i in ids)
        return ["Software and Configuration Checks/Vulnerabilities/" + ("CVE" if cve else
                                                                        "Other")]
    rule = item.rule
    if rule is None:
        return ["Software and Configuration Checks"]
    refs = rule.references
    out = []
    if refs.cis:
        out.append(_STANDARD + "CIS Host Hardening Benchmarks")
    if refs.pci_dss:
        out.append(_STANDARD + "PCI-DSS")
    if refs.hipaa:
        out.append(_STANDARD + "HIPAA Controls (USA)")
    if refs.nist_800_53:
        out.append(_STANDARD + "NIST 800-53 Controls (USA)")
    if refs.aws or item.finding.pack == "aws-best-practices":
        out.append("Software and Configuration Checks/AWS Security Best Practices")
    return out or ["Software and Configuration Checks"]


def requirements(rule: Rule | None) -> list[str]:
    """The rule's references as requirement names (``CIS debian12 1.1.0 5.1.20``,
    ``PCI DSS v4.0 2.2.6``, ``HIPAA 164.312(b)``, ``NIST 800-53 AC-6``, ``AWS …``)."""
    if rule is None:
        return []
    r = rule.references
    return ([f"CIS {c.benchmark} {c.version} {c.id}" for c in r.cis]
            + [f"PCI DSS v4.0 {x}" for x in r.pci_dss]
            + [f"HIPAA {x}" for x in r.hipaa]
            + [f"NIST 800-53 {x}" for x in r.nist_800_53]
            + [f"AWS {x}" for x in r.aws])


def compliance_status(item: ExportItem) -> str:
    f = item.finding
    if f.unchecked_run is not None:
        return "WARNING"
    return {Status.FAIL: "FAILED", Status.PASS: "PASSED",
            Status.NOT_APPLICABLE: "NOT_AVAILABLE", Status.ERROR: "NOT_AVAILABLE"}[f.status]


def _compliance(item: ExportItem) -> dict[str, Any]:
    f = item.finding
    status = compliance_status(item)
    out: dict[str, Any] = {"Status": status}
    reqs = [truncated(x, 256) for x in requirements(item.rule)][:MAX_REQUIREMENTS]
    if reqs:
        out["RelatedRequirements"] = reqs
    if status == "WARNING":
        out["StatusReasons"] = [{"ReasonCode": NOT_RECHECKED, "Description": truncated(
            f.unchecked_note or "not re-checked", MAX_DESCRIPTION)}]
    elif status == "NOT_AVAILABLE":
        out["StatusReasons"] = [{"ReasonCode": NOT_APPLICABLE, "Description": truncated(
            _nonblank(f.reason, "not applicable to this host"), MAX_DESCRIPTION)}]
    return out


def _recommendation(item: ExportItem) -> str:
    f = item.finding
    v = item.vuln
    if v is not None:
        if v.state is VulnState.AFFECTED_FIX and v.fixed_version:
            return (f"Upgrade {v.package} to {v.fixed_version} or later ({v.ecosystem}), then "
                    f"run `inspectorctl vulns assess` again to close the finding.")
        return (f"No fixed {v.package} is available from {v.ecosystem} ({v.state.value}"
                + (f": {v.reason}" if v.reason else "") + "); mitigate, or suppress the "
                "finding as an accepted risk.")
    rem = item.rule.remediation if item.rule is not None else None
    if rem is None:
        return (f"No remediation is mapped for {f.rule_id}; see "
                f"`inspectorctl findings show {f.id}` for the rule's rationale.")
    if rem.manual:
        return "Manual step: " + rem.manual.strip()
    how = (f"the Ansible playbook {rem.playbook}" if rem.playbook
           else f"the SSM document {rem.ssm_document}")
    return (f"Fixed by {how} through inspectorctl's approval gate: `inspectorctl plan --rule "
            f"{f.rule_id} --host {f.host}`, approve the plan, then `inspectorctl apply`.")


def _product_fields(item: ExportItem) -> dict[str, str]:
    f = item.finding
    fields: dict[str, str] = {
        "inspectorctl/finding_id": f.id,
        "inspectorctl/rule_id": f.rule_id,
        "inspectorctl/pack": f.pack,
        "inspectorctl/host": f.host,
        "inspectorctl/status": f.status.value,
        "inspectorctl/state": f.state.value,
        "inspectorctl/severity": f.severity.value,
        "inspectorctl/score": f"{f.score:g}",
        "inspectorctl/first_run": f.first_run,
        "inspectorctl/last_run": f.last_run,
    }
    if f.evidence is not None:
        fields["inspectorctl/evidence/expected"] = f.evidence.expected
        fields["inspectorctl/evidence/found"] = f.evidence.found
        if f.evidence.source:
            fields["inspectorctl/evidence/source"] = f.evidence.source
    if f.reason:
        fields["inspectorctl/reason"] = f.reason
    if f.unchecked_note:
        fields["inspectorctl/not_rechecked"] = f.unchecked_note
    if item.rule is not None and item.rule.references.cac:
        fields["inspectorctl/complianceascode"] = " ".join(item.rule.references.cac)
    v = item.vuln
    if v is not None:
        fields |= {"inspectorctl/vuln/state": v.state.value,
                   "inspectorctl/vuln/installed": v.installed_version,
                   "inspectorctl/vuln/ecosystem": v.ecosystem,
                   "inspectorctl/vuln/score_adjusted": f"{v.score.adjusted:g}",
                   "inspectorctl/vuln/kev": "true" if v.score.kev else "false"}
    # values are data from hosts: any text, cut to the documented size; blank values are
    # refused by the model (NonEmptyString), so they are said in words
    return {k[:MAX_FIELD_KEY]: truncated(_nonblank(val, "(empty)"), MAX_FIELD_VALUE)
            for k, val in fields.items()}


def _resource(host: str, target: AsffTarget) -> dict[str, Any]:
    p, region, account = target.partition, target.region, target.account_id
    rp = _RESOURCE_PARTITION.get(p, "aws")
    if _EC2_INSTANCE.match(host):
        return {"Type": "AwsEc2Instance", "Partition": rp, "Region": region,
                "Id": f"arn:{p}:ec2:{region}:{account}:instance/{host}"}
    if _MANAGED_INSTANCE.match(host):
        return {"Type": "Other", "Partition": rp, "Region": region,
                "Id": f"arn:{p}:ssm:{region}:{account}:managed-instance/{host}",
                "Details": {"Other": {"ManagedInstanceId": host}}}
    return {"Type": "Other", "Partition": rp, "Region": region,
            "Id": truncated(_nonblank(host, "(unnamed host)"), 512),
            "Details": {"Other": {"Host": truncated(_nonblank(host, "(unnamed host)"),
                                                    MAX_OTHER_VALUE)}}}


def _vulnerability(item: ExportItem) -> dict[str, Any]:
    v = item.vuln
    assert v is not None
    ids = [v.vuln_id, *v.aliases]
    cves = [i for i in ids if i.startswith("CVE-")]
    main = cves[0] if cves else v.vuln_id
    manager = next((m for m in ("dpkg", "rpm", "apk") if v.evidence_path.startswith(
        {"dpkg": "/var/lib/dpkg", "rpm": "rpm", "apk": "/lib/apk"}[m])), None)
    packages = []
    for name, version in sorted(v.binaries.items()) or [(v.package, v.installed_version)]:
        pkg: dict[str, Any] = {"Name": name, "Version": version}
        if manager:
            pkg["PackageManager"] = manager
        if v.fixed_version:
            pkg["FixedInVersion"] = v.fixed_version
            pkg["Remediation"] = truncated(f"upgrade {v.package} to {v.fixed_version}", 1024)
        packages.append(pkg)
    out: dict[str, Any] = {"Id": main, "VulnerablePackages": packages,
                           "FixAvailable": v.fix_available.value}
    related = [i for i in ids if i != main]
    if related:
        out["RelatedVulnerabilities"] = related
    s = v.score
    cvss: dict[str, Any] = {"BaseScore": s.base, "Source": truncated(s.base_source, 256)}
    if s.base_vector:
        cvss["BaseVector"] = s.base_vector
        m = re.match(r"^CVSS:(\d\.\d)/", s.base_vector)
        if m:
            cvss["Version"] = m.group(1)
    if s.adjustments:
        cvss["Adjustments"] = [{"Metric": a.name, "Reason": truncated(a.reason, 512)}
                               for a in s.adjustments]
    out["Cvss"] = [cvss]
    vendor: dict[str, Any] = {"Name": v.source}
    refs = [r for r in v.references if r.startswith(("https://", "http://"))]
    if refs:
        vendor["Url"] = refs[0]
        out["ReferenceUrls"] = refs
    out["Vendor"] = vendor
    if s.kev:
        out["ExploitAvailable"] = "YES"
    return out


# ------------------------------------------------------------------------------- size

def size(finding: dict[str, Any]) -> int:
    """Bytes of the finding in the request body, as botocore serialises rest-json bodies
    (``json.dumps`` defaults: ASCII only, every other character as \\u escapes, which is
    what makes hostile text large)."""
    return len(json.dumps(finding).encode())


def fit(finding: dict[str, Any], limit: int = MAX_FINDING_BYTES) -> dict[str, Any]:
    """The finding cut to ``limit`` bytes: the evidence fields, then the description, are
    halved (largest first, each cut marked) until it fits. Raises ``ValueError`` when even
    that cannot make it fit."""
    if size(finding) <= limit:
        return finding
    out: dict[str, Any] = json.loads(json.dumps(finding))
    fields: dict[str, str] = out.get("ProductFields", {})
    while size(out) > limit:
        candidates = [(len(json.dumps(fields[k])), k) for k in EVIDENCE_KEYS
                      if k in fields and len(fields[k]) > 64]
        if candidates:
            _, key = max(candidates)
            fields[key] = truncated(fields[key], len(fields[key]) // 2)
        elif len(out["Description"]) > 64:
            out["Description"] = truncated(out["Description"], len(out["Description"]) // 2)
        else:
            raise ValueError(f"{finding['Id']}: {size(out)} bytes even with its evidence cut "
                             f"(limit {limit})")
    return out


# ------------------------------------------------------------------------------- model

def problems(finding: dict[str, Any]) -> list[str]:
    """What is wrong with ``finding`` against botocore's Security Hub model
    (``AwsSecurityFinding``, with the limits its documentation states); empty when nothing."""
    from inspectorctl.aws.model_check import check, shape

    return check(finding, shape("securityhub", "AwsSecurityFinding"))


def prepare(items: Sequence[ExportItem], target: AsffTarget
            ) -> tuple[list[dict[str, Any]], list[tuple[ExportItem, str]]]:
    """The findings ready to send (mapped, fitted, conforming), and those that are not, each
    with why: a finding that would not conform is never sent."""
    ready: list[dict[str, Any]] = []
    refused: list[tuple[ExportItem, str]] = []
    for item in items:
        try:
            f = fit(to_asff(item, target))
        except ValueError as e:
            refused.append((item, str(e)))
            continue
        bad = problems(f)
        if bad:
            refused.append((item, "not sent, it does not conform to Security Hub's model: "
                            + "; ".join(bad[:5])))
            continue
        ready.append(f)
    return ready, refused
