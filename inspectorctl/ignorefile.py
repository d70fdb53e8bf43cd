"""Accepted risks as code: an ignore file (``.inspectorctl-ignore.yml`` in the working
directory, or ``--ignore-file``) whose entries suppress the findings they match.

```yaml
version: 1
ignore:
  - rule: "cis-*-tmp-*"        # globs on the rule id, the host, the finding id;
    host: "bastion-*"          # at least one; an entry matches when all given match
    reason: "bastion needs /tmp exec for the vendor agent"
    owner: alice
    expires: 2027-03-01        # stops applying on that date (00:00 UTC); at most 10 years
```

``plan_sync`` is pure: given the stored findings and today, which findings the file suppresses
(with the entry's owner, reason and expiry), which suppressions it made before it lifts (no
live entry matches any more) and which entries expired. A suppression a person made with
``findings suppress`` is never touched. ``apply`` writes the outcome and its audit entry in one
transaction (the CLI passes the audit write).
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from inspectorctl.errors import InputError
from inspectorctl.models.common import Frozen
from inspectorctl.models.finding import Finding, FindingState
from inspectorctl.store.db import Store, Suppression
from inspectorctl.textsafe import check_reason, normalise_identity
from inspectorctl.yamlfile import describe_validation_error, read_yaml

#: the file looked for in the working directory when --ignore-file is not given
DEFAULT_NAME = ".inspectorctl-ignore.yml"
MAX_ENTRIES = 10_000
MAX_AHEAD = timedelta(days=3650)
#: the source recorded with a suppression this file made
SOURCE = "ignore-file"

Pattern = Annotated[str, Field(min_length=1, max_length=256)]


class IgnoreEntry(Frozen):
    rule: Pattern | None = None
    host: Pattern | None = None
    finding: Pattern | None = None
    reason: str
    owner: str
    expires: date

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        try:
            return check_reason(v, "reason", required=True)
        except InputError as e:
            raise ValueError(str(e)) from e

    @field_validator("owner")
    @classmethod
    def _owner(cls, v: str) -> str:
        try:
            return normalise_identity(v, "owner")
        except InputError as e:
            raise ValueError(str(e)) from e

    @field_validator("rule", "host", "finding")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        if v is not None and any(ord(c) < 0x20 or ord(c) == 0x7F for c in v):
            raise ValueError("a pattern cannot hold control characters")
        return v

    @model_validator(mode="after")
    def _something(self) -> IgnoreEntry:
        if self.rule is None and self.host is None and self.finding is None:
            raise ValueError("give at least one of rule, host, finding (an entry that "
                             "matched everything would hide every finding)")
        return self

    def matches(self, f: Finding) -> bool:
        return all(pat is None or fnmatch.fnmatchcase(value, pat) for pat, value in (
            (self.rule, f.rule_id), (self.host, f.host), (self.finding, f.id)))

    @property
    def until(self) -> datetime:
        return datetime.combine(self.expires, time(0, 0), tzinfo=UTC)

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in (("rule", self.rule), ("host", self.host),
                                                 ("finding", self.finding)) if v is not None)


class IgnoreFile(Frozen):
    version: Literal[1] = 1
    ignore: list[IgnoreEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)


@dataclass(frozen=True)
class Loaded:
    path: Path
    sha256: str
    entries: list[IgnoreEntry]
    #: the line each entry starts on
    lines: list[int | None]


def find(explicit: Path | None, cwd: Path) -> Path | None:
    """``--ignore-file`` (which must exist), else ``.inspectorctl-ignore.yml`` here if any."""
    if explicit is not None:
        if not explicit.is_file():
            raise InputError(f"{explicit}: no such ignore file")
        return explicit
    default = cwd / DEFAULT_NAME
    return default if default.is_file() else None


def load(path: Path, today: date) -> Loaded:
    """Parse and check ``path`` (one error naming file, line and field); an expiry more than
    10 years ahead is refused."""
    doc = read_yaml(path)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise InputError(f"{path}:1: expected a mapping with `version: 1` and `ignore:`")
    try:
        f = IgnoreFile.model_validate(data)
    except ValidationError as e:
        raise InputError(describe_validation_error(doc, e, "ignore file")) from e
    lines = [doc.line_of(["ignore", i]) for i in range(len(f.ignore))]
    for i, entry in enumerate(f.ignore):
        if entry.expires - today > MAX_AHEAD:
            raise InputError(f"{path}:{lines[i]}: ignore entry {i + 1} ({entry.describe()}): "
                             f"expires {entry.expires} is more than 10 years ahead; accepted "
                             "risks are reviewed: give a nearer date")
    return Loaded(path, hashlib.sha256(doc.text.encode()).hexdigest(), list(f.ignore), lines)


@dataclass(frozen=True)
class Expired:
    index: int  # 1-based
    line: int | None
    entry: IgnoreEntry


@dataclass
class SyncPlan:
    suppress: list[Suppression] = field(default_factory=list)
    #: of ``suppress``, those already suppressed by the file and now changed (reason, expiry)
    updated: list[str] = field(default_factory=list)
    lift: list[str] = field(default_factory=list)
    expired: list[Expired] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.suppress or self.lift)


def plan_sync(loaded: Loaded, findings: Sequence[Finding], now: datetime) -> SyncPlan:
    """What the file changes in ``findings`` (active and suppressed ones) at ``now``."""
    out = SyncPlan()
    live: list[tuple[int, IgnoreEntry]] = []
    for i, e in enumerate(loaded.entries):
        if e.until <= now:
            out.expired.append(Expired(i + 1, loaded.lines[i], e))
        else:
            live.append((i, e))
    src = f"{SOURCE} {loaded.path.resolve()}"
    for f in findings:
        if f.state is FindingState.CLOSED:
            continue
        by_file = f.state is FindingState.SUPPRESSED and f.suppress_source is not None
        if f.state is FindingState.SUPPRESSED and not by_file:
            continue  # a person's suppression: theirs to lift
        hit = next(((i, e) for i, e in live if e.matches(f)), None)
        if hit is None:
            if by_file:
                out.lift.append(f.id)
            continue
        i, e = hit
        want = Suppression(finding_id=f.id, by=e.owner, reason=e.reason, until=e.until,
                           source=f"{src} entry {i + 1}")
        if by_file and (f.suppressed_by, f.suppress_reason, f.suppressed_until,
                        f.suppress_source) == (want.by, want.reason, want.until, want.source):
            continue  # as the file says already
        out.suppress.append(want)
        if by_file:
            out.updated.append(f.id)
    return out


def apply(store: Store, loaded: Loaded, now: datetime,
          audit: Callable[[SyncPlan], Callable[..., None]] | None = None) -> SyncPlan:
    """Plan against the stored findings and write the changes (with ``audit(plan)``'s entry
    in the same transaction) when there are any."""
    findings = store.findings(states=[FindingState.ACTIVE, FindingState.SUPPRESSED])
    plan = plan_sync(loaded, findings, now)
    if plan.changes:
        store.sync_suppressions(plan.suppress, plan.lift,
                                audit=audit(plan) if audit is not None else None)
    return plan
