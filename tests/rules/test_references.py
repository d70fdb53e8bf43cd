"""References of the shipped packs: ComplianceAsCode rule ids (``cac``) keep their shape, the
ids filled from ComplianceAsCode's CIS control files stay what those files say, and the rules
left without one are the ones docs/rules.md explains."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from inspectorctl.models.rule import References, Rule, RulePack
from inspectorctl.report.summary import reference_lines
from inspectorctl.rules.loader import DEFAULT_PACKS, RulepackError, load_pack, load_packs

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"

#: ComplianceAsCode rule ids are directory names under linux_os/guide: lower-case words of
#: letters and digits joined by ``_`` or ``-`` (kernel_module_usb-storage_disabled). Written
#: here apart from the model's pattern so that a looser model is caught.
CAC_SHAPE = re.compile(r"[a-z0-9]+(?:[_-][a-z0-9]+)+")

#: A sample of the ids filled for issue 11, each read from ComplianceAsCode/content's control
#: file named in the comment (commits in docs/rules.md): a regression guard.
FILLED_SAMPLE: dict[str, list[str]] = {
    # cis_debian12.yml 5.1.8 "Ensure sshd DisableForwarding is enabled"
    "ssh-disable-forwarding": ["sshd_disable_forwarding"],
    # cis_debian12.yml 3.3.1 maps sysctl_net_ipv6_conf_all_forwarding too: not this rule's key
    "sysctl-net-ipv4-ip-forward": ["sysctl_net_ipv4_ip_forward"],
    # cis_ubuntu2204.yml 3.3.11 "Ensure ipv6 router advertisements are not accepted"
    "sysctl-net-ipv6-conf-default-accept-ra": ["sysctl_net_ipv6_conf_default_accept_ra"],
    # cis_debian12.yml 6.1.2.4 "Ensure journald Storage is configured"
    "journald-storage-persistent": ["journald_storage"],
    # cis_ubuntu2204.yml 1.1.1.8 "Ensure usb-storage kernel module is not available"
    "kernel-module-usb-storage-disabled": ["kernel_module_usb-storage_disabled"],
    # cis_debian12.yml 5.1.1: mode, owner and group, as the rule checks all three
    "ssh-config-permissions": [
        "file_groupowner_sshd_config", "file_owner_sshd_config", "file_permissions_sshd_config"],
    # cis_al2023.yml 4.4.2 "Ensure authselect includes with-faillock"
    "pam-faillock-enabled-rhel": [
        "account_password_pam_faillock_password_auth",
        "account_password_pam_faillock_system_auth"],
    # cis_al2023.yml 6.1.11 maps file_permissions_unauthorized_world_writable too: that is
    # world-writable-files' check
    "world-writable-directories-sticky": ["dir_perms_world_writable_sticky_bits"],
    # cis_al2023.yml 4.6.1.3 maps accounts_password_warn_age_login_defs too: login.defs is
    # login-defs-pass-warn-age's check, this rule reads /etc/shadow
    "accounts-password-warn-days": ["accounts_password_set_warn_age_existing"],
    # cis_debian12.yml 1.6.1 "Ensure message of the day is configured properly" (no OS details)
    "banner-motd-no-os-details": ["banner_etc_motd_cis"],
    # cis_debian12.yml 5.3.2.4 (module enabled) and 5.3.3.3.1 (remember): the rule checks both
    "pam-pwhistory-remember-debian": [
        "accounts_password_pam_pwhistory_enabled", "accounts_password_pam_pwhistory_remember"],
    # cis_al2023.yml 4.1.1 "Ensure cron daemon is installed and enabled": RHEL's unit is crond
    "cron-enabled-rhel": ["service_crond_enabled"],
}


@pytest.fixture(scope="module")
def packs() -> dict[str, RulePack]:
    return {p.id: p for p in load_packs(list(DEFAULT_PACKS))}


@pytest.fixture(scope="module")
def rules(packs: dict[str, RulePack]) -> list[Rule]:
    return [r for p in packs.values() for r in p.rules]


def test_every_cac_id_of_the_shipped_packs_has_the_complianceascode_shape(
    rules: list[Rule],
) -> None:
    ids = [(r.id, c) for r in rules for c in r.references.cac]
    assert len({rule for rule, _ in ids}) >= 197
    assert [(rule, c) for rule, c in ids if not CAC_SHAPE.fullmatch(c)] == []
    assert [r.id for r in rules if len(set(r.references.cac)) != len(r.references.cac)] == []


def test_the_filled_cac_ids_are_the_control_files(rules: list[Rule]) -> None:
    by_id = {r.id: r for r in rules}
    assert {rid: by_id[rid].references.cac for rid in FILLED_SAMPLE} == FILLED_SAMPLE


def _doc_no_cac_rules() -> set[str]:
    """The rule ids named in the first column of docs/rules.md's table of rules without cac."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index("rules have no `cac`:")
    table = text[start:text.index("\n\n", text.index("| rule |", start))]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {rid for row in rows for rid in re.findall(r"`([a-z0-9.-]+)`", row.split("|")[1])}


def test_the_rules_without_cac_are_the_ones_the_docs_explain(
    packs: dict[str, RulePack],
) -> None:
    without = {r.id for r in packs["cis-linux"].rules if not r.references.cac}
    assert len(without) == 16
    assert without == _doc_no_cac_rules()


def test_cac_is_one_id_or_a_list() -> None:
    assert References.model_validate({"cac": "journald_storage"}).cac == ["journald_storage"]
    assert References.model_validate({"cac": ["a_b", "c-d_e"]}).cac == ["a_b", "c-d_e"]
    assert References.model_validate({}).cac == []


def _pack_with_cac(tmp_path: Path, cac: object) -> Path:
    path = tmp_path / "t.yml"
    path.write_text(yaml.safe_dump({
        "id": "t", "version": "1", "title": "t", "description": "d",
        "rules": [{
            "id": "t-one", "title": "t", "description": "d", "rationale": "r",
            "severity": "low", "references": {"nist_800_53": ["CM-6"], "cac": cac},
            "check": {"kind": "sshd_option", "option": "maxauthtries",
                      "expect": {"op": "le", "value": 4}},
        }],
    }, sort_keys=False))
    return path


@pytest.mark.parametrize(("cac", "reason"), [
    ("var_sshd_max_sessions=10",
     "not a ComplianceAsCode rule id: 'var_sshd_max_sessions=10' (lower-case letters, digits, "
     "'_' and '-', e.g. sshd_disable_forwarding)"),
    (["journald_storage", "Journald Storage"],
     "not a ComplianceAsCode rule id: 'Journald Storage' (lower-case letters, digits, '_' and "
     "'-', e.g. sshd_disable_forwarding)"),
    (["journald_storage", "journald_storage"], "listed more than once: journald_storage"),
])
def test_a_malformed_cac_is_refused_with_its_line(
    tmp_path: Path, cac: object, reason: str,
) -> None:
    path = _pack_with_cac(tmp_path, cac)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "cac:" in text)
    with pytest.raises(RulepackError) as info:
        load_pack(path)
    assert str(info.value) == f"{path}:{line}: rule t-one: references.cac: {reason}"


def test_findings_show_lists_every_cac_id(rules: list[Rule]) -> None:
    (rule,) = [r for r in rules if r.id == "ssh-config-permissions"]
    assert reference_lines(rule)[-1] == (
        "CaC       file_groupowner_sshd_config, file_owner_sshd_config, "
        "file_permissions_sshd_config")
