"""Remediation workflows in the library: what ``inspectorctl remediate`` and ``inspectorctl
rollback`` do, for every caller (the CLI, a scheduler, an API). The caller gives the store, the
collector (how hosts are assessed) and the executor (how playbooks run), and renders what the
steps report; it picks its own exit code from the outcome.

- :func:`remediate`: assess -> plan -> integrity check -> policy approval -> apply what the
  policy allows -> verify (re-assess the touched hosts and rules).
- :func:`rollback`: plan the rollback of an apply run -> the named people approve it (recorded,
  signed) -> apply it through the same gate.

Each step is reported as it happens through ``on_step`` (the CLI prints it then, so its output
keeps the order of the work), and the apply's per-host events through ``on_event``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from inspectorctl.assess import AssessOptions, run_assessment
from inspectorctl.aws.targets import SsmTargets
from inspectorctl.collect.interface import Collector
from inspectorctl.models.common import Severity
from inspectorctl.models.finding import RunRecord
from inspectorctl.models.plan import Plan, Policy, SsmPin
from inspectorctl.models.targets import Targets
from inspectorctl.remediate.approval import (
    PolicyDecision,
    Refusal,
    approve_by,
    approve_with_policy,
    check_integrity,
)
from inspectorctl.remediate.interface import Executor
from inspectorctl.remediate.plans import PlanOptions, make_plan, rollback_plan
from inspectorctl.remediate.rollout import (
    ApplyReport,
    RolloutOptions,
    RolloutProgress,
    apply_plan,
    require_intact_audit_log,
)
from inspectorctl.remediate.verify import (
    NotUndone,
    RollbackReport,
    VerifyReport,
    not_undone,
    targets_for,
    verify_apply,
    verify_rollback,
)
from inspectorctl.store.db import Store
from inspectorctl.vuln_assess import VulnStep


@dataclass(frozen=True)
class Assessed:
    """Step: the assessment was recorded."""

    run: RunRecord


@dataclass(frozen=True)
class Planned:
    """Step: the plan was made and recorded (it may have no action)."""

    plan: Plan


@dataclass(frozen=True)
class Applied:
    """Step: the approved actions were applied."""

    report: ApplyReport


@dataclass(frozen=True)
class Verified:
    """Step: the touched hosts and rules were re-assessed."""

    report: VerifyReport


Step = Assessed | Planned | Applied | Verified
StepCallback = Callable[[Step], None]


@dataclass(frozen=True)
class RemediateOutcome:
    """What one unattended remediation did. ``refusals`` non-empty: the gate refused the plan
    and nothing was applied. ``pending``: the actions the policy leaves to people."""

    run: RunRecord
    plan: Plan
    refusals: tuple[Refusal, ...] = ()
    auto_approved: tuple[str, ...] = ()
    pending: tuple[PolicyDecision, ...] = ()
    apply: ApplyReport | None = None
    verify: VerifyReport | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    @property
    def failed(self) -> bool:
        """A host failed, the rollout stopped, or a finding is not fixed."""
        if self.apply is not None and (not self.apply.complete or self.apply.stopped):
            return True
        return self.verify is not None and not self.verify.all_fixed


def apply_and_verify(
    store: Store,
    plan: Plan,
    *,
    executor: Executor,
    targets: Targets,
    rollout: RolloutOptions,
    actor: str,
    policy: Policy | None,
    verify: bool,
    command: str,
    now: Callable[[], datetime],
    collector: Collector | None = None,
    on_step: StepCallback | None = None,
    on_event: RolloutProgress | None = None,
) -> tuple[ApplyReport, VerifyReport | None]:
    """Apply the approved actions of ``plan`` through the gate, then (``verify``) re-assess the
    hosts and rules it touched."""
    report = apply_plan(plan, store, executor, targets, rollout, actor=actor, policy=policy,
                        progress=on_event, command=command)
    if on_step is not None:
        on_step(Applied(report))
    checked = None
    if verify:
        checked = verify_apply(plan, report.entries, store, targets, apply_run_id=report.run_id,
                               actor=actor, now=now(), collector=collector)
        if on_step is not None:
            on_step(Verified(checked))
    return report, checked


def remediate(
    store: Store,
    options: AssessOptions,
    policy: Policy,
    *,
    collector: Collector,
    executor: Executor,
    rollout: RolloutOptions,
    actor: str,
    now: Callable[[], datetime],
    min_severity: Severity | None = None,
    ssm: SsmTargets | None = None,
    ssm_pin: SsmPin | None = None,
    before_apply: Callable[[Plan], None] | None = None,
    on_step: StepCallback | None = None,
    on_event: RolloutProgress | None = None,
    sign_with: Path | None = None,
    vulns: VulnStep | None = None,
) -> RemediateOutcome:
    """Assess, plan, check the plan's integrity, approve what ``policy`` allows, apply it and
    verify it. Refusals by the gate are an outcome, not an exception. ``ssm``/``ssm_pin``:
    reach the hosts through SSM with the document version pinned in the plan;
    ``before_apply``: a last check of the approved plan (raising refuses it); ``sign_with``:
    an SSH private key that signs the policy's approvals; ``vulns``: the assessment also
    matches installed packages against advisory data (so the plan can upgrade them). A broken
    audit log refuses before anything is assessed."""
    require_intact_audit_log(store)
    result = run_assessment(options, store, collector=collector, vulns=vulns)
    if on_step is not None:
        on_step(Assessed(result.run))
    plan = make_plan(store, PlanOptions(run_id=result.run.id, min_severity=min_severity,
                                        packs=options.packs, tailoring=dict(options.tailoring),
                                        ssm_pin=ssm_pin),
                     now(), actor=actor)
    if on_step is not None:
        on_step(Planned(plan))
    if not plan.actions:
        return RemediateOutcome(run=result.run, plan=plan)
    refusals = check_integrity(plan, store)
    if refusals:
        return RemediateOutcome(run=result.run, plan=plan, refusals=tuple(refusals))
    approved = approve_with_policy(store, plan, policy, now(), sign_with=sign_with)
    applied: ApplyReport | None = None
    checked: VerifyReport | None = None
    if approved.auto_ids:
        targets = targets_for(plan, None, ssm)
        if before_apply is not None:
            before_apply(plan)
        applied, checked = apply_and_verify(
            store, plan, executor=executor, targets=targets, rollout=rollout,
            actor=actor, policy=policy, verify=True, command="remediate", now=now,
            collector=collector, on_step=on_step, on_event=on_event)
    return RemediateOutcome(run=result.run, plan=plan, auto_approved=tuple(approved.auto_ids),
                            pending=tuple(approved.needs_people), apply=applied, verify=checked)


@dataclass(frozen=True)
class RollbackOutcome:
    """What a rollback did: the apply of its plan, and the re-assessment of what it touched
    (findings it brought back are reopened; actions it could not undo are listed)."""

    report: ApplyReport
    verified: RollbackReport


def rollback(
    store: Store,
    run_id: str,
    approvers: Sequence[str],
    *,
    executor: Executor,
    now: datetime,
    comment: str = "",
    policy: Policy | None = None,
    inventory: Path | None = None,
    ssm: SsmTargets | None = None,
    ssm_pin: SsmPin | None = None,
    before_apply: Callable[[Plan], None] | None = None,
    on_plan: Callable[[Plan, list[NotUndone]], None] | None = None,
    on_event: RolloutProgress | None = None,
    sign_with: Sequence[Path | None] = (),
) -> RollbackOutcome:
    """Roll back apply run ``run_id``: a plan of one ``_rollback`` action, approved by each of
    ``approvers`` (at least one), applied through the gate, then the hosts it touched are
    re-assessed for the rules the rolled-back apply had planned. ``on_plan`` is told, before
    anyone approves, what the rollback cannot undo. ``inventory``: the inventory to use instead
    of the plan's source run's; ``ssm_pin``: the document version a rollback through SSM runs.
    ``sign_with``: per approver (same order), the SSH private key that signs their approval
    (None: not signed); empty: nobody signs. A broken audit log refuses before anyone
    approves."""
    if not approvers:
        raise ValueError("a rollback needs at least one approver")
    if sign_with and len(sign_with) != len(approvers):
        raise ValueError("one signing key (or None) per approver")
    keys = list(sign_with) or [None] * len(approvers)
    require_intact_audit_log(store)
    plan = rollback_plan(store, run_id, now, ssm_pin=ssm_pin)
    if on_plan is not None:
        on_plan(plan, not_undone(store, run_id, plan.actions[0].hosts))
    targets = targets_for(plan, inventory, ssm)
    if before_apply is not None:
        before_apply(plan)
    for name, key in zip(approvers, keys, strict=True):
        approve_by(store, plan, name, now, comment=comment, policy=policy, sign_with=key)
    report = apply_plan(plan, store, executor, targets, RolloutOptions(),
                        actor=approvers[0],
                        policy=policy, progress=on_event, command="rollback")
    verified = verify_rollback(plan, report.entries, store, targets,
                               rollback_run_id=report.run_id, actor=approvers[0], now=now)
    return RollbackOutcome(report, verified)
