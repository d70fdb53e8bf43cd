"""The planner: grouping, parameters, manual steps, skipped findings, digests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from inspectorctl.models.common import Severity, Status
from inspectorctl.models.plan import Disruption, Plan, PlanSource, Privilege, SkipReason
from inspectorctl.models.rule import Rule
from inspectorctl.remediate.plans import load_plan, root_lockout_guard, write_plan
from inspectorctl.store.db import Store
from tests.remediate.helpers import plan_from_store, record, result


def _store(tmp_path: Path) -> Store:
    return Store(tmp_path / "f.db")


def test_hosts_with_identical_items_share_an_action(tmp_path: Path) -> None:
    store = _store(tmp_path)
    rid = record(store, [result(r, h) for h in ("web-1", "web-2", "db-1")
                         for r in ("ssh-root", "ssh-tries")]
                 + [result("fwd", "web-1")])
    plan = plan_from_store(store, rid)
    by_pb = {(a.playbook, tuple(a.hosts)): a for a in plan.actions}
    ssh = by_pb[("sshd_config", ("db-1", "web-1", "web-2"))]
    # per host the merged item list of its rules, parameters resolved from tailoring
    assert ssh.items == [{"option": "MaxAuthTries", "value": 4},
                         {"option": "PermitRootLogin", "value": "no"}]
    assert [(f.host, f.rule_id) for f in ssh.findings] == [
        ("db-1", "ssh-root"), ("db-1", "ssh-tries"), ("web-1", "ssh-root"),
        ("web-1", "ssh-tries"), ("web-2", "ssh-root"), ("web-2", "ssh-tries")]
    assert ssh.severity is Severity.HIGH  # max of its findings
    assert ssh.disruption.value == "service_reload" and ssh.reversible
    fwd = by_pb[("sysctl", ("web-1",))]
    assert fwd.items == [{"key": "net.ipv4.ip_forward", "value": 0}]
    assert len(plan.actions) == 2
    # actions sorted by severity first
    assert [a.playbook for a in plan.actions] == ["sshd_config", "sysctl"]


def test_different_parameters_split_hosts(tmp_path: Path) -> None:
    store = _store(tmp_path)
    rid = record(store, [result("ssh-root", "a"), result("ssh-root", "b"),
                         result("ssh-tries", "b")])
    plan = plan_from_store(store, rid)
    assert sorted((a.hosts, len(a.items)) for a in plan.actions) == [(["a"], 1), (["b"], 2)]
    assert len({a.id for a in plan.actions}) == 2


def test_tailoring_changes_items_and_action_id(tmp_path: Path) -> None:
    store = _store(tmp_path)
    rid = record(store, [result("ssh-tries", "a")])
    p4 = plan_from_store(store, rid)
    p6 = plan_from_store(store, rid, values={"max_tries": 6})
    assert p4.actions[0].items == [{"option": "MaxAuthTries", "value": 4}]
    assert p6.actions[0].items == [{"option": "MaxAuthTries", "value": 6}]
    assert p4.actions[0].id != p6.actions[0].id
    assert p4.digest != p6.digest


def test_manual_steps_and_skipped(tmp_path: Path) -> None:
    store = _store(tmp_path)
    rid = record(store, [
        result("part-tmp", "a"), result("part-tmp", "b"),
        result("fwd", "a", Status.ERROR), result("no-fix", "a"), result("ssm-only", "a"),
        result("gone-pb", "a"),
    ])
    plan = plan_from_store(store, rid)
    assert plan.actions == []
    (step,) = plan.manual_steps
    assert (step.rule_id, step.hosts, step.text) == ("part-tmp", ["a", "b"],
                                                     "Put /tmp on its own partition.")
    # an ERROR result is not a finding (nothing is known about fwd on a): nothing to skip
    assert {(s.rule_id, s.reason) for s in plan.skipped} == {
        ("no-fix", SkipReason.NO_REMEDIATION),
        ("ssm-only", SkipReason.SSM_ONLY), ("gone-pb", SkipReason.UNKNOWN_PLAYBOOK)}


def test_digest_covers_content_and_survives_the_file(tmp_path: Path) -> None:
    store = _store(tmp_path)
    rid = record(store, [result("ssh-root", "a"), result("fwd", "b")])
    plan = plan_from_store(store, rid)
    assert plan.digest == plan.computed_digest()
    f = tmp_path / "plan.json"
    write_plan(plan, f)
    again = load_plan(f)
    assert again == plan and again.computed_digest() == plan.digest
    doc = json.loads(f.read_text())
    assert "db" not in json.dumps(doc["source"]) and doc["version"] == 1
    assert set(doc["actions"][0]) >= {"id", "playbook", "playbook_digest", "hosts", "items",
                                      "findings", "severity", "disruption", "privilege",
                                      "reversible", "check_mode_supported"}
    # any edit changes the digest
    doc["actions"][0]["hosts"] = ["a", "evil"]
    assert Plan.model_validate(doc).computed_digest() != plan.digest


def test_stable_ids_and_findings_digest(tmp_path: Path) -> None:
    store = _store(tmp_path)
    rid = record(store, [result("ssh-root", "a")])
    p1 = plan_from_store(store, rid, plan_id="p-1")
    p2 = plan_from_store(store, rid, plan_id="p-2")
    assert p1.actions[0].id == p2.actions[0].id
    assert p1.findings_digest == p2.findings_digest
    rid2 = record(store, [result("ssh-root", "a", found="other")], at=p1.created_at.replace(
        hour=4))
    p3 = plan_from_store(store, rid2)
    assert p3.findings_digest != p1.findings_digest  # evidence is part of it
    assert p3.actions[0].findings[0].evidence_digest != p1.actions[0].findings[0].evidence_digest


def test_formatted_tailoring_values() -> None:
    from inspectorctl.models.rule import VarRef
    from inspectorctl.remediate.planner import resolve_params

    params = {"line": VarRef(var="days", format="PASS_MAX_DAYS\t{}"), "n": VarRef(var="days"),
              "fixed": "x"}
    assert resolve_params(params, {"days": 90}) == {"line": "PASS_MAX_DAYS\t90", "n": 90,
                                                    "fixed": "x"}


def test_an_item_refused_for_a_host_is_skipped_there_only(tmp_path: Path) -> None:
    store = _store(tmp_path)
    rid = record(store, [result(r, h) for h in ("a", "b") for r in ("ssh-root", "ssh-tries")])

    def refuse(playbook: str, host: str, item: Mapping[str, Any]) -> str | None:
        return "reached as root" if host == "a" and item.get("option") == "PermitRootLogin" \
            else None

    plan = plan_from_store(store, rid, refuse=refuse)
    assert sorted((a.hosts, [i["option"] for i in a.items]) for a in plan.actions) == [
        (["a"], ["MaxAuthTries"]), (["b"], ["MaxAuthTries", "PermitRootLogin"])]
    assert [(s.rule_id, s.host, s.reason, s.detail) for s in plan.skipped] == [
        ("ssh-root", "a", SkipReason.LOCKOUT, "reached as root")]


def test_root_lockout_guard_reads_the_inventory(tmp_path: Path) -> None:
    """PermitRootLogin no is kept off hosts the inventory logs in to as root, unless the host
    allows it; other users, local connections, other items and playbooks pass."""
    inv = tmp_path / "inventory.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {
        "root-host": {"ansible_user": "root"},
        "allowed": {"ansible_user": "root", "sshd_allow_root_lockout": "true"},
        "admin-host": {"ansible_user": "admin", "ansible_become": True},
        "local": {"ansible_user": "root", "ansible_connection": "local"},
        "unset": {},
    }}}))
    guard = root_lockout_guard(PlanSource(run_id="r-1", inventory=str(inv)))
    assert guard is not None
    no = {"option": "PermitRootLogin", "value": "no"}
    refused = {h for h in ("root-host", "allowed", "admin-host", "local", "unset")
               if guard("sshd_config", h, no)}
    assert refused == {"root-host"}
    assert guard("sshd_config", "root-host", {"option": "PermitRootLogin",
                                              "value": "prohibit-password"}) is None
    assert guard("sshd_config", "root-host", {"option": "MaxAuthTries", "value": 4}) is None
    assert guard("config_line", "root-host", no) is None
    # snapshots and a missing inventory: nothing to read, the playbook's own check decides
    assert root_lockout_guard(PlanSource(run_id="r-1", inventory=str(inv),
                                         snapshots=True)) is None
    gone = root_lockout_guard(PlanSource(run_id="r-1", inventory=str(tmp_path / "nope.yml")))
    assert gone is not None and gone("sshd_config", "root-host", no) is None


def test_vulnerability_findings_are_skipped_saying_why(tmp_path: Path) -> None:
    from inspectorctl.models.finding import Evidence, RuleResult

    store = _store(tmp_path)
    vuln = RuleResult(rule_id="vuln:CVE-2023-38545:curl", pack="vulns", host="a",
                      status=Status.FAIL, severity=Severity.CRITICAL,
                      title="CVE-2023-38545 in curl 7.88.1-10+deb12u3",
                      evidence=Evidence(expected="curl at or above 7.88.1-10+deb12u4",
                                        found="curl 7.88.1-10+deb12u3 installed"))
    rid = record(store, [vuln, result("part-tmp", "a")])
    plan = plan_from_store(store, rid)
    (skipped,) = plan.skipped
    assert (skipped.rule_id, skipped.reason) == ("vuln:CVE-2023-38545:curl",
                                                 SkipReason.NO_REMEDIATION)
    # without its stored details (``vulns assess`` keeps them) there is nothing to upgrade to
    assert skipped.detail == ("no vulnerability details are known for it: assess again with "
                              "`inspectorctl vulns assess` and plan from that run")


def test_a_skip_shared_by_hosts_is_said_once(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The user's report: the skipped-lockout message was repeated for every host."""
    from inspectorctl.cli.remediate import render_plan

    store = _store(tmp_path)
    rid = record(store, [result("ssh-root", h) for h in ("a", "b", "c")])

    def refuse(playbook: str, host: str, item: Mapping[str, Any]) -> str | None:
        return None if host == "c" else f"the inventory logs in to {host} as root"

    plan = plan_from_store(store, rid, refuse=refuse)
    capsys.readouterr()
    render_plan(plan)
    out = capsys.readouterr().out
    skipped = out.split("Skipped findings:\n", 1)[1].splitlines()
    assert skipped == ["  ssh-root on a, b: lockout: the inventory logs in to each host as root"]


def test_a_service_with_no_unit_on_the_host_is_skipped_not_planned(tmp_path: Path) -> None:
    """service_enabled refuses a host without the unit at apply time ("not installed"); the
    plan says so instead of planning an action bound to fail. The evidence comes from the real
    service check, so a change of its wording is caught here."""
    from inspectorctl.models.finding import RuleResult
    from inspectorctl.models.snapshot import HostSnapshot
    from inspectorctl.remediate.planner import RemediationInfo, build_plan
    from inspectorctl.rules.checks import EvalContext
    from inspectorctl.rules.engine import evaluate_rule
    from tests.remediate.helpers import CATALOG, rule

    catalog = {**CATALOG, "service_enabled": RemediationInfo(
        id="service_enabled", digest="a" * 64, disruption=Disruption.SERVICE_RESTART,
        privilege=Privilege.ROOT, reversible=True, check_mode_supported=True)}

    def svc_rule(rid: str, names: list[str], enable: str) -> Rule:
        return rule(rid, "low", {"playbook": "service_enabled", "params": {"name": enable}},
                    check={"kind": "service", "names": names, "state": "enabled_and_active"})

    rules = {
        "cron-on": svc_rule("cron-on", ["cron"], "cron"),
        # either unit suffices; the fix enables the first one
        "time-on": svc_rule("time-on", ["chrony", "systemd-timesyncd.service"], "chrony"),
    }
    units = {
        # cron: recorded installed by the package manager, its unit gone
        "a": {"systemd-timesyncd": {"name": "systemd-timesyncd", "unit_file_state": "disabled",
                                    "enabled": False, "active": False,
                                    "active_source": "systemctl"}},
        # b has both units, disabled
        "b": {n: {"name": n, "unit_file_state": "disabled", "enabled": False, "active": False,
                  "active_source": "systemctl"} for n in ("cron", "chrony")},
    }
    results = []
    for host, items in units.items():
        snap = HostSnapshot.model_validate({
            "host": {"name": host}, "collected_at": "2026-01-01T00:00:00+00:00",
            "os": {"family": "debian", "id": "debian", "version_id": "12",
                   "kernel": "6.1.0", "arch": "x86_64"},
            "services": {"manager": "systemd", "items": items}})
        for rid, r in rules.items():
            out = evaluate_rule(r, snap, EvalContext(variables={}))
            assert out.status is Status.FAIL, (host, rid, out)
            results.append(RuleResult(rule_id=rid, pack="mini", host=host, status=out.status,
                                      severity=r.severity, title=r.title,
                                      evidence=out.evidence))
    store = _store(tmp_path)
    rid = record(store, results)
    findings = [f for f in store.findings(run_id=rid, states=[]) if f.state.value == "active"]
    plan = build_plan(findings, {k: (v, {}) for k, v in rules.items()}, catalog,
                      source=PlanSource(run_id=rid, packs=["mini"]), plan_id="p-1",
                      created_at=datetime(2026, 3, 2, tzinfo=UTC))
    assert [(a.playbook, a.hosts, a.items) for a in plan.actions] == [
        ("service_enabled", ["b"], [{"name": "chrony"}, {"name": "cron"}])]
    assert [(s.rule_id, s.host, s.reason) for s in plan.skipped] == [
        ("cron-on", "a", SkipReason.NOT_INSTALLED), ("time-on", "a", SkipReason.NOT_INSTALLED)]
    assert plan.skipped[0].detail.startswith(
        "no unit cron.service on a: the service cannot be enabled until the package")
    assert "no unit chrony.service on a" in plan.skipped[1].detail
