"""Re-assess after an apply: only the touched hosts and the planned rules, then classify.

Each planned finding of an applied action ends as ``fixed`` (PASS or not applicable now),
``still_failing`` (FAIL, or the action did not complete on its host), or ``not_verified`` (the
host could not be assessed: ERROR or no result). A rule that passed on a touched host before
the apply and fails now is ``regressed``. The re-assessment goes through the same transport,
inventory and privilege the plan's source run used, and is recorded as a run; the audit log
marks it as this plan's verification so it does not make the plan stale. Vulnerability
findings (``vuln:`` rules) are matched again against the advisory database of the plan's source
run instead; one still failing after ``package_upgrade`` says "repository offers X, fixed in Y"
from what the playbook reported the host's repositories offer (``vulnfix.py``).
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
from inspectorctl.models.finding import RuleResult
from inspectorctl.models.plan import JournalEntry, JournalState, Plan
from inspectorctl.models.snapshot import ProbeRequest
from inspectorctl.remediate import audit
from inspectorctl.remediate.audit import AuditEvent
from inspectorctl.remediate.planner import VULN_PACK
from inspectorctl.remediate.vulnfix import parse_offers, still_failing_detail
from inspectorctl.store import journal
from inspectorctl.store.db import Store
from inspectorctl.store.plans import stored_plan
from inspectorctl.store.runs import latest_results
from inspectorctl.vuln_assess import FACTS as VULN_FACTS
from inspectorctl.vuln_assess import RULE_PREFIX as VULN_RULE_PREFIX
from inspectorctl.vuln_assess import (
    VulnAssessment,
    VulnOptions,
    default_vuln_db,
    run_vuln_assessment,
)


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
    before = latest_results(store, [(r, h) for r in rules for h in touched], set())
    limited = (targets.model_copy(update={"limit": ",".join(touched)}) if targets.ssm is None
               else targets.model_copy(update={"ssm": targets.ssm.model_copy(update={
                   "instance_ids": tuple(touched), "tags": ()})}))
    config_rules = [r for r in rules if not r.startswith(VULN_RULE_PREFIX)]
    vuln_rules = [r for r in rules if r.startswith(VULN_RULE_PREFIX)]
    results: list[RuleResult] = []
    #: the re-assessment runs, each with the rules it checked
    runs: list[tuple[str, list[str]]] = []
    #: (rule, host) -> (fixed version, binaries) of vulnerability findings still matched
    vuln_now: dict[tuple[str, str], tuple[str | None, list[str]]] = {}
    if config_rules:
        opts = AssessOptions(
            packs=tuple(p for p in plan.source.packs if p != VULN_PACK)
            or AssessOptions().packs,
            include=tuple(config_rules),
            tailoring=dict(plan.source.tailoring),
            targets=limited,
            transport=plan.source.transport,
            template=plan.source.template,
        )
        result = run_assessment(opts, store, progress, collector=collector)
        results += result.results
        runs.append((result.run.id, config_rules))
    if vuln_rules:
        va = _reassess_vulns(plan, store, limited, progress, collector)
        results += [r for r in va.results if r.host in touched]
        runs.append((va.run.id, vuln_rules))
        vuln_now = {(f.rule_id, f.host): (f.fixed_version, sorted(f.binaries))
                    for f in va.findings}
    for rid, checked in runs:
        audit.record(store, AuditEvent.VERIFY, actor, now, plan_id=plan.plan_id,
                     plan_digest=plan.digest, run_id=rid,
                     detail={"apply_run": apply_run_id, "hosts": touched, "rules": checked})
    journal.set_verify_run(store, apply_run_id, runs[-1][0])
    after = {(r.rule_id, r.host): r for r in results}
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
            detail = f"found {found}"
            if key in vuln_now:
                fixed, binaries = vuln_now[key]
                detail = still_failing_detail(fixed, binaries,
                                              parse_offers(entry.message)) or detail
            items.append(VerifyItem(rule_id=f.rule_id, host=f.host, planned=True,
                                    verdict=Verdict.STILL_FAILING, detail=detail))
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
    return VerifyReport(assess_run_id=runs[-1][0], hosts=touched, rules=rules, items=items)


def _reassess_vulns(plan: Plan, store: Store, targets: Targets,
                    progress: ProgressCallback | None, collector: Collector | None
                    ) -> VulnAssessment:
    """Match the touched hosts' packages again, against the advisory database the plan's
    source run used (a finding whose package now reaches its fixed version closes)."""
    from inspectorctl.vulns.db import AdvisoryDB
    from inspectorctl.vulns.models import VulnError

    run = store.run(plan.source.run_id) if plan.source.run_id else None
    recorded = run.targets.get("vuln_db") if run is not None else None
    path = Path(str(recorded)) if recorded else default_vuln_db(store.path)
    if not path.is_file():
        raise InputError(f"the advisory database {path} of run {plan.source.run_id} is gone: "
                         "the vulnerability findings cannot be verified")
    options = VulnOptions(targets=targets, transport=plan.source.transport,
                          max_age_days=36500.0)
    try:
        with AdvisoryDB(path) as db:
            hosts = (collector.collect(ProbeRequest(facts=VULN_FACTS), targets, progress)
                     if collector is not None else None)
            return run_vuln_assessment(options, db, store, progress, hosts=hosts)
    except VulnError as e:
        raise InputError(f"the advisory database {path} cannot be read to verify: {e}") from e


# ---------------------------------------------------------------------------------------------
# After a rollback
# ---------------------------------------------------------------------------------------------


class RollbackItem(Frozen):
    """One finding the rolled-back apply had planned, on a host the rollback restored."""

    finding_id: str
    rule_id: str
    host: str
    #: the re-assessment's result (None: no result)
    status: Status | None
    #: it had been closed (fixed) and fails again: the same finding, reopened
    reopened: bool
    detail: str = ""


class NotUndone(Frozen):
    """An action of the rolled-back apply declared ``reversible: false``: a rollback does not
    undo it (a removed package stays removed)."""

    action_id: str
    playbook: str
    hosts: list[str]
    note: str = ""


class RollbackReport(Frozen):
    assess_run_id: str | None
    hosts: list[str]
    rules: list[str]
    items: list[RollbackItem]
    not_undone: list[NotUndone]

    @property
    def reopened(self) -> list[RollbackItem]:
        return [i for i in self.items if i.reopened]


def not_undone(store: Store, apply_run_id: str, hosts: Sequence[str] | None = None
               ) -> list[NotUndone]:
    """The actions of apply run ``apply_run_id`` that changed a host (one of ``hosts``) and
    are declared ``reversible: false``, with the playbook's rollback note."""
    from inspectorctl.remediate.catalog import CatalogError, load_meta

    run = journal.apply_run(store, apply_run_id)
    original = stored_plan(store, run.plan_digest) if run is not None else None
    if original is None:
        return []
    wanted = set(hosts) if hosts is not None else None
    changed: dict[str, list[str]] = {}
    for e in journal.entries(store, apply_run_id):
        if e.state.value == "changed" and (wanted is None or e.host in wanted):
            changed.setdefault(e.action_id, []).append(e.host)
    out = []
    for a in original.actions:
        if a.reversible or a.id not in changed:
            continue
        note = ""
        try:
            meta = load_meta(a.playbook)
            note = meta.rollback_note
        except CatalogError:
            pass
        out.append(NotUndone(action_id=a.id, playbook=a.playbook,
                             hosts=sorted(changed[a.id]), note=note.strip()))
    return out


def verify_rollback(
    rollback: Plan,
    entries: Sequence[JournalEntry],
    store: Store,
    targets: Targets,
    *,
    rollback_run_id: str,
    actor: str,
    now: datetime,
    progress: ProgressCallback | None = None,
) -> RollbackReport:
    """Re-assess, as an apply does, the hosts a rollback restored for the rules the rolled-back
    apply had planned, so the findings say what the hosts are now: a finding the apply had
    closed and the rollback brought back is reopened (the same id, counted as reopened)."""
    from inspectorctl.models.finding import FindingState, finding_id

    apply_run_id = rollback.rollback_of
    run = journal.apply_run(store, apply_run_id) if apply_run_id else None
    original = stored_plan(store, run.plan_digest) if run is not None else None
    if run is None or original is None or apply_run_id is None:
        raise InputError(f"rollback {rollback.plan_id}: the apply run it undoes is not in "
                         f"{store.path}")
    touched = sorted({e.host for e in entries if e.state.done or e.state is JournalState.FAILED})
    applied = {e.action_id for e in journal.entries(store, apply_run_id)}
    planned = [f for a in original.actions if a.id in applied for f in a.findings
               if f.host in touched]
    rules = sorted({f.rule_id for f in planned})
    undone = not_undone(store, apply_run_id, touched)
    if not touched or not rules:
        return RollbackReport(assess_run_id=None, hosts=touched, rules=rules, items=[],
                              not_undone=undone)
    ids = [finding_id(f.rule_id, f.host) for f in planned]
    was_closed = {f.id for f in store.findings(ids=ids, states=[FindingState.CLOSED])}
    opts = AssessOptions(
        packs=tuple(original.source.packs) or AssessOptions().packs,
        include=tuple(rules),
        tailoring=dict(original.source.tailoring),
        targets=targets.model_copy(update={"limit": ",".join(touched)}),
        transport=original.source.transport,
        template=original.source.template,
    )
    result = run_assessment(opts, store, progress)
    audit.record(store, AuditEvent.VERIFY, actor, now, plan_id=rollback.plan_id,
                 plan_digest=rollback.digest, run_id=result.run.id,
                 detail={"rollback_run": rollback_run_id, "rollback_of": apply_run_id,
                         "hosts": touched, "rules": rules})
    journal.set_verify_run(store, rollback_run_id, result.run.id)
    after = {(r.rule_id, r.host): r for r in result.results}
    now_active = {f.id for f in store.findings(ids=ids, states=[FindingState.ACTIVE])}
    items = []
    for f in sorted(planned, key=lambda x: (x.host, x.rule_id)):
        fid = finding_id(f.rule_id, f.host)
        r = after.get((f.rule_id, f.host))
        reopened = fid in was_closed and fid in now_active
        if r is None:
            detail = "no result in the re-assessment"
        elif r.status is Status.FAIL:
            detail = f"found {r.evidence.found}" if r.evidence else "FAIL"
        else:
            detail = r.reason or r.status.value
        items.append(RollbackItem(finding_id=fid, rule_id=f.rule_id, host=f.host,
                                  status=r.status if r else None, reopened=reopened,
                                  detail=detail))
    return RollbackReport(assess_run_id=result.run.id, hosts=touched, rules=rules, items=items,
                          not_undone=undone)
