"""Making, reading, writing and previewing plans (the I/O around the pure planner)."""

from __future__ import annotations

import fnmatch
import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from inspectorctl.assess import options_from_template, select
from inspectorctl.errors import InputError
from inspectorctl.models.common import Frozen, Severity, Status
from inspectorctl.models.finding import FindingState, RunRecord
from inspectorctl.models.plan import (
    Action,
    HostPreview,
    Plan,
    PlanFilters,
    PlanKind,
    PlanSource,
    SsmPin,
    findings_digest,
)
from inspectorctl.models.rule import FRAMEWORKS
from inspectorctl.remediate import audit, catalog, plansign, vulnfix
from inspectorctl.remediate.audit import AuditEvent
from inspectorctl.remediate.interface import ExecRequest, Executor, ExecutorError
from inspectorctl.remediate.planner import (
    VULN_PACK,
    VULN_PLAYBOOK,
    RefuseFn,
    RemediationInfo,
    RuleIndex,
    build_plan,
)
from inspectorctl.store import journal
from inspectorctl.store.db import Store
from inspectorctl.store.plans import record_plan, stored_plan
from inspectorctl.yamlfile import load_json


class PlanFileError(InputError):
    """A plan file cannot be read or is not a valid plan."""


#: a plan of every shipped rule on 10,000 hosts is ~60 MB
MAX_PLAN_BYTES = 256 * 1024 * 1024


class PlanOptions(Frozen):
    run_id: str | None = None
    min_severity: Severity | None = None
    rules: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    framework: str | None = None
    #: rulepacks to read the rules from (ids or files) [default: the run's packs]
    packs: tuple[str, ...] = ()
    template: Path | None = None
    tailoring: dict[str, Any] = Field(default_factory=dict)
    #: the SSM document version (and sha256) the plan's actions will run through
    ssm_pin: SsmPin | None = None


def _source(run: RunRecord, packs: Sequence[str], tailoring: Mapping[str, Any]) -> PlanSource:
    t = run.targets
    return PlanSource(
        run_id=run.id,
        transport=str(t.get("transport", "ansible")),
        inventory=t.get("inventory"),
        limit=t.get("limit"),
        become=bool(t.get("become", False)),
        snapshots="snapshots" in t,
        packs=list(packs),
        template=run.template,
        tailoring=dict(tailoring),
    )


def _rule_index(packs: Sequence[str], tailoring: Mapping[str, Any], framework: str | None
                ) -> RuleIndex:
    from inspectorctl.assess import AssessOptions

    # vulnerability findings have no rules: their items come from their stored evidence
    packs = [p for p in packs if p != VULN_PACK]
    if not packs:
        return {}
    sel = select(AssessOptions(packs=tuple(packs), tailoring=dict(tailoring),
                               framework=framework))
    return {r.id: (r, values) for r, values in sel.rules}


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "1", "on")


def root_lockout_guard(source: PlanSource) -> RefuseFn | None:
    """What the sshd_config playbook refuses at apply time, told at plan time: PermitRootLogin
    no for a host the inventory logs in to as root (``ansible_user``), unless the host sets
    ``sshd_allow_root_lockout``. The inventory is read once, on the first such item; None when
    the run's hosts are not reached through an inventory (the playbook still guards)."""
    if source.snapshots or source.transport != "ansible" or not source.inventory:
        return None
    hostvars: dict[str, dict[str, Any]] | None = None

    def refuse(playbook: str, host: str, item: Mapping[str, Any]) -> str | None:
        nonlocal hostvars
        if playbook != "sshd_config" or str(item.get("option", "")).lower() != "permitrootlogin" \
                or str(item.get("value", "")).lower() != "no":
            return None
        if hostvars is None:
            from inspectorctl.collect.ansible import AnsibleCollector
            from inspectorctl.collect.interface import Targets
            from inspectorctl.errors import InspectorctlError

            try:
                hostvars = AnsibleCollector().check_inventory(
                    Targets(inventory=Path(source.inventory or ""), limit=source.limit)).hostvars
            except InspectorctlError:
                hostvars = {}  # cannot tell: the playbook's own check decides at apply time
        hv = hostvars.get(host, {})
        user = hv.get("ansible_user", hv.get("ansible_ssh_user"))
        if hv.get("ansible_connection") == "local" or user != "root" or _truthy(
                hv.get("sshd_allow_root_lockout", False)):
            return None
        return (f"PermitRootLogin no would lock out the connection that applies it: the "
                f"inventory logs in to {host} as root. Connect as another user with become "
                f"(ansible_user, ansible_become), or set sshd_allow_root_lockout=true for the "
                f"host, then plan again")

    return refuse


def make_plan(
    store: Store,
    options: PlanOptions,
    now: datetime,
    *,
    catalog: Mapping[str, RemediationInfo] | None = None,
    plan_id: str | None = None,
    actor: str = "",
) -> Plan:
    """Plan the active findings of a run (default: the latest assessment)."""
    if options.framework is not None and options.framework not in FRAMEWORKS:
        raise InputError(f"unknown framework {options.framework!r}; valid: "
                         f"{', '.join(FRAMEWORKS)}")
    if options.run_id is not None:
        run = store.run(options.run_id)
        if run is None:
            raise InputError(f"no run {options.run_id!r} in {store.path}; see "
                             "`inspectorctl runs list`")
    else:
        run = store.latest_run("assess")
        if run is None:
            raise InputError(f"no assessment in {store.path} to plan from; run "
                             "`inspectorctl assess` first")
    tailoring: dict[str, Any] = {}
    if options.template is not None:
        tailoring.update(options_from_template(options.template).tailoring)
    tailoring.update(options.tailoring)
    # pack files by absolute path, so the gate can read the same rules from any directory
    packs = [str(Path(p).resolve()) if Path(p).is_file() else p
             for p in (list(options.packs) or list(run.packs))]
    try:
        rules = _rule_index(packs, tailoring, options.framework)
    except InputError as e:
        raise InputError(f"{e} (the rules of run {run.id}: packs {', '.join(run.packs)}; "
                         "give --pack FILE for a pack that is not shipped)") from e
    findings = store.findings(run_id=run.id, states=[FindingState.ACTIVE],
                              statuses=[Status.FAIL, Status.ERROR],
                              min_severity=options.min_severity)
    if options.rules:
        findings = [f for f in findings
                    if any(fnmatch.fnmatchcase(f.rule_id, g) for g in options.rules)]
    if options.hosts:
        findings = [f for f in findings
                    if any(fnmatch.fnmatchcase(f.host, g) for g in options.hosts)]
    if options.framework is not None:
        findings = [f for f in findings if f.rule_id in rules]
    if catalog is None:
        from inspectorctl.remediate.remediations import remediation_catalog

        wanted = {r.remediation.playbook for f in findings if (entry := rules.get(f.rule_id))
                  for r in (entry[0],) if r.remediation and r.remediation.playbook}
        if any(f.pack == VULN_PACK for f in findings):
            wanted.add(VULN_PLAYBOOK)
        catalog = remediation_catalog(wanted)
    source = _source(run, packs, tailoring)
    if options.ssm_pin is not None:
        source = source.model_copy(update={"ssm": options.ssm_pin})
    plan = build_plan(
        findings, rules, catalog,
        source=source,
        plan_id=plan_id or "p-" + uuid.uuid4().hex[:12],
        created_at=now,
        filters=PlanFilters(severity=options.min_severity, rules=list(options.rules),
                            hosts=list(options.hosts), framework=options.framework),
        refuse=root_lockout_guard(source),
        vuln_items=vulnfix.plan_items(store, findings),
    )
    if actor:
        plan = plan.model_copy(update={"created_by": actor}).sealed()
    plan = plansign.sign_plan(store, with_identities(store, plan))
    key = audit.chain_key(store)
    with store.transaction() as db:
        record_plan(db, plan, now)
        audit.append(db, AuditEvent.PLAN, actor or "-", now, key=key, plan_id=plan.plan_id,
                     plan_digest=plan.digest, run_id=run.id,
                     detail={"actions": len(plan.actions), "manual": len(plan.manual_steps),
                             "skipped": len(plan.skipped)})
    audit.note_head(store, key)
    return plan


def with_identities(store: Store, plan: Plan) -> Plan:
    """The plan (sealed again) with the identity its source run recorded for each host."""
    stored = plansign.run_identities(store, plan.source.run_id)
    ids = {h: stored[h] for h in plan.hosts if h in stored}
    return plan.model_copy(update={"identities": ids}).sealed()


def preview_plan(plan: Plan, executor: Executor, targets: Any, store: Store | None = None
                 ) -> Plan:
    """Every action in check mode with diff; the per-host result is kept in the plan (signed
    again with ``store``'s key when given: the preview changes the digest)."""
    catalog.require_plugins(a.playbook for a in plan.actions)
    actions: list[Action] = []
    for a in plan.actions:
        if not a.check_mode_supported:
            actions.append(a.model_copy(update={
                "preview_note": f"playbook {a.playbook} does not support check mode"}))
            continue
        request = ExecRequest(playbook=a.playbook, hosts=a.hosts, items=a.items,
                              run_id=f"preview-{plan.plan_id}", targets=targets, check=True,
                              diff=True, machine_ids={
                                  h: i.machine_id for h, i in plan.identities.items()
                                  if i.machine_id and h in a.hosts},
                              host_keys={h: list(i.ssh_host_keys)
                                         for h, i in plan.identities.items()
                                         if i.ssh_host_keys and h in a.hosts})
        try:
            result = executor.run(request)
        except ExecutorError as e:
            actions.append(a.model_copy(update={"preview_note": f"preview failed: {e}"}))
            continue
        preview = {h: HostPreview(status=o.status.value, diff=o.diff, message=o.message)
                   for h, o in result.hosts.items()}
        actions.append(a.model_copy(update={"preview": preview}))
    out = plan.model_copy(update={"actions": actions}).sealed()
    return plansign.sign_plan(store, out) if store is not None else out


def load_plan(path: Path) -> Plan:
    try:
        data = load_json(path, max_bytes=MAX_PLAN_BYTES, what="plan file")
    except InputError as e:
        raise PlanFileError(str(e)) from e
    if not isinstance(data, dict):
        raise PlanFileError(f"{path}: not a plan file (expected a JSON object)")
    try:
        return Plan.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(document)"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise PlanFileError(f"{path}: not a valid plan: {loc}: {msg}") from e


def write_plan(plan: Plan, path: Path) -> None:
    """Atomically: the file is either the whole plan or untouched."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(plan.model_dump_json(indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write the plan: {e}") from e


def rollback_plan(store: Store, run_id: str, now: datetime, *, sign: bool = True,
                  ssm_pin: SsmPin | None = None) -> Plan:
    """A plan of one action: ``_rollback`` on the hosts apply run ``run_id`` changed (signed,
    unless ``sign`` is false: the gate rebuilds it to compare). ``ssm_pin``: a rollback through
    SSM pins the InspectorCtl-ApplyPlaybook version deployed now (it is approved now), not the
    one the rolled-back plan pinned."""
    from inspectorctl.remediate.remediations import remediation_info

    run = journal.apply_run(store, run_id)
    if run is None:
        raise InputError(f"no apply run {run_id!r} in {store.path}; see `inspectorctl audit "
                         "list`")
    if run.kind != "apply":
        raise InputError(f"run {run_id} is a {run.kind}, not an apply: only applies roll back")
    original = stored_plan(store, run.plan_digest)
    if original is None:
        raise InputError(f"the plan of run {run_id} is not in {store.path}")
    # every host the run started on: changed, possibly changed (the process died while it
    # ran), or failed part-way; the rollback restores what each host backed up for the run
    changed = journal.touched_hosts(store, run_id)
    if not changed:
        raise InputError(f"run {run_id} changed no host; there is nothing to roll back")
    info = remediation_info("_rollback")
    applied = {e.action_id for e in journal.entries(store, run_id)}
    severities = [a.severity for a in original.actions if a.id in applied]
    severity = max(severities, key=lambda s: s.rank) if severities else Severity.INFORMATIONAL
    from inspectorctl.models.plan import action_id

    action = Action(
        id=action_id(info.id, changed, [{"rollback_of": run_id}]), playbook=info.id,
        playbook_digest=info.digest, hosts=changed, items=[], findings=[],
        severity=severity, disruption=info.disruption, privilege=info.privilege,
        reversible=False, check_mode_supported=info.check_mode_supported,
        description=f"restore the files apply run {run_id} backed up",
    )
    plan = Plan(
        kind=PlanKind.ROLLBACK, plan_id=f"rollback-{run_id}", created_at=now,
        source=original.source if ssm_pin is None else original.source.model_copy(
            update={"ssm": ssm_pin}),
        actions=[action], rollback_of=run_id,
        findings_digest=findings_digest([]),
        # the machines the run changed: a rollback checks it reaches them too
        identities={h: original.identities[h] for h in changed if h in original.identities},
    ).sealed()
    return plansign.sign_plan(store, plan) if sign else plan
