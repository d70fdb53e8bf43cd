"""``plan``, ``plan show``, ``approve``, ``apply``, ``rollback``, ``journal``, ``audit list`` and
``remediate``.

Exit codes: 0 done (for ``apply``/``remediate``: every planned finding fixed); 1 the run did not
complete (a host failed, the rollout stopped, a finding is still failing or regressed); 2 bad
input (a file, an option); 3 refused by the approval gate (nothing was run, no host touched);
4 (``remediate`` only) what the policy allowed is fixed, but actions still wait for people.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from inspectorctl import vuln_assess as va
from inspectorctl.aws.deploy import pinned
from inspectorctl.aws.documents import DocumentName, load_document
from inspectorctl.aws.session import SessionFactory, describe_client_error
from inspectorctl.aws.targets import SsmTargets, parse_s3_url
from inspectorctl.cli._common import abort, console, err_console, guarded, info, quiet
from inspectorctl.cli._ssm import (
    EndpointOpt,
    InstanceIdsOpt,
    ProfileOpt,
    RegionOpt,
    S3EndpointOpt,
    TagTargetsOpt,
    aws_config,
    ssm_targets,
)
from inspectorctl.cli.assess import (
    TABLE_JSON,
    DbOpt,
    FormatOpt,
    MatchDbOpt,
    MaxDbAgeOpt,
    NoVulnsOpt,
    RequireFreshOpt,
    _options,
    choose_advisories,
    emit,
    format_option,
    open_store,
    require_format,
)
from inspectorctl.errors import InputError, InspectorctlError
from inspectorctl.models.common import Severity, Status
from inspectorctl.models.plan import (
    Plan,
    Policy,
    SsmPin,
    approval_ttl,
    canonical_json,
    parse_duration,
)
from inspectorctl.remediate import audit as audit_mod
from inspectorctl.remediate import service
from inspectorctl.remediate.approval import (
    approve_by,
    approve_with_policy,
    decide,
    evaluate_policy,
    load_policy,
)
from inspectorctl.remediate.approval import explain as explain_policy
from inspectorctl.remediate.interface import Executor
from inspectorctl.remediate.keys import check_key_file
from inspectorctl.remediate.plans import (
    PlanOptions,
    load_plan,
    make_plan,
    preview_plan,
    write_plan,
)
from inspectorctl.remediate.rollout import (
    ApplyReport,
    CountOrPercent,
    RolloutEvent,
    RolloutOptions,
    journal_view,
)
from inspectorctl.remediate.verify import (
    NotUndone,
    RollbackReport,
    Verdict,
    VerifyReport,
    targets_for,
)
from inspectorctl.report.listings import AUDIT, JOURNAL, Listing
from inspectorctl.store.db import Store, now
from inspectorctl.store.plans import save_plan
from inspectorctl.textsafe import check_reason, normalise_identity, one_line

EXIT_FAILED = 1

JournalFormatOpt = Annotated[str, format_option(JOURNAL.names)]
AuditFormatOpt = Annotated[str, format_option(AUDIT.names)]

ViaOpt = Annotated[str | None, typer.Option(
    "--via", help="ansible (default) or ssm (AWS Systems Manager Run Command).",
    show_default=False)]
_SSM = "SSM (--via ssm)"
OutputS3ApplyOpt = Annotated[str | None, typer.Option(
    "--output-s3", help="s3://BUCKET/PREFIX: where the playbook bundle and the output go.",
    rich_help_panel=_SSM, show_default=False)]


class SsmPinRefused(InspectorctlError):
    """The SSM document version a plan pins is not what runs now: refused, nothing ran."""

    exit_code = 3


def _ssm_options(via: str | None, profile: str | None, region: str | None,
                 endpoint_url: str | None, s3_endpoint_url: str | None,
                 output_s3: str | None) -> SsmTargets | None:
    if via not in (None, "ansible", "ssm"):
        raise InputError(f"--via {via!r}: valid: ansible, ssm")
    given = [n for n, v in (("--profile", profile), ("--region", region),
                            ("--endpoint-url", endpoint_url),
                            ("--s3-endpoint-url", s3_endpoint_url),
                            ("--output-s3", output_s3)) if v]
    if via != "ssm":
        if given:
            raise InputError(f"{', '.join(given)}: only with --via ssm")
        return None
    return SsmTargets(aws=aws_config(profile, region, endpoint_url, s3_endpoint_url),
                      output_s3=parse_s3_url(output_s3) if output_s3 else None)


def _ssm_pin(ssm: SsmTargets) -> SsmPin:
    """The deployed InspectorCtl-ApplyPlaybook version holding exactly the shipped content."""
    doc = load_document(DocumentName.APPLY_PLAYBOOK.value)
    version = pinned(SessionFactory(ssm.aws).client("ssm"), doc)
    return SsmPin(document=doc.name, document_version=version, document_sha256=doc.sha256)


def _check_pin(plan: Plan, ssm: SsmTargets) -> None:
    """Refuse (exit 3, nothing run) when the pinned version's content is not the approved."""
    import botocore.exceptions

    pin = plan.source.ssm
    if pin is None:
        return  # targets_for says what to do
    client = SessionFactory(ssm.aws).client("ssm")
    try:
        content = str(client.get_document(Name=pin.document, DocumentVersion=pin.document_version,
                                          DocumentFormat="YAML").get("Content") or "")
    except botocore.exceptions.ClientError as e:
        raise SsmPinRefused(f"refused: {pin.document} version {pin.document_version}, pinned "
                            f"by plan {plan.plan_id}: {describe_client_error(e)}; nothing was "
                            "run") from e
    sha = hashlib.sha256(content.encode("utf-8")).hexdigest()
    if sha != pin.document_sha256:
        raise SsmPinRefused(
            f"refused: {pin.document} version {pin.document_version} changed since plan "
            f"{plan.plan_id} was approved (sha256 {sha[:12]}…, approved "
            f"{pin.document_sha256[:12]}…); nothing was run: deploy, plan and approve again")


def _executor_for(ssm: SsmTargets | None) -> Executor:
    return make_executor() if ssm is None else make_ssm_executor()


EXIT_REFUSED = 3
EXIT_PENDING = 4


def register(app: typer.Typer) -> None:
    plan_app = typer.Typer(help="Plan remediations of stored findings.",
                           invoke_without_command=True)
    plan_app.callback(invoke_without_command=True)(plan)
    plan_app.command("show")(plan_show)
    app.add_typer(plan_app, name="plan")
    app.command()(approve)
    app.command()(apply)
    app.command()(rollback)
    app.command()(journal)
    audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)
    audit_app.command("list")(audit_list)
    audit_app.command("verify")(audit_verify)
    app.add_typer(audit_app, name="audit")
    app.command()(remediate)


def make_executor() -> Executor:
    """The executor apply/rollback/--preview use (tests put a fake here)."""
    from inspectorctl.remediate.ansible import AnsibleExecutor

    return AnsibleExecutor()


def make_ssm_executor() -> Executor:
    """The executor of --via ssm (tests put one with stubbed clients here)."""
    from inspectorctl.remediate.ssm import SsmExecutor

    return SsmExecutor()


def _actor(by: str | None = None) -> str:
    """``--by`` (normalised: case-folded, NFKC, no control characters), else the login."""
    if by is not None:
        return normalise_identity(by, "--by")
    try:
        return normalise_identity(getpass.getuser(), "login name")
    except (KeyError, OSError, InputError):
        return "unknown"


# --------------------------------------------------------------------------------- rendering


def render_plan(plan: Plan, *, diffs: bool = False) -> None:
    kind = "Rollback plan" if plan.rollback_of else "Plan"
    console.print(
        f"{kind} {plan.plan_id} (digest {plan.digest[:12]}) from run {plan.source.run_id}: "
        f"{len(plan.actions)} action(s) on {len(plan.hosts)} host(s), "
        f"{len(plan.manual_steps)} manual step(s), {len(plan.skipped)} skipped finding(s)",
        highlight=False, markup=False)
    for a in plan.actions:
        console.print(
            f"  {a.id} {a.playbook} on {', '.join(a.hosts)}: {len(a.findings)} finding(s), "
            f"{a.severity.value}, disruption {a.disruption.value}, privilege "
            f"{a.privilege.value}, {'reversible' if a.reversible else 'not reversible'}",
            highlight=False, markup=False)
        console.print(f"    rules: {', '.join(a.rule_ids)}", highlight=False, markup=False)
        # every item the playbook will be given, exactly (what an approval approves)
        for item in a.items:
            console.print(f"    item: {canonical_json(item)}", highlight=False, markup=False)
    for a in plan.actions:
        if a.preview_note:
            console.print(f"preview {a.id}: {a.preview_note}", highlight=False, markup=False)
        if diffs and a.preview:
            for host, p in sorted(a.preview.items()):
                console.print(f"--- preview {a.id} ({a.playbook}) on {host}: {p.status}",
                              highlight=False, markup=False)
                if p.message:
                    console.print(p.message, highlight=False, markup=False)
                if p.diff:
                    console.print(p.diff.rstrip("\n"), highlight=False, markup=False)
    if plan.manual_steps:
        console.print("Manual steps (not applied by inspectorctl):", highlight=False)
        for m in plan.manual_steps:
            console.print(f"  {m.rule_id} ({m.severity.value}) on {', '.join(m.hosts)}: "
                          f"{m.text}", highlight=False, markup=False)
    if plan.skipped:
        console.print("Skipped findings:", highlight=False)
        # one line per rule and reason: hosts skipped for the same reason are listed together
        # (the detail names "each host" where it named the host)
        groups: dict[tuple[str, str, str], list[str]] = {}
        for s in plan.skipped:
            generic = (re.sub(rf"(?<![\w.-]){re.escape(s.host)}(?![\w.-])", "\0", s.detail)
                       if s.host else s.detail)
            groups.setdefault((s.rule_id, s.reason.value, generic), []).append(s.host)
        for (rule_id, reason, generic), hosts in groups.items():
            detail = generic.replace("\0", hosts[0] if len(hosts) == 1 else "each host")
            console.print(f"  {rule_id} on {', '.join(hosts)}: {reason}: {detail}",
                          highlight=False, markup=False)


def _render_apply(report: ApplyReport) -> None:
    counts: dict[str, int] = {}
    for e in report.entries:
        counts[e.state.value] = counts.get(e.state.value, 0) + 1
    order = ("changed", "possibly_changed", "ok", "failed", "unreachable",
             "skipped_threshold", "pending", "running")
    summary = ", ".join(f"{k} {counts[k]}" for k in order if counts.get(k))
    verb = "resumed" if report.resumed else "applied"
    console.print(f"Run {report.run_id} {verb} {len(report.applied_actions)} action(s): "
                  f"{summary or 'nothing to do'}", highlight=False, markup=False)
    if report.not_approved:
        console.print(f"Not approved, not run: {', '.join(report.not_approved)}",
                      highlight=False, markup=False)
    if report.stopped:
        console.print(report.stop_reason, highlight=False, markup=False)


def _print_event(ev: RolloutEvent) -> None:
    """An apply's progress on stderr; with ``-q`` only what failed."""
    if ev.state is None:
        if ev.message:  # the rollout stopped: always said
            err_console.print(ev.message, markup=False)
        else:
            info(f"== {ev.phase}")
        return
    tail = f": {ev.message}" if ev.message and ev.state.failure else ""
    line = f"{ev.phase}: {ev.playbook} ({ev.action_id}) on {ev.host}: {ev.state.value}{tail}"
    if ev.state.failure:
        err_console.print(line, markup=False)
    else:
        info(line)


def _render_verify(report: VerifyReport) -> None:
    console.print(
        f"Re-assessed {len(report.hosts)} host(s), {len(report.rules)} rule(s) in run "
        f"{report.assess_run_id or '-'}: fixed {report.count(Verdict.FIXED)}, still failing "
        f"{report.count(Verdict.STILL_FAILING)}, regressed {report.count(Verdict.REGRESSED)}, "
        f"not verified {report.count(Verdict.NOT_VERIFIED)}", highlight=False, markup=False)
    for i in report.items:
        if i.verdict is not Verdict.FIXED:
            console.print(f"  {i.verdict.value}: {i.rule_id} on {i.host}: {i.detail}",
                          highlight=False, markup=False)


StrictOpt = Annotated[bool, typer.Option(
    "--strict", help="Refuse when the approval key file is readable or writable by others "
    "than its owner (default: warn).")]


def _key_warnings(store: Store, strict: bool) -> None:
    for w in check_key_file(store, strict=strict):
        err_console.print(f"warning: {w}")


# --------------------------------------------------------------------------------- plan


@guarded
def plan(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the plan here.")
                   ] = None,
    run: Annotated[str | None, typer.Option("--run", help="Plan this run's findings "
                                            "[default: the latest assessment].")] = None,
    severity: Annotated[Severity | None, typer.Option(
        "--severity", help="Only findings at or above this severity.")] = None,
    rule: Annotated[list[str] | None, typer.Option(
        "--rule", "-r", metavar="GLOB", help="Only rules matching this glob (repeatable).")] = None,
    host: Annotated[list[str] | None, typer.Option(
        "--host", metavar="GLOB", help="Only hosts matching this glob (repeatable).")] = None,
    framework: Annotated[str | None, typer.Option(
        "--framework", help="Only rules mapped to this framework.")] = None,
    pack: Annotated[list[str] | None, typer.Option(
        "--pack", "-p", metavar="PACK",
        help="Rulepack id or file [default: the run's packs].")] = None,
    template: Annotated[Path | None, typer.Option(
        "--template", "-t", help="Take tailoring values from this template.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", metavar="NAME=VALUE", help="Tailoring value NAME=VALUE (repeatable).")] = None,
    preview: Annotated[bool, typer.Option(
        "--preview", help="Run every action in check mode with diff; keep the diffs.")
    ] = False,
    inventory: Annotated[Path | None, typer.Option(
        "--inventory", "-i", help="Inventory for --preview [default: the run's].")] = None,
    by: Annotated[str | None, typer.Option(
        "--by", help="Who makes the plan (recorded in it) [default: the login name].")
    ] = None,
    via: ViaOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    s3_endpoint_url: S3EndpointOpt = None,
    output_s3: OutputS3ApplyOpt = None,
    db: DbOpt = None,
) -> None:
    """Plan remediations: actions = playbook x hosts x parameters, with their findings."""
    if ctx.invoked_subcommand is not None:
        return
    ssm = _ssm_options(via, profile, region, endpoint_url, s3_endpoint_url, output_s3)
    if out is None:
        raise InputError("plan: give the plan file to write with --out/-o FILE")
    from inspectorctl.cli.assess import _parse_tailoring

    opts = PlanOptions(run_id=run, min_severity=severity, rules=tuple(rule or ()),
                       hosts=tuple(host or ()), framework=framework, packs=tuple(pack or ()),
                       template=template, tailoring=_parse_tailoring(set_ or []),
                       ssm_pin=_ssm_pin(ssm) if ssm is not None else None)
    with open_store(db) as store:
        p = make_plan(store, opts, now(), actor=_actor(by))
        if preview and p.actions:
            p = preview_plan(p, _executor_for(ssm), targets_for(p, inventory, ssm), store)
            save_plan(store, p, now())
    write_plan(p, out)
    render_plan(p, diffs=preview)
    console.print(f"Plan written to {out} (digest {p.digest[:12]}); approve it with "
                  f"`inspectorctl approve {out} --by NAME`", highlight=False, markup=False)


@guarded
def plan_show(
    file: Annotated[Path, typer.Argument(help="Plan file.")],
    diff: Annotated[bool, typer.Option("--diff/--no-diff", help="Show preview diffs.")
                    ] = True,
    fmt: FormatOpt = "table",
) -> None:
    """Show a plan: actions, hosts, findings, disruption, manual steps, preview diffs."""
    require_format(fmt, "plan show", *TABLE_JSON)
    p = load_plan(file)
    if fmt == "json":
        typer.echo(p.model_dump_json(indent=2))
        return
    render_plan(p, diffs=diff)
    if p.digest != p.computed_digest():
        err_console.print(f"warning: {file} was modified after it was made (its content does "
                          "not match its digest); it will be refused", markup=False)


# --------------------------------------------------------------------------------- approve


def _interactive(plan_: Plan, by: str | None) -> tuple[str, list[str]]:
    render_plan(plan_, diffs=True)
    name = by or typer.prompt("Approver name")
    if typer.confirm(f"Approve all {len(plan_.actions)} action(s)?", default=False):
        return name, [a.id for a in plan_.actions]
    chosen = []
    for a in plan_.actions:
        q = (f"Approve {a.id}: {a.playbook} on {', '.join(a.hosts)} ({len(a.findings)} "
             f"finding(s), {a.severity.value}, disruption {a.disruption.value})?")
        if typer.confirm(q, default=False):
            chosen.append(a.id)
    return name, chosen


def _render_explain(p: Plan, pol: Policy, at: datetime) -> None:
    console.print(f"Policy {pol.source} at {at.astimezone(UTC):%Y-%m-%d %a %H:%M} UTC, plan "
                  f"{p.plan_id}:", highlight=False, markup=False)
    for a in p.actions:
        d = decide(pol, a, at)
        verdict = ("auto-approved" if d.auto else f"needs {d.approvers} approver(s)")
        console.print(f"{a.id} ({a.playbook} on {', '.join(a.hosts)}; {a.severity.value}, "
                      f"disruption {a.disruption.value}): {verdict}, {d.why}",
                      highlight=False, markup=False)
        decided = False
        for ev in explain_policy(pol, a, at):
            kind = "auto" if ev.auto_approve else "people"
            if decided:
                state = "not reached (an earlier rule decided)"
            elif ev.matched:
                state = "matches"
                decided = True
            else:
                state = "fails: " + "; ".join(ev.failed)
            console.print(f"  rule {ev.rule!r} ({kind}): {state}", highlight=False,
                          markup=False)
        if not decided:
            console.print(f"  no rule matched: default_approvers {pol.default_approvers}",
                          highlight=False, markup=False)


@guarded
def approve(
    file: Annotated[Path, typer.Argument(help="Plan file.")],
    by: Annotated[str | None, typer.Option("--by", help="Approver's name.")] = None,
    comment: Annotated[str, typer.Option("--comment", help="Why.")] = "",
    action: Annotated[list[str] | None, typer.Option(
        "--action", metavar="ID",
        help="Approve only this action (repeatable) [default: all].")] = None,
    policy: Annotated[Path | None, typer.Option(
        "--policy", help="Approval policy (YAML): with --by, how many people each action "
        "needs; alone, approve what it allows automatically.")] = None,
    ttl: Annotated[str | None, typer.Option(
        "--ttl", help="How long this approval lasts [default: the policy's, else 24h].")
    ] = None,
    interactive: Annotated[bool, typer.Option(
        "--interactive", help="Review and approve action by action (default in a terminal "
        "without --by or --policy).")] = False,
    explain: Annotated[bool, typer.Option(
        "--explain", help="With --policy: print how every policy rule evaluates against every "
        "action (which conditions fail), and approve nothing.")] = False,
    sign_with: Annotated[Path | None, typer.Option(
        "--sign-with", help="Also sign the approval with this SSH private key (ssh-keygen "
        "-Y sign); a policy's allowed_signers file says whose keys count.")] = None,
    strict: StrictOpt = False,
    db: DbOpt = None,
) -> None:
    """Approve a plan (or some of its actions), bound to its digest, with an expiry."""
    p = load_plan(file)
    pol: Policy | None = load_policy(policy) if policy is not None else None
    if explain:
        if pol is None:
            raise InputError("approve --explain needs --policy FILE")
        _render_explain(p, pol, now())
        return
    life: timedelta | None = None
    if ttl is not None:
        try:
            life = approval_ttl(parse_duration(ttl))
        except ValueError as e:
            raise InputError(f"--ttl {ttl}: {e}") from e
    if by is not None:
        by = normalise_identity(by, "--by")
    comment = check_reason(comment, "--comment")
    t = now()
    with open_store(db) as store:
        _key_warnings(store, strict)
        if pol is not None and by is None and not interactive:
            res = approve_with_policy(store, p, pol, t, comment=comment)
            for a in res.approvals:
                console.print(f"Approved by {a.approver}: {', '.join(a.action_ids)} (expires "
                              f"{a.expires_at.isoformat(timespec='seconds')})",
                              highlight=False, markup=False)
            if not res.auto_ids:
                console.print("The policy approves no action of this plan automatically.",
                              highlight=False)
            for d in res.needs_people:
                why = d.why
                console.print(f"Needs {d.approvers} approver(s): {d.action_id} ({why})",
                              highlight=False, markup=False)
            return
        if interactive or (by is None and sys.stdin.isatty()):
            name, ids = _interactive(p, by)
            if not ids:
                console.print("Nothing approved.")
                return
        elif by is None:
            raise InputError("approve: give --by NAME (or --policy FILE, or run it in a "
                             "terminal to approve interactively)")
        else:
            name, ids = by, list(action or [])
        a = approve_by(store, p, name, t, action_ids=ids, comment=comment, policy=pol,
                       ttl=life, sign_with=sign_with)
    signed = ", signed" if a.signature else ""
    console.print(f"Approved by {a.approver}{signed}: {len(a.action_ids)} of "
                  f"{len(p.actions)} action(s) of plan {p.plan_id} (digest {p.digest[:12]}), "
                  f"expires {a.expires_at.isoformat(timespec='seconds')}", highlight=False,
                  markup=False)


# --------------------------------------------------------------------------------- apply


def _rollout_options(batch_size: str | None, canary: int, max_errors: str, resume: bool,
                     require_all: bool) -> RolloutOptions:
    return RolloutOptions(
        batch_size=CountOrPercent.parse(batch_size, "--batch-size") if batch_size else None,
        canary=canary, max_errors=CountOrPercent.parse(max_errors, "--max-errors"),
        resume=resume, require_all=require_all)


BatchOpt = Annotated[str | None, typer.Option(
    "--batch-size", help="Hosts per batch: N or P% [default: all after the canary].")]
CanaryOpt = Annotated[int, typer.Option("--canary", min=0, help="Hosts to run alone first.")]
MaxErrOpt = Annotated[str, typer.Option(
    "--max-errors", help="Stop when more hosts than this fail: N or P%.")]


def _render_step(step: service.Step) -> None:
    if isinstance(step, service.Assessed):
        console.print(f"Assessed run {step.run.id}: {step.run.counts.failed} failing "
                      f"result(s) on {step.run.counts.hosts} host(s)", highlight=False,
                      markup=False)
    elif isinstance(step, service.Planned):
        render_plan(step.plan)
    elif isinstance(step, service.Applied):
        _render_apply(step.report)
    else:
        _render_verify(step.report)


def _apply_and_verify(store: Store, p: Plan, targets_inv: Path | None, ro: RolloutOptions,
                      actor: str, pol: Policy | None, verify: bool, command: str,
                      ssm: SsmTargets | None = None) -> int:
    targets = targets_for(p, targets_inv, ssm)
    if ssm is not None:
        _check_pin(p, ssm)
    report, checked = service.apply_and_verify(
        store, p, executor=_executor_for(ssm), targets=targets, rollout=ro,
        actor=actor, policy=pol, verify=verify, command=command, now=now,
        on_step=_render_step, on_event=_print_event)
    code = 0 if report.complete and not report.stopped else EXIT_FAILED
    if checked is not None and not checked.all_fixed:
        code = EXIT_FAILED
    return code


@guarded
def apply(
    file: Annotated[Path, typer.Argument(help="Approved plan file.")],
    batch_size: BatchOpt = None,
    canary: CanaryOpt = 0,
    max_errors: MaxErrOpt = "0",
    resume: Annotated[bool, typer.Option("--resume", help="Finish an interrupted or stopped "
                                         "apply of this plan.")] = False,
    require_all: Annotated[bool, typer.Option(
        "--require-all", help="Refuse unless every action is approved.")] = False,
    policy: Annotated[Path | None, typer.Option(
        "--policy", help="Approval policy: enforce its approver counts.")] = None,
    verify: Annotated[bool, typer.Option("--verify/--no-verify",
                                         help="Re-assess touched hosts and rules.")] = True,
    inventory: Annotated[Path | None, typer.Option(
        "--inventory", "-i", help="Inventory [default: the plan's source run's].")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who runs it (audit log) "
                                           "[default: the login name].")] = None,
    strict: StrictOpt = False,
    via: ViaOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    s3_endpoint_url: S3EndpointOpt = None,
    output_s3: OutputS3ApplyOpt = None,
    db: DbOpt = None,
) -> None:
    """Apply the approved actions of a plan (canary, batches, threshold), then re-assess."""
    ssm = _ssm_options(via, profile, region, endpoint_url, s3_endpoint_url, output_s3)
    p = load_plan(file)
    ro = _rollout_options(batch_size, canary, max_errors, resume, require_all)
    pol = load_policy(policy) if policy is not None else None
    actor = _actor(by)
    with open_store(db) as store:
        _key_warnings(store, strict)
        code = _apply_and_verify(store, p, inventory, ro, actor, pol, verify, "apply", ssm)
    raise typer.Exit(code)


@guarded
def rollback(
    run: Annotated[str, typer.Argument(help="The apply run to roll back.")],
    by: Annotated[list[str] | None, typer.Option(
        "--by", metavar="NAME",
        help="Who approves the rollback (repeatable when the policy needs more).")
    ] = None,
    comment: Annotated[str, typer.Option("--comment", help="Why.")] = "",
    policy: Annotated[Path | None, typer.Option(
        "--policy", help="Approval policy: enforce its approver counts.")] = None,
    inventory: Annotated[Path | None, typer.Option(
        "--inventory", "-i", help="Inventory [default: the plan's source run's].")] = None,
    sign_with: Annotated[list[Path] | None, typer.Option(
        "--sign-with", metavar="KEY",
        help="Also sign the approval with this SSH private key (ssh-keygen -Y sign); one per "
        "--by, in the same order.")] = None,
    strict: StrictOpt = False,
    via: ViaOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    s3_endpoint_url: S3EndpointOpt = None,
    output_s3: OutputS3ApplyOpt = None,
    db: DbOpt = None,
) -> None:
    """Restore the files an apply run backed up, on the hosts it changed.

    A rollback changes hosts, so it is a plan too (one ``_rollback`` action) and passes the same
    gate: the people named by --by approve it (recorded, signed), then it is applied.
    """
    ssm = _ssm_options(via, profile, region, endpoint_url, s3_endpoint_url, output_s3)
    if not by:
        raise InputError("rollback: a rollback changes hosts and needs an approver: give "
                         "--by NAME")
    by = [normalise_identity(b, "--by") for b in by]
    if sign_with and len(sign_with) != len(by):
        raise InputError(f"rollback: {len(by)} --by and {len(sign_with)} --sign-with: give "
                         "one --sign-with KEY per --by NAME, in the same order")
    comment = check_reason(comment, "--comment")
    pol = load_policy(policy) if policy is not None else None
    with open_store(db) as store:
        _key_warnings(store, strict)
        outcome = service.rollback(
            store, run, by, executor=_executor_for(ssm), now=now(), comment=comment, policy=pol,
            inventory=inventory, ssm=ssm, ssm_pin=_ssm_pin(ssm) if ssm is not None else None,
            sign_with=list(sign_with or ()),
            before_apply=(lambda plan: _check_pin(plan, ssm)) if ssm is not None else None,
            # said before anyone approves: what a rollback cannot undo
            on_plan=lambda _plan, undone: _render_not_undone(undone, before=True),
            on_event=_print_event)
    report = outcome.report
    _render_apply(report)
    _render_rollback(outcome.verified)
    raise typer.Exit(0 if report.complete else EXIT_FAILED)


def _render_not_undone(items: list[NotUndone], *, before: bool) -> None:
    for u in items:
        head = "will not be undone" if before else "not undone"
        note = f" ({u.note})" if u.note else ""
        console.print(f"{head}: {u.playbook} ({u.action_id}) on {', '.join(u.hosts)}: "
                      f"declared reversible: false{note}", highlight=False, markup=False)


def _render_rollback(report: RollbackReport) -> None:
    failing = [i for i in report.items if i.status is Status.FAIL]
    console.print(
        f"Re-assessed {len(report.hosts)} host(s), {len(report.rules)} rule(s) in run "
        f"{report.assess_run_id or '-'}: failing again {len(failing)} (reopened "
        f"{len(report.reopened)}), not failing {len(report.items) - len(failing)}",
        highlight=False, markup=False)
    for i in report.items:
        what = ("reopened" if i.reopened else "failing" if i.status is Status.FAIL
                else (i.status.value if i.status else "not verified"))
        console.print(f"  {what}: {i.finding_id} {i.rule_id} on {i.host}: {i.detail}",
                      highlight=False, markup=False)
    _render_not_undone(report.not_undone, before=False)


@guarded
def journal(
    run: Annotated[str, typer.Argument(help="Apply or rollback run id.")],
    fmt: JournalFormatOpt = "table",
    db: DbOpt = None,
) -> None:
    """Show the journal of an apply: every host x action with its state."""
    JOURNAL.check(fmt)
    with open_store(db) as store:
        seen = journal_view(store, run)
        if seen is None:
            raise InputError(f"no apply run {run!r} in {store.path}")
        r, rows = seen
    if fmt != "table":
        emit(JOURNAL.render(fmt, Listing("journal", "journal",
                                         [e.model_dump(mode="json") for e in rows],
                                         {"run": r.model_dump(mode="json")})))
        return
    why = f" ({r.message})" if r.status == "died" else ""
    console.print(f"Run {r.id} ({r.kind} of plan {r.plan_id}): {r.status}{why}",
                  highlight=False, markup=False)
    for e in rows:
        msg = f": {e.message}" if e.message else ""
        console.print(f"  {e.phase}: {e.playbook} ({e.action_id}) on {e.host}: {e.state.value}"
                      f" (tries {e.attempts}){msg}", highlight=False, markup=False)


@guarded
def audit_list(
    plan_file: Annotated[Path | None, typer.Option("--plan", help="Only this plan's entries."
                                                   )] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only this run's entries.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Last N.")] = None,
    fmt: AuditFormatOpt = "table",
    db: DbOpt = None,
) -> None:
    """List the audit log (approvals, refusals, applies, rollbacks); checks its chain."""
    AUDIT.check(fmt)
    digest = load_plan(plan_file).digest if plan_file else None
    with open_store(db) as store:
        rows = audit_mod.entries(store, plan_digest=digest, run_id=run, limit=limit)
        check = audit_mod.verify(store)
    if fmt != "table":
        emit(AUDIT.render(fmt, Listing("audit", "entries",
                                       [e.model_dump(mode="json") for e in rows])))
    else:
        for e in rows:
            what = e.detail.get("message") or e.detail.get("status") or ""
            if e.event.value == "approve":
                acts = ", ".join(e.detail.get("actions", []))
                what = f"{acts} until {e.detail.get('expires_at')}"
            first = str(what).splitlines()[0] if what else ""
            # one entry, one line: a newline or escape in a name is shown, never obeyed
            console.print(f"{e.seq:>4} {e.at.isoformat(timespec='seconds')} {e.event.value:<14} "
                          f"{one_line(e.actor):<16} {one_line(e.plan_id or '-')} "
                          f"{one_line(e.run_id or '-')} {one_line(first)}".rstrip(),
                          highlight=False, markup=False, soft_wrap=True)
    if not check.ok:
        more = len(check.problems) - 1
        tail = f" (and {more} more problem(s))" if more else ""
        abort(f"the audit log in {store.path} is not intact: {check.problems[0].message}"
              f"{tail}; see `inspectorctl audit verify`", EXIT_FAILED)


@guarded
def audit_verify(
    strict: Annotated[bool, typer.Option(
        "--strict", help="Also fail when the key file is readable by others, and when "
        "entries predate the keyed chain.")] = False,
    fmt: FormatOpt = "table",
    db: DbOpt = None,
) -> None:
    """Verify the audit log: every entry's keyed digest, the row numbers, the head file.

    Exit 0 intact; 1 tampering found (each problem names the entry: edited, deleted,
    inserted, truncated) or the log cannot be verified (key missing).
    """
    require_format(fmt, "audit verify", *TABLE_JSON)
    with open_store(db) as store:
        warnings = check_key_file(store, strict=False)
        report = audit_mod.verify(store)
    if fmt == "json":
        typer.echo(json.dumps({**report.model_dump(mode="json"), "ok": report.ok,
                               "warnings": warnings}, indent=2))
    else:
        for w in warnings:
            err_console.print(f"warning: {w}")
        for n in report.notes:
            err_console.print(f"note: {n}")
        for p in report.problems:
            where = f"entry {p.seq}" if p.seq is not None else "log"
            console.print(f"{p.kind.value}: {where}: {p.message}", highlight=False)
        if report.ok:
            head = (f"; head entry {report.head_seq} ({(report.head_digest or '')[:15]})"
                    if report.head_seq is not None else "")
            console.print(f"audit log intact: {report.entries} entries{head}",
                          highlight=False)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)
    if strict and (warnings or report.legacy):
        abort("refused (--strict): " + (warnings[0] if warnings else report.notes[-1]),
              EXIT_FAILED)


# --------------------------------------------------------------------------------- remediate


@guarded
def remediate(
    policy: Annotated[Path, typer.Option("--policy", help="Approval policy (YAML).")],
    template: Annotated[Path | None, typer.Option("--template", "-t",
                                                  help="Assessment template.")] = None,
    inventory: Annotated[Path | None, typer.Option("--inventory", "-i", help="Inventory.")
                         ] = None,
    limit: Annotated[str | None, typer.Option("--limit", "-l", help="Ansible host pattern.")
                     ] = None,
    become: Annotated[bool | None, typer.Option("--become/--no-become", show_default=False,
                                                help="Privilege escalation.")] = None,
    pack: Annotated[list[str] | None, typer.Option("--pack", "-p", metavar="PACK",
                                                   help="Rulepack.")] = None,
    rule: Annotated[list[str] | None, typer.Option("--rule", "-r", metavar="GLOB",
                                                   help="Rule glob.")] = None,
    severity: Annotated[Severity | None, typer.Option(
        "--severity", help="Only plan findings at or above this severity.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the plan (with what still needs people) here.")] = None,
    batch_size: BatchOpt = None,
    canary: CanaryOpt = 0,
    max_errors: MaxErrOpt = "0",
    via: ViaOpt = None,
    instance_ids: InstanceIdsOpt = None,
    tag_targets: TagTargetsOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    s3_endpoint_url: S3EndpointOpt = None,
    output_s3: OutputS3ApplyOpt = None,
    sign_with: Annotated[Path | None, typer.Option(
        "--sign-with", metavar="KEY",
        help="Sign the policy's approvals with this SSH private key (the account running "
        "the policy; ssh-keygen -Y sign).")] = None,
    strict: StrictOpt = False,
    db: DbOpt = None,
    vuln_db: MatchDbOpt = None,
    no_vulns: NoVulnsOpt = False,
    max_db_age: MaxDbAgeOpt = va.DEFAULT_MAX_AGE_DAYS,
    require_fresh: RequireFreshOpt = False,
) -> None:
    """Unattended: assess -> plan -> policy approval -> apply what it allows -> re-assess.

    The assessment matches installed packages against known vulnerabilities too when there
    is advisory data (as `assess` does), so the plan can upgrade vulnerable packages.

    Exit 0: everything fixed, nothing waits; 1: a host failed or a finding is not fixed;
    3: refused by the gate; 4: what the policy allowed is fixed, the rest waits for people
    (in the --out plan file).
    """
    from inspectorctl.collect import get_collector

    if via not in (None, "ansible", "ssm"):
        raise InputError(f"--via {via!r}: valid: ansible, ssm")
    ssm = ssm_targets(via, instance_ids, tag_targets, profile, region, endpoint_url,
                      s3_endpoint_url, output_s3, None, None)
    pol = load_policy(policy)
    opts = _options(template, pack, rule, None, None, None, inventory, limit, become, None,
                    via, ssm)
    ro = _rollout_options(batch_size, canary, max_errors, False, False)
    actor = f"policy:{policy.name}"

    def on_step(step: service.Step) -> None:
        if isinstance(step, service.Planned) and out is not None:
            write_plan(step.plan, out)  # kept even if what follows fails
        _render_step(step)

    advisories, no_data = choose_advisories(ssm, no_vulns, vuln_db, db, require_fresh)
    try:
        step = None
        if advisories is not None:
            staleness = va.check_staleness(advisories, max_db_age, require_fresh)
            if staleness.stale:
                err_console.print(f"warning: {staleness.message}", highlight=False,
                                  markup=False, soft_wrap=True)
            step = va.VulnStep(advisories, False)
        with open_store(db) as store:
            _key_warnings(store, strict)
            outcome = service.remediate(
                store, opts, pol, collector=get_collector(opts.transport),
                sign_with=sign_with, executor=_executor_for(ssm), rollout=ro, actor=actor,
                now=now, min_severity=severity, ssm=ssm,
                ssm_pin=_ssm_pin(ssm) if ssm is not None else None,
                before_apply=(lambda plan: _check_pin(plan, ssm)) if ssm is not None else None,
                on_step=on_step, on_event=_print_event, vulns=step)
        if no_data is not None and not quiet():
            err_console.print(no_data, highlight=False, markup=False, soft_wrap=True)
    finally:
        if advisories is not None:
            advisories.close()
    p = outcome.plan
    if not p.actions:
        console.print("Nothing to apply.", highlight=False)
        raise typer.Exit(0)
    if outcome.refused:
        abort(outcome.refusals[0].message, EXIT_REFUSED)
    pending = list(outcome.pending)
    code = EXIT_FAILED if outcome.failed else 0
    if not outcome.auto_approved:
        console.print("The policy approves no action automatically; nothing applied.",
                      highlight=False)
    for d in pending:
        why = d.why
        console.print(f"Needs {d.approvers} approver(s): {d.action_id} ({why})",
                      highlight=False, markup=False)
    if pending:
        where = f" in {out}" if out else " (give --out to keep the plan)"
        console.print(f"{len(pending)} action(s) wait for people{where}: `inspectorctl "
                      f"approve {out or 'PLAN'} --by NAME` then `inspectorctl apply`",
                      highlight=False, markup=False)
    if code == 0 and pending:
        code = EXIT_PENDING
    raise typer.Exit(code)


__all__ = ["evaluate_policy", "register"]
