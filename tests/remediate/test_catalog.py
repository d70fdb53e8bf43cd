"""The remediation catalogue: metadata, digests, and its agreement with the shipped rulepacks."""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from inspectorctl.errors import InputError
from inspectorctl.models.plan import Disruption, Privilege
from inspectorctl.models.rule import RulePack
from inspectorctl.remediate import catalog
from inspectorctl.remediate.planner import resolve_params
from inspectorctl.rules.loader import load_pack, shipped_pack_files

#: the catalogue's ids are fixed: rulepacks reference exactly these
REMEDIATIONS = {
    "sshd_config", "sysctl", "file_permissions", "file_absent", "package_absent",
    "package_present", "service_disabled", "service_enabled", "kernel_module_disabled",
    "config_line", "cron_allow", "world_writable", "accounts_lock_empty_password",
    "system_accounts_nologin", "password_aging", "mount_options", "package_upgrade",
}
#: remediations of vulnerability findings: no rule names them (the planner makes their items
#: from the findings' stored details), and their scenarios verify package versions
VULN_REMEDIATIONS = {"package_upgrade"}
SCENARIO_FILES = ("molecule.yml", "prepare.yml", "converge.yml", "verify.yml")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def packs() -> list[RulePack]:
    return [load_pack(p) for p in shipped_pack_files()]


@pytest.fixture(scope="module")
def referencing(packs: list[RulePack]) -> dict[str, set[str]]:
    """Playbook id -> ids of the shipped rules whose remediation is that playbook."""
    out: dict[str, set[str]] = defaultdict(set)
    for pack in packs:
        for rule in pack.rules:
            if rule.remediation is not None and rule.remediation.playbook:
                out[rule.remediation.playbook].add(rule.id)
    return out


@pytest.fixture
def tmp_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped playbooks/ that the catalogue reads instead."""
    root = tmp_path / "playbooks"
    shutil.copytree(catalog.playbooks_root(), root)
    monkeypatch.setattr(catalog, "playbooks_root", lambda: root)
    return root


# ---------------------------------------------------------------------------------------------
# metadata
# ---------------------------------------------------------------------------------------------


def test_catalogue_has_exactly_the_fixed_ids() -> None:
    assert catalog.available_playbooks() == REMEDIATIONS
    assert set(catalog.load_catalog()) == REMEDIATIONS | {"_rollback"}


@pytest.mark.parametrize("pid", sorted(REMEDIATIONS | {"_rollback"}))
def test_every_playbook_has_valid_metadata(pid: str) -> None:
    meta = catalog.load_meta(pid)
    assert meta.id == pid
    assert meta.title and meta.description
    assert isinstance(meta.disruption, Disruption)
    assert meta.privilege is Privilege.ROOT
    play = _yaml(catalog.playbooks_root() / pid / "playbook.yml")
    assert isinstance(play, list) and play
    assert all(p.get("hosts") == "all" for p in play), "every playbook targets hosts: all"
    if meta.reversible:
        assert "inspectorctl_backup" in catalog.roles_used(pid), (
            "a reversible remediation backs up what it changes")
        assert meta.backs_up, "a reversible remediation says what it backs up"
    if not meta.internal:
        assert meta.item_schema is not None


def test_disruption_and_reversibility_are_as_documented() -> None:
    metas = catalog.load_catalog()
    assert metas["sshd_config"].disruption is Disruption.SERVICE_RELOAD
    assert metas["package_absent"].disruption is Disruption.SERVICE_RESTART
    assert metas["service_disabled"].disruption is Disruption.SERVICE_RESTART
    assert metas["sysctl"].disruption is Disruption.NONE
    assert not metas["package_absent"].reversible
    assert not metas["package_present"].reversible
    assert metas["world_writable"].reversible
    assert metas["package_upgrade"].disruption is Disruption.SERVICE_RESTART
    assert not metas["package_upgrade"].reversible
    assert metas["package_upgrade"].check_mode
    assert metas["package_upgrade"].rules == []


def test_meta_rules_are_exactly_the_rules_referencing_the_playbook(
    referencing: dict[str, set[str]],
) -> None:
    metas = catalog.load_catalog()
    mismatches = {}
    for pid, meta in metas.items():
        listed, wanted = set(meta.rules), referencing.get(pid, set())
        if listed != wanted:
            mismatches[pid] = {"listed but not referencing": sorted(listed - wanted),
                               "referencing but not listed": sorted(wanted - listed)}
    assert not mismatches
    assert set(referencing) <= REMEDIATIONS, "rules reference only catalogue playbooks"


def test_unknown_playbook_names_the_valid_ones() -> None:
    with pytest.raises(catalog.CatalogError,
                       match=r"unknown playbook 'nope'; valid: .*sshd_config"):
        catalog.load_meta("nope")
    with pytest.raises(catalog.CatalogError, match="unknown playbook"):
        catalog.playbook_digest("nope")


def test_invalid_metadata_names_file_line_and_field(tmp_catalog: Path) -> None:
    meta = tmp_catalog / "sysctl" / "meta.yml"
    text = meta.read_text(encoding="utf-8").replace("disruption: none", "disruption: sometimes")
    meta.write_text(text, encoding="utf-8")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("disruption:"))
    with pytest.raises(InputError, match=rf"meta.yml:{line}: playbook sysctl: disruption: "):
        catalog.load_catalog()


def test_meta_id_must_match_the_directory(tmp_catalog: Path) -> None:
    meta = tmp_catalog / "sysctl" / "meta.yml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("id: sysctl", "id: sysctl_x"),
                    encoding="utf-8")
    with pytest.raises(catalog.CatalogError, match="differs from the directory name"):
        catalog.load_meta("sysctl")


def test_missing_metadata_is_an_error(tmp_catalog: Path) -> None:
    (tmp_catalog / "cron_allow" / "meta.yml").unlink()
    with pytest.raises(catalog.CatalogError, match=r"cron_allow/meta\.yml: missing"):
        catalog.load_catalog()


def test_item_check_reports_missing_and_mistyped_keys() -> None:
    sshd = catalog.load_meta("sshd_config")
    assert sshd.item_problems({"option": "MaxAuthTries", "value": 4}) == []
    assert sshd.item_problems({"option": "X11Forwarding"}) == ["missing value"]
    perms = catalog.load_meta("file_permissions")
    assert perms.item_problems({"path": "/etc/x", "mode": 640}) == [
        "mode: expected str, got int"]
    assert perms.item_problems({"path": "/etc/x", "mode": "0640", "colour": "red"}) == [
        "unknown key colour"]
    mounts = catalog.load_meta("mount_options")
    assert mounts.item_problems({"mountpoint": "/tmp", "options": ["nodev"]}) == []
    assert mounts.item_problems({"mountpoint": "/tmp", "options": "nodev"}) == [
        "options: expected list[str], got str"]


def test_shipped_rule_params_fit_the_item_schemas(packs: list[RulePack]) -> None:
    metas = catalog.load_catalog()
    problems = []
    for pack in packs:
        values = pack.defaults()
        for rule in pack.rules:
            rem = rule.remediation
            if rem is None or not rem.playbook:
                continue
            item = resolve_params(rem.params, values)
            for p in metas[rem.playbook].item_problems(item):
                problems.append(f"{rule.id} -> {rem.playbook}: {p}")
    assert not problems


# ---------------------------------------------------------------------------------------------
# digests
# ---------------------------------------------------------------------------------------------


def test_digest_is_stable_and_distinct() -> None:
    digests = {pid: catalog.playbook_digest(pid) for pid in sorted(REMEDIATIONS)}
    assert all(len(d) == 64 for d in digests.values())
    assert len(set(digests.values())) == len(digests)
    assert digests == {pid: catalog.playbook_digest(pid) for pid in sorted(REMEDIATIONS)}


def test_digest_changes_with_any_file_of_the_playbook(tmp_catalog: Path) -> None:
    before = catalog.playbook_digest("sysctl")
    pb = tmp_catalog / "sysctl" / "playbook.yml"
    pb.write_text(pb.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    after_playbook = catalog.playbook_digest("sysctl")
    assert after_playbook != before
    meta = tmp_catalog / "sysctl" / "meta.yml"
    meta.write_text(meta.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert catalog.playbook_digest("sysctl") not in (before, after_playbook)


def test_digest_ignores_molecule_scenarios(tmp_catalog: Path) -> None:
    before = catalog.playbook_digest("sysctl")
    (tmp_catalog / "sysctl" / "molecule" / "default" / "converge.yml").write_text(
        "# changed\n", encoding="utf-8")
    (tmp_catalog / "sysctl" / "molecule" / "extra").mkdir()
    assert catalog.playbook_digest("sysctl") == before


def test_digest_covers_the_roles_a_playbook_uses(tmp_catalog: Path) -> None:
    sshd, pkg = catalog.playbook_digest("sshd_config"), catalog.playbook_digest("package_absent")
    # inspectorctl_modules: the backup role depends on it (its module's helpers)
    assert catalog.roles_used("sshd_config") == ["inspectorctl_backup", "inspectorctl_modules",
                                                 "inspectorctl_sshd"]
    assert catalog.roles_used("package_absent") == []
    task = tmp_catalog / "roles" / "inspectorctl_sshd" / "tasks" / "main.yml"
    task.write_text(task.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert catalog.playbook_digest("sshd_config") != sshd
    assert catalog.playbook_digest("package_absent") == pkg
    files = [rel for rel, _ in catalog.playbook_files("sshd_config")]
    assert files == sorted(files)
    assert "roles/inspectorctl_sshd/tasks/main.yml" in files
    assert not any("molecule" in f for f in files)


def test_digest_covers_the_playbooks_own_modules_and_their_helpers(tmp_catalog: Path) -> None:
    before = catalog.playbook_digest("sysctl")
    files = [rel for rel, _ in catalog.playbook_files("sysctl")]
    assert "sysctl/library/inspectorctl_sysctl.py" in files
    assert "roles/inspectorctl_modules/module_utils/inspectorctl_files.py" in files
    helpers = tmp_catalog / "roles" / "inspectorctl_modules" / "module_utils"
    (helpers / "inspectorctl_files.py").write_text("# changed\n", encoding="utf-8")
    assert catalog.playbook_digest("sysctl") != before


def test_a_role_that_is_not_shipped_is_an_error(tmp_catalog: Path) -> None:
    pb = tmp_catalog / "sysctl" / "playbook.yml"
    pb.write_text(pb.read_text(encoding="utf-8").replace("name: inspectorctl_backup",
                                                         "name: no_such_role"),
                  encoding="utf-8")
    with pytest.raises(catalog.CatalogError, match="role 'no_such_role' not found"):
        catalog.playbook_digest("sysctl")


# ---------------------------------------------------------------------------------------------
# molecule scenarios agree with the rulepacks
# ---------------------------------------------------------------------------------------------


def _scenario(pid: str) -> Path:
    return catalog.playbooks_root() / pid / "molecule" / "default"


def _verify_rules(pid: str) -> list[str]:
    rules: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "inspectorctl_molecule_verify_rules":
                    rules.extend(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for x in node:
                walk(x)

    walk(_yaml(_scenario(pid) / "verify.yml"))
    return rules


@pytest.mark.parametrize("pid", sorted(REMEDIATIONS))
def test_every_remediation_has_a_molecule_scenario(pid: str) -> None:
    d = _scenario(pid)
    for name in SCENARIO_FILES:
        assert (d / name).is_file(), f"{d / name} missing"
    mol = (d / "molecule.yml").read_text(encoding="utf-8")
    conf = _yaml(d / "molecule.yml")
    assert conf["driver"] == {"name": "default", "options": {"managed": False}}
    assert conf["provisioner"]["inventory"]["links"]["hosts"] == "${INSPECTORCTL_LAB_INVENTORY}"
    assert "--limit=${INSPECTORCTL_MOLECULE_HOST:-mol-1}" in conf["provisioner"]["ansible_args"]
    assert conf["scenario"]["test_sequence"] == ["prepare", "converge", "idempotence", "verify"]
    assert "${INSPECTORCTL_MOLECULE_HOST:-mol-1}" in mol
    converge = _yaml(d / "converge.yml")
    assert converge[0]["ansible.builtin.import_playbook"] == "../../playbook.yml"
    assert converge[0]["vars"]["inspectorctl_run_id"] == f"molecule-{pid}"
    prepare = (d / "prepare.yml").read_text(encoding="utf-8")
    assert "inspectorctl_lab_netns is defined" in prepare, "prepare refuses non-lab hosts"
    if pid in VULN_REMEDIATIONS:
        assert not _verify_rules(pid)
        for item in converge[0]["vars"]["items"]:
            assert catalog.load_meta(pid).item_problems(item) == [], item
    else:
        assert _verify_rules(pid), "verify re-assesses at least one rule"


@pytest.mark.parametrize("pid", sorted(REMEDIATIONS - VULN_REMEDIATIONS))
def test_scenario_items_are_what_the_planner_makes_of_the_verified_rules(
    pid: str, packs: list[RulePack],
) -> None:
    """Each rule a scenario verifies is one the playbook fixes, and its parameters (tailoring
    defaults resolved, as the planner does) are among the scenario's items."""
    by_id = {r.id: (r, p.defaults()) for p in packs for r in p.rules}
    items = _yaml(_scenario(pid) / "converge.yml")[0]["vars"]["items"]
    meta = catalog.load_meta(pid)
    for rid in _verify_rules(pid):
        assert rid in by_id, f"{rid} is not a shipped rule"
        assert rid in meta.rules, f"{rid} is not fixed by {pid}"
        rule, values = by_id[rid]
        assert rule.remediation is not None
        item = resolve_params(rule.remediation.params, values)
        assert item in items, f"converge items lack {item} of {rid}"
    for item in items:
        assert meta.item_problems(item) == [], item


# --------------------------------------------------------------------- symlinks and the copy


@pytest.fixture
def mini_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A playbooks root with one playbook ``fix`` using the shared role ``common``."""
    root = tmp_path / "playbooks"
    (root / "fix" / "templates").mkdir(parents=True)
    (root / "fix" / "playbook.yml").write_text(
        "- hosts: all\n  roles:\n    - common\n  tasks:\n    - ansible.builtin.debug: {}\n")
    (root / "fix" / "templates" / "a.j2").write_text("a\n")
    (root / "roles" / "common" / "tasks").mkdir(parents=True)
    (root / "roles" / "common" / "tasks" / "main.yml").write_text("- ansible.builtin.ping:\n")
    monkeypatch.setattr(catalog, "playbooks_root", lambda: root)
    return root


def test_a_symlink_leaving_the_playbook_is_refused(mini_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "evil-roles"
    (outside / "x" / "tasks").mkdir(parents=True)
    (outside / "x" / "tasks" / "main.yml").write_text("- ansible.builtin.command: id\n")
    (mini_root / "fix" / "roles").symlink_to(outside)
    with pytest.raises(catalog.CatalogError,
                       match=r"fix/roles is a symlink to .*evil-roles, outside .*fix: refused"):
        catalog.playbook_digest("fix")
    (mini_root / "fix" / "roles").unlink()
    (mini_root / "fix" / "templates" / "b.j2").symlink_to("/etc/hostname")
    with pytest.raises(catalog.CatalogError, match=r"b.j2 is a symlink to /etc/hostname"):
        catalog.playbook_digest("fix")


def test_a_symlink_inside_is_digested_by_its_target(mini_root: Path) -> None:
    before = catalog.playbook_digest("fix")
    # roles/ of the playbook pointing at the shared roles: allowed, and what it loads counts
    (mini_root / "fix" / "roles").symlink_to(mini_root / "roles")
    (mini_root / "fix" / "templates" / "b.j2").symlink_to("a.j2")
    linked = catalog.playbook_digest("fix")
    assert linked != before
    files = [rel for rel, _ in catalog.playbook_files("fix")]
    assert "fix/roles/common/tasks/main.yml" in files and "fix/templates/b.j2" in files
    # a change behind the link changes the digest (before, rglob did not follow it)
    (mini_root / "roles" / "common" / "tasks" / "main.yml").write_text(
        "- ansible.builtin.command: id\n")
    assert catalog.playbook_digest("fix") != linked
    fifo = mini_root / "fix" / "templates" / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(catalog.CatalogError, match="pipe: not a regular file"):
        catalog.playbook_digest("fix")


def test_the_staged_copy_is_the_approved_one(mini_root: Path, tmp_path: Path) -> None:
    approved = catalog.playbook_digest("fix")
    (mini_root / "fix" / "templates" / "b.j2").symlink_to("a.j2")
    (mini_root / "fix" / "molecule").mkdir()
    (mini_root / "fix" / "molecule" / "x.yml").write_text("not loaded\n")
    with_link = catalog.playbook_digest("fix")
    dest = tmp_path / "run"
    staged = catalog.stage_playbooks({"fix": with_link}, dest)
    assert staged == dest / "playbooks"
    assert sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*")
                  if p.is_file()) == ["fix/playbook.yml", "fix/templates/a.j2",
                                      "fix/templates/b.j2", "roles/common/tasks/main.yml"]
    assert not any(p.is_symlink() for p in staged.rglob("*"))
    # edited after staging: the copy (what every batch runs) is unchanged
    (mini_root / "fix" / "playbook.yml").write_text("- hosts: all\n  tasks: []\n")
    assert catalog.playbook_digest("fix", staged) == with_link
    # edited before staging: refused
    with pytest.raises(catalog.PlaybookChanged, match=(
            rf"playbook fix changed \(digest {with_link[:12]} in the plan, now ")):
        catalog.stage_playbooks({"fix": with_link}, tmp_path / "run2")
    assert approved != with_link
