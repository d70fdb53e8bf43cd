"""ASFF mapping: every finding kind, held to botocore's own Security Hub model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from hypothesis import given, settings
from hypothesis import strategies as st

from inspectorctl.aws.model_check import Constraints, check, shape
from inspectorctl.models.finding import finding_id
from inspectorctl.report import asff
from inspectorctl.report.exportable import ExportItem, load
from inspectorctl.store.db import Store
from tests.report.exportdata import EC2, MI, T0, T1, T_SUPPRESS, VULN_RULE, WEB, build

TARGET = asff.AsffTarget(account_id="123456789012", region="eu-west-1")


def _items(tmp: Path, **kw: Any) -> dict[tuple[str, str], ExportItem]:
    with Store(build(tmp, **kw)) as store:
        data = load(store)
    assert data.run.id == "r-2"
    return {(i.finding.rule_id, i.finding.host): i for i in data.items}


def _sub(tmp: Path, name: str) -> Path:
    (tmp / name).mkdir()
    return tmp / name


def _all(tmp: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {k: asff.fit(asff.to_asff(i, TARGET)) for k, i in _items(tmp).items()}


def _botocore_errors(findings: list[dict[str, Any]]) -> str:
    model = botocore.session.get_session().get_service_model("securityhub")
    op = model.operation_model("BatchImportFindings")
    report = ParamValidator().validate({"Findings": findings}, op.input_shape)
    return report.generate_report() if report.has_errors() else ""


def test_every_kind_of_finding_conforms_to_the_model(tmp_path: Path) -> None:
    found = _all(tmp_path)
    assert len(found) == 6
    for f in found.values():
        assert asff.problems(f) == [], f["Id"]
    assert _botocore_errors(list(found.values())) == ""


def test_lifecycle_maps_to_record_state_workflow_compliance_and_times(tmp_path: Path) -> None:
    found = _all(tmp_path)

    def row(key: tuple[str, str]) -> tuple[Any, ...]:
        f = found[key]
        return (f["RecordState"], f["Workflow"]["Status"], f.get("Compliance", {}).get("Status"),
                f["FindingProviderFields"]["Severity"]["Label"], f["CreatedAt"],
                f["UpdatedAt"])

    t0, t1 = asff.asff_time(T0), asff.asff_time(T1)
    assert row(("mini-ssh-root", WEB)) == ("ARCHIVED", "RESOLVED", "PASSED", "INFORMATIONAL",
                                           t0, t1)
    assert row(("mini-ip-forward", WEB)) == ("ARCHIVED", "SUPPRESSED", "FAILED", "LOW", t0,
                                             asff.asff_time(T_SUPPRESS))
    # an ERROR in r-2: the finding keeps its FAIL, says it was not re-checked, changed at r-2
    assert row(("mini-ssh-tries", EC2)) == ("ACTIVE", "NEW", "WARNING", "MEDIUM", t0, t1)
    assert row(("mini-ssh-root", MI)) == ("ARCHIVED", "RESOLVED", "NOT_AVAILABLE", "HIGH", t0,
                                          t1)
    assert row(("mini-ssh-tries", WEB)) == ("ACTIVE", "NEW", "FAILED", "MEDIUM", t1, t1)
    assert row((VULN_RULE, WEB)) == ("ACTIVE", "NEW", None, "CRITICAL", t1, t1)
    ec2 = found[("mini-ssh-tries", EC2)]
    assert ec2["Compliance"]["StatusReasons"] == [{
        "ReasonCode": "INSPECTORCTL_NOT_RECHECKED",
        "Description": "not re-checked since r-1: host unreachable: ssh timed out (run r-2)"}]
    assert ec2["FirstObservedAt"] == t0 and ec2["LastObservedAt"] == t0
    na = found[("mini-ssh-root", MI)]["Compliance"]["StatusReasons"]
    assert na == [{"ReasonCode": "INSPECTORCTL_NOT_APPLICABLE",
                   "Description": "openssh-server is not installed"}]
    note = found[("mini-ip-forward", WEB)]["Note"]
    assert note == {"Text": "accepted risk until 2027-01-31: router by design",
                    "UpdatedBy": "alice", "UpdatedAt": asff.asff_time(T_SUPPRESS)}


def test_ids_are_deterministic_and_name_the_product_and_generator(tmp_path: Path) -> None:
    a = _all(_sub(tmp_path, "a"))
    b = _all(_sub(tmp_path, "b"))
    assert a == b
    f = a[("mini-ssh-root", WEB)]
    assert f["Id"] == "inspectorctl/" + finding_id("mini-ssh-root", WEB)
    assert f["ProductArn"] == ("arn:aws:securityhub:eu-west-1:123456789012:product/"
                               "123456789012/default")
    assert f["GeneratorId"] == "inspectorctl/mini/mini-ssh-root"
    assert f["AwsAccountId"] == "123456789012"
    # Security Hub sets Region itself and refuses it from BatchImportFindings
    assert "Region" not in f
    assert a[(VULN_RULE, WEB)]["GeneratorId"] == "inspectorctl/vulns/DEBIAN-CVE-2023-38545"


def test_types_requirements_and_remediation_come_from_the_rule(tmp_path: Path) -> None:
    found = _all(tmp_path)
    root = found[("mini-ssh-root", WEB)]
    assert root["FindingProviderFields"]["Types"] == [
        "Software and Configuration Checks/Industry and Regulatory Standards/PCI-DSS",
        "Software and Configuration Checks/Industry and Regulatory Standards/"
        "HIPAA Controls (USA)"]
    assert root["Compliance"]["RelatedRequirements"] == [
        "PCI DSS v4.0 2.2.6", "PCI DSS v4.0 8.2.2", "HIPAA 164.312(a)(1)"]
    assert root["Title"] == "title of mini-ssh-root"
    assert root["Description"] == "d"
    # the mini pack maps no remediation: said so, pointing at the finding
    assert root["Remediation"]["Recommendation"]["Text"] == (
        "No remediation is mapped for mini-ssh-root; see `inspectorctl findings show "
        f"{finding_id('mini-ssh-root', WEB)}` for the rule's rationale.")
    fwd = found[("mini-ip-forward", WEB)]
    assert fwd["FindingProviderFields"]["Types"] == ["Software and Configuration Checks"]
    assert "RelatedRequirements" not in fwd["Compliance"]
    assert fwd["ProductFields"]["inspectorctl/evidence/found"] == "net.ipv4.ip_forward = 1"
    assert fwd["ProductFields"]["inspectorctl/evidence/source"] == "sshd -T"


def test_a_shipped_rule_with_a_playbook_says_how_the_gate_fixes_it(tmp_path: Path) -> None:
    from inspectorctl.rules.loader import load_pack, shipped_pack_ids

    rule = next(r for r in load_pack(shipped_pack_ids()["cis-linux"]).rules
                if r.remediation is not None and r.remediation.playbook)
    item = next(iter(_items(tmp_path).values()))
    item = item.model_copy(update={"rule": rule})
    text = asff.to_asff(item, TARGET)["Remediation"]["Recommendation"]["Text"]
    assert rule.remediation is not None
    assert text.startswith(f"Fixed by the Ansible playbook {rule.remediation.playbook} "
                           "through inspectorctl's approval gate")
    types = asff.to_asff(item, TARGET)["FindingProviderFields"]["Types"]
    assert ("Software and Configuration Checks/Industry and Regulatory Standards/"
            "CIS Host Hardening Benchmarks") in types


def test_resources_name_ec2_and_managed_instances(tmp_path: Path) -> None:
    found = _all(tmp_path)
    assert found[("mini-ssh-tries", EC2)]["Resources"] == [{
        "Type": "AwsEc2Instance", "Partition": "aws", "Region": "eu-west-1",
        "Id": f"arn:aws:ec2:eu-west-1:123456789012:instance/{EC2}"}]
    assert found[("mini-ssh-root", MI)]["Resources"] == [{
        "Type": "Other", "Partition": "aws", "Region": "eu-west-1",
        "Id": f"arn:aws:ssm:eu-west-1:123456789012:managed-instance/{MI}",
        "Details": {"Other": {"ManagedInstanceId": MI}}}]
    assert found[("mini-ssh-tries", WEB)]["Resources"] == [{
        "Type": "Other", "Partition": "aws", "Region": "eu-west-1", "Id": WEB,
        "Details": {"Other": {"Host": WEB}}}]
    cn = asff.AsffTarget(account_id="123456789012", region="cn-north-1",
                         partition=asff.partition_of("cn-north-1"))
    item = _items(_sub(tmp_path, "x"))[
        ("mini-ssh-tries", EC2)]
    f = asff.to_asff(item, cn)
    assert f["ProductArn"].startswith("arn:aws-cn:securityhub:cn-north-1:")
    assert f["Resources"][0]["Id"].startswith("arn:aws-cn:ec2:cn-north-1:")
    assert asff.problems(f) == []
    iso = asff.AsffTarget(account_id="123456789012", region="us-isob-east-1",
                          partition=asff.partition_of("us-isob-east-1"))
    f = asff.to_asff(item, iso)
    assert f["Resources"][0]["Id"].startswith("arn:aws-iso-b:ec2:us-isob-east-1:")
    assert f["Resources"][0]["Partition"] == "aws-us-iso-b"
    assert asff.problems(f) == []


def test_vulnerability_carries_cve_packages_cvss_fix_and_kev(tmp_path: Path) -> None:
    (v,) = _all(tmp_path)[(VULN_RULE, WEB)]["Vulnerabilities"]
    assert v["Id"] == "CVE-2023-38545"
    assert v["RelatedVulnerabilities"] == ["DEBIAN-CVE-2023-38545"]
    assert v["VulnerablePackages"] == [
        {"Name": "curl", "Version": "7.88.1-10", "PackageManager": "dpkg",
         "FixedInVersion": "7.88.1-10+deb12u4",
         "Remediation": "upgrade curl to 7.88.1-10+deb12u4"},
        {"Name": "libcurl4", "Version": "7.88.1-10", "PackageManager": "dpkg",
         "FixedInVersion": "7.88.1-10+deb12u4",
         "Remediation": "upgrade curl to 7.88.1-10+deb12u4"}]
    assert v["FixAvailable"] == "YES"
    assert v["ExploitAvailable"] == "YES"
    assert v["Cvss"] == [{"BaseScore": 9.8, "Source": "NVD via debian-osv",
                          "BaseVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                          "Version": "3.1",
                          "Adjustments": [{"Metric": "kev", "Reason": "in CISA KEV"}]}]
    assert v["Vendor"] == {"Name": "debian-osv",
                           "Url": "https://security-tracker.debian.org/tracker/CVE-2023-38545"}


def test_a_cve_not_in_kev_claims_no_exploit_either_way(tmp_path: Path) -> None:
    from tests.report.exportdata import vuln_finding

    item = _items(tmp_path)[(VULN_RULE, WEB)]
    item = item.model_copy(update={"vuln": vuln_finding(kev=False)})
    (v,) = asff.to_asff(item, TARGET)["Vulnerabilities"]
    assert "ExploitAvailable" not in v


def test_hostile_values_are_cut_to_the_documented_limits_with_a_marker(tmp_path: Path) -> None:
    item = _items(tmp_path)[("mini-ip-forward", WEB)]
    f = item.finding
    evil = "\x00\u202e<script>" + "x" * 5000
    item = item.model_copy(update={"finding": f.model_copy(update={
        "title": "T" * 400, "host": "h" * 3000, "reason": "   ",
        "evidence": f.evidence.model_copy(update={"found": evil}),  # type: ignore[union-attr]
        "suppress_reason": "r" * 900})})
    out = asff.fit(asff.to_asff(item, TARGET))
    assert asff.problems(out) == []
    assert _botocore_errors([out]) == ""
    assert len(out["Title"]) == 256
    assert out["Title"].endswith("[...truncated by inspectorctl: 193 of 400 chars]")
    found = out["ProductFields"]["inspectorctl/evidence/found"]
    assert len(found) == 2048 and found.startswith("\x00\u202e<script>xxx")
    assert found.endswith(f" of {len(evil)} chars]")
    assert out["ProductFields"]["inspectorctl/reason"] == "(empty)"  # blank: said in words
    assert len(out["Resources"][0]["Id"]) == 512
    assert len(out["Note"]["Text"]) == 512


def test_fit_cuts_evidence_first_and_marks_it(tmp_path: Path) -> None:
    item = _items(tmp_path)[("mini-ip-forward", WEB)]
    f = item.finding
    big = "\U0001f600" * 2000  # 12 bytes each as botocore writes JSON
    item = item.model_copy(update={"finding": f.model_copy(update={
        "evidence": f.evidence.model_copy(update={  # type: ignore[union-attr]
            "found": big, "expected": big, "source": big})})})
    whole = asff.to_asff(item, TARGET)
    assert asff.size(whole) > 60_000
    cut = asff.fit(whole, limit=30_000)
    assert asff.size(cut) <= 30_000
    fields = cut["ProductFields"]
    assert all("[...truncated by inspectorctl:" in fields[k] for k in (
        "inspectorctl/evidence/found", "inspectorctl/evidence/expected",
        "inspectorctl/evidence/source"))
    assert cut["Title"] == whole["Title"] and cut["Id"] == whole["Id"]
    assert asff.problems(cut) == []
    with pytest.raises(ValueError, match="even with its evidence cut"):
        asff.fit(whole, limit=2_000)


_HOSTILE = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=3000)


@settings(max_examples=40, deadline=None)
@given(found=_HOSTILE, host=_HOSTILE, reason=_HOSTILE, title=_HOSTILE)
def test_any_host_text_gives_a_conforming_finding_within_240_kb(
        tmp_path_factory: pytest.TempPathFactory, found: str, host: str, reason: str,
        title: str) -> None:
    items = _cached_items(tmp_path_factory)
    item = items[("mini-ssh-tries", EC2)]
    f = item.finding
    item = item.model_copy(update={"finding": f.model_copy(update={
        "host": host, "title": title, "reason": reason, "unchecked_reason": reason,
        "evidence": f.evidence.model_copy(update={  # type: ignore[union-attr]
            "found": found, "expected": found * 2, "source": reason})})})
    out = asff.fit(asff.to_asff(item, TARGET))
    assert asff.size(out) <= asff.MAX_FINDING_BYTES
    assert asff.problems(out) == []


_CACHE: dict[str, dict[tuple[str, str], ExportItem]] = {}


def _cached_items(factory: pytest.TempPathFactory) -> dict[tuple[str, str], ExportItem]:
    if "items" not in _CACHE:
        _CACHE["items"] = _items(factory.mktemp("asff"))
    return _CACHE["items"]


# ---------------------------------------------------------------------- the model checker

def test_documented_limits_are_read_from_the_model() -> None:
    finding = shape("securityhub", "AwsSecurityFinding")

    def doc(s: Any, member: str) -> Constraints:
        return Constraints(s.members[member].documentation)

    assert doc(finding, "Title").max_len == asff.MAX_TITLE
    assert doc(finding, "Description").max_len == asff.MAX_DESCRIPTION
    assert doc(finding, "Id").max_len == 512
    assert doc(finding, "Resources").max_items == 32
    assert doc(finding, "Types").max_items == asff.MAX_TYPES
    pf = doc(finding, "ProductFields")
    assert (pf.map_pairs, pf.map_key, pf.map_value) == (50, asff.MAX_FIELD_KEY,
                                                        asff.MAX_FIELD_VALUE)
    assert doc(shape("securityhub", "Recommendation"), "Text").max_len == (
        asff.MAX_RECOMMENDATION)
    assert doc(shape("securityhub", "Note"), "Text").max_len == asff.MAX_NOTE
    assert doc(shape("securityhub", "Compliance"), "RelatedRequirements").max_items == (
        asff.MAX_REQUIREMENTS)
    assert "Software and Configuration Checks" in doc(finding, "Types").namespaces


def test_the_checker_names_each_problem(tmp_path: Path) -> None:
    good = _all(tmp_path)[("mini-ssh-root", WEB)]
    bad = json.loads(json.dumps(good))
    del bad["Title"]
    bad["Bogus"] = 1
    bad["RecordState"] = "GONE"
    bad["Description"] = "x" * 1025
    bad["CreatedAt"] = "yesterday"
    bad["Resources"] = bad["Resources"] * 33
    bad["ProductFields"] = {f"k{i}": "v" for i in range(51)}
    bad["FindingProviderFields"]["Types"] = ["Made Up/Category"]
    bad["Compliance"]["Status"] = "OK"
    bad["Workflow"]["Status"] = " "
    problems = asff.problems(bad)
    assert problems == [
        "AwsSecurityFinding: missing required member Title",
        "CreatedAt: 'yesterday' is not an RFC 3339 timestamp with a time zone",
        "Description: 1025 characters, at most 1024 allowed",
        "FindingProviderFields.Types[0]: 'Made Up/Category' is not in a valid namespace "
        "(Software and Configuration Checks | TTPs | Effects | Unusual Behaviors | "
        "Sensitive Data Identifications)",
        "ProductFields: 51 pairs, at most 50 allowed",
        "Resources: 33 items, at most 32 allowed",
        "RecordState: 'GONE' is not one of ACTIVE, ARCHIVED",
        "Workflow.Status: ' ' is not one of NEW, NOTIFIED, RESOLVED, SUPPRESSED",
        "Compliance.Status: 'OK' is not one of PASSED, WARNING, FAILED, NOT_AVAILABLE",
        "AwsSecurityFinding: unknown member 'Bogus' (not in AwsSecurityFinding)",
    ]


def test_the_checker_checks_types_and_patterns() -> None:
    s = shape("securityhub", "AwsSecurityFinding")
    assert check("high", s.members["Confidence"], "Confidence") == [
        "Confidence: expected an integer, got str"]
    assert check("   ", s.members["Title"], "Title") == [
        "Title: '   ' does not match the pattern .*\\S.*"]
    assert check(True, s.members["Title"], "Title") == ["Title: expected a string, got bool"]
