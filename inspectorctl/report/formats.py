"""Machine-readable report formats for CI: JSON, JUnit XML, SARIF 2.1.0.

One registry (``FORMATS``) maps a format name to a renderer ``(report) -> str``; the CLI's
``--format`` lists its keys. The table format is rendered by ``summary.render_assessment``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from inspectorctl import __version__
from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import RuleResult, RunRecord
from inspectorctl.models.rule import Rule
from inspectorctl.report.summary import assessment_json
from inspectorctl.textsafe import xml_text


@dataclass(frozen=True)
class Report:
    run: RunRecord
    results: Sequence[RuleResult]
    rules: Sequence[Rule]
    compliance: list[dict[str, Any]] | None = None
    timings: dict[str, float] | None = None


def render_json(r: Report) -> str:
    return assessment_json(r.run, r.results, r.compliance, r.timings)


def render_junit(r: Report) -> str:
    """One testsuite per host, one testcase per rule: FAIL is a failure, ERROR an error,
    NOT_APPLICABLE skipped (with the reason)."""
    by_host: dict[str, list[RuleResult]] = defaultdict(list)
    for res in r.results:
        by_host[res.host].append(res)
    suites = ET.Element("testsuites", name=f"inspectorctl {r.run.id}")
    for host in sorted(by_host):
        rows = by_host[host]
        counts = {s: sum(1 for x in rows if x.status is s) for s in Status}
        suite = ET.SubElement(
            suites, "testsuite", name=host, tests=str(len(rows)),
            failures=str(counts[Status.FAIL]), errors=str(counts[Status.ERROR]),
            skipped=str(counts[Status.NOT_APPLICABLE]),
        )
        for res in sorted(rows, key=lambda x: x.rule_id):
            case = ET.SubElement(suite, "testcase", classname=f"{res.pack}.{host}",
                                 name=f"{res.rule_id}: {res.title}")
            detail = _detail(res)
            if res.status is Status.FAIL:
                ET.SubElement(case, "failure", message=f"[{res.severity.value}] {detail}",
                              type=res.severity.value).text = detail
            elif res.status is Status.ERROR:
                ET.SubElement(case, "error", message=detail).text = detail
            elif res.status is Status.NOT_APPLICABLE:
                ET.SubElement(case, "skipped", message=res.reason or "not applicable")
    for el in suites.iter():  # XML 1.0 forbids most control characters (host evidence)
        if el.text:
            el.text = xml_text(el.text)
        for k, v in el.attrib.items():
            el.attrib[k] = xml_text(v)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def _detail(res: RuleResult) -> str:
    if res.evidence is not None:
        return f"expected {res.evidence.expected}; found {res.evidence.found}"
    return res.reason or ""


_SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFORMATIONAL: "note",
}


def render_sarif(r: Report) -> str:
    """SARIF 2.1.0: a rule descriptor per rule that has a result, one result per FAIL
    (kind "fail") and per ERROR (kind "review": it could not be checked), located at the host;
    the finding id is the partial fingerprint so code-scanning UIs track it across runs."""
    rules = {rule.id: rule for rule in r.rules}
    used = sorted({res.rule_id for res in r.results if res.status in (Status.FAIL,
                                                                        Status.ERROR)})
    index = {rid: i for i, rid in enumerate(used)}
    descriptors = []
    for rid in used:
        rule = rules.get(rid)
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
    for res in r.results:
        if res.status not in (Status.FAIL, Status.ERROR):
            continue
        results.append({
            "ruleId": res.rule_id,
            "ruleIndex": index[res.rule_id],
            "level": _SARIF_LEVEL[res.severity] if res.status is Status.FAIL else "warning",
            "kind": "fail" if res.status is Status.FAIL else "review",
            "message": {"text": f"{res.host}: {_detail(res)}"},
            "locations": [{"physicalLocation": {"artifactLocation": {
                "uri": f"host://{res.host}/",
            }}, "logicalLocations": [{"name": res.host, "kind": "host"}]}],
            "partialFingerprints": {"inspectorctlFinding/v1": res.finding_id},
        })
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "inspectorctl", "version": __version__,
                                "rules": descriptors}},
            "automationDetails": {"id": r.run.id},
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2)


def _score(sev: Severity) -> float:
    from inspectorctl.models.finding import SEVERITY_SCORE

    return SEVERITY_SCORE[sev]


def render_ocsf(r: Report) -> str:
    """OCSF 1.3.0 Compliance Findings, one JSON line per rule result (``report/ocsf.py``)."""
    from inspectorctl.report.ocsf import render_results

    return render_results(r.run, r.results, r.rules)


FORMATS: dict[str, Callable[[Report], str]] = {
    "json": render_json,
    "junit": render_junit,
    "sarif": render_sarif,
    "ocsf": render_ocsf,
}
