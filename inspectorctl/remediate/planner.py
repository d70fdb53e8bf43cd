"""The planner: findings + rules + catalogue -> Plan. Pure: no I/O, no clock, no randomness.

Findings (active, status FAIL) are grouped by the playbook that fixes their rule; per host the
parameters of its rules form one merged item list; hosts with identical item lists form one
action (so actions = remediation x host set x parameters). Rules fixed by hand become manual
steps; ERROR findings, rules without a remediation and SSM-only remediations are listed as
skipped with the reason, never as actions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from inspectorctl.models.common import Frozen, Severity, Status
from inspectorctl.models.finding import Evidence, Finding
from inspectorctl.models.plan import (
    Action,
    Disruption,
    ManualStep,
    Plan,
    PlanFilters,
    PlanFinding,
    PlanSource,
    Privilege,
    SkippedFinding,
    SkipReason,
    action_id,
    canonical_json,
    findings_digest,
    sha256_hex,
)
from inspectorctl.models.rule import Rule, VarRef


class RemediationInfo(Frozen):
    """What the catalogue says of one playbook: its digest and what it needs and disturbs."""

    id: str
    digest: str
    disruption: Disruption
    privilege: Privilege
    reversible: bool
    check_mode_supported: bool
    description: str = ""


#: the pack of vulnerability findings (``inspectorctl.vuln_assess``) and the playbook that
#: fixes them: their items come from the findings' stored evidence (``remediate/vulnfix.py``)
VULN_PACK = "vulns"
VULN_PLAYBOOK = "package_upgrade"

#: rule id -> (rule, the effective tailoring values of its pack)
RuleIndex = Mapping[str, tuple[Rule, Mapping[str, Any]]]
#: (playbook, host, item) -> why that item must not be planned for that host, or None
RefuseFn = Callable[[str, str, Mapping[str, Any]], str | None]


def evidence_digest(evidence: Evidence | None) -> str:
    """What the plan remembers of a finding's evidence (compared again at apply time)."""
    if evidence is None:
        return sha256_hex("null")
    return sha256_hex(canonical_json([evidence.expected, evidence.found, evidence.source]))


def resolve_params(params: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Replace ``{var: NAME}`` by the tailoring value (pack default overridden by the run's)."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, VarRef):
            out[k] = v.render(values)
        elif isinstance(v, list):
            out[k] = [x.render(values) if isinstance(x, VarRef) else x for x in v]
        else:
            out[k] = v
    return out


def _plan_finding(f: Finding) -> PlanFinding:
    return PlanFinding.model_construct(
        id=f.id, rule_id=f.rule_id, host=f.host, severity=f.severity,
        evidence_digest=evidence_digest(f.evidence),
    )


def _missing_unit(rule: Rule, playbook: str, item: Mapping[str, Any], f: Finding) -> str:
    """The unit a ``service_enabled`` item would enable when the assessment found no such unit
    on the host ("NAME: no such unit" in the service check's evidence); "" otherwise. The
    playbook refuses such a host at apply time ("not installed"): the plan says so first."""
    if playbook != "service_enabled" or getattr(rule.check, "kind", None) != "service" \
            or f.evidence is None or not isinstance(item.get("name"), str):
        return ""
    unit = str(item["name"]).removesuffix(".service")
    for part in f.evidence.found.split(";"):
        name, sep, rest = part.strip().rpartition(": ")
        if sep and rest == "no such unit" and name.removesuffix(".service") == unit:
            return unit
    return ""


def _not_installed_detail(unit: str, host: str) -> str:
    return (f"no unit {unit}.service on {host}: the service cannot be enabled until the package "
            "that provides it is installed (or reinstalled, if the package manager records it "
            "as installed); install it, assess again, then plan")


def _max_severity(findings: Sequence[PlanFinding]) -> Severity:
    return max((f.severity for f in findings), key=lambda s: s.rank)


def build_plan(
    findings: Sequence[Finding],
    rules: RuleIndex,
    catalog: Mapping[str, RemediationInfo],
    *,
    source: PlanSource,
    plan_id: str,
    created_at: datetime,
    filters: PlanFilters | None = None,
    refuse: RefuseFn | None = None,
    vuln_items: Mapping[str, Mapping[str, Any] | str] | None = None,
) -> Plan:
    """Group ``findings`` into actions, manual steps and skipped findings; seal the digest.
    ``refuse`` may keep an item off a host (skipped as a lockout, with its reason).
    ``vuln_items`` gives each vulnerability finding (by id) its ``package_upgrade`` item, or
    the reason it has none."""
    # playbook -> host -> canonical item text -> item
    items: dict[str, dict[str, dict[str, dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(dict))
    found: dict[str, dict[str, list[PlanFinding]]] = defaultdict(lambda: defaultdict(list))
    manual: dict[str, list[PlanFinding]] = defaultdict(list)
    skipped: list[SkippedFinding] = []
    used: list[PlanFinding] = []

    def skip(f: Finding, reason: SkipReason, detail: str) -> None:
        skipped.append(SkippedFinding.model_construct(
            id=f.id, rule_id=f.rule_id, host=f.host, reason=reason, detail=detail))

    #: rule id -> (item, its canonical text): parameters are resolved once per rule
    resolved: dict[str, tuple[dict[str, Any], str]] = {}
    for f in findings:
        if f.status is not Status.FAIL:
            skip(f, SkipReason.NOT_FAILING,
                 f"status {f.status.value}: {f.reason or 'the rule could not be checked'}; "
                 "assess again once the host can be checked")
            continue
        if f.pack == VULN_PACK:
            vitem = (vuln_items or {}).get(f.id)
            if vitem is None:
                skip(f, SkipReason.NO_REMEDIATION,
                     "no vulnerability details are known for it: assess again with "
                     "`inspectorctl vulns assess` and plan from that run")
            elif isinstance(vitem, str):
                skip(f, SkipReason.NO_REMEDIATION, vitem)
            elif VULN_PLAYBOOK not in catalog:
                skip(f, SkipReason.UNKNOWN_PLAYBOOK,
                     f"playbook {VULN_PLAYBOOK!r} is not in the catalogue")
            else:
                vi = dict(vitem)
                items[VULN_PLAYBOOK][f.host][canonical_json(vi)] = vi
                pf = _plan_finding(f)
                found[VULN_PLAYBOOK][f.host].append(pf)
                used.append(pf)
            continue
        entry = rules.get(f.rule_id)
        if entry is None:
            skip(f, SkipReason.UNKNOWN_RULE,
                 f"rule {f.rule_id} is not in the selected rulepacks")
            continue
        rule, values = entry
        rem = rule.remediation
        if rem is None:
            skip(f, SkipReason.NO_REMEDIATION, f"rule {f.rule_id} declares no remediation")
            continue
        pf = _plan_finding(f)
        if rem.manual:
            manual[f.rule_id].append(pf)
            used.append(pf)
            continue
        if rem.playbook is None:
            skip(f, SkipReason.SSM_ONLY,
                 f"rule {f.rule_id} is fixed by SSM document {rem.ssm_document}; this "
                 "inspectorctl applies Ansible playbooks only")
            continue
        if rem.playbook not in catalog:
            skip(f, SkipReason.UNKNOWN_PLAYBOOK,
                 f"playbook {rem.playbook!r} of rule {f.rule_id} is not in the catalogue")
            continue
        cached = resolved.get(f.rule_id)
        if cached is None:
            item = resolve_params(rem.params, values)
            cached = resolved[f.rule_id] = (item, canonical_json(item))
        missing = _missing_unit(rule, rem.playbook, cached[0], f)
        if missing:
            skip(f, SkipReason.NOT_INSTALLED, _not_installed_detail(missing, f.host))
            continue
        why = refuse(rem.playbook, f.host, cached[0]) if refuse is not None else None
        if why is not None:
            skip(f, SkipReason.LOCKOUT, why)
            continue
        items[rem.playbook][f.host][cached[1]] = cached[0]
        found[rem.playbook][f.host].append(pf)
        used.append(pf)

    actions: list[Action] = []
    for playbook in sorted(items):
        info = catalog[playbook]
        # hosts with the same item list form one action
        groups: dict[str, list[str]] = defaultdict(list)
        for host in sorted(items[playbook]):
            key = canonical_json(sorted(items[playbook][host]))
            groups[key].append(host)
        for hosts in groups.values():
            by_key = items[playbook][hosts[0]]
            host_items = [by_key[k] for k in sorted(by_key)]
            afinds = sorted((pf for h in hosts for pf in found[playbook][h]),
                            key=lambda p: (p.host, p.rule_id))
            actions.append(Action.model_construct(
                id=action_id(playbook, hosts, host_items),
                playbook=playbook,
                playbook_digest=info.digest,
                hosts=hosts,
                items=host_items,
                findings=afinds,
                severity=_max_severity(afinds),
                disruption=info.disruption,
                privilege=info.privilege,
                reversible=info.reversible,
                check_mode_supported=info.check_mode_supported,
                description=info.description,
                preview=None,
                preview_note=None,
            ))
    actions.sort(key=lambda a: (-a.severity.rank, a.playbook, a.hosts))

    steps: list[ManualStep] = []
    for rule_id in sorted(manual):
        rule = rules[rule_id][0]
        pfs = sorted(manual[rule_id], key=lambda p: p.host)
        steps.append(ManualStep(
            rule_id=rule_id, title=rule.title, severity=rule.severity,
            hosts=sorted({p.host for p in pfs}), text=(rule.remediation.manual or "").strip()
            if rule.remediation else "", findings=pfs,
        ))
    skipped.sort(key=lambda s: (s.host, s.rule_id))
    plan = Plan.model_construct(
        version=1,
        kind=Plan.model_fields["kind"].default,
        plan_id=plan_id,
        created_at=created_at,
        source=source,
        filters=filters or PlanFilters(),
        actions=actions,
        manual_steps=steps,
        skipped=skipped,
        rollback_of=None,
        findings_digest=findings_digest(used),
        digest="",
    )
    return plan.sealed()
