"""Findings: one per (rule, host), with a lifecycle (active, closed, suppressed) that each
run's results move; suppressions by a person or by an ignore file."""

from __future__ import annotations

import fnmatch
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from inspectorctl.models.common import Frozen, Severity, Status
from inspectorctl.models.finding import (
    SEVERITY_SCORE,
    Evidence,
    Finding,
    FindingState,
    finding_id,
)
from inspectorctl.store.base import AuditWrite, Database, StoreError, chunks, dt, marks, ts

#: one result as the store writes it: rule id, pack, host, title, severity, status, evidence
#: (JSON of an Evidence), reason (``runs.py`` writes it to ``results``, and it moves findings)
ResultRow = tuple[str, str, str, str, str, str, str | None, str | None]

_FAIL = Status.FAIL.value
_ERROR = Status.ERROR.value
_SCORE = {sev.value: score for sev, score in SEVERITY_SCORE.items()}


@dataclass
class FindingChanges:
    """What a run's results did to the findings."""

    new: int = 0
    closed: int = 0
    reopened: int = 0
    #: ERROR results (findings they concern are left as they were)
    unchecked: int = 0
    new_ids: list[str] = field(default_factory=list)
    reopened_ids: list[str] = field(default_factory=list)

    def add(self, other: FindingChanges) -> None:
        self.new += other.new
        self.closed += other.closed
        self.reopened += other.reopened
        self.unchecked += other.unchecked
        self.new_ids.extend(other.new_ids)
        self.reopened_ids.extend(other.reopened_ids)


class Suppression(Frozen):
    """A suppression a source (an ignore file) asks for."""

    finding_id: str
    by: str
    reason: str
    until: datetime | None
    source: str


def update(
    db: sqlite3.Connection, run_id: str, at: datetime, rows: Sequence[ResultRow]
) -> FindingChanges:
    """Findings follow FAIL and PASS/NOT_APPLICABLE results: a FAIL opens one (new) or
    reopens a closed one (same id), a pass closes an active one. An ERROR result (an
    unreachable host, a fact the probe could not read) is not a finding and changes none:
    the finding keeps its status, evidence and state, and records that this run could not
    re-check it, and why."""
    hosts = sorted({r[2] for r in rows})
    existing = {
        row["id"]: row
        for row in db.execute(
            f"SELECT id, state, suppressed_until FROM findings WHERE host IN ({marks(hosts)})",
            hosts)
    }
    changes = FindingChanges()
    t = ts(at)
    # statements are batched by kind; an expired suppression is lifted first, so the
    # update that follows sees the finding as active
    expired: list[tuple[Any, ...]] = []
    inserts: list[tuple[Any, ...]] = []
    reopened: list[tuple[Any, ...]] = []
    closing: list[tuple[Any, ...]] = []
    seen: list[tuple[Any, ...]] = []
    unchecked: list[tuple[Any, ...]] = []
    for rule_id, pack, host, title, severity, status, evidence, reason in rows:
        if status == _ERROR:
            changes.unchecked += 1
        problem = status == _FAIL
        if not problem and not existing:
            continue  # a PASS/N/A/ERROR with no finding to change: nothing to do
        fid = finding_id(rule_id, host)
        row = existing.get(fid)
        if row is None:
            if problem:
                changes.new += 1
                changes.new_ids.append(fid)
                inserts.append((fid, rule_id, pack, host, title, severity, _SCORE[severity],
                                status, FindingState.ACTIVE.value, evidence, reason, t, t,
                                run_id, run_id))
            continue
        if status == _ERROR:
            unchecked.append((run_id, reason, fid))
            continue
        state = row["state"]
        until = dt(row["suppressed_until"])
        if state == FindingState.SUPPRESSED.value and until is not None and until <= at:
            state = FindingState.ACTIVE.value  # the suppression expired
            expired.append((state, fid))
        if problem:
            new_state = state if state == FindingState.SUPPRESSED.value else (
                FindingState.ACTIVE.value)
            if state == FindingState.CLOSED.value:
                changes.reopened += 1
                changes.reopened_ids.append(fid)
            reopened.append((status, new_state, evidence, reason, t, run_id, severity,
                             _SCORE[severity], title, fid))
        elif state == FindingState.ACTIVE.value:
            changes.closed += 1
            closing.append((status, FindingState.CLOSED.value, evidence, reason, t, run_id,
                            t, fid))
        else:
            seen.append((status, evidence, reason, t, run_id, fid))
    if expired:
        db.executemany("UPDATE findings SET state=?, suppressed_until=NULL,"
                       " suppress_source=NULL WHERE id=?", expired)
    if inserts:
        db.executemany(
            "INSERT INTO findings(id, rule_id, pack, host, title, severity, score, status,"
            " state, evidence, reason, first_seen, last_seen, first_run, last_run)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", inserts)
    if reopened:
        db.executemany(
            "UPDATE findings SET status=?, state=?, evidence=?, reason=?, last_seen=?,"
            " last_run=?, closed_at=NULL, severity=?, score=?, title=?,"
            " unchecked_run=NULL, unchecked_reason=NULL WHERE id=?",
            reopened)
    if closing:
        db.executemany(
            "UPDATE findings SET status=?, state=?, evidence=?, reason=?, last_seen=?,"
            " last_run=?, closed_at=?, unchecked_run=NULL, unchecked_reason=NULL"
            " WHERE id=?", closing)
    if seen:
        db.executemany(
            "UPDATE findings SET status=?, evidence=?, reason=?, last_seen=?, last_run=?,"
            " unchecked_run=NULL, unchecked_reason=NULL WHERE id=?", seen)
    if unchecked:
        db.executemany("UPDATE findings SET unchecked_run=?, unchecked_reason=? WHERE id=?",
                       unchecked)
    return changes


def select(
    store: Database,
    *,
    hosts: Sequence[str] = (),
    rules: Sequence[str] = (),
    min_severity: Severity | None = None,
    statuses: Sequence[Status] = (),
    states: Sequence[FindingState] = (),
    run_id: str | None = None,
    ids: Sequence[str] = (),
) -> list[Finding]:
    where: list[str] = []
    params: list[Any] = []

    def any_of(column: str, values: Sequence[str]) -> None:
        if values:
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)

    # hosts and rules are globs (``acme-*``, ``web-?``), as in ``assess -r`` and ``plan``:
    # plain names go to SQL, patterns are matched here (fnmatchcase, like the others)
    globbed: list[tuple[str, list[str]]] = []
    for column, values in (("host", list(hosts)), ("rule_id", list(rules))):
        if any(ch in v for v in values for ch in "*?["):
            globbed.append((column, values))
        else:
            any_of(column, values)
    any_of("status", [s.value for s in statuses])
    any_of("state", [s.value for s in states])
    any_of("id", list(ids))
    if min_severity is not None:
        allowed = [s.value for s in Severity if s.rank >= min_severity.rank]
        any_of("severity", allowed)
    if run_id is not None:
        # findings the run evaluated (its results), whatever their state now
        where.append("EXISTS (SELECT 1 FROM results r WHERE r.run_id = ? AND"
                     " r.rule_id = findings.rule_id AND r.host = findings.host)")
        params.append(run_id)
    sql = "SELECT * FROM findings"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY score DESC, host, rule_id"
    rows: Iterable[sqlite3.Row] = store.execute(sql, params)
    if globbed:
        rows = (r for r in rows if all(any(fnmatch.fnmatchcase(r[c], g) for g in pats)
                                       for c, pats in globbed))
    return [_finding(r) for r in rows]


def suppress(
    store: Database,
    ids: Sequence[str],
    *,
    by: str,
    reason: str,
    until: datetime | None,
    audit: AuditWrite | None = None,
) -> list[Finding]:
    """Mark findings suppressed (accepted risk) until ``until`` (None: until lifted).

    ``audit`` writes the change's audit entry in the same transaction: the suppression and
    its entry are committed together or not at all."""
    with store.transaction() as db:
        found = _existing(store, db, ids)
        db.executemany(
            "UPDATE findings SET state=?, suppressed_until=?, suppressed_by=?,"
            " suppress_reason=?, suppress_source=NULL WHERE id=?",
            [(FindingState.SUPPRESSED.value, ts(until), by, reason, i) for i in found],
        )
        if audit is not None:
            audit(db)
    return select(store, ids=list(ids))


def _unsuppressed_state(db: sqlite3.Connection, fid: str) -> FindingState:
    """What a finding is once its suppression is lifted: active if its last result is a
    problem, else closed."""
    status = db.execute("SELECT status FROM findings WHERE id=?", (fid,)).fetchone()[0]
    return (FindingState.ACTIVE if status in (Status.FAIL.value, Status.ERROR.value)
            else FindingState.CLOSED)


def unsuppress(
    store: Database, ids: Sequence[str], *, audit: AuditWrite | None = None
) -> list[Finding]:
    """Lift suppressions: a finding whose last result is a problem is active again.
    ``audit`` as for :func:`suppress`: one transaction with the change."""
    with store.transaction() as db:
        found = _existing(store, db, ids)
        for fid in found:
            state = _unsuppressed_state(db, fid)
            db.execute(
                "UPDATE findings SET state=?, suppressed_until=NULL, suppressed_by=NULL,"
                " suppress_reason=?, suppress_source=NULL WHERE id=? AND state=?",
                (state.value, None, fid, FindingState.SUPPRESSED.value),
            )
        if audit is not None:
            audit(db)
    return select(store, ids=list(ids))


def sync_suppressions(
    store: Database,
    suppress: Sequence[Suppression],
    lift: Sequence[str],
    *,
    audit: AuditWrite | None = None,
) -> None:
    """Apply an ignore file's outcome in one transaction with its audit entry: suppress
    (or update) each of ``suppress`` (only findings active or suppressed by a source,
    never one a person suppressed), and lift the source's suppressions in ``lift``."""
    with store.transaction() as db:
        for s in suppress:
            db.execute(
                "UPDATE findings SET state=?, suppressed_until=?, suppressed_by=?,"
                " suppress_reason=?, suppress_source=? WHERE id=? AND (state=? OR"
                " (state=? AND suppress_source IS NOT NULL))",
                (FindingState.SUPPRESSED.value, ts(s.until), s.by, s.reason, s.source,
                 s.finding_id, FindingState.ACTIVE.value, FindingState.SUPPRESSED.value))
        for fid in lift:
            state = _unsuppressed_state(db, fid)
            db.execute(
                "UPDATE findings SET state=?, suppressed_until=NULL, suppressed_by=NULL,"
                " suppress_reason=NULL, suppress_source=NULL WHERE id=? AND state=? AND"
                " suppress_source IS NOT NULL",
                (state.value, fid, FindingState.SUPPRESSED.value))
        if audit is not None:
            audit(db)


def _existing(store: Database, db: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
    found = [r[0] for r in db.execute(f"SELECT id FROM findings WHERE id IN ({marks(ids)})",
                                      list(ids))]
    missing = sorted(set(ids) - set(found))
    if missing:
        raise StoreError(f"no finding {', '.join(missing)} in {store.path}; see "
                         "`inspectorctl findings list --all`", exit_code=2)
    return found


def finding(store: Database, fid: str) -> Finding | None:
    rows = select(store, ids=[fid])
    return rows[0] if rows else None



def _finding(r: sqlite3.Row) -> Finding:
    return Finding(
        id=r["id"], rule_id=r["rule_id"], pack=r["pack"], host=r["host"], title=r["title"],
        severity=Severity(r["severity"]), score=r["score"], status=Status(r["status"]),
        state=FindingState(r["state"]),
        evidence=Evidence.model_validate_json(r["evidence"]) if r["evidence"] else None,
        reason=r["reason"], first_seen=dt(r["first_seen"]), last_seen=dt(r["last_seen"]),
        closed_at=dt(r["closed_at"]), first_run=r["first_run"], last_run=r["last_run"],
        suppressed_until=dt(r["suppressed_until"]), suppressed_by=r["suppressed_by"],
        suppress_reason=r["suppress_reason"], unchecked_run=r["unchecked_run"],
        unchecked_reason=r["unchecked_reason"], suppress_source=r["suppress_source"],
    )


def suppressed(store: Database, finding_ids: Sequence[str]) -> set[str]:
    """Which of ``finding_ids`` are suppressed."""
    out: set[str] = set()
    for chunk in chunks(sorted(set(finding_ids)), 500):
        rows = store.execute(
            f"SELECT id FROM findings WHERE state='suppressed' AND id IN ({marks(chunk)})",
            chunk)
        out.update(r["id"] for r in rows)
    return out


def set_scores(db: sqlite3.Connection, scores: Iterable[tuple[float, str]]) -> None:
    """(score, finding id) pairs: a score other than the severity's (a vulnerability's
    adjusted score), inside the caller's transaction."""
    db.executemany("UPDATE findings SET score=? WHERE id=?", list(scores))
