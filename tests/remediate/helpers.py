"""Shared pieces of the remediation unit tests: rules, a fake catalogue, a seeded store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inspectorctl.models.common import Status
from inspectorctl.models.finding import Evidence, RuleResult, RunRecord
from inspectorctl.models.plan import Disruption, Plan, PlanSource, Privilege
from inspectorctl.models.rule import Rule
from inspectorctl.remediate import integrity, plansign, remediations, rollout
from inspectorctl.remediate.planner import RefuseFn, RemediationInfo, RuleIndex, build_plan
from inspectorctl.store.db import Store

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # a Monday, 03:00 UTC

CATALOG: dict[str, RemediationInfo] = {
    "sshd_config": RemediationInfo(id="sshd_config", digest="d" * 64,
                                   disruption=Disruption.SERVICE_RELOAD,
                                   privilege=Privilege.ROOT, reversible=True,
                                   check_mode_supported=True),
    "sysctl": RemediationInfo(id="sysctl", digest="e" * 64, disruption=Disruption.NONE,
                              privilege=Privilege.ROOT, reversible=True,
                              check_mode_supported=True),
    "grub": RemediationInfo(id="grub", digest="f" * 64, disruption=Disruption.REBOOT,
                            privilege=Privilege.ROOT, reversible=False,
                            check_mode_supported=False),
}


def rule(rid: str, severity: str = "medium", remediation: dict[str, Any] | None = None,
         **kw: Any) -> Rule:
    return Rule.model_validate({
        "id": rid, "title": f"title of {rid}", "description": "d", "rationale": "r",
        "severity": severity, "pack": "mini",
        "check": {"kind": "sysctl", "key": "net.ipv4.ip_forward", "expect": {"value": 0}},
        "remediation": remediation, **kw,
    })


RULES: dict[str, Rule] = {
    "ssh-root": rule("ssh-root", "high", {"playbook": "sshd_config",
                                          "params": {"option": "PermitRootLogin",
                                                     "value": "no"}}),
    "ssh-tries": rule("ssh-tries", "medium", {"playbook": "sshd_config",
                                              "params": {"option": "MaxAuthTries",
                                                         "value": {"var": "max_tries"}}}),
    "fwd": rule("fwd", "low", {"playbook": "sysctl",
                               "params": {"key": "net.ipv4.ip_forward", "value": 0}}),
    "boot": rule("boot", "critical", {"playbook": "grub", "params": {"arg": "audit=1"}}),
    "part-tmp": rule("part-tmp", "medium", {"manual": "Put /tmp on its own partition."}),
    "no-fix": rule("no-fix", "low"),
    "ssm-only": rule("ssm-only", "low", {"ssm_document": "Fix-It"}),
    "gone-pb": rule("gone-pb", "low", {"playbook": "nope"}),
}


def rule_index(values: dict[str, Any] | None = None) -> RuleIndex:
    vals = {"max_tries": 4, **(values or {})}
    return {rid: (r, vals) for rid, r in RULES.items()}


def result(rule_id: str, host: str, status: Status = Status.FAIL, found: str = "bad",
           ) -> RuleResult:
    r = RULES[rule_id]
    return RuleResult(rule_id=rule_id, pack="mini", host=host, status=status,
                      severity=r.severity, title=r.title,
                      evidence=Evidence(expected="good", found=found)
                      if status in (Status.FAIL, Status.PASS) else None,
                      reason="cannot read" if status is Status.ERROR else None)


def record(store: Store, results: Iterable[RuleResult], at: datetime = T0,
           run_id: str | None = None, inventory: str = "/inv.yml") -> str:
    rid = run_id or f"r-{at.strftime('%H%M%S%f')}"
    store.record_run(RunRecord(id=rid, started_at=at, ended_at=at,
                               targets={"transport": "ansible", "inventory": inventory},
                               packs=["mini"]), list(results))
    return rid


def plan_from_store(store: Store, run_id: str, *, values: dict[str, Any] | None = None,
                    at: datetime = T0, plan_id: str = "p-test",
                    refuse: RefuseFn | None = None) -> Plan:
    run = store.run(run_id)
    assert run is not None
    findings = store.findings(run_id=run_id, states=[])
    findings = [f for f in findings if f.state.value == "active"]
    plan = build_plan(findings, rule_index(values), CATALOG,
                      source=PlanSource(run_id=run_id, inventory="/inv.yml", packs=["mini"],
                                        tailoring=dict(values or {})),
                      plan_id=plan_id, created_at=at, refuse=refuse)
    return plansign.sign_plan(store, plan)


def seeded(tmp_path: Path, hosts: Sequence[str] = ("web-1", "web-2"),
           rules: Sequence[str] = ("ssh-root", "fwd")) -> tuple[Store, str]:
    store = Store(tmp_path / "findings.db")
    run_id = record(store, [result(r, h) for h in hosts for r in rules])
    return store, run_id


@pytest.fixture
def fake_catalog(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The gate's view of playbook digests: edit the returned dict to 'change' a playbook."""
    digests = {k: v.digest for k, v in CATALOG.items()}
    monkeypatch.setattr(remediations, "current_digest", lambda pb: digests.get(pb))
    # what the gate recomputes a plan from: these rules (tailored as the plan's source says)
    # and this catalogue
    monkeypatch.setattr(integrity, "rule_index",
                        lambda source, framework: rule_index(dict(source.tailoring)))
    monkeypatch.setattr(integrity, "catalogue_info",
                        lambda pb: CATALOG[pb].model_copy(update={"digest": digests[pb]}))
    monkeypatch.setattr(integrity, "catalogue_names", lambda: set(digests))
    # no playbook files to copy: the fake executors never read them
    monkeypatch.setattr(rollout, "stage_playbooks", lambda ds, dest: dest)
    return digests


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)
