"""Rulepack loading: the shipped packs, and one-line errors for malformed ones."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from inspectorctl.models.common import Status
from inspectorctl.models.rule import CHECK_KINDS, RemediationNames, Rule, RulePack
from inspectorctl.models.snapshot import HostSnapshot
from inspectorctl.rules import loader
from inspectorctl.rules.checks import EvalContext
from inspectorctl.rules.engine import Selection, evaluate_rule
from inspectorctl.rules.facts import probe_request
from inspectorctl.rules.loader import (
    DEFAULT_PACKS,
    RulepackError,
    load_pack,
    load_packs,
    shipped_pack_ids,
)

# ============================================================================ shipped packs

CIS_BENCHMARKS = {"debian12": "1.1.0", "ubuntu2204": "2.0.0", "al2023": "1.0.0", "rhel9": "2.0.0"}

#: the parameters each remediation playbook takes (one item of its ``items`` list)
PLAYBOOK_PARAMS: dict[str, tuple[set[str], set[str]]] = {  # id: (required, optional)
    "sshd_config": ({"option", "value"}, set()),
    "sysctl": ({"key", "value"}, set()),
    "file_permissions": ({"path", "mode"}, {"owner", "group"}),
    "file_absent": ({"path"}, set()),
    "package_absent": ({"name"}, set()),
    "package_present": ({"name"}, set()),
    "service_disabled": ({"name"}, set()),
    "service_enabled": ({"name"}, set()),
    "kernel_module_disabled": ({"module"}, set()),
    "config_line": ({"path", "regexp", "line"}, set()),
    "cron_allow": (set(), set()),
    "world_writable": (set(), set()),
    "accounts_lock_empty_password": (set(), set()),
    "system_accounts_nologin": (set(), set()),
    "password_aging": (set(), {"max_days", "min_days", "warn_days"}),
    "mount_options": ({"mountpoint", "options"}, set()),
}


@pytest.fixture(scope="module")
def packs() -> dict[str, RulePack]:
    return {p.id: p for p in load_packs(list(DEFAULT_PACKS))}


@pytest.fixture(scope="module")
def rules(packs: dict[str, RulePack]) -> list[Rule]:
    return [r for p in packs.values() for r in p.rules]


def test_shipped_packs_load_and_are_named_after_their_files(
    packs: dict[str, RulePack],
) -> None:
    assert set(packs) == {"cis-linux", "aws-best-practices"}
    for pack_id, path in shipped_pack_ids().items():
        assert load_pack(path).id == pack_id
    assert len(packs["cis-linux"].rules) >= 80
    assert len(packs["aws-best-practices"].rules) >= 5


def test_rhel9_filesystem_module_levels_are_the_benchmarks(rules: list[Rule]) -> None:
    """CIS RHEL 9 2.0.0 1.1.1.1-1.1.1.4 (cramfs, freevxfs, hfs, hfsplus) are Level 1 for both
    the server and the workstation profile (they were tagged Level 2, and freevxfs
    workstation-only)."""
    by_id = {r.id: r for r in rules}
    got = {}
    for module in ("cramfs", "freevxfs", "hfs", "hfsplus"):
        (ref,) = [c for c in by_id[f"kernel-module-{module}-disabled"].references.cis
                  if c.benchmark == "rhel9"]
        got[module] = (ref.id, ref.level, ref.profile)
    assert got == {"cramfs": ("1.1.1.1", 1, "server"), "freevxfs": ("1.1.1.2", 1, "server"),
                   "hfs": ("1.1.1.3", 1, "server"), "hfsplus": ("1.1.1.4", 1, "server")}


def test_rule_ids_are_unique_across_packs(rules: list[Rule]) -> None:
    counts = Counter(r.id for r in rules)
    assert [i for i, n in counts.items() if n > 1] == []


def test_every_rule_can_be_remediated_or_says_how(rules: list[Rule]) -> None:
    for rule in rules:
        assert rule.remediation is not None, rule.id
        rem = rule.remediation
        if rem.manual:
            assert len(rem.manual) > 20, rule.id
            continue
        assert rem.playbook in PLAYBOOK_PARAMS, (rule.id, rem.playbook)
        required, optional = PLAYBOOK_PARAMS[rem.playbook]
        keys = set(rem.params)
        assert required <= keys, (rule.id, required - keys)
        assert keys <= required | optional, (rule.id, keys - required - optional)
        if rem.playbook == "password_aging":
            assert keys, rule.id


def test_remediation_parameters_are_what_the_playbooks_accept(rules: list[Rule]) -> None:
    for rule in rules:
        rem = rule.remediation
        if rem is None or rem.playbook is None:
            continue
        params = rem.params
        if rem.playbook in ("package_absent", "package_present", "service_enabled",
                            "service_disabled"):
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9+._@:-]*", str(params["name"])), rule.id
        if rem.playbook == "kernel_module_disabled":
            assert re.fullmatch(r"[A-Za-z0-9_]+", str(params["module"])), rule.id
        if rem.playbook == "file_permissions":
            assert re.fullmatch(r"0?[0-7]{3,4}", str(params["mode"])), rule.id
        if rem.playbook == "config_line":
            assert str(params["path"]).startswith("/"), rule.id
            assert "\n" not in str(params["line"]), rule.id
            re.compile(str(params["regexp"]))
        if rem.playbook == "mount_options":
            assert isinstance(params["options"], list), rule.id


def test_file_rules_are_fixed_on_the_file_they_check(rules: list[Rule]) -> None:
    for rule in rules:
        rem = rule.remediation
        if rem and rem.playbook == "file_permissions" and rule.check.kind == "file_permissions":
            assert rem.params["path"] == rule.check.path, rule.id
        if rem and rem.playbook == "sysctl" and rule.check.kind == "sysctl":
            assert rem.params["key"] == rule.check.key, rule.id
        if rem and rem.playbook == "mount_options" and rule.check.kind == "mount":
            assert rem.params["mountpoint"] == rule.check.mountpoint, rule.id
            assert rem.params["options"] == rule.check.options, rule.id


def test_cis_references_name_the_four_benchmarks(rules: list[Rule]) -> None:
    seen: Counter[str] = Counter()
    for rule in rules:
        for ref in rule.references.cis:
            assert CIS_BENCHMARKS.get(ref.benchmark) == ref.version, (rule.id, ref)
            assert re.fullmatch(r"\d+(\.\d+){1,4}", ref.id), (rule.id, ref.id)
            assert ref.level in (1, 2), rule.id
            seen[ref.benchmark] += 1
    assert set(seen) == set(CIS_BENCHMARKS)
    assert min(seen.values()) >= 80


def test_framework_references(rules: list[Rule]) -> None:
    for rule in rules:
        refs = rule.references
        assert refs.nist_800_53, rule.id
        for req in refs.pci_dss:
            assert re.fullmatch(r"\d{1,2}(\.\d+){1,3}", req), (rule.id, req)
        for section in refs.hipaa:
            assert re.fullmatch(r"164\.3(08|10|12)(\([a-zA-Z0-9]+\))+", section), (rule.id, section)
        for control in refs.nist_800_53:
            assert re.fullmatch(r"[A-Z]{2}-\d+(\(\d+\))?", control), (rule.id, control)


def test_pci_and_hipaa_are_views_over_the_same_rules(packs: dict[str, RulePack]) -> None:
    everything = Selection(list(packs.values()))
    pci = Selection(list(packs.values()), framework="pci-dss")
    hipaa = Selection(list(packs.values()), framework="hipaa")
    assert 0 < len(pci) < len(everything)
    assert 0 < len(hipaa) < len(everything)
    pci_reqs = {req for r in pci.rule_list for req in r.references.pci_dss}
    assert {"2.2.4", "2.2.6", "8.3.4", "8.3.6", "10.2.1", "10.6.1"} <= pci_reqs


def test_aws_rules_are_not_applicable_off_aws(packs: dict[str, RulePack]) -> None:
    for rule in packs["aws-best-practices"].rules:
        assert rule.platform.cloud == ["aws"] or rule.check.kind == "aws_imds", rule.id


def test_every_variable_is_used(packs: dict[str, RulePack]) -> None:
    for pack in packs.values():
        text = Path(pack.source).read_text()
        for name in pack.variables:
            assert f"var: {name}" in text or f"vars.{name}" in text, (pack.id, name)


def test_every_check_kind_is_used(rules: list[Rule]) -> None:
    used = {r.check.kind for r in rules}
    assert used == set(CHECK_KINDS)


def test_the_probe_request_for_the_shipped_packs(rules: list[Rule]) -> None:
    req = probe_request(rules)
    assert "sshd" in req.facts and "cloud" in req.facts
    assert "/etc/shadow" in {f.path for f in req.files}
    assert "net.ipv4.ip_forward" in req.sysctl_keys
    assert set(req.walks) == {"world_writable", "world_writable_dirs", "unowned"}


SSG_ROOTS = (Path("/usr/share/xml/scap/ssg/content"),
             Path("/usr/share/scap-security-guide/content"),
             Path("/usr/share/scap-security-guide"))


def _ssg_rule_ids() -> dict[str, set[str]]:
    """Rule ids per product (``debian12``, ``rhel9``...) of the installed SCAP Security Guide
    datastreams (``ssg-PRODUCT-ds.xml``)."""
    rule_id = re.compile(r'Rule\b[^>]*\bid="xccdf_org\.ssgproject\.content_rule_([a-z0-9_-]+)"')
    ids: dict[str, set[str]] = {}
    for root in SSG_ROOTS:
        for path in root.glob("ssg-*-ds*.xml") if root.is_dir() else ():
            product = path.name.removeprefix("ssg-").split("-ds")[0]
            ids.setdefault(product, set()).update(
                rule_id.findall(path.read_text(errors="replace")))
    return ids


def test_cac_ids_exist_in_the_ssg_datastream(rules: list[Rule]) -> None:
    """Each cac id is a rule of the datastreams of the products the rule's CIS references name
    (the ids come from those products' control files). Checked for the rules whose products
    all have a datastream installed (ssg-debian has Debian's and Ubuntu's, ssg-nondebian the
    others)."""
    known = _ssg_rule_ids()
    if not known:
        pytest.skip("no SCAP Security Guide datastream installed (Debian: ssg-debian)")
    checked: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    for r in rules:
        products = {c.benchmark for c in r.references.cis}
        if not r.references.cac or not products or not products <= set(known):
            continue
        ids = set().union(*(known[p] for p in products))
        checked[r.id] = r.references.cac
        if absent := [c for c in r.references.cac if c not in ids]:
            missing[r.id] = absent
    if not checked:
        pytest.skip(f"no datastream of a referenced product installed (have {sorted(known)})")
    assert missing == {}


# ======================================================================== malformed packs

GOOD: dict[str, Any] = {
    "id": "t",
    "version": "1",
    "title": "t",
    "description": "d",
    "variables": {"tries": {"default": 4}},
    "rules": [{
        "id": "t-one",
        "title": "t",
        "description": "d",
        "rationale": "r",
        "severity": "low",
        "check": {"kind": "sshd_option", "option": "maxauthtries",
                  "expect": {"op": "le", "value": {"var": "tries"}}},
    }],
}


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "t.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
    return path


def rule_with(**changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {**GOOD["rules"][0], **changes}
    return {**GOOD, "rules": [rule]}


def line_of(path: Path, needle: str) -> int:
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if needle in text:
            return number
    raise AssertionError(needle)


def load_error(path: Path) -> str:
    with pytest.raises(RulepackError) as info:
        load_pack(path)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.fixture
def two_playbooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Malformed-pack messages list the available playbooks: make that list fixed."""
    shipped = loader.shipped_remediation_names()
    fixed = shipped.model_copy(update={"playbooks": frozenset({"sshd_config", "sysctl"})})
    monkeypatch.setattr(loader, "shipped_remediation_names", lambda: fixed)


fixed_catalogue = pytest.mark.usefixtures("two_playbooks")


@fixed_catalogue
def test_good_pack_loads(tmp_path: Path) -> None:
    pack = load_pack(write(tmp_path, GOOD))
    assert [r.id for r in pack.rules] == ["t-one"]
    assert pack.rules[0].pack == "t"


@fixed_catalogue
def test_unknown_check_kind_lists_the_valid_ones(tmp_path: Path) -> None:
    path = write(tmp_path, rule_with(check={"kind": "sshd", "option": "x"}))
    assert load_error(path) == (
        f"{path}:{line_of(path, 'kind: sshd')}: rule t-one: check.kind: unknown check kind "
        "'sshd'; valid kinds: sshd_option, sysctl, file_permissions, file_exists, "
        "file_content, package, service, kernel_module_disabled, mount, account, setting, "
        "limit, rsyslog, pam_module, not_listening, walk_empty, no_security_updates, aws_imds, "
        "expression"
    )


@fixed_catalogue
def test_missing_check_kind(tmp_path: Path) -> None:
    path = write(tmp_path, rule_with(check={"option": "x"}))
    assert load_error(path).startswith(
        f"{path}:{line_of(path, 'check:')}: rule t-one: check.kind: missing check kind; "
        "valid kinds: sshd_option, sysctl,")


@fixed_catalogue
def test_unknown_field(tmp_path: Path) -> None:
    check = {**GOOD["rules"][0]["check"], "optoin": "maxauthtries"}
    path = write(tmp_path, rule_with(check=check))
    assert load_error(path) == (
        f"{path}:{line_of(path, 'optoin:')}: rule t-one: check.optoin: unknown field "
        "(check its spelling)"
    )


@fixed_catalogue
def test_unknown_rule_field(tmp_path: Path) -> None:
    path = write(tmp_path, rule_with(severty="low"))
    assert load_error(path) == (
        f"{path}:{line_of(path, 'severty:')}: rule t-one: severty: unknown field "
        "(check its spelling)"
    )


@fixed_catalogue
def test_duplicate_rule_id(tmp_path: Path) -> None:
    data = {**GOOD, "rules": [GOOD["rules"][0], {**GOOD["rules"][0], "title": "again"}]}
    path = write(tmp_path, data)
    first = line_of(path, "- id: t-one")
    second = first + next(i for i, t in enumerate(path.read_text().splitlines()[first:], 1)
                          if "- id: t-one" in t)
    assert load_error(path) == (
        f"{path}:{second}: rule t-one: id: duplicate rule id (first defined at line {first})"
    )


@fixed_catalogue
def test_unknown_fact_name(tmp_path: Path) -> None:
    path = write(tmp_path, rule_with(facts=["sshd", "sockts"]))
    assert load_error(path) == (
        f"{path}:{line_of(path, 'facts:')}: rule t-one: facts: unknown fact name(s) sockts; "
        "valid: accounts, cloud, files, kernel_modules, limits, login_defs, mounts, os, "
        "package_changelogs, packages, pam, rsyslog, services, sockets, sshd, sysctl, "
        "systemd_conf, updates, walks"
    )


@fixed_catalogue
def test_undefined_variable(tmp_path: Path) -> None:
    check = {"kind": "sshd_option", "option": "maxauthtries",
             "expect": {"op": "le", "value": {"var": "max_tries"}}}
    path = write(tmp_path, rule_with(check=check))
    assert load_error(path) == (
        f"{path}:{line_of(path, 'var: max_tries')}: rule t-one: check.expect.value: check uses "
        "variable 'max_tries', which the pack does not define (defined: tries)"
    )


@fixed_catalogue
def test_undefined_variable_in_remediation(tmp_path: Path) -> None:
    rem = {"playbook": "sshd_config", "params": {"option": "MaxAuthTries",
                                                  "value": {"var": "max_tries"}}}
    path = write(tmp_path, rule_with(remediation=rem))
    assert load_error(path) == (
        f"{path}:{line_of(path, 'var: max_tries')}: rule t-one: remediation.params.value: "
        "remediation uses variable 'max_tries', which the pack does not define"
    )


@fixed_catalogue
def test_missing_playbook(tmp_path: Path) -> None:
    rem = {"playbook": "sshd_hardening", "params": {"option": "MaxAuthTries", "value": 4}}
    path = write(tmp_path, rule_with(remediation=rem))
    assert load_error(path) == (
        f"{path}:{line_of(path, 'playbook: sshd_hardening')}: rule t-one: remediation.playbook: "
        "remediation playbook 'sshd_hardening' does not exist; available: sshd_config, sysctl"
    )


@fixed_catalogue
def test_remediation_needs_something(tmp_path: Path) -> None:
    path = write(tmp_path, rule_with(remediation={"params": {}}))
    assert load_error(path) == (
        f"{path}:{line_of(path, 'remediation:')}: rule t-one: remediation: "
        "remediation needs a playbook, an ssm_document or manual text"
    )


@fixed_catalogue
def test_expression_syntax_error_fails_loading(tmp_path: Path) -> None:
    check = {"kind": "expression", "expr": "sshd.config['x'"}
    path = write(tmp_path, rule_with(check=check, facts=["sshd"]))
    message = load_error(path)
    assert message.startswith(
        f"{path}:{line_of(path, 'expr:')}: rule t-one: check.expr: invalid expression "
        "\"sshd.config['x'\": ")


@fixed_catalogue
def test_expression_must_declare_its_facts(tmp_path: Path) -> None:
    path = write(tmp_path, rule_with(check={"kind": "expression", "expr": "true"}))
    assert load_error(path) == (
        f"{path}:{line_of(path, 'check:')}: rule t-one: check: an expression check must "
        "declare the facts it reads in 'facts'"
    )


@fixed_catalogue
def test_bad_severity_and_bad_id(tmp_path: Path) -> None:
    path = write(tmp_path, rule_with(severity="severe"))
    assert load_error(path) == (
        f"{path}:{line_of(path, 'severity:')}: rule t-one: severity: Input should be "
        "'critical', 'high', 'medium', 'low' or 'informational'"
    )
    path = write(tmp_path, rule_with(id="T One"))
    assert load_error(path) == (
        f"{path}:{line_of(path, 'id: T One')}: rule T One: id: rule id 'T One' must be 3-100 "
        "characters of a-z, 0-9, '.', '_', '-'"
    )


@fixed_catalogue
def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yml"
    path.write_text("id: t\nrules:\n  - id: [unclosed\n")
    with pytest.raises(Exception, match=rf"^{re.escape(str(path))}:\d+: invalid YAML: "):
        load_pack(path)


@fixed_catalogue
def test_duplicate_ids_across_packs(tmp_path: Path) -> None:
    one = tmp_path / "one.yml"
    one.write_text(yaml.safe_dump({**GOOD, "id": "one"}))
    two = tmp_path / "two.yml"
    two.write_text(yaml.safe_dump({**GOOD, "id": "two"}))
    with pytest.raises(RulepackError, match="rule t-one: duplicate rule id, also defined in"):
        load_packs([str(one), str(two)])


@fixed_catalogue
def test_unknown_shipped_pack_lists_the_shipped_ones() -> None:
    with pytest.raises(RulepackError, match=r"unknown rulepack 'cis'; shipped packs: "
                                            r"aws-best-practices, cis-linux"):
        load_packs(["cis"])


COMPLIANT = HostSnapshot.model_validate({
    "host": {"name": "h1"},
    "collected_at": "2026-01-01T00:00:00+00:00",
    "os": {"id": "amzn", "version_id": "2023", "family": "rhel", "kernel": "6.1.0",
           "arch": "x86_64"},
    "sshd": {"installed": True, "config": {
        "logingracetime": ["60"], "clientaliveinterval": ["300"],
        "clientalivecountmax": ["3"], "maxstartups": ["10:30:60"]}},
    "pam": {"faillock": {"unlock_time": "900"}},
    "packages": {"manager": "rpm", "items": [
        {"name": "amazon-ssm-agent", "source": "amazon-ssm-agent", "version": "3.3.0-1"}]},
    "services": {"manager": "systemd", "items": {}},
    "cloud": {"provider": "aws"},
})


@pytest.mark.parametrize("as_text", [False, True], ids=["defaults", "tailored-as-text"])
def test_shipped_expressions_evaluate(packs: dict[str, RulePack], as_text: bool) -> None:
    """Every shipped expression rule runs on a compliant host and passes, with the pack's
    defaults and with the same values given as text (as ``--set NAME=VALUE`` gives them)."""
    checked = 0
    for pack in packs.values():
        values = {k: (str(v) if as_text and not isinstance(v, list) else v)
                  for k, v in pack.defaults().items()}
        for rule in pack.rules:
            if rule.check.kind != "expression":
                continue
            out = evaluate_rule(rule, COMPLIANT, EvalContext(variables=values))
            assert out.status is Status.PASS, (rule.id, out)
            checked += 1
    assert checked >= 6


def test_findings_show_lists_the_references_of_a_shipped_rule(rules: list[Rule]) -> None:
    from inspectorctl.report.summary import reference_lines

    (rule,) = [r for r in rules if r.id == "kernel-module-cramfs-disabled"]
    assert reference_lines(rule)[0] == (
        "CIS       debian12 1.1.0 1.1.1.1 (level 1); ubuntu2204 2.0.0 1.1.1.1 (level 1); "
        "al2023 1.0.0 1.1.1.3 (level 1); rhel9 2.0.0 1.1.1.1 (level 1)")
    assert "PCI DSS   2.2.4" in reference_lines(rule)
    assert "NIST      CM-7" in reference_lines(rule)


def test_the_loader_checks_remediations_against_the_names_it_is_given(tmp_path: Path) -> None:
    """The caller says which remediations exist; by default the shipped ones."""
    path = write(tmp_path, rule_with(remediation={"playbook": "sshd_config"}))
    assert load_pack(path).rules[0].remediation is not None
    with pytest.raises(RulepackError, match="'sshd_config' does not exist; available: other_fix"):
        load_pack(path, RemediationNames(playbooks=frozenset({"other_fix"})))
    # the shipped names are the remediation catalogue's
    from inspectorctl.remediate import catalog

    assert loader.shipped_remediation_names() == catalog.remediation_names()
