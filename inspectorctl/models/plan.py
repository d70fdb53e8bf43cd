"""Remediation plans, approvals, approval policies and the apply journal's states.

A plan is data a person can review: actions (a playbook x a set of hosts x the same parameters,
each listing the findings it should close), manual steps (text, never executed) and skipped
findings (with the reason). Its ``digest`` covers everything else in it, including the digest of
every playbook it references and the digest of the findings (ids and evidence) it was built
from. Approvals are bound to that digest.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, PlainSerializer, field_validator, model_validator

from inspectorctl.models.common import Frozen, Severity

PLAN_VERSION = 1


class Disruption(enum.StrEnum):
    """What an action disturbs on the host, least to most."""

    NONE = "none"
    SERVICE_RELOAD = "service_reload"
    SERVICE_RESTART = "service_restart"
    REBOOT = "reboot"

    @property
    def rank(self) -> int:
        return list(Disruption).index(self)


class Privilege(enum.StrEnum):
    """What an action needs on the host."""

    USER = "user"
    ROOT = "root"


class SkipReason(enum.StrEnum):
    """Why a selected finding became neither an action nor a manual step."""

    NOT_FAILING = "not_failing"  # ERROR: the rule could not be checked, nothing to fix yet
    NO_REMEDIATION = "no_remediation"
    SSM_ONLY = "ssm_only"
    UNKNOWN_PLAYBOOK = "unknown_playbook"
    UNKNOWN_RULE = "unknown_rule"
    #: the fix would cut the connection that applies it (PermitRootLogin no over a root login)
    LOCKOUT = "lockout"
    #: the service to enable has no unit on the host (the assessment found none): enabling it
    #: cannot work until its package is (re)installed
    NOT_INSTALLED = "not_installed"


def canonical_json(value: Any) -> str:
    """The one serialisation digests are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------------------------


class PlanFinding(Frozen):
    """A finding a plan was built from: identity plus a digest of the evidence seen."""

    id: str
    rule_id: str
    host: str
    severity: Severity
    evidence_digest: str


class HostPreview(Frozen):
    """What check mode said an action would do on one host (``plan --preview``)."""

    status: str  # changed | ok | failed | unreachable
    diff: str = ""
    message: str = ""


class Action(Frozen):
    """One remediation playbook on a set of hosts with one list of per-rule parameters."""

    id: str
    playbook: str
    playbook_digest: str
    hosts: list[str]
    items: list[dict[str, Any]]
    findings: list[PlanFinding]
    severity: Severity
    disruption: Disruption
    privilege: Privilege
    reversible: bool
    check_mode_supported: bool
    description: str = ""
    #: per host, with ``--preview``; None when no preview was asked for
    preview: dict[str, HostPreview] | None = None
    #: why there is no preview although one was asked for (check mode unsupported...)
    preview_note: str | None = None

    @property
    def rule_ids(self) -> list[str]:
        return sorted({f.rule_id for f in self.findings})


class ManualStep(Frozen):
    """A rule whose fix is not a host change: text for a person, never executed."""

    rule_id: str
    title: str
    severity: Severity
    hosts: list[str]
    text: str
    findings: list[PlanFinding]


class SkippedFinding(Frozen):
    id: str
    rule_id: str
    host: str
    reason: SkipReason
    detail: str


class SsmPin(Frozen):
    """The SSM document version a plan's actions run through, and its content's sha256: the
    plan digest covers them, so what runs through SSM is what was approved."""

    document: str
    document_version: str
    document_sha256: str


class PlanSource(Frozen):
    """Where the findings came from and how their hosts are reached (from the run's targets)."""

    run_id: str | None
    transport: str = "ansible"
    inventory: str | None = None
    limit: str | None = None
    become: bool = False
    #: the run evaluated saved snapshots: its hosts cannot be reached from the plan
    snapshots: bool = False
    packs: list[str] = Field(default_factory=list)
    template: str | None = None
    tailoring: dict[str, Any] = Field(default_factory=dict)
    #: for plans applied through SSM: the pinned InspectorCtl-ApplyPlaybook
    ssm: SsmPin | None = None


class PlannedIdentity(Frozen):
    """Who a host was when it was assessed: what ``apply`` compares with the machine it reaches
    before changing it. ``machine_id`` is ``/etc/machine-id``; ``instance_id`` the cloud or lab
    instance id where one was known; ``ssh_host_keys`` the fingerprints of its SSH host keys
    when it was reached over SSH."""

    machine_id: str | None = None
    instance_id: str | None = None
    hostname: str | None = None
    #: OpenSSH ``SHA256:`` fingerprints of its host keys, sorted (hosts reached over SSH only)
    ssh_host_keys: list[str] = Field(default_factory=list)


class PlanFilters(Frozen):
    severity: Severity | None = None
    rules: list[str] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)
    framework: str | None = None


class PlanKind(enum.StrEnum):
    REMEDIATION = "remediation"
    ROLLBACK = "rollback"


class Plan(Frozen):
    version: int = PLAN_VERSION
    kind: PlanKind = PlanKind.REMEDIATION
    #: random at creation: approvals name it, so an approval of an earlier version of the same
    #: plan is recognised as "for a different digest"
    plan_id: str
    created_at: datetime
    source: PlanSource
    filters: PlanFilters = Field(default_factory=PlanFilters)
    actions: list[Action]
    manual_steps: list[ManualStep] = Field(default_factory=list)
    skipped: list[SkippedFinding] = Field(default_factory=list)
    #: for a rollback plan: the apply run whose backups it restores
    rollback_of: str | None = None
    #: who made the plan (``plan --by``, normalised); a policy can forbid them to approve it
    created_by: str = ""
    findings_digest: str
    #: per host of the actions: its identity as the source run assessed it
    identities: dict[str, PlannedIdentity] = Field(default_factory=dict)
    digest: str = ""
    #: HMAC of ``digest`` with the database's approval key, made by ``plan`` (see
    #: ``remediate/integrity.py``); not part of the digest
    signature: str = ""

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != PLAN_VERSION:
            raise ValueError(f"plan version {v} is not supported (this inspectorctl reads "
                             f"version {PLAN_VERSION}); make the plan again")
        return v

    def computed_digest(self) -> str:
        data = self.model_dump(mode="json", exclude={"digest", "signature"})
        if data["source"].get("ssm") is None:  # plans without SSM keep their digest
            data["source"].pop("ssm", None)
        for ident in data["identities"].values():  # and those without host keys theirs
            if not ident.get("ssh_host_keys"):
                ident.pop("ssh_host_keys", None)
        return sha256_hex(canonical_json(data))

    def sealed(self) -> Plan:
        return self.model_copy(update={"digest": self.computed_digest(), "signature": ""})

    def action(self, action_id: str) -> Action | None:
        return next((a for a in self.actions if a.id == action_id), None)

    @property
    def hosts(self) -> list[str]:
        return sorted({h for a in self.actions for h in a.hosts})


def findings_digest(findings: list[PlanFinding]) -> str:
    rows = sorted((f.id, f.rule_id, f.host, f.evidence_digest) for f in findings)
    return sha256_hex(canonical_json(rows))


def action_id(playbook: str, hosts: list[str], items: list[dict[str, Any]]) -> str:
    return "a-" + sha256_hex(canonical_json([playbook, sorted(hosts), items]))[:12]


# --------------------------------------------------------------------------------------------
# Approvals
# --------------------------------------------------------------------------------------------


class ApprovalKind(enum.StrEnum):
    HUMAN = "human"
    POLICY = "policy"


class Approval(Frozen):
    """A stored approval. ``digest`` is an HMAC over every other field (see approval.py)."""

    seq: int
    plan_id: str
    plan_digest: str
    action_ids: list[str]
    approver: str
    kind: ApprovalKind
    comment: str = ""
    created_at: datetime
    expires_at: datetime
    #: approvers each action needs, per the policy in force when this record was made
    requirements: dict[str, int] = Field(default_factory=dict)
    prev_digest: str
    digest: str
    #: the approver's SSH signature of what they approved (``approve --sign-with``), or ""
    signature: str = ""
    #: the audit log's last entry when this was recorded (``SEQ:DIGEST``), or ""
    audit_head: str = ""

    def signed_fields(self) -> dict[str, Any]:
        # the HMAC of a record made before these fields existed covers the fields it had
        exclude = {"digest"} | {k for k in ("signature", "audit_head") if not getattr(self, k)}
        return self.model_dump(mode="json", exclude=exclude)


# --------------------------------------------------------------------------------------------
# Approval policy
# --------------------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


#: the longest duration inspectorctl reads (10 years): longer ones overflow dates
MAX_DURATION = timedelta(days=3650)
#: the longest an approval may last (human or policy)
MAX_APPROVAL_TTL = timedelta(days=366)


def parse_duration(value: object) -> timedelta:
    """``24h``, ``90m``, ``7d``, ``1h30m`` or seconds; at most ``MAX_DURATION``; 0 is a
    duration of zero (never "not given")."""
    td: timedelta | None = None
    try:
        if isinstance(value, timedelta):
            td = value
        elif isinstance(value, int) and not isinstance(value, bool):
            td = timedelta(seconds=value)
        elif isinstance(value, str):
            m = _DURATION_RE.match(value)
            if m and any(m.groups()):
                d, h, mi, s = (int(g or 0) for g in m.groups())
                td = timedelta(days=d, hours=h, minutes=mi, seconds=s)
    except OverflowError:
        td = timedelta.max
    if td is None:
        raise ValueError(f"expected a duration like 24h, 90m, 7d or 1h30m, got {value!r}")
    if td > MAX_DURATION:
        raise ValueError(f"duration {value!r} is too long: at most "
                         f"{MAX_DURATION.days}d")
    return td


def approval_ttl(td: timedelta) -> timedelta:
    """An approval's lifetime: more than zero, at most ``MAX_APPROVAL_TTL``."""
    if td <= timedelta(0):
        raise ValueError(f"an approval must last longer than {format_duration(td)} (give "
                         "e.g. 30m, 24h or 7d)")
    if td > MAX_APPROVAL_TTL:
        raise ValueError(f"an approval may last at most {MAX_APPROVAL_TTL.days}d, not "
                         f"{format_duration(td)}")
    return td


def format_duration(td: timedelta) -> str:
    secs = int(td.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs >= size:
            parts.append(f"{secs // size}{unit}")
            secs %= size
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WINDOW_RE = re.compile(
    r"^\s*(?:(?P<days>[A-Za-z*][A-Za-z,\-*]*)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*"
    r"(?P<end>\d{1,2}:\d{2})(?:\s+(?P<tz>\S+))?\s*$"
)


class TimeWindow(Frozen):
    """``Mon-Fri 02:00-05:00 UTC``; days optional (every day); a window may cross midnight."""

    text: str
    days: frozenset[int]
    start: time
    end: time
    tz: str

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        m = _WINDOW_RE.match(text)
        if not m:
            raise ValueError(f"time window {text!r}: expected 'DAYS HH:MM-HH:MM [TZ]', "
                             "e.g. 'Mon-Fri 02:00-05:00 UTC'")
        days = _parse_days(m["days"] or "*", text)
        try:
            start = time.fromisoformat(m["start"].zfill(5))
            end = time.fromisoformat(m["end"].zfill(5))
        except ValueError as e:
            raise ValueError(f"time window {text!r}: {e}") from e
        tz = m["tz"] or "UTC"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"time window {text!r}: unknown time zone {tz!r}") from e
        if start == end:
            raise ValueError(f"time window {text!r}: start and end are the same time")
        return cls(text=text, days=days, start=start, end=end, tz=tz)

    def end_of_window(self, at: datetime) -> datetime | None:
        """When the window containing ``at`` closes, or None when ``at`` is outside it."""
        local = at.astimezone(ZoneInfo(self.tz))
        for day_offset in (0, -1):  # today's window, or yesterday's crossing midnight
            start_day = (local + timedelta(days=day_offset)).date()
            if start_day.weekday() not in self.days:
                continue
            start = datetime.combine(start_day, self.start, tzinfo=local.tzinfo)
            end_day = start_day if self.end > self.start else start_day + timedelta(days=1)
            end = datetime.combine(end_day, self.end, tzinfo=local.tzinfo)
            if start <= local < end:
                return end.astimezone(UTC)
        return None


def _parse_days(spec: str, text: str) -> frozenset[int]:
    spec = spec.lower()
    if spec in ("*", "daily", "any"):
        return frozenset(range(7))
    out: set[int] = set()
    for part in spec.split(","):
        lo, sep, hi = part.partition("-")
        try:
            a = _DAYS.index(lo[:3])
            b = _DAYS.index(hi[:3]) if sep else a
        except ValueError as e:
            raise ValueError(f"time window {text!r}: unknown day in {part!r} (use Mon..Sun, "
                             "ranges like Mon-Fri, or lists like Sat,Sun)") from e
        i = a
        while True:
            out.add(i)
            if i == b:
                break
            i = (i + 1) % 7
    return frozenset(out)


def _window(value: object) -> object:
    if isinstance(value, str):
        return TimeWindow.parse(value)
    return value


Window = Annotated[
    TimeWindow,
    BeforeValidator(_window),
    PlainSerializer(lambda w: w.text, return_type=str),
]


class PolicyRule(Frozen):
    """Conditions (all must hold) and what follows: auto-approval, or N people."""

    name: str
    auto_approve: bool = False
    max_severity: Severity | None = None
    severity: list[Severity] | None = None
    disruption: list[Disruption] | None = None
    reversible: bool | None = None
    #: globs: every rule of the action must match one
    rules: list[str] = Field(default_factory=list)
    #: globs: every host of the action must match one
    hosts: list[str] = Field(default_factory=list)
    #: the rule applies only inside one of these windows
    windows: list[Window] = Field(default_factory=list)
    approvers: int | None = Field(default=None, ge=1, le=20)
    approval_ttl: Duration | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PolicyRule:
        if self.max_severity is not None and self.severity is not None:
            raise ValueError("give max_severity or severity, not both")
        if self.auto_approve and self.approvers is not None:
            raise ValueError("auto_approve and approvers exclude each other (an auto-approved "
                             "action needs no people)")
        if self.approval_ttl is not None:
            approval_ttl(self.approval_ttl)
        return self


class Policy(Frozen):
    approval_ttl: Duration = timedelta(hours=24)
    rules: list[PolicyRule] = Field(default_factory=list)
    default_approvers: int = Field(default=1, ge=1, le=20)
    #: the person who made a plan (its ``created_by``) may not approve it
    planner_cannot_approve: bool = False
    #: count only approvals signed with a key the allowed-signers file lists for the approver
    require_signed: bool = False
    #: the allowed-signers file (OpenSSH format; relative to the policy file)
    allowed_signers: str | None = None
    #: filled by the loader
    source: str = ""

    @field_validator("approval_ttl")
    @classmethod
    def _ttl(cls, v: timedelta) -> timedelta:
        return approval_ttl(v)

    @model_validator(mode="after")
    def _signers(self) -> Policy:
        if self.require_signed and not self.allowed_signers:
            raise ValueError("require_signed needs allowed_signers: the file (OpenSSH "
                             "allowed-signers format) that lists who may approve")
        return self


# --------------------------------------------------------------------------------------------
# Journal
# --------------------------------------------------------------------------------------------


class JournalState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    CHANGED = "changed"
    OK = "ok"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    SKIPPED_THRESHOLD = "skipped_threshold"
    #: it was ``running`` when the process died (kill -9, power loss): the host may have been
    #: changed. A resume runs it again; when that run finds nothing left to change the row
    #: stays ``possibly_changed`` (done), and a rollback includes the host either way.
    POSSIBLY_CHANGED = "possibly_changed"

    @property
    def done(self) -> bool:
        """Finished successfully: a resume does not run it again."""
        return self in (JournalState.CHANGED, JournalState.OK, JournalState.POSSIBLY_CHANGED)

    @property
    def failure(self) -> bool:
        return self in (JournalState.FAILED, JournalState.UNREACHABLE)


class JournalEntry(Frozen):
    run_id: str
    action_id: str
    host: str
    playbook: str
    state: JournalState
    phase: str = ""
    seq: int = 0
    attempts: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    rc: int | None = None
    stats: dict[str, Any] = Field(default_factory=dict)
    message: str = ""
    ansible_seconds: float | None = None
    overhead_seconds: float | None = None


#: one apply or rollback of a plan (its rows are the journal's ``JournalEntry``); no docstring:
#: it would become the description in the published JSON schemas (runs.json, journal.json)
class ApplyRun(Frozen):
    id: str
    kind: str  # apply | rollback
    plan_id: str
    plan_digest: str
    status: str  # running | completed | stopped | interrupted
    options: dict[str, Any]
    started_at: datetime
    ended_at: datetime | None = None
    verify_run_id: str | None = None
    rollback_of: str | None = None
    message: str = ""


class HostUpdate(Frozen):
    """What one host's run of an action ended as, for its journal row."""

    host: str
    state: JournalState
    rc: int | None = None
    stats: dict[str, Any] = Field(default_factory=dict)
    message: str = ""
    ansible_seconds: float | None = None
    overhead_seconds: float | None = None
