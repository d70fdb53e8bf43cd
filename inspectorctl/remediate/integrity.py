"""Plan integrity: plans are signed when ``plan`` makes them, and the gate recomputes a plan from
the store and the catalogue instead of believing what the plan says about itself.

A plan file is data anyone with a shell can edit, and its ``digest`` is a plain sha256 anyone can
recompute. So:

- ``sign_plan`` adds ``signature = HMAC-SHA256(approval key, "inspectorctl-plan\\0" + digest)``
  with the database's approval key (``approval.approval_key``); a plan not made by ``plan``
  (``plan --preview``, ``rollback``) against this database has no valid signature and is
  refused.
- ``recompute_problems`` rebuilds every action from what the store and the catalogue say:
  playbook names only from the catalogue (no paths), each listed finding must be a FAIL of the
  plan's source run with the same severity and evidence, items re-derived from the rules'
  remediation parameters and the tailoring (a vulnerability finding's ``package_upgrade`` item
  from the evidence its source run stored, ``vulnfix.py``), severity from the findings,
  disruption, privilege, reversibility and check-mode support from the playbook's
  ``meta.yml``; every action must close at least one finding. A rollback plan is rebuilt from
  the journal of the run it rolls back. Any difference refuses the plan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from inspectorctl.errors import InputError, InspectorctlError
from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import Evidence, Finding, FindingState, finding_id
from inspectorctl.models.plan import (
    Plan,
    PlanKind,
    PlannedIdentity,
    PlanSource,
    canonical_json,
)
from inspectorctl.remediate.catalog import PLAYBOOK_ID_RE
from inspectorctl.remediate.planner import (
    RemediationInfo,
    RuleIndex,
    build_plan,
    evidence_digest,
)
from inspectorctl.remediate.plansign import (  # re-exported: the gate's signing and identities
    run_identities,
)
from inspectorctl.store.db import Store
from inspectorctl.store.runs import run_results

# --------------------------------------------------------------------------------------------
# Recomputing a plan
# --------------------------------------------------------------------------------------------


def rule_index(source: PlanSource, framework: str | None) -> RuleIndex:
    """The rules (and their tailoring values) the plan's source names (tests replace this)."""
    from inspectorctl.remediate.plans import _rule_index

    return _rule_index(source.packs, source.tailoring, framework)


def catalogue_info(playbook: str) -> RemediationInfo:
    """What the catalogue says of one playbook now (tests replace this)."""
    from inspectorctl.remediate.remediations import remediation_info

    return remediation_info(playbook)


def catalogue_names() -> set[str]:
    """Remediation playbooks a plan may name (tests replace this)."""
    from inspectorctl.remediate.catalog import available_playbooks

    return available_playbooks()


def bad_playbook_name(plan: Plan) -> str | None:
    """A playbook name no catalogue playbook can have (a path, an internal playbook in a
    remediation plan): refused before any file is looked up by that name."""
    for a in plan.actions:
        internal = a.playbook.startswith("_")
        if not PLAYBOOK_ID_RE.match(a.playbook) or internal != (plan.kind is PlanKind.ROLLBACK):
            return (f"plan {plan.plan_id}: action {a.id} names playbook {a.playbook!r}, which "
                    "is not a remediation playbook of the catalogue (names are 2-64 characters "
                    "of a-z, 0-9, '_')")
    return None


def _short(value: Any, limit: int = 160) -> str:
    text = canonical_json(value)
    return text if len(text) <= limit else text[:limit] + "..."


_COMPARED = ("playbook", "hosts", "items", "findings", "severity", "disruption", "privilege",
             "reversible", "check_mode_supported", "playbook_digest", "description", "id")


def _compare(plan: Plan, rebuilt: Plan) -> list[str]:
    problems: list[str] = []
    theirs = {(a.playbook, tuple(a.hosts)): a for a in rebuilt.actions}
    for a in plan.actions:
        b = theirs.pop((a.playbook, tuple(a.hosts)), None)
        if b is None:
            problems.append(
                f"action {a.id} ({a.playbook} on {', '.join(a.hosts)}) is not what its "
                "findings make: their rules' remediations give "
                + (", ".join(f"{x.playbook} on {', '.join(x.hosts)}" for x in rebuilt.actions)
                   or "no action"))
            continue
        mine_d = a.model_dump(mode="json", include=set(_COMPARED))
        theirs_d = b.model_dump(mode="json", include=set(_COMPARED))
        for field in _COMPARED:
            if mine_d[field] != theirs_d[field]:
                problems.append(
                    f"action {a.id} ({a.playbook}): {field} in the plan is "
                    f"{_short(mine_d[field])}, but the stored findings, rules and catalogue "
                    f"give {_short(theirs_d[field])}")
                break
    for b in theirs.values():
        problems.append(f"the plan's findings also make action {b.playbook} on "
                        f"{', '.join(b.hosts)}, which the plan does not list")
    if not problems:
        mine_m = [m.model_dump(mode="json") for m in plan.manual_steps]
        if mine_m != [m.model_dump(mode="json") for m in rebuilt.manual_steps]:
            problems.append("its manual steps differ from what their rules say")
        elif plan.findings_digest != rebuilt.findings_digest:
            problems.append("its findings digest does not match the findings it lists")
    return problems


def recompute_problems(plan: Plan, store: Store) -> list[str]:
    """Every way the plan differs from what ``plan`` would make of its own findings now."""
    if plan.kind is PlanKind.ROLLBACK:
        return _rollback_problems(plan, store)
    names = catalogue_names()
    problems: list[str] = []
    for a in plan.actions:
        if a.playbook not in names:
            problems.append(
                f"action {a.id} names playbook {a.playbook!r}, which is not a remediation of "
                f"the catalogue (valid: {', '.join(sorted(names)) or 'none'})")
        elif not a.findings:
            problems.append(
                f"action {a.id} ({a.playbook}) closes no finding: every action must fix at "
                f"least one stored finding of run {plan.source.run_id}")
    if problems:
        return problems
    run_id = plan.source.run_id
    if run_id is None or store.run(run_id) is None:
        return [f"its source run {run_id!r} is not in {store.path}"]
    pfs = [(f, a.hosts) for a in plan.actions for f in a.findings]
    pfs += [(f, m.hosts) for m in plan.manual_steps for f in m.findings]
    stored = run_results(store, run_id, [f.host for f, _ in pfs])
    findings: list[Finding] = []
    seen: set[str] = set()
    for f, hosts in pfs:
        where = f"finding {f.rule_id} on {f.host}"
        row = stored.get((f.rule_id, f.host))
        if f.host not in hosts:
            problems.append(f"{where} is listed under an action for other hosts")
        elif f.id != finding_id(f.rule_id, f.host):
            problems.append(f"{where}: its id {f.id!r} is not the id of that rule and host")
        elif f.id in seen:
            problems.append(f"{where} is listed twice")
        elif row is None:
            problems.append(f"{where} is not a result of run {run_id}")
        elif row["status"] != Status.FAIL.value:
            problems.append(f"{where} is {row['status']} in run {run_id}, not a failure")
        else:
            try:
                ev = (Evidence.model_validate_json(row["evidence"]) if row["evidence"]
                      else None)
                severity = Severity(row["severity"])
            except ValueError as e:
                problems.append(f"{where}: its stored result is unreadable ({e})")
                continue
            if severity is not f.severity:
                problems.append(f"{where} has severity {severity.value} in run {run_id}, "
                                f"not {f.severity.value}")
            elif evidence_digest(ev) != f.evidence_digest:
                problems.append(f"{where}: the evidence the plan recorded is not the "
                                f"evidence of run {run_id}")
            else:
                seen.add(f.id)
                findings.append(Finding.model_construct(
                    id=f.id, rule_id=f.rule_id, pack=row["pack"], host=f.host,
                    title=row["title"], severity=severity, score=0.0, status=Status.FAIL,
                    state=FindingState.ACTIVE, evidence=ev, reason=None,
                    first_seen=plan.created_at, last_seen=plan.created_at, first_run=run_id,
                    last_run=run_id))
        if len(problems) >= 5:
            break
    if problems:
        return problems
    try:
        rules = rule_index(plan.source, plan.filters.framework)
        catalog = {pb: catalogue_info(pb) for pb in sorted({a.playbook for a in plan.actions})}
    except (InputError, InspectorctlError) as e:
        return [f"its rules or playbooks cannot be read to check it: {e}"]
    from inspectorctl.remediate.vulnfix import plan_items

    rebuilt = build_plan(findings, rules, catalog, source=plan.source, plan_id=plan.plan_id,
                         created_at=plan.created_at, filters=plan.filters,
                         vuln_items=plan_items(store, findings))
    return _compare(plan, rebuilt)


def _rollback_problems(plan: Plan, store: Store) -> list[str]:
    from inspectorctl.remediate.plans import rollback_plan

    if plan.rollback_of is None:
        return ["a rollback plan must name the apply run it rolls back"]
    try:
        rebuilt = rollback_plan(store, plan.rollback_of, plan.created_at, sign=False)
    except InputError as e:
        return [f"it cannot be rebuilt from the journal of run {plan.rollback_of}: {e}"]
    mine = [a.model_dump(mode="json", exclude={"preview", "preview_note"})
            for a in plan.actions]
    theirs = [a.model_dump(mode="json", exclude={"preview", "preview_note"})
              for a in rebuilt.actions]
    if mine != theirs:
        return [f"its actions are not what the journal of run {plan.rollback_of} gives "
                f"(plan: {_short(mine)}; journal: {_short(theirs)})"]
    if plan.identities != rebuilt.identities:
        return [f"the host identities it records are not those of the plan run "
                f"{plan.rollback_of} applied"]
    return []


# --------------------------------------------------------------------------------------------
# Host identities
# --------------------------------------------------------------------------------------------

#: the key of the runs' ``targets`` JSON that keeps each assessed host's identity
def identity_problems(plan: Plan, store: Store) -> list[str]:
    """The plan's recorded identities must be those its source run stored."""
    if plan.kind is PlanKind.ROLLBACK:
        return []
    stored = run_identities(store, plan.source.run_id)
    want = {h: stored[h] for h in plan.hosts if h in stored}
    if plan.identities != want:
        return [f"the host identities it records are not those run {plan.source.run_id} "
                f"assessed (plan: {_short(_dump(plan.identities))}; run: "
                f"{_short(_dump(want))})"]
    return []


def _dump(ids: Mapping[str, PlannedIdentity]) -> Any:
    return json.loads(canonical_json({h: i.model_dump(mode="json") for h, i in ids.items()}))
