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
import json
import os
import secrets
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from inspectorctl.errors import InputError, InspectorctlError
from inspectorctl.models.common import Frozen, Status
from inspectorctl.models.plan import (
    Action,
    Approval,
    ApprovalKind,
    Plan,
    Policy,
    PolicyRule,
    canonical_json,
    format_duration,
)
from inspectorctl.remediate import audit, records
from inspectorctl.remediate.audit import AuditEvent
from inspectorctl.remediate.planner import evidence_digest
from inspectorctl.store.db import Store
from inspectorctl.yamlfile import load_model

GENESIS = "0" * 64
DEFAULT_TTL = timedelta(hours=24)
KEY_ENV = "INSPECTORCTL_APPROVAL_KEY_FILE"


class ApprovalError(InspectorctlError):
    """Approvals cannot be recorded or verified (key missing, store unusable...)."""


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
    return policy.model_copy(update={"source": str(path)})


class PolicyDecision(Frozen):
    """What the policy says of one action at one moment."""

    action_id: str
    rule: str | None  # the matching policy rule's name; None: no rule matched
    auto: bool
    approvers: int  # people needed when not auto
    ttl: timedelta
    #: an auto-approval made inside a time window lasts at most until the window closes
    window_end: datetime | None = None


def _all_match(values: Iterable[str], globs: Sequence[str]) -> bool:
    return all(any(fnmatch.fnmatchcase(v, g) for g in globs) for v in values)


def _rule_matches(rule: PolicyRule, action: Action, now: datetime) -> tuple[bool, datetime | None]:
    if rule.max_severity is not None and action.severity.rank > rule.max_severity.rank:
        return False, None
    if rule.severity is not None and action.severity not in rule.severity:
        return False, None
    if rule.disruption is not None and action.disruption not in rule.disruption:
        return False, None
    if rule.reversible is not None and action.reversible is not rule.reversible:
        return False, None
    if rule.rules and not _all_match(action.rule_ids, rule.rules):
        return False, None
    if rule.hosts and not _all_match(action.hosts, rule.hosts):
        return False, None
    if rule.windows:
        ends = [e for w in rule.windows if (e := w.end_of_window(now)) is not None]
        if not ends:
            return False, None
        return True, max(ends)
    return True, None


def decide(policy: Policy, action: Action, now: datetime) -> PolicyDecision:
    """First matching policy rule wins; no match needs ``default_approvers`` people. An action
    that closes no finding (a rollback) matches no rule: people approve it."""
    for rule in policy.rules if action.findings else ():
        ok, window_end = _rule_matches(rule, action, now)
        if ok:
            return PolicyDecision(
                action_id=action.id, rule=rule.name, auto=rule.auto_approve,
                approvers=rule.approvers or policy.default_approvers,
                ttl=rule.approval_ttl or policy.approval_ttl, window_end=window_end)
    return PolicyDecision(action_id=action.id, rule=None, auto=False,
                          approvers=policy.default_approvers, ttl=policy.approval_ttl)


def evaluate_policy(policy: Policy, plan: Plan, now: datetime) -> list[PolicyDecision]:
    return [decide(policy, a, now) for a in plan.actions]


# --------------------------------------------------------------------------------------------
# Signed approval records
# --------------------------------------------------------------------------------------------


def key_path(store: Store) -> Path:
    env = os.environ.get(KEY_ENV)
    return Path(env) if env else Path(str(store.path) + ".key")


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"inspectorctl-approval-key\x00" + key).hexdigest()[:16]


def _stored_key_id(store: Store) -> str | None:
    row = store.execute("SELECT value FROM remediation_meta WHERE key='approval_key_id'"
                        ).fetchone()
    return str(row["value"]) if row else None


def approval_key(store: Store, *, create: bool) -> bytes:
    """The signing key; created (0600) with the first approval when ``create``."""
    path = key_path(store)
    known = _stored_key_id(store)
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        if known is not None or not create:
            raise ApprovalError(
                f"approval key file {path} is missing, so the approvals in {store.path} cannot "
                f"be verified; restore it (or set {KEY_ENV} to where it is)") from None
        key = secrets.token_bytes(32)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(key)
        except OSError as e:
            raise ApprovalError(f"cannot create the approval key file {path}: {e}") from e
    except OSError as e:
        raise ApprovalError(f"cannot read the approval key file {path}: {e}") from e
    if len(key) < 32:
        raise ApprovalError(f"approval key file {path} is too short (needs 32 bytes or more)")
    if known is not None and known != _key_id(key):
        raise ApprovalError(
            f"approval key file {path} is not the key the approvals in {store.path} were "
            f"signed with; restore the right key file (or set {KEY_ENV} to where it is)")
    if known is None and create:
        with store.transaction() as db:
            db.execute("INSERT OR IGNORE INTO remediation_meta(key, value) VALUES (?,?)",
                       ("approval_key_id", _key_id(key)))
    return key


def _sign(key: bytes, fields: Mapping[str, object]) -> str:
    return hmac.new(key, canonical_json(dict(fields)).encode(), hashlib.sha256).hexdigest()


def _approval(r: sqlite3.Row) -> Approval:
    return Approval(
        seq=r["seq"], plan_id=r["plan_id"], plan_digest=r["plan_digest"],
        action_ids=json.loads(r["action_ids"]), approver=r["approver"],
        kind=ApprovalKind(r["kind"]), comment=r["comment"],
        created_at=datetime.fromisoformat(r["created_at"]),
        expires_at=datetime.fromisoformat(r["expires_at"]),
        requirements=json.loads(r["requirements"]), prev_digest=r["prev_digest"],
        digest=r["digest"],
    )


class ChainCheck(Frozen):
    approvals: list[Approval]
    problem: str | None = None


def read_approvals(store: Store) -> ChainCheck:
    """Every approval row, verified: HMAC of each row and the chain of previous digests."""
    rows = list(store.execute("SELECT * FROM approvals ORDER BY seq"))
    if not rows:
        return ChainCheck(approvals=[])
    key = approval_key(store, create=False)
    prev = GENESIS
    out: list[Approval] = []
    for r in rows:
        try:
            a = _approval(r)
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
) -> Approval:
    """Sign and append one approval (and its audit entry) in one transaction."""
    approver = approver.strip()
    if not approver:
        raise InputError("--by: the approver's name is empty")
    unknown = sorted(set(action_ids) - {a.id for a in plan.actions})
    if unknown:
        raise InputError(f"--action {unknown[0]}: no such action in plan {plan.plan_id} "
                         f"(actions: {', '.join(a.id for a in plan.actions) or 'none'})")
    if not action_ids:
        raise InputError(f"plan {plan.plan_id} has no action to approve")
    key = approval_key(store, create=True)
    with store.transaction() as db:
        row = db.execute("SELECT seq, digest FROM approvals ORDER BY seq DESC LIMIT 1"
                         ).fetchone()
        prev = row["digest"] if row else GENESIS
        seq = (row["seq"] if row else 0) + 1
        fields = Approval.model_construct(
            seq=seq, plan_id=plan.plan_id, plan_digest=plan.digest,
            action_ids=sorted(action_ids), approver=approver, kind=kind, comment=comment,
            created_at=now, expires_at=expires_at, requirements=dict(requirements or {}),
            prev_digest=prev, digest="",
        ).signed_fields()
        digest = _sign(key, fields)
        db.execute(
            "INSERT INTO approvals(seq, plan_id, plan_digest, action_ids, approver, kind,"
            " comment, created_at, expires_at, requirements, prev_digest, digest)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (seq, plan.plan_id, plan.digest, json.dumps(sorted(action_ids)), approver,
             kind.value, comment, fields["created_at"], fields["expires_at"],
             json.dumps(fields["requirements"]), prev, digest),
        )
        records.record_plan(db, plan, now)
        audit.append(db, AuditEvent.APPROVE, approver, now, plan_id=plan.plan_id,
                     plan_digest=plan.digest,
                     detail={"kind": kind.value, "actions": sorted(action_ids),
                             "expires_at": fields["expires_at"], "comment": comment,
                             "approval_seq": seq})
    return Approval.model_validate({**fields, "digest": digest})


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
) -> Approval:
    """A person approves the plan (or the listed actions); checked for integrity first."""
    integrity = check_integrity(plan, store)
    if integrity:
        raise ApprovalError(integrity[0].message)
    ids = list(action_ids) if action_ids else [a.id for a in plan.actions]
    requirements: dict[str, int] = {}
    if policy is not None:
        for d in evaluate_policy(policy, plan, now):
            if d.action_id in ids and not d.auto:
                requirements[d.action_id] = d.approvers
    life = ttl or (policy.approval_ttl if policy else DEFAULT_TTL)
    return record_approval(store, plan, approver=approver, kind=ApprovalKind.HUMAN,
                           action_ids=ids, now=now, expires_at=now + life, comment=comment,
                           requirements=requirements)


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
    store: Store, plan: Plan, policy: Policy, now: datetime, *, comment: str = ""
) -> PolicyApprovalResult:
    """Approve what the policy allows automatically (one record per policy rule)."""
    integrity = check_integrity(plan, store)
    if integrity:
        raise ApprovalError(integrity[0].message)
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
            requirements=requirements))
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
    from inspectorctl.remediate import integrity
    from inspectorctl.remediate.remediations import current_digest

    if plan.digest != plan.computed_digest():
        return [Refusal(kind=RefusalKind.PLAN_MODIFIED, message=(
            f"plan {plan.plan_id} was modified after it was made: its content does not match "
            f"its digest {plan.digest[:12]}; make a new plan with `inspectorctl plan`"))]
    unsigned = integrity.signature_problem(plan, store)
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
    if problems:
        return problems
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
    own = records.own_verify_runs(store, plan.digest)
    # an ERROR (unreachable host) says nothing about a finding: it never makes a plan stale
    latest = records.latest_results(store, [(f.rule_id, f.host) for f in pfs], own,
                                    skip_errors=True)
    gone = records.suppressed(store, [f.id for f in pfs])
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
    for a in plan.actions:
        covering = [x for x in live if a.id in x.action_ids]
        auto = next((x for x in covering if x.kind is ApprovalKind.POLICY), None)
        people = sorted({x.approver for x in covering if x.kind is ApprovalKind.HUMAN})
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
                        f"({', '.join(people)})")))
        else:
            verdicts.append(ActionVerdict(
                action_id=a.id, playbook=a.playbook, hosts=a.hosts, approved=False,
                approvers=[], required=required,
                reason=f"not approved (needs {required} approver{'s' * (required > 1)})"))
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


def describe_ttl(td: timedelta) -> str:
    return format_duration(td)
