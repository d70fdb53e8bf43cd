"""Re-assess after an apply: only the touched hosts and the planned rules, then classify.

Each planned finding of an applied action ends as ``fixed`` (PASS or not applicable now),
``still_failing`` (FAIL, or the action did not complete on its host), or ``not_verified`` (the
host could not be assessed: ERROR or no result). A rule that passed on a touched host before
the apply and fails now is ``regressed``. The re-assessment goes through the same transport,
inventory and privilege the plan's source run used, and is recorded as a run; the audit log
marks it as this plan's verification so it does not make the plan stale.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from inspectorctl.assess import AssessOptions, run_assessment
from inspectorctl.aws.targets import INSTANCE_ID, SsmTargets
from inspectorctl.collect.interface import Collector, ProgressCallback, Targets
from inspectorctl.errors import InputError
from inspectorctl.models.common import Frozen, Status
from inspectorctl.models.plan import JournalEntry, JournalState, Plan
from inspectorctl.remediate import audit, records
from inspectorctl.remediate.audit import AuditEvent
from inspectorctl.store.db import Store


class Verdict(enum.StrEnum):
    FIXED = "fixed"
    STILL_FAILING = "still_failing"
    REGRESSED = "regressed"
    NOT_VERIFIED = "not_verified"


class VerifyItem(Frozen):
    rule_id: str
    host: str
    verdict: Verdict
    planned: bool
    detail: str = ""


class VerifyReport(Frozen):
    assess_run_id: str | None
    hosts: list[str]
    rules: list[str]
    items: list[VerifyItem]

    @property
    def all_fixed(self) -> bool:
        return bool(self.items) and all(i.verdict is Verdict.FIXED for i in self.items)

    def count(self, verdict: Verdict) -> int:
        return sum(1 for i in self.items if i.verdict is verdict)


def targets_for(plan: Plan, inventory: Path | None = None, ssm: SsmTargets | None = None
                ) -> Targets:
    """How the plan's hosts are reached: the source run's inventory/become, or an override;
    with ``ssm`` (``--via ssm``), its managed instances through the document version the plan
    pins."""
    if ssm is not None:
        return _ssm_targets_for(plan, inventory, ssm)
    if plan.source.transport == "ssm" and inventory is None:
        raise InputError(
            f"plan {plan.plan_id} came from an assessment through SSM: apply it with --via ssm "
            "(and --region/--endpoint-url, --output-s3 s3://BUCKET/PREFIX)")
    if inventory is not None:
        if not inventory.is_file():
            raise InputError(f"{inventory}: no such inventory file")
        inv: Path | None = inventory
    elif plan.source.snapshots:
        raise InputError(
            f"plan {plan.plan_id} was made from saved snapshots (run {plan.source.run_id}), "
            "so it does not say how to reach its hosts; give --inventory")
    elif plan.source.inventory in (None, "localhost"):
        raise InputError(
            f"plan {plan.plan_id} came from an assessment of this machine (no inventory); "
            "inspectorctl applies plans to inventory hosts only: give --inventory")
    else:
        inv = Path(str(plan.source.inventory))
        if not inv.is_file():
            raise InputError(f"{inv}: the inventory of the plan's source run no longer exists; "
                             "give --inventory")
    return Targets(inventory=inv, become=plan.source.become)


def _ssm_targets_for(plan: Plan, inventory: Path | None, ssm: SsmTargets) -> Targets:
    if inventory is not None:
        raise InputError("--via ssm reaches managed instances: drop --inventory")
    pin = plan.source.ssm
    if pin is None:
        raise InputError(
            f"plan {plan.plan_id} pins no SSM document version: make it with `inspectorctl plan "
            "--via ssm ...` (what runs through SSM must be what was approved)")
    bad = [h for h in plan.hosts if not INSTANCE_ID.match(h)]
    if bad:
        raise InputError(
            f"plan {plan.plan_id}: host {bad[0]!r} is not an SSM managed instance id (its "
            f"findings came from an assessment over {plan.source.transport}); assess with "
            "--via ssm and plan again")
    return Targets(ssm=ssm.model_copy(update={
        "instance_ids": tuple(plan.hosts), "tags": (),
        "document_version": pin.document_version, "document_sha256": pin.document_sha256}))


def verify_apply(
    plan: Plan,
    entries: Sequence[JournalEntry],
    store: Store,
    targets: Targets,
    *,
    apply_run_id: str,
    actor: str,
    now: datetime,
    progress: ProgressCallback | None = None,
    collector: Collector | None = None,
) -> VerifyReport:
    applied = {e.action_id for e in entries}
    ran = {(e.action_id, e.host): e for e in entries}
    # hosts an action ran on (a failed run may have changed part of a host); not the
    # unreachable or skipped ones
    touched = sorted({e.host for e in entries
                      if e.state.done or e.state is JournalState.FAILED})
    planned = [(a.id, f) for a in plan.actions if a.id in applied for f in a.findings]
    rules = sorted({f.rule_id for _, f in planned})
    if not touched or not rules:
        return VerifyReport(assess_run_id=None, hosts=touched, rules=rules, items=[
            VerifyItem(rule_id=f.rule_id, host=f.host, verdict=Verdict.STILL_FAILING,
                       planned=True, detail="not applied")
            for _, f in planned])
    before = records.latest_results(store, [(r, h) for r in rules for h in touched], set())
    opts = AssessOptions(
        packs=tuple(plan.source.packs) or AssessOptions().packs,
        include=tuple(rules),
        tailoring=dict(plan.source.tailoring),
        targets=targets.model_copy(update={"limit": ",".join(touched)}) if targets.ssm is None
        else targets.model_copy(update={"ssm": targets.ssm.model_copy(update={
            "instance_ids": tuple(touched), "tags": ()})}),
        transport=plan.source.transport,
        template=plan.source.template,
    )
    result = run_assessment(opts, store, progress, collector=collector)
    audit.record(store, AuditEvent.VERIFY, actor, now, plan_id=plan.plan_id,
                 plan_digest=plan.digest, run_id=result.run.id,
                 detail={"apply_run": apply_run_id, "hosts": touched, "rules": rules})
    records.set_verify_run(store, apply_run_id, result.run.id)
    after = {(r.rule_id, r.host): r for r in result.results}
    items: list[VerifyItem] = []
    seen: set[tuple[str, str]] = set()
    for action_id, f in planned:
        key = (f.rule_id, f.host)
        seen.add(key)
        entry = ran.get((action_id, f.host))
        now_r = after.get(key)
        if entry is None or not entry.state.done:
            state = entry.state.value if entry else "not run"
            items.append(VerifyItem(rule_id=f.rule_id, host=f.host, planned=True,
                                    verdict=Verdict.STILL_FAILING,
                                    detail=f"the action did not complete on the host ({state})"))
        elif now_r is None:
            items.append(VerifyItem(rule_id=f.rule_id, host=f.host, planned=True,
                                    verdict=Verdict.NOT_VERIFIED,
                                    detail="no result in the re-assessment"))
        elif now_r.status in (Status.PASS, Status.NOT_APPLICABLE):
            items.append(VerifyItem(rule_id=f.rule_id, host=f.host, planned=True,
                                    verdict=Verdict.FIXED, detail=now_r.status.value))
        elif now_r.status is Status.FAIL:
            found = now_r.evidence.found if now_r.evidence else ""
            items.append(VerifyItem(rule_id=f.rule_id, host=f.host, planned=True,
                                    verdict=Verdict.STILL_FAILING, detail=f"found {found}"))
        else:
            items.append(VerifyItem(rule_id=f.rule_id, host=f.host, planned=True,
                                    verdict=Verdict.NOT_VERIFIED,
                                    detail=now_r.reason or now_r.status.value))
    for key, r in sorted(after.items()):
        if key in seen or r.status is not Status.FAIL:
            continue
        prev = before.get(key)
        if prev is not None and prev["status"] == Status.PASS.value:
            items.append(VerifyItem(rule_id=r.rule_id, host=r.host, planned=False,
                                    verdict=Verdict.REGRESSED,
                                    detail=f"passed in run {prev['run_id']}, fails now"))
    items.sort(key=lambda i: (i.host, i.rule_id))
    return VerifyReport(assess_run_id=result.run.id, hosts=touched, rules=rules, items=items)
