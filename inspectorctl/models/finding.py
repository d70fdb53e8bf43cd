"""Results of evaluating rules on hosts, and stored findings."""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime
from typing import Any

from pydantic import Field

from inspectorctl.models.common import Frozen, Severity, Status

#: a CVSS-like score per severity for configuration findings (vulnerabilities carry their own)
SEVERITY_SCORE: dict[Severity, float] = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 7.5,
    Severity.MEDIUM: 5.0,
    Severity.LOW: 2.5,
    Severity.INFORMATIONAL: 0.0,
}


class Evidence(Frozen):
    """What the rule expected and what it found (shown to people; kept in the store)."""

    expected: str
    found: str
    #: where the value came from (file and line, command)
    source: str | None = None


class RuleResult(Frozen):
    """Outcome of one rule on one host. PASS/FAIL carry evidence; ERROR/NA carry a reason."""

    rule_id: str
    pack: str
    host: str
    status: Status
    severity: Severity
    title: str
    evidence: Evidence | None = None
    reason: str | None = None

    @property
    def finding_id(self) -> str:
        return finding_id(self.rule_id, self.host)

    @property
    def score(self) -> float:
        return SEVERITY_SCORE[self.severity]


def finding_id(rule_id: str, host: str) -> str:
    """Stable identity of a (rule, host) problem across runs."""
    digest = hashlib.sha256(f"{rule_id}\x00{host}".encode()).hexdigest()
    return "f-" + digest[:16]


class FindingState(enum.StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"
    SUPPRESSED = "suppressed"


class Finding(Frozen):
    """A stored problem: a (rule, host) pair that failed. A result that could not be had
    (ERROR: an unreachable host, a fact the probe could not read) is not a finding and changes
    none: the finding keeps its last known status, evidence and state, and says since when it
    has not been re-checked (``unchecked_run``, ``unchecked_reason``)."""

    id: str
    rule_id: str
    pack: str
    host: str
    title: str
    severity: Severity
    score: float
    status: Status  # last result
    state: FindingState
    evidence: Evidence | None = None
    reason: str | None = None
    first_seen: datetime
    last_seen: datetime
    closed_at: datetime | None = None
    first_run: str
    last_run: str
    suppressed_until: datetime | None = None
    suppressed_by: str | None = None
    suppress_reason: str | None = None
    #: the newest run that could not re-check it (an ERROR result), and why
    unchecked_run: str | None = None
    unchecked_reason: str | None = None
    #: where a suppression came from: None for ``findings suppress``, ``ignore-file PATH
    #: entry N`` for an ignore file's entry
    suppress_source: str | None = None

    @property
    def unchecked_note(self) -> str | None:
        """``not re-checked since RUN: reason`` when the newest attempt could not check it."""
        if self.unchecked_run is None:
            return None
        return (f"not re-checked since {self.last_run}: {self.unchecked_reason or 'error'} "
                f"(run {self.unchecked_run})")


class RunCounts(Frozen):
    hosts: int = 0
    hosts_failed: int = 0
    rules: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    not_applicable: int = 0
    new: int = 0
    closed: int = 0
    #: findings that had been closed and failed again (the same id, not new)
    reopened: int = 0
    #: results that could not be had (ERROR): findings they concern keep their last state
    unchecked: int = 0


class RunRecord(Frozen):
    id: str
    template: str | None = None
    started_at: datetime
    ended_at: datetime | None = None
    targets: dict[str, Any] = Field(default_factory=dict)
    packs: list[str] = Field(default_factory=list)
    counts: RunCounts = Field(default_factory=RunCounts)
    kind: str = "assess"
    #: when its superseded per-rule results were removed (``inspectorctl runs prune``)
    pruned_at: datetime | None = None
