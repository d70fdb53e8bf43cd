"""Machine-readable report formats: JSON, CSV, JUnit XML, SARIF 2.1.0.

``ASSESS`` (the formats of ``assess``) and ``FINDINGS`` (of ``findings list``) are the
registries the CLI's ``--format`` reads (see ``report/registry.py``); adding a format is one
entry. JUnit and SARIF are written from ``Item``s, which both a run's results and stored
findings make.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from inspectorctl import __version__
from inspectorctl.errors import InputError
from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import Evidence, Finding, FindingState, RuleResult, RunRecord
from inspectorctl.models.rule import Rule
from inspectorctl.report import vulnformats
from inspectorctl.report.csvout import Column, columns, path, render_csv
from inspectorctl.report.jsondoc import dumps, envelope
from inspectorctl.report.registry import Formats
from inspectorctl.report.summary import assessment_doc
from inspectorctl.textsafe import xml_text
from inspectorctl.vuln_assess import Staleness, VulnFinding


@dataclass(frozen=True)
class Report:
    run: RunRecord
    results: Sequence[RuleResult]
    rules: Sequence[Rule]
    compliance: list[dict[str, Any]] | None = None
    timings: dict[str, float] | None = None
    #: what the CLI made of the stored run for the formats that read the store: the ASFF
    #: findings (``asff.prepare``'s ready ones) and the HTML page (``report --html``'s)
    asff: list[dict[str, Any]] | None = None
    html: str | None = None
    #: when the run matched vulnerabilities: how current the advisory data is, and the
    #: vulnerability findings behind the ``vulns`` pack's results (``vulnformats``)
    advisory_data: Staleness | None = None
    vulns: Sequence[VulnFinding] = ()


@dataclass(frozen=True)
class FindingsView:
    """Stored findings as ``findings list`` selected them, with the rules that describe them
    (for SARIF's rule descriptors; a finding whose rule is not among them is still listed)."""

    findings: Sequence[Finding]
    rules: Sequence[Rule] = ()
    #: the ASFF findings of these (``asff.prepare``'s ready ones), for ``--format asff``
    asff: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Item:
    """What JUnit and SARIF need of one result or finding."""

    finding_id: str
    rule_id: str
    pack: str
    host: str
    status: Status
    severity: Severity
    title: str
    evidence: Evidence | None
    reason: str | None
    #: why it is accepted (a suppressed finding), else None
    suppressed: str | None = None

    @classmethod
    def of_result(cls, r: RuleResult) -> Item:
        return cls(r.finding_id, r.rule_id, r.pack, r.host, r.status, r.severity, r.title,
                   r.evidence, r.reason)

    @classmethod
    def of_finding(cls, f: Finding) -> Item:
        why = None
        if f.state is FindingState.SUPPRESSED:
            why = f"suppressed by {f.suppressed_by or '?'}: {f.suppress_reason or ''}"
        return cls(f.id, f.rule_id, f.pack, f.host, f.status, f.severity, f.title,
                   f.evidence, f.reason, why)


# ------------------------------------------------------------------------------------ JSON


def render_json(r: Report) -> str:
    doc = assessment_doc(r.run, r.results, r.compliance, r.timings)
    if r.advisory_data is not None:
        doc["advisory_data"] = r.advisory_data.model_dump(mode="json")
        doc["vulnerabilities"] = [f.model_dump(mode="json") for f in r.vulns]
    return dumps(doc)


def render_findings_json(v: FindingsView) -> str:
    return dumps(envelope("findings", {
        "findings": [f.model_dump(mode="json") for f in v.findings]}))


# ------------------------------------------------------------------------------------- CSV

#: one row per result of an assessment, in this order (a new column goes at the end)
RESULT_COLUMNS: list[Column] = [
    ("run_id", path("run_id")),
    *columns("finding_id", "host", "pack", "rule_id", "title", "severity", "score", "status",
             "evidence.expected", "evidence.found", "evidence.source", "reason"),
]

#: one row per stored finding, in this order (a new column goes at the end)
FINDING_COLUMNS: list[Column] = columns(
    "id", "host", "pack", "rule_id", "title", "severity", "score", "status", "state",
    "evidence.expected", "evidence.found", "evidence.source", "reason", "first_seen",
    "last_seen", "closed_at", "first_run", "last_run", "suppressed_by", "suppressed_until",
    "suppress_reason", "unchecked_run", "unchecked_reason", "suppress_source")


def render_csv_results(r: Report) -> str:
    rows = ({**res.model_dump(mode="json"), "run_id": r.run.id,
             "finding_id": res.finding_id, "score": res.score} for res in r.results)
    return render_csv(RESULT_COLUMNS, rows)


def render_findings_csv(v: FindingsView) -> str:
    return render_csv(FINDING_COLUMNS, (f.model_dump(mode="json") for f in v.findings))


# ----------------------------------------------------------------------------------- JUnit


def junit(name: str, items: Sequence[Item]) -> str:
    """One testsuite per host, one testcase per rule: FAIL is a failure (skipped when the
    finding is suppressed, with the reason), ERROR an error, NOT_APPLICABLE skipped."""
    by_host: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        by_host[it.host].append(it)
    suites = ET.Element("testsuites", name=name)
    for host in sorted(by_host):
        rows = by_host[host]
        skipped = sum(1 for x in rows if x.status is Status.NOT_APPLICABLE
                      or (x.status is Status.FAIL and x.suppressed))
        failures = sum(1 for x in rows if x.status is Status.FAIL and not x.suppressed)
        suite = ET.SubElement(
            suites, "testsuite", name=host, tests=str(len(rows)), failures=str(failures),
            errors=str(sum(1 for x in rows if x.status is Status.ERROR)), skipped=str(skipped),
        )
        for it in sorted(rows, key=lambda x: x.rule_id):
            case = ET.SubElement(suite, "testcase", classname=f"{it.pack}.{host}",
                                 name=f"{it.rule_id}: {it.title}")
            detail = _detail(it)
            if it.status is Status.FAIL and it.suppressed:
                ET.SubElement(case, "skipped", message=f"{it.suppressed} ({detail})")
            elif it.status is Status.FAIL:
                ET.SubElement(case, "failure", message=f"[{it.severity.value}] {detail}",
                              type=it.severity.value).text = detail
            elif it.status is Status.ERROR:
                ET.SubElement(case, "error", message=detail).text = detail
            elif it.status is Status.NOT_APPLICABLE:
                ET.SubElement(case, "skipped", message=it.reason or "not applicable")
    for el in suites.iter():  # XML 1.0 forbids most control characters (host evidence)
        if el.text:
            el.text = xml_text(el.text)
        for k, v in el.attrib.items():
            el.attrib[k] = xml_text(v)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def render_junit(r: Report) -> str:
    text = junit(f"inspectorctl {r.run.id}", [Item.of_result(x) for x in r.results])
    return text if r.advisory_data is None else vulnformats.junit_staleness(text,
                                                                            r.advisory_data)


def render_findings_junit(v: FindingsView) -> str:
    return junit("inspectorctl findings", [Item.of_finding(f) for f in v.findings])


def _detail(it: Item) -> str:
    if it.evidence is not None:
        return f"expected {it.evidence.expected}; found {it.evidence.found}"
    return it.reason or ""


# ----------------------------------------------------------------------------------- SARIF

_SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFORMATIONAL: "note",
}


def sarif(items: Sequence[Item], rules: Sequence[Rule], automation_id: str | None) -> str:
    """SARIF 2.1.0: a rule descriptor per rule that has a result, one result per FAIL
    (kind "fail") and per ERROR (kind "review": it could not be checked), located at the host;
    the finding id is the partial fingerprint so code-scanning UIs track it across runs; a
    suppressed finding carries an accepted external suppression with its reason."""
    by_id = {rule.id: rule for rule in rules}
    shown = [it for it in items if it.status in (Status.FAIL, Status.ERROR)]
    used = sorted({it.rule_id for it in shown})
    index = {rid: i for i, rid in enumerate(used)}
    descriptors = []
    for rid in used:
        rule = by_id.get(rid)
        d: dict[str, Any] = {"id": rid}
        if rule is not None:
            d |= {
                "name": rule.title,
                "shortDescription": {"text": rule.title},
                "fullDescription": {"text": rule.description.strip()},
                "help": {"text": rule.rationale.strip()},
                "properties": {
                    "security-severity": f"{_score(rule.severity):.1f}",
                    "tags": ["security", *(f"pci-dss:{x}" for x in rule.references.pci_dss),
                             *(f"hipaa:{x}" for x in rule.references.hipaa)],
                },
            }
        descriptors.append(d)
    results = []
    for it in shown:
        res: dict[str, Any] = {
            "ruleId": it.rule_id,
            "ruleIndex": index[it.rule_id],
            "level": _SARIF_LEVEL[it.severity] if it.status is Status.FAIL else "warning",
            "kind": "fail" if it.status is Status.FAIL else "review",
            "message": {"text": f"{it.host}: {_detail(it)}"},
            "locations": [{"physicalLocation": {"artifactLocation": {
                "uri": f"host://{it.host}/",
            }}, "logicalLocations": [{"name": it.host, "kind": "host"}]}],
            "partialFingerprints": {"inspectorctlFinding/v1": it.finding_id},
        }
        if it.suppressed:
            res["suppressions"] = [{"kind": "external", "status": "accepted",
                                    "justification": it.suppressed}]
        results.append(res)
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "inspectorctl", "version": __version__,
                            "rules": descriptors}},
        "results": results,
    }
    if automation_id is not None:
        run["automationDetails"] = {"id": automation_id}
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    }
    return dumps(doc)


def render_sarif(r: Report) -> str:
    text = sarif([Item.of_result(x) for x in r.results], r.rules, r.run.id)
    return text if r.advisory_data is None else vulnformats.sarif_vulns(text, r.vulns,
                                                                        r.advisory_data)


def render_findings_sarif(v: FindingsView) -> str:
    return sarif([Item.of_finding(f) for f in v.findings], v.rules, None)


def _score(sev: Severity) -> float:
    from inspectorctl.models.finding import SEVERITY_SCORE

    return SEVERITY_SCORE[sev]


def render_ocsf(r: Report) -> str:
    """OCSF 1.3.0 Compliance Findings, one JSON line per rule result (``report/ocsf.py``)."""
    from inspectorctl.report.ocsf import render_results

    return render_results(r.run, r.results, r.rules)


def _prepared(doc: str | None, fmt: str) -> str:
    if doc is None:  # the CLI prepares it from the store before rendering
        raise InputError(f"--format {fmt} needs the stored run (it was not prepared)")
    return doc


def render_asff(r: Report | FindingsView) -> str:
    """The ASFF findings as one JSON array, as ``export securityhub`` sends them."""
    return _prepared(json.dumps(r.asff, indent=2) if r.asff is not None else None, "asff")


def render_html_page(r: Report) -> str:
    """``report --html``'s page of this run."""
    return _prepared(r.html, "html")


#: ``assess --format``: one entry per format (``table`` is drawn by the CLI)
ASSESS: Formats[Report] = Formats("assess", {
    "json": render_json,
    "csv": render_csv_results,
    "junit": render_junit,
    "sarif": render_sarif,
    "ocsf": render_ocsf,
    "asff": render_asff,
    "html": render_html_page,
})

#: ``findings list --format``
FINDINGS: Formats[FindingsView] = Formats("findings list", {
    "json": render_findings_json,
    "csv": render_findings_csv,
    "junit": render_findings_junit,
    "sarif": render_findings_sarif,
    "asff": render_asff,
}, elsewhere={"ocsf": "`inspectorctl export ocsf` writes the stored findings",
              "html": "`inspectorctl report --html FILE` writes the HTML report"})

