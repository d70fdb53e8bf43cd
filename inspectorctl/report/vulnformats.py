"""What SARIF and JUnit reports of a run that matched vulnerabilities carry beyond its rule
results: the advisory data's age (SARIF run properties; a JUnit test case of its own, failing
when stale) and, in SARIF, each vulnerability's descriptor (security-severity = its adjusted
score) and its result's fix state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from xml.etree import ElementTree as ET

from inspectorctl.vuln_assess import Staleness, VulnFinding


def sarif_vulns(text: str, findings: Sequence[VulnFinding], staleness: Staleness) -> str:
    doc = json.loads(text)
    run = doc["runs"][0]
    run["properties"] = {"advisoryData": staleness.model_dump(mode="json")}
    by_rule = {f.rule_id: f for f in findings}
    for d in run["tool"]["driver"]["rules"]:
        f = by_rule.get(d["id"])
        if f is None:
            continue
        d["shortDescription"] = {"text": f"{f.vuln_id} in {f.package}"}
        d["properties"] = {"security-severity": f"{f.score.adjusted:.1f}",
                           "tags": ["security", "vulnerability", f.ecosystem]}
        if f.references:
            d["helpUri"] = f.references[0]
    details = {f.rule_id + "\x00" + f.host: f for f in findings}
    for res in run["results"]:
        f = details.get(res["ruleId"] + "\x00" + res["locations"][0][
            "logicalLocations"][0]["name"])
        if f is not None:
            res["properties"] = {"fixAvailable": f.fix_available.value,
                                 "state": f.state.value, "kev": f.score.kev,
                                 "fixedVersion": f.fixed_version}
    return json.dumps(doc, indent=2)


def junit_staleness(text: str, staleness: Staleness) -> str:
    """The data's age as a test of its own, failing when stale."""
    root = ET.fromstring(text.split("\n", 1)[1])
    suite = ET.SubElement(root, "testsuite", name="advisory-data", tests="1",
                          failures="1" if staleness.stale else "0", errors="0", skipped="0")
    case = ET.SubElement(suite, "testcase", classname="vulns.advisory-data",
                         name="advisory data is current")
    if staleness.stale:
        ET.SubElement(case, "failure", message=staleness.message)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
