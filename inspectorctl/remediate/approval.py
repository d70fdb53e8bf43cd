"""Approval policy, signed approval records, and the gate every host-changing path goes through.

Tamper evidence: each approval row carries ``digest = HMAC-SHA256(key, canonical JSON of every
other field, including the previous row's digest)``. The key is a 32-byte secret in a file
(``$INSPECTORCTL_APPROVAL_KEY_FILE``, default ``<database>.key``, mode 0600) that is created with
the first approval; the database keeps only the key's id. Editing, inserting or deleting an
approval row (even after dropping the append-only triggers) breaks the HMAC or the chain, and
the gate refuses every plan until the row is explained. Someone who can read the key file *and*
write the database can forge approvals: keep the key file where the database's writers cannot
read it when that matters (the environment variable).

``check_approvals(plan, store, now)`` is the gate: ``apply``, ``remediate`` and ``rollback`` call
it before any host is touched (through ``rollout.apply_plan``).
"""

from __future__ import annotations

import enum
import fnmatch
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field

from inspectorctl.errors import InputError
from inspectorctl.models.common import Frozen, Status
from inspectorctl.models.plan import (
    Action,
    Approval,
    ApprovalKind,
    Plan,
    Policy,
    PolicyRule,
    approval_ttl,
    canonical_json,
    format_duration,
)
from inspectorctl.remediate import audit, signing
from inspectorctl.remediate.audit import AuditEvent
from inspectorctl.remediate.keys import KEY_ENV, ApprovalError, approval_key, key_path

__all__ = ["KEY_ENV", "ApprovalError", "approval_key", "key_path"]
from inspectorctl.remediate.planner import evidence_digest
from inspectorctl.remediate.signing import parse_allowed_signers
from inspectorctl.store import approvals as approval_rows
from inspectorctl.store import audit as audit_rows
from inspectorctl.store.audit import verify_runs
from inspectorctl.store.db import Store
from inspectorctl.store.findings import suppressed
from inspectorctl.store.plans import record_plan
from inspectorctl.store.runs import latest_results
from inspectorctl.textsafe import (
    check_reason,
    control_characters,
    normalise_identity,
    one_line,
    same_identity,
)
from inspectorctl.yamlfile import load_model

GENESIS = "0" * 64
DEFAULT_TTL = timedelta(hours=24)


class PolicyError(InputError):
    """An approval policy file is malformed."""


class ApprovalRefused(ApprovalError):
    """The gate refused: nothing was run. Exit code 3."""

    exit_code = 3

    def __init__(self, result: GateResult) -> None:
        super().__init__(result.message())
        self.result = result


# --------------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------------


def load_policy(path: Path) -> Policy:
    try:
        policy = load_model(path, Policy, "policy")
    except InputError as e:
        raise PolicyError(str(e)) from e
    update: dict[str, object] = {"source": str(path)}
    if policy.allowed_signers:
        signers = path.parent / Path(policy.allowed_signers).expanduser()
        parse_allowed_signers(signers)  # one error naming the line, now rather than at apply
        update["allowed_signers"] = str(signers)
    return policy.model_copy(update=update)


class PolicyDecision(Frozen):
    """What the policy says of one action at one moment."""

    action_id: str
    rule: str | None  # the matching policy rule's name; None: no rule matched
    auto: bool
    approvers: int  # people needed when not auto
    ttl: timedelta
    #: an auto-approval made inside a time window lasts at most until the window closes
    window_end: datetime | None = None
    #: not auto-approved: the auto-approving rule that came closest (fewest failed
    #: conditions, first in the file on a tie), and the conditions of it that failed
    closest: str | None = None
    closest_failed: list[str] = Field(default_factory=list)

    @property
    def why(self) -> str:
        """One line: the rule that decided, and what kept the closest auto rule from it."""
        head = f"policy rule {self.rule!r}" if self.rule else "no policy rule matched"
        if self.auto or self.closest is None:
            return head
        return (f"{head}; closest auto-approving rule {self.closest!r} failed on "
                + "; ".join(self.closest_failed))


class RuleEvaluation(Frozen):
    """One policy rule checked against one action: which conditions failed."""

    rule: str
    auto_approve: bool
    failed: list[str]
    window_end: datetime | None = None

    @property
    def matched(self) -> bool:
        return not self.failed


def _all_match(values: Iterable[str], globs: Sequence[str]) -> bool:
    return all(any(fnmatch.fnmatchcase(v, g) for g in globs) for v in values)


def _unmatched(values: Iterable[str], globs: Sequence[str]) -> list[str]:
    return sorted({v for v in values if not any(fnmatch.fnmatchcase(v, g) for g in globs)})


def evaluate_rule(rule: PolicyRule, action: Action, now: datetime) -> RuleEvaluation:
    """Every condition of ``rule`` against ``action`` at ``now``; each failed one is named
    (window, severity, disruption, reversible, rule glob, host glob) with the values."""
    failed: list[str] = []
    sev = action.severity.value
    if rule.max_severity is not None and action.severity.rank > rule.max_severity.rank:
        failed.append(f"severity: the action is {sev}, the rule allows at most "
                      f"{rule.max_severity.value}")
    if rule.severity is not None and action.severity not in rule.severity:
        failed.append(f"severity: the action is {sev}, the rule allows "
                      f"{', '.join(s.value for s in rule.severity)}")
    if rule.disruption is not None and action.disruption not in rule.disruption:
        failed.append(f"disruption: the action's is {action.disruption.value}, the rule allows "
                      f"{', '.join(d.value for d in rule.disruption)}")
    if rule.reversible is not None and action.reversible is not rule.reversible:
        failed.append(f"reversible: the action is {'' if action.reversible else 'not '}"
                      f"reversible, the rule wants reversible: {str(rule.reversible).lower()}")
    if rule.rules and not _all_match(action.rule_ids, rule.rules):
        failed.append(f"rules: {', '.join(_unmatched(action.rule_ids, rule.rules))} match none "
                      f"of {', '.join(rule.rules)} (playbook {action.playbook})")
    if rule.hosts and not _all_match(action.hosts, rule.hosts):
        failed.append(f"hosts: {', '.join(_unmatched(action.hosts, rule.hosts))} match none of "
                      f"{', '.join(rule.hosts)}")
    window_end = None
    if rule.windows:
        ends = [e for w in rule.windows if (e := w.end_of_window(now)) is not None]
        if ends:
            window_end = max(ends)
        else:
            failed.append(f"window: {now.astimezone(UTC):%a %H:%M} UTC is outside "
                          f"{'; '.join(w.text for w in rule.windows)}")
    return RuleEvaluation(rule=rule.name, auto_approve=rule.auto_approve, failed=failed,
                          window_end=window_end if not failed else None)


def explain(policy: Policy, action: Action, now: datetime) -> list[RuleEvaluation]:
    """Every rule of the policy, in order, evaluated against the action."""
    return [evaluate_rule(r, action, now) for r in policy.rules]


def decide(policy: Policy, action: Action, now: datetime) -> PolicyDecision:
    """First matching policy rule wins; no match needs ``default_approvers`` people. When the
    action is not auto-approved, the decision names the auto-approving rule that came closest
    and the conditions of it that failed. An action that closes no finding (a rollback)
    matches no rule: people approve it."""
    evals = explain(policy, action, now) if action.findings else []
    hit = next((i for i, ev in enumerate(evals) if ev.matched), None)
    auto = hit is not None and evals[hit].auto_approve
    closest: RuleEvaluation | None = None
    if not auto:
        # rules before the deciding one (a later auto rule never gets a say)
        candidates = [ev for ev in evals[:hit] if ev.auto_approve and not ev.matched]
        closest = min(candidates, key=lambda ev: len(ev.failed), default=None)
    extra: dict[str, Any] = ({"closest": closest.rule, "closest_failed": closest.failed}
                             if closest is not None else {})
    if hit is not None:
        rule = policy.rules[hit]
        return PolicyDecision(
            action_id=action.id, rule=rule.name, auto=rule.auto_approve,
            approvers=rule.approvers or policy.default_approvers,
            ttl=rule.approval_ttl or policy.approval_ttl, window_end=evals[hit].window_end,
            **extra)
    return PolicyDecision(action_id=action.id, rule=None, auto=False,
                          approvers=policy.default_approvers, ttl=policy.approval_ttl, **extra)


def evaluate_policy(policy: Policy, plan: Plan, now: datetime) -> list[PolicyDecision]:
    return [decide(policy, a, now) for a in plan.actions]


# --------------------------------------------------------------------------------------------
# Signed approval records
# --------------------------------------------------------------------------------------------


def _sign(key: bytes, fields: Mapping[str, object]) -> str:
    return hmac.new(key, canonical_json(dict(fields)).encode(), hashlib.sha256).hexdigest()


class ChainCheck(Frozen):
    approvals: list[Approval]
    problem: str | None = None


def read_approvals(store: Store) -> ChainCheck:
    """Every approval row, verified: HMAC of each row and the chain of previous digests."""
    rows = approval_rows.rows(store)
    if not rows:
        return ChainCheck(approvals=[])
    key = approval_key(store, create=False)
    prev = GENESIS
    out: list[Approval] = []
    for r in rows:
        try:
            a = approval_rows.to_approval(r)
        except (ValueError, TypeError) as e:
            return ChainCheck(approvals=out, problem=(
                f"approval record {r['seq']} in {store.path} is unreadable ({e}): it was "
                "altered outside inspectorctl"))
        if a.prev_digest != prev:
            return ChainCheck(approvals=out, problem=(
                f"approval record {a.seq} in {store.path} does not follow the record before "
                "it: a record was removed or inserted outside inspectorctl"))
        if not hmac.compare_digest(a.digest, _sign(key, a.signed_fields())):
            return ChainCheck(approvals=out, problem=(
                f"approval record {a.seq} in {store.path} (by {a.approver}) fails its "
                "signature check: it was altered outside inspectorctl"))
        out.append(a)
        prev = a.digest
    return ChainCheck(approvals=out)


def record_approval(
    store: Store,
    plan: Plan,
    *,
    approver: str,
    kind: ApprovalKind,
    action_ids: Sequence[str],
    now: datetime,
    expires_at: datetime,
    comment: str = "",
    requirements: Mapping[str, int] | None = None,
    sign_with: Path | None = None,
) -> Approval:
    """Sign and append one approval (and its audit entry) in one transaction; with
    ``sign_with`` (an SSH private key) the approver also signs what they approve."""
    if kind is ApprovalKind.HUMAN:
        approver = normalise_identity(approver, "--by")
    elif control_characters(approver) or not approver.strip():
        raise InputError(f"policy approver {one_line(approver)!r}: empty or holds control "
                         "characters (rename the policy file)")
    comment = check_reason(comment, "--comment")
    unknown = sorted(set(action_ids) - {a.id for a in plan.actions})
    if unknown:
        raise InputError(f"--action {unknown[0]}: no such action in plan {plan.plan_id} "
                         f"(actions: {', '.join(a.id for a in plan.actions) or 'none'})")
    if not action_ids:
        raise InputError(f"plan {plan.plan_id} has no action to approve")
    signature = ""
    if sign_with is not None:
        signature = signing.sign(sign_with, signing.statement(
            plan.plan_id, plan.digest, approver, action_ids, expires_at))
    key = approval_key(store, create=True)
    with store.transaction() as db:
        newest = approval_rows.head(db)
        prev = newest[1] if newest else GENESIS
        seq = (newest[0] if newest else 0) + 1
        last = audit_rows.head(db)
        audit_head = f"{last[0]}:{last[1]}" if last else ""
        fields = Approval.model_construct(
            seq=seq, plan_id=plan.plan_id, plan_digest=plan.digest,
            action_ids=sorted(action_ids), approver=approver, kind=kind, comment=comment,
            created_at=now, expires_at=expires_at, requirements=dict(requirements or {}),
            prev_digest=prev, digest="", signature=signature, audit_head=audit_head,
        ).signed_fields()
        digest = _sign(key, fields)
        approval_rows.append(
            db, seq=seq, plan_id=plan.plan_id, plan_digest=plan.digest,
            action_ids=sorted(action_ids), approver=approver, kind=kind.value,
            comment=comment, created_at=fields["created_at"], expires_at=fields["expires_at"],
            requirements=fields["requirements"], prev_digest=prev, digest=digest,
            signature=signature, audit_head=audit_head)
        record_plan(db, plan, now)
        audit.append(db, AuditEvent.APPROVE, approver, now, key=key, plan_id=plan.plan_id,
                     plan_digest=plan.digest,
                     detail={"kind": kind.value, "actions": sorted(action_ids),
                             "expires_at": fields["expires_at"], "comment": comment,
                             "approval_seq": seq, "signed": bool(signature)})
    audit.note_head(store, key)
    return Approval.model_validate({**fields, "digest": digest, "signature": signature,
                                    "audit_head": audit_head})


def plan_refused(refusal: Refusal) -> ApprovalError:
    """What approving a plan the gate refuses raises: the gate's own message and exit code
    (3), the same as ``apply`` of that plan."""
    return ApprovalError(f"refused: {refusal.message}\nnothing was approved", exit_code=3)


def approve_by(
    store: Store,
    plan: Plan,
    approver: str,
    now: datetime,
    *,
    action_ids: Sequence[str] | None = None,
    comment: str = "",
    policy: Policy | None = None,
    ttl: timedelta | None = None,
    sign_with: Path | None = None,
) -> Approval:
    """A person approves the plan (or the listed actions); checked for integrity first.
    With ``sign_with`` the approval carries the approver's SSH signature; a policy that
    requires signed approvals refuses an unsigned one, or one its allowed signers do not
    accept, here already."""
    approver = normalise_identity(approver, "--by")
    if ttl is not None:
        try:
            approval_ttl(ttl)
        except ValueError as e:
            raise InputError(f"--ttl {format_duration(ttl)}: {e}") from e
    integrity = check_integrity(plan, store)
    if integrity:
        raise plan_refused(integrity[0])
    ids = list(action_ids) if action_ids else [a.id for a in plan.actions]
    if (policy is not None and policy.planner_cannot_approve and plan.created_by
            and same_identity(plan.created_by) == approver):
        raise ApprovalError(
            f"{approver} made plan {plan.plan_id} and the policy {policy.source or ''} says "
            "the planner may not approve it (planner_cannot_approve); someone else must "
            "approve it", exit_code=2)
    requirements: dict[str, int] = {}
    # the shortest applicable lifetime wins: --ttl, the policy's default, and the
    # approval_ttl of every policy rule matching an approved action
    lives = [ttl] if ttl is not None else []
    if policy is not None:
        lives.append(policy.approval_ttl)
        for d in evaluate_policy(policy, plan, now):
            if d.action_id in ids:
                lives.append(d.ttl)
                if not d.auto:
                    requirements[d.action_id] = d.approvers
    life = min(lives) if lives else DEFAULT_TTL
    if policy is not None and policy.require_signed and sign_with is None:
        raise ApprovalError(f"the policy {policy.source} requires signed approvals "
                            "(require_signed): approve with --sign-with YOUR_SSH_KEY",
                            exit_code=2)
    made = record_approval(store, plan, approver=approver, kind=ApprovalKind.HUMAN,
                           action_ids=ids, now=now, expires_at=now + life, comment=comment,
                           requirements=requirements, sign_with=sign_with)
    if policy is not None and policy.allowed_signers and made.signature:
        problem = _signature_problem(made, Path(policy.allowed_signers))
        if problem:
            raise ApprovalError(f"approval {made.seq} was recorded, but {problem}: it will "
                                "not count under this policy", exit_code=2)
    return made


def _signature_problem(a: Approval, allowed_signers: Path) -> str | None:
    return signing.verify(allowed_signers, a.approver, signing.statement(
        a.plan_id, a.plan_digest, a.approver, a.action_ids, a.expires_at), a.signature)


class PolicyApprovalResult(Frozen):
    decisions: list[PolicyDecision]
    approvals: list[Approval]

    @property
    def auto_ids(self) -> list[str]:
        return [d.action_id for d in self.decisions if d.auto]

    @property
    def needs_people(self) -> list[PolicyDecision]:
        return [d for d in self.decisions if not d.auto]


def approve_with_policy(
    store: Store, plan: Plan, policy: Policy, now: datetime, *, comment: str = "",
    sign_with: Path | None = None,
) -> PolicyApprovalResult:
    """Approve what the policy allows automatically (one record per policy rule); with
    ``sign_with`` (an SSH private key: the account that runs the policy) each record also
    carries its SSH signature."""
    integrity = check_integrity(plan, store)
    if integrity:
        raise plan_refused(integrity[0])
    decisions = evaluate_policy(policy, plan, now)
    groups: dict[tuple[str, datetime], list[str]] = {}
    for d in decisions:
        if d.auto:
            expires = now + d.ttl
            if d.window_end is not None:
                expires = min(expires, d.window_end)
            groups.setdefault((d.rule or "", expires), []).append(d.action_id)
    requirements = {d.action_id: d.approvers for d in decisions if not d.auto}
    made: list[Approval] = []
    name = Path(policy.source).name if policy.source else "policy"
    for (rule, expires), ids in groups.items():
        made.append(record_approval(
            store, plan, approver=f"policy:{name}#{rule}", kind=ApprovalKind.POLICY,
            action_ids=ids, now=now, expires_at=expires, comment=comment,
            requirements=requirements, sign_with=sign_with))
    return PolicyApprovalResult(decisions=decisions, approvals=made)


# --------------------------------------------------------------------------------------------
# The gate
# --------------------------------------------------------------------------------------------


class RefusalKind(enum.StrEnum):
    PLAN_MODIFIED = "plan_modified"
    #: not signed by ``plan`` with this database's key, or not what its findings, rules and
    #: catalogue make (see integrity.py)
    PLAN_FORGED = "plan_forged"
    PLAYBOOK_CHANGED = "playbook_changed"
    APPROVAL_TAMPERED = "approval_tampered"
    STALE = "stale"
    NO_APPROVAL = "no_approval"
    WRONG_DIGEST = "wrong_digest"
    EXPIRED = "expired"
    TOO_FEW_APPROVALS = "too_few_approvals"
    NOT_APPROVED = "not_approved"
    NOT_ALL_APPROVED = "not_all_approved"


class Refusal(Frozen):
    kind: RefusalKind
    message: str


class ActionVerdict(Frozen):
    action_id: str
    playbook: str
    hosts: list[str]
    approved: bool
    approvers: list[str]
    required: int
    auto: str | None = None  # the policy approver that auto-approved it
    expires_at: datetime | None = None
    reason: str = ""


class GateResult(Frozen):
    plan_id: str
    plan_digest: str
    problems: list[Refusal]
    verdicts: list[ActionVerdict]

    @property
    def approved_ids(self) -> list[str]:
        return [v.action_id for v in self.verdicts if v.approved]

    @property
    def unapproved(self) -> list[ActionVerdict]:
        return [v for v in self.verdicts if not v.approved]

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.approved_ids)

    def message(self) -> str:
        if self.problems:
            lines = [p.message for p in self.problems]
        else:
            lines = [f"nothing in plan {self.plan_id} is approved:"]
            lines += [f"  {v.action_id} ({v.playbook}): {v.reason}" for v in self.unapproved]
        return "refused: " + "\n".join(lines) + "\nno host was changed"


def check_integrity(plan: Plan, store: Store) -> list[Refusal]:
    """The plan is what ``plan`` made (digest, signature), its playbooks are catalogue
    playbooks and unchanged, everything it says is what its stored findings, rules and the
    catalogue give (recomputed, see integrity.py), and its findings are current."""
    from inspectorctl.remediate import integrity, plansign
    from inspectorctl.remediate.remediations import current_digest

    if plan.digest != plan.computed_digest():
        return [Refusal(kind=RefusalKind.PLAN_MODIFIED, message=(
            f"plan {plan.plan_id} was modified after it was made: its content does not match "
            f"its digest {plan.digest[:12]}; make a new plan with `inspectorctl plan`"))]
    unsigned = plansign.signature_problem(plan, store)
    if unsigned is not None:
        return [Refusal(kind=RefusalKind.PLAN_FORGED, message=unsigned)]
    bad = integrity.bad_playbook_name(plan)
    if bad is not None:
        return [Refusal(kind=RefusalKind.PLAN_FORGED, message=bad)]
    problems: list[Refusal] = []
    seen: set[str] = set()
    for a in plan.actions:
        if a.playbook in seen:
            continue
        seen.add(a.playbook)
        now_digest = current_digest(a.playbook)
        if now_digest != a.playbook_digest:
            what = "was removed" if now_digest is None else (
                f"changed (digest {a.playbook_digest[:12]} in the plan, now {now_digest[:12]})")
            problems.append(Refusal(kind=RefusalKind.PLAYBOOK_CHANGED, message=(
                f"playbook {a.playbook} {what} since plan {plan.plan_id} was made; make a new "
                "plan and have it approved again")))
    if problems:
        return problems
    forged = integrity.recompute_problems(plan, store) or integrity.identity_problems(
        plan, store)
    if forged:
        shown = "; ".join(forged[:3]) + (
            f"; and {len(forged) - 3} more" if len(forged) > 3 else "")
        return [Refusal(kind=RefusalKind.PLAN_FORGED, message=(
            f"plan {plan.plan_id} is not what inspectorctl would make of its own findings: "
            f"{shown}; make a new plan with `inspectorctl plan`"))]
    stale = stale_findings(plan, store)
    if stale:
        shown = "; ".join(stale[:3]) + (f"; and {len(stale) - 3} more" if len(stale) > 3 else "")
        problems.append(Refusal(kind=RefusalKind.STALE, message=(
            f"plan {plan.plan_id} is stale: {len(stale)} of its findings changed since it was "
            f"made ({shown}); make a new plan with `inspectorctl plan` and approve it")))
    return problems


def stale_findings(plan: Plan, store: Store) -> list[str]:
    """Planned findings whose newest result (ignoring this plan's own verification runs) is no
    longer the failure the plan saw, or that were suppressed."""
    pfs = [f for a in plan.actions for f in a.findings]
    pfs += [f for m in plan.manual_steps for f in m.findings]
    if not pfs:
        return []
    own = verify_runs(store, plan.digest)
    # an ERROR (unreachable host) says nothing about a finding: it never makes a plan stale
    latest = latest_results(store, [(f.rule_id, f.host) for f in pfs], own,
                                    skip_errors=True)
    gone = suppressed(store, [f.id for f in pfs])
    out: list[str] = []
    for f in pfs:
        row = latest.get((f.rule_id, f.host))
        where = f"{f.rule_id} on {f.host}"
        if f.id in gone:
            out.append(f"{where}: suppressed")
        elif row is None:
            out.append(f"{where}: no stored result")
        elif row["status"] != Status.FAIL.value:
            out.append(f"{where}: now {row['status']} in run {row['run_id']}")
        else:
            from inspectorctl.models.finding import Evidence

            ev = Evidence.model_validate_json(row["evidence"]) if row["evidence"] else None
            if evidence_digest(ev) != f.evidence_digest:
                out.append(f"{where}: new evidence in run {row['run_id']}")
    return out


def check_approvals(
    plan: Plan,
    store: Store,
    now: datetime,
    policy: Policy | None = None,
) -> GateResult:
    """The gate. Plan-level problems refuse everything; otherwise each action is approved when
    a valid policy approval covers it or enough distinct people approved it.

    Valid = signed record intact, for this plan's digest, not expired at ``now``. The people an
    action needs: the most any valid record's policy asked for, ``policy`` (if given), or 1.
    """
    problems = check_integrity(plan, store)
    chain = read_approvals(store)
    if chain.problem:
        problems.append(Refusal(kind=RefusalKind.APPROVAL_TAMPERED, message=(
            f"{chain.problem}; no approval is trusted until it is resolved")))
    mine = [a for a in chain.approvals if a.plan_id == plan.plan_id]
    for_digest = [a for a in mine if a.plan_digest == plan.digest]
    live = [a for a in for_digest if a.expires_at > now]
    if not problems:
        if not mine:
            problems.append(Refusal(kind=RefusalKind.NO_APPROVAL, message=(
                f"plan {plan.plan_id} has no approval; approve it with `inspectorctl approve "
                "PLAN --by NAME` (or --policy FILE)")))
        elif not for_digest:
            other = mine[-1].plan_digest
            problems.append(Refusal(kind=RefusalKind.WRONG_DIGEST, message=(
                f"the approvals of plan {plan.plan_id} are for digest {other[:12]}, not for "
                f"this plan's digest {plan.digest[:12]}: the plan changed after it was "
                "approved; review it and approve it again")))
        elif not live:
            last = max(for_digest, key=lambda a: a.expires_at)
            problems.append(Refusal(kind=RefusalKind.EXPIRED, message=(
                f"the approval of plan {plan.plan_id} by {last.approver} expired at "
                f"{last.expires_at.isoformat(timespec='seconds')}; approve it again")))
    verdicts: list[ActionVerdict] = []
    decisions = ({d.action_id: d for d in evaluate_policy(policy, plan, now)}
                 if policy is not None else {})
    #: approvals that do not count because the policy requires signatures they lack (each
    #: signature is checked once, with ssh-keygen, against the policy's allowed signers)
    unsigned: set[int] = set()
    if policy is not None and policy.require_signed and policy.allowed_signers:
        signers = Path(policy.allowed_signers)
        unsigned = {x.seq for x in live if x.kind is ApprovalKind.HUMAN
                    and _signature_problem(x, signers) is not None}
    for a in plan.actions:
        covering = [x for x in live if a.id in x.action_ids]
        auto = next((x for x in covering if x.kind is ApprovalKind.POLICY), None)
        if a.id in decisions:  # the policy's lifetime for this action applies at the gate
            ttl = decisions[a.id].ttl
            covering = [x for x in covering if x.created_at + ttl > now]
        ignored: list[str] = []
        if unsigned and any(x.seq in unsigned for x in covering):
            ignored.append("unsigned or wrongly signed approvals do not count "
                           "(require_signed)")
            covering = [x for x in covering if x.seq not in unsigned]
        people = sorted({same_identity(x.approver) for x in covering
                         if x.kind is ApprovalKind.HUMAN})
        if policy is not None and policy.planner_cannot_approve and plan.created_by:
            planner = same_identity(plan.created_by)
            if planner in people:
                ignored.append(f"the planner {planner} does not count "
                               "(planner_cannot_approve)")
            people = [p for p in people if p != planner]
        why_not = f"; {'; '.join(ignored)}" if ignored else ""
        required = max([1, *(x.requirements.get(a.id, 0) for x in live),
                        decisions[a.id].approvers if a.id in decisions else 0])
        expiry = min((x.expires_at for x in covering), default=None)
        if problems:
            verdicts.append(ActionVerdict(action_id=a.id, playbook=a.playbook, hosts=a.hosts,
                                          approved=False, approvers=people, required=required,
                                          reason=problems[0].kind.value))
        elif auto is not None:
            verdicts.append(ActionVerdict(action_id=a.id, playbook=a.playbook, hosts=a.hosts,
                                          approved=True, approvers=people, required=required,
                                          auto=auto.approver, expires_at=auto.expires_at))
        elif len(people) >= required:
            verdicts.append(ActionVerdict(action_id=a.id, playbook=a.playbook, hosts=a.hosts,
                                          approved=True, approvers=people, required=required,
                                          expires_at=expiry))
        elif people:
            verdicts.append(ActionVerdict(
                action_id=a.id, playbook=a.playbook, hosts=a.hosts, approved=False,
                approvers=people, required=required,
                reason=(f"needs {required} distinct approvers, has {len(people)} "
                        f"({', '.join(people)}){why_not}")))
        else:
            verdicts.append(ActionVerdict(
                action_id=a.id, playbook=a.playbook, hosts=a.hosts, approved=False,
                approvers=[], required=required,
                reason=(f"not approved (needs {required} approver{'s' * (required > 1)})"
                        f"{why_not}")))
    if not problems and not any(v.approved for v in verdicts) and verdicts:
        kinds = {RefusalKind.TOO_FEW_APPROVALS if v.approvers else RefusalKind.NOT_APPROVED
                 for v in verdicts}
        kind = RefusalKind.TOO_FEW_APPROVALS if RefusalKind.TOO_FEW_APPROVALS in kinds else (
            RefusalKind.NOT_APPROVED)
        lines = [f"nothing in plan {plan.plan_id} is approved:"]
        lines += [f"  {v.action_id} ({v.playbook}): {v.reason}" for v in verdicts]
        problems.append(Refusal(kind=kind, message="\n".join(lines)))
    if not problems and not plan.actions:
        problems.append(Refusal(kind=RefusalKind.NOT_APPROVED,
                                message=f"plan {plan.plan_id} has no action to apply"))
    return GateResult(plan_id=plan.plan_id, plan_digest=plan.digest, problems=problems,
                      verdicts=verdicts)


def refuse(store: Store, result: GateResult, actor: str, now: datetime, *,
           command: str) -> ApprovalRefused:
    """Record a refusal in the audit log and return the error to raise."""
    audit.record(store, AuditEvent.REFUSE, actor, now, plan_id=result.plan_id,
                 plan_digest=result.plan_digest,
                 detail={"command": command,
                         "reasons": [p.kind.value for p in result.problems],
                         "message": result.message()})
    return ApprovalRefused(result)
