"""SQLite store: runs, per-run results, findings with a lifecycle, and later plans/approvals.

One connection per ``Store``; WAL; foreign keys on; versioned migrations (``PRAGMA
user_version``). A run is recorded in one transaction: either all of it or none.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspectorctl.errors import InspectorctlError
from inspectorctl.models.common import Frozen, Severity, Status
from inspectorctl.models.finding import (
    SEVERITY_SCORE,
    Evidence,
    Finding,
    FindingState,
    RuleResult,
    RunCounts,
    RunRecord,
    finding_id,
)
from inspectorctl.store import remediation_tables


class StoreError(InspectorctlError):
    """The database cannot be opened, is corrupt, locked, or from a newer inspectorctl."""


Migration = Callable[[sqlite3.Connection], None]
#: writes the audit entry of a state change, inside the change's own transaction
AuditWrite = Callable[[sqlite3.Connection], None]


def run_script(db: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated DDL inside the current transaction (``executescript`` would commit)."""
    for stmt in script.split(";"):
        if stmt.strip():
            db.execute(stmt)


_RESULT_COLUMNS = """
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            rule_id TEXT NOT NULL,
            pack TEXT NOT NULL,
            host TEXT NOT NULL,
            status TEXT NOT NULL,
            severity TEXT NOT NULL,
            title TEXT NOT NULL,
            evidence TEXT,
            reason TEXT,"""


def _m1(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL DEFAULT 'assess',
            template TEXT,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            targets TEXT NOT NULL DEFAULT '{}',
            packs TEXT NOT NULL DEFAULT '[]',
            counts TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE findings (
            id TEXT PRIMARY KEY,
            rule_id TEXT NOT NULL,
            pack TEXT NOT NULL,
            host TEXT NOT NULL,
            title TEXT NOT NULL,
            severity TEXT NOT NULL,
            score REAL NOT NULL,
            status TEXT NOT NULL,
            state TEXT NOT NULL,
            evidence TEXT,
            reason TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            closed_at TEXT,
            first_run TEXT NOT NULL REFERENCES runs(id),
            last_run TEXT NOT NULL REFERENCES runs(id)
        );
        CREATE INDEX findings_host ON findings(host);
        CREATE INDEX findings_rule ON findings(rule_id);
        CREATE INDEX findings_state ON findings(state);
        CREATE TABLE results (""" + _RESULT_COLUMNS + """
            PRIMARY KEY (run_id, rule_id, host)
        );
        CREATE INDEX results_host ON results(host, rule_id);
        """
    )


def _m2_remediation(db: sqlite3.Connection) -> None:
    """The remediation side's tables (plans, approvals, apply runs, journal, audit log) and the
    triggers that keep approvals and the audit log append-only."""
    run_script(db, remediation_tables.TABLES)
    for trigger in remediation_tables.TRIGGERS:
        db.execute(trigger)


def _m3_suppression(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        ALTER TABLE findings ADD COLUMN suppressed_until TEXT;
        ALTER TABLE findings ADD COLUMN suppressed_by TEXT;
        ALTER TABLE findings ADD COLUMN suppress_reason TEXT
        """,
    )


def _m4_results_by_host(db: sqlite3.Connection) -> None:
    """The results table's key in the order a run writes it (run, host, rule): a run of
    10,000 hosts appends to its indexes instead of inserting all over them."""
    run_script(
        db,
        """
        CREATE TABLE results_m4 (""" + _RESULT_COLUMNS + """
            PRIMARY KEY (run_id, host, rule_id)
        );
        INSERT INTO results_m4(run_id, rule_id, pack, host, status, severity, title, evidence,
                               reason)
            SELECT run_id, rule_id, pack, host, status, severity, title, evidence, reason
            FROM results;
        DROP TABLE results;
        ALTER TABLE results_m4 RENAME TO results;
        CREATE INDEX results_host ON results(host, rule_id)
        """,
    )


def _m5_pruned_runs(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE runs ADD COLUMN pruned_at TEXT")


def _m6_unchecked(db: sqlite3.Connection) -> None:
    """An ERROR result no longer changes a finding: it records only that (and why) the newest
    run could not re-check it."""
    run_script(
        db,
        """
        ALTER TABLE findings ADD COLUMN unchecked_run TEXT;
        ALTER TABLE findings ADD COLUMN unchecked_reason TEXT
        """,
    )


def _m7_vuln_details(db: sqlite3.Connection) -> None:
    """What a vulnerability finding carries beyond a rule result (ids, versions, scores,
    state, references), newest per finding, as JSON of ``inspectorctl.vuln_assess.VulnFinding``;
    and the package inventory each vulnerability run matched, per host (for SBOMs)."""
    run_script(
        db,
        """
        CREATE TABLE vuln_details (
            finding_id TEXT PRIMARY KEY REFERENCES findings(id) ON DELETE CASCADE,
            run_id TEXT NOT NULL,
            host TEXT NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX vuln_details_host ON vuln_details(host);
        CREATE TABLE host_packages (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            host TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (run_id, host)
        )
        """,
    )


def _m8_signed_approvals(db: sqlite3.Connection) -> None:
    """An approver's SSH signature of what they approved (``approve --sign-with``), and the
    audit log's head when the approval was made (``SEQ:DIGEST``: a truncated log shows)."""
    db.execute("ALTER TABLE approvals ADD COLUMN signature TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE approvals ADD COLUMN audit_head TEXT NOT NULL DEFAULT ''")


def _m9_suppress_source(db: sqlite3.Connection) -> None:
    """Where a suppression came from: NULL for ``findings suppress``, ``ignore-file ...`` for
    an entry of an ignore file (which lifts it again when no entry matches any more)."""
    db.execute("ALTER TABLE findings ADD COLUMN suppress_source TEXT")


#: migration N (1-based) brings user_version from N-1 to N, in this order, never another: a new
#: migration is one more entry at the end (the order is this tuple's, not the import order)
MIGRATIONS: tuple[Migration, ...] = (
    _m1,
    _m2_remediation,
    _m3_suppression,
    _m4_results_by_host,
    _m5_pruned_runs,
    _m6_unchecked,
    _m7_vuln_details,
    _m8_signed_approvals,
    _m9_suppress_source,
)


def now() -> datetime:
    return datetime.now(UTC)


def _ts(d: datetime | None) -> str | None:
    return d.isoformat() if d is not None else None


def _asked(targets: dict[str, Any]) -> dict[str, Any]:
    """A run's targets as they were asked for (without what the hosts turned out to be)."""
    return {k: v for k, v in targets.items() if k != "identities"}


def _dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


#: one result as the store writes it: rule id, pack, host, title, severity, status, evidence
#: (JSON of an Evidence), reason
ResultRow = tuple[str, str, str, str, str, str, str | None, str | None]

_FAIL = Status.FAIL.value
_ERROR = Status.ERROR.value
_SCORE = {sev.value: score for sev, score in SEVERITY_SCORE.items()}


def _evidence_json(e: Evidence | None) -> str | None:
    return e.model_dump_json() if e is not None else None


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


class Store:
    def __init__(self, path: Path, *, timeout: float = 5.0) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # findings and their evidence describe the fleet's weaknesses: a new database is
            # readable by its owner only (SQLite gives its -wal and -shm files the same mode)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            self.db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the database {path}: {e}") from e
        self.db.row_factory = sqlite3.Row
        try:
            self.db.execute("PRAGMA foreign_keys = ON")
            mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                self.db.execute("PRAGMA journal_mode = DELETE")
            self.db.execute("PRAGMA synchronous = NORMAL")
            # a run is one transaction of ~220 rows per host: with SQLite's default 2 MB page
            # cache the indexes' pages spill to the WAL and are read back again and again
            self.db.execute("PRAGMA cache_size = -65536")  # KiB: 64 MiB at most, as needed
            self._migrate()
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise StoreError(self._explain(e)) from e

    def _explain(self, e: sqlite3.Error) -> str:
        msg = str(e)
        if "locked" in msg or "busy" in msg:
            return (f"the database {self.path} is locked by another inspectorctl process; "
                    "wait for it to finish or use another --db")
        if "disk is full" in msg or "disk I/O" in msg:
            return (f"cannot write the database {self.path}: {msg} (is its disk full, or a "
                    "file size limit (ulimit -f) set?)")
        if "not a database" in msg or "malformed" in msg or "corrupt" in msg:
            return (f"the database {self.path} is corrupt or not an inspectorctl database "
                    f"({msg}); move it aside or use another --db")
        return f"database error in {self.path}: {msg}"

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the database {self.path} has schema version {version}, newer than this "
                f"inspectorctl knows ({len(MIGRATIONS)}); upgrade inspectorctl"
            )
        for n in range(version, len(MIGRATIONS)):
            with self.transaction():
                MIGRATIONS[n](self.db)
                self.db.execute(f"PRAGMA user_version = {n + 1}")

    def vacuum(self) -> None:
        """Compact the file (after pruning); the WAL is checkpointed into it first."""
        try:
            self.db.execute("VACUUM")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError as e:
            raise StoreError(self._explain(e)) from e

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise StoreError(self._explain(e)) from e
        try:
            yield self.db
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                raise StoreError(self._explain(e)) from e

    def _rollback(self) -> None:
        """Roll back, if SQLite has not already (it does itself after an I/O error such as a
        full disk): the error that stopped the transaction is the one to report."""
        if self.db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run a query; reading its rows raises ``StoreError`` too (a corrupt page is only
        found when the row on it is read)."""
        try:
            return Rows(self, self.db.execute(sql, params))
        except sqlite3.DatabaseError as e:
            raise StoreError(self._explain(e)) from e

    # --------------------------------------------------------------------------------- runs

    def record_run(self, run: RunRecord, results: Iterable[RuleResult]) -> RunRecord:
        """Store a run and its results, update the findings lifecycle; one transaction."""
        with self.recording(run) as rec:
            rec.add(list(results))
        assert rec.run is not None
        return rec.run

    @contextmanager
    def recording(self, run: RunRecord) -> Iterator[RunRecorder]:
        """Record a run host by host inside ONE transaction (streaming, bounded memory).

        Everything is rolled back if the block raises: a run is recorded whole or not at all.
        ``recorder.run`` holds the final record (with counts) after the block.
        """
        rec = RunRecorder(self, run)
        try:
            with self.transaction() as db:
                db.execute(
                    "INSERT INTO runs(id, kind, template, started_at, ended_at, targets, packs,"
                    " counts) VALUES (?,?,?,?,?,?,?,?)",
                    (run.id, run.kind, run.template, _ts(run.started_at),
                     _ts(run.ended_at or now()), json.dumps(run.targets), json.dumps(run.packs),
                     "{}"),
                )
                yield rec
                rec.finish(db)
        except sqlite3.DatabaseError as e:
            raise StoreError(self._explain(e)) from e

    def _update_findings(
        self, db: sqlite3.Connection, run_id: str, ts: datetime, rows: Sequence[ResultRow]
    ) -> FindingChanges:
        """Findings follow FAIL and PASS/NOT_APPLICABLE results: a FAIL opens one (new) or
        reopens a closed one (same id), a pass closes an active one. An ERROR result (an
        unreachable host, a fact the probe could not read) is not a finding and changes none:
        the finding keeps its status, evidence and state, and records that this run could not
        re-check it, and why."""
        hosts = sorted({r[2] for r in rows})
        marks = ",".join("?" * len(hosts))
        existing = {
            row["id"]: row
            for row in db.execute(
                f"SELECT id, state, suppressed_until FROM findings WHERE host IN ({marks})",
                hosts)
        }
        changes = FindingChanges()
        t = _ts(ts)
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
            until = _dt(row["suppressed_until"])
            if state == FindingState.SUPPRESSED.value and until is not None and until <= ts:
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

    def runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))
        return [_run(r) for r in rows]

    def run(self, run_id: str) -> RunRecord | None:
        row = self.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return _run(row) if row else None

    def latest_run(self, kind: str = "assess") -> RunRecord | None:
        row = self.execute(
            "SELECT * FROM runs WHERE kind=? ORDER BY started_at DESC LIMIT 1", (kind,)
        ).fetchone()
        return _run(row) if row else None

    def previous_run(self, run: RunRecord) -> RunRecord | None:
        """The newest run of the same kind and the same targets started before ``run``: the
        same selection (inventory, limit, snapshots, transport, framework ...), whichever hosts
        answered (``identities``, what each host turned out to be, is not compared)."""
        want = _asked(run.targets)
        rows = self.execute(
            "SELECT * FROM runs WHERE kind=? AND started_at<? AND id<>? ORDER BY started_at DESC",
            (run.kind, _ts(run.started_at), run.id))
        for r in rows:
            if _asked(json.loads(r["targets"])) == want:
                return _run(r)
        return None

    def results(self, run_id: str) -> list[RuleResult]:
        rows = self.execute("SELECT * FROM results WHERE run_id=? ORDER BY host, rule_id",
                            (run_id,))
        return [
            RuleResult(rule_id=r["rule_id"], pack=r["pack"], host=r["host"],
                       status=Status(r["status"]), severity=Severity(r["severity"]),
                       title=r["title"],
                       evidence=Evidence.model_validate_json(r["evidence"])
                       if r["evidence"] else None,
                       reason=r["reason"])
            for r in rows
        ]

    # ----------------------------------------------------------------------------- findings

    def findings(
        self,
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
        rows: Iterable[sqlite3.Row] = self.execute(sql, params)
        if globbed:
            rows = (r for r in rows if all(any(fnmatch.fnmatchcase(r[c], g) for g in pats)
                                           for c, pats in globbed))
        return [_finding(r) for r in rows]

    def suppress(
        self,
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
        with self.transaction() as db:
            found = self._existing(db, ids)
            db.executemany(
                "UPDATE findings SET state=?, suppressed_until=?, suppressed_by=?,"
                " suppress_reason=?, suppress_source=NULL WHERE id=?",
                [(FindingState.SUPPRESSED.value, _ts(until), by, reason, i) for i in found],
            )
            if audit is not None:
                audit(db)
        return self.findings(ids=list(ids))

    def unsuppress(self, ids: Sequence[str], *, audit: AuditWrite | None = None) -> list[Finding]:
        """Lift suppressions: a finding whose last result is a problem is active again.
        ``audit`` as for :meth:`suppress`: one transaction with the change."""
        with self.transaction() as db:
            found = self._existing(db, ids)
            for fid in found:
                status = db.execute("SELECT status FROM findings WHERE id=?",
                                    (fid,)).fetchone()[0]
                state = (FindingState.ACTIVE if status in (Status.FAIL.value, Status.ERROR.value)
                         else FindingState.CLOSED)
                db.execute(
                    "UPDATE findings SET state=?, suppressed_until=NULL, suppressed_by=NULL,"
                    " suppress_reason=?, suppress_source=NULL WHERE id=? AND state=?",
                    (state.value, None, fid, FindingState.SUPPRESSED.value),
                )
            if audit is not None:
                audit(db)
        return self.findings(ids=list(ids))

    def sync_suppressions(
        self,
        suppress: Sequence[Suppression],
        lift: Sequence[str],
        *,
        audit: AuditWrite | None = None,
    ) -> None:
        """Apply an ignore file's outcome in one transaction with its audit entry: suppress
        (or update) each of ``suppress`` (only findings active or suppressed by a source,
        never one a person suppressed), and lift the source's suppressions in ``lift``."""
        with self.transaction() as db:
            for s in suppress:
                db.execute(
                    "UPDATE findings SET state=?, suppressed_until=?, suppressed_by=?,"
                    " suppress_reason=?, suppress_source=? WHERE id=? AND (state=? OR"
                    " (state=? AND suppress_source IS NOT NULL))",
                    (FindingState.SUPPRESSED.value, _ts(s.until), s.by, s.reason, s.source,
                     s.finding_id, FindingState.ACTIVE.value, FindingState.SUPPRESSED.value))
            for fid in lift:
                status = db.execute("SELECT status FROM findings WHERE id=?",
                                    (fid,)).fetchone()[0]
                state = (FindingState.ACTIVE if status in (Status.FAIL.value, Status.ERROR.value)
                         else FindingState.CLOSED)
                db.execute(
                    "UPDATE findings SET state=?, suppressed_until=NULL, suppressed_by=NULL,"
                    " suppress_reason=NULL, suppress_source=NULL WHERE id=? AND state=? AND"
                    " suppress_source IS NOT NULL",
                    (state.value, fid, FindingState.SUPPRESSED.value))
            if audit is not None:
                audit(db)

    def prune(
        self, keep: int, at: datetime, *, audit: Callable[[sqlite3.Connection, PruneReport], None]
        | None = None,
    ) -> PruneReport:
        """:func:`prune_results` in one transaction with its audit entry (``audit`` is given
        the report, to record what was pruned)."""
        with self.transaction() as db:
            report = prune_results(db, keep, at)
            if audit is not None:
                audit(db, report)
        return report

    def _existing(self, db: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
        marks = ",".join("?" * len(ids))
        found = [r[0] for r in db.execute(f"SELECT id FROM findings WHERE id IN ({marks})",
                                          list(ids))]
        missing = sorted(set(ids) - set(found))
        if missing:
            raise StoreError(f"no finding {', '.join(missing)} in {self.path}; see "
                             "`inspectorctl findings list --all`", exit_code=2)
        return found

    def finding(self, fid: str) -> Finding | None:
        rows = self.findings(ids=[fid])
        return rows[0] if rows else None


class Rows:
    """A query's rows, read with every database error turned into a ``StoreError``."""

    def __init__(self, store: Store, cursor: sqlite3.Cursor) -> None:
        self._store = store
        self._cursor = cursor

    def fetchone(self) -> Any:
        try:
            return self._cursor.fetchone()
        except sqlite3.DatabaseError as e:
            raise StoreError(self._store._explain(e)) from e

    def fetchall(self) -> list[Any]:
        try:
            return self._cursor.fetchall()
        except sqlite3.DatabaseError as e:
            raise StoreError(self._store._explain(e)) from e

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class RunRecorder:
    """Adds results of one run; made by ``Store.recording``."""

    def __init__(self, store: Store, run: RunRecord) -> None:
        self.store = store
        self.draft = run
        self.run: RunRecord | None = None
        #: status value -> results recorded
        self.status_counts: dict[str, int] = dict.fromkeys((x.value for x in Status), 0)
        self.changes = FindingChanges()
        #: one observation time for every finding the run touches
        self.seen_at = run.ended_at or now()

    def add(self, results: Sequence[RuleResult]) -> None:
        """One host's results."""
        self.add_rows([(r.rule_id, r.pack, r.host, r.title, r.severity.value, r.status.value,
                        _evidence_json(r.evidence), r.reason) for r in results])

    def add_rows(self, rows: Sequence[ResultRow]) -> None:
        """One host's results as plain values (see ``ResultRow``): how the offline workers'
        results arrive, without building a RuleResult for each."""
        if not rows:
            return
        db = self.store.db
        run_id = self.draft.id
        db.executemany(
            "INSERT INTO results(run_id, rule_id, pack, host, status, severity, title,"
            " evidence, reason) VALUES (?,?,?,?,?,?,?,?,?)",
            [(run_id, rule_id, pack, host, status, severity, title, evidence, reason)
             for rule_id, pack, host, title, severity, status, evidence, reason in rows],
        )
        self.changes.add(self.store._update_findings(db, run_id, self.seen_at, rows))
        counts = self.status_counts
        for row in rows:
            counts[row[5]] += 1

    def finish(self, db: sqlite3.Connection) -> None:
        c = self.status_counts
        counts = self.draft.counts.model_copy(update={
            "passed": c[Status.PASS.value], "failed": c[Status.FAIL.value],
            "errors": c[Status.ERROR.value], "not_applicable": c[Status.NOT_APPLICABLE.value],
            "new": self.changes.new, "closed": self.changes.closed,
            "reopened": self.changes.reopened, "unchecked": self.changes.unchecked,
        })
        ended = self.draft.ended_at or now()
        db.execute("UPDATE runs SET counts=?, ended_at=?, targets=? WHERE id=?",
                   (counts.model_dump_json(), _ts(ended), json.dumps(self.draft.targets),
                    self.draft.id))
        self.run = self.draft.model_copy(update={"counts": counts, "ended_at": ended})


def _run(r: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=r["id"], kind=r["kind"], template=r["template"], started_at=_dt(r["started_at"]),
        ended_at=_dt(r["ended_at"]), targets=json.loads(r["targets"]),
        packs=json.loads(r["packs"]), counts=RunCounts.model_validate_json(r["counts"] or "{}"),
        pruned_at=_dt(r["pruned_at"]),
    )


class Suppression(Frozen):
    """A suppression a source (an ignore file) asks for."""

    finding_id: str
    by: str
    reason: str
    until: datetime | None
    source: str


class PruneReport(Frozen):
    #: runs older than the newest ``keep`` (their superseded results were removed)
    runs: tuple[str, ...] = ()
    #: result rows removed, and rows of those runs kept (the newest result of their pair)
    removed: int = 0
    kept: int = 0


def prune_results(db: sqlite3.Connection, keep: int, at: datetime) -> PruneReport:
    """Remove the per-rule results of every run but the newest ``keep`` that a newer result
    of the same (rule, host) supersedes. A result from a remediation's verification run
    supersedes nothing: the approval gate's staleness check reads the newest result outside a
    plan's own verification runs, and verification the newest of all, so both read what they
    read before. Runs, their counts and the findings stay; pruned runs get ``pruned_at``.
    Call inside a transaction (``Store.transaction``)."""
    if keep < 1:
        raise ValueError("keep at least one run")
    old = db.execute("SELECT id, started_at FROM runs ORDER BY started_at DESC, id DESC"
                     " LIMIT -1 OFFSET ?", (keep,)).fetchall()
    removed = kept = 0
    for row in old:
        cur = db.execute(
            "DELETE FROM results WHERE run_id = ? AND EXISTS ("
            " SELECT 1 FROM results n JOIN runs nr ON nr.id = n.run_id"
            " WHERE n.host = results.host AND n.rule_id = results.rule_id"
            " AND n.run_id != results.run_id AND n.run_id NOT IN ("
            "  SELECT run_id FROM audit_log WHERE event = 'verify' AND run_id IS NOT NULL)"
            " AND (nr.started_at > ? OR (nr.started_at = ? AND nr.id > ?)))",
            (row["id"], row["started_at"], row["started_at"], row["id"]))
        removed += cur.rowcount
        kept += db.execute("SELECT count(*) FROM results WHERE run_id = ?",
                           (row["id"],)).fetchone()[0]
        db.execute("UPDATE runs SET pruned_at = ? WHERE id = ?", (_ts(at), row["id"]))
    return PruneReport(runs=tuple(r["id"] for r in old), removed=removed, kept=kept)


def _finding(r: sqlite3.Row) -> Finding:
    return Finding(
        id=r["id"], rule_id=r["rule_id"], pack=r["pack"], host=r["host"], title=r["title"],
        severity=Severity(r["severity"]), score=r["score"], status=Status(r["status"]),
        state=FindingState(r["state"]),
        evidence=Evidence.model_validate_json(r["evidence"]) if r["evidence"] else None,
        reason=r["reason"], first_seen=_dt(r["first_seen"]), last_seen=_dt(r["last_seen"]),
        closed_at=_dt(r["closed_at"]), first_run=r["first_run"], last_run=r["last_run"],
        suppressed_until=_dt(r["suppressed_until"]), suppressed_by=r["suppressed_by"],
        suppress_reason=r["suppress_reason"], unchecked_run=r["unchecked_run"],
        unchecked_reason=r["unchecked_reason"], suppress_source=r["suppress_source"],
    )
