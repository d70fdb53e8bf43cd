"""Runs and their per-rule results: recording a run (one transaction, host by host), reading
runs and results back, pruning superseded results, and the reads the approval gate,
verification and reports make of results."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from inspectorctl.models.common import Frozen, Severity, Status
from inspectorctl.models.finding import Evidence, RuleResult, RunCounts, RunRecord
from inspectorctl.store import findings
from inspectorctl.store.audit import VERIFY_RUNS
from inspectorctl.store.base import Database, StoreError, chunks, dt, marks, now, ts
from inspectorctl.store.findings import FindingChanges, ResultRow

__all__ = ["ResultRow"]


def _asked(targets: dict[str, Any]) -> dict[str, Any]:
    """A run's targets as they were asked for (without what the hosts turned out to be)."""
    return {k: v for k, v in targets.items() if k != "identities"}


def _evidence_json(e: Evidence | None) -> str | None:
    return e.model_dump_json() if e is not None else None


# ------------------------------------------------------------------------------- recording


def record_run(store: Database, run: RunRecord, results: Iterable[RuleResult]) -> RunRecord:
    """Store a run and its results, update the findings lifecycle; one transaction."""
    with recording(store, run) as rec:
        rec.add(list(results))
    assert rec.run is not None
    return rec.run


@contextmanager
def recording(store: Database, run: RunRecord) -> Iterator[RunRecorder]:
    """Record a run host by host inside ONE transaction (streaming, bounded memory).

    Everything is rolled back if the block raises: a run is recorded whole or not at all.
    ``recorder.run`` holds the final record (with counts) after the block.
    """
    rec = RunRecorder(store, run)
    try:
        with store.transaction() as db:
            db.execute(
                "INSERT INTO runs(id, kind, template, started_at, ended_at, targets, packs,"
                " counts) VALUES (?,?,?,?,?,?,?,?)",
                (run.id, run.kind, run.template, ts(run.started_at),
                 ts(run.ended_at or now()), json.dumps(run.targets), json.dumps(run.packs),
                 "{}"),
            )
            yield rec
            rec.finish(db)
    except sqlite3.DatabaseError as e:
        raise StoreError(store._explain(e)) from e


class RunRecorder:
    """Adds results of one run; made by :func:`recording`."""

    def __init__(self, store: Database, run: RunRecord) -> None:
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
        self.changes.add(findings.update(db, run_id, self.seen_at, rows))
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
                   (counts.model_dump_json(), ts(ended), json.dumps(self.draft.targets),
                    self.draft.id))
        self.run = self.draft.model_copy(update={"counts": counts, "ended_at": ended})


def _run(r: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=r["id"], kind=r["kind"], template=r["template"], started_at=dt(r["started_at"]),
        ended_at=dt(r["ended_at"]), targets=json.loads(r["targets"]),
        packs=json.loads(r["packs"]), counts=RunCounts.model_validate_json(r["counts"] or "{}"),
        pruned_at=dt(r["pruned_at"]),
    )


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
            f" AND n.run_id != results.run_id AND n.run_id NOT IN ({VERIFY_RUNS})"
            " AND (nr.started_at > ? OR (nr.started_at = ? AND nr.id > ?)))",
            (row["id"], row["started_at"], row["started_at"], row["id"]))
        removed += cur.rowcount
        kept += db.execute("SELECT count(*) FROM results WHERE run_id = ?",
                           (row["id"],)).fetchone()[0]
        db.execute("UPDATE runs SET pruned_at = ? WHERE id = ?", (ts(at), row["id"]))
    return PruneReport(runs=tuple(r["id"] for r in old), removed=removed, kept=kept)


def prune(
    store: Database, keep: int, at: datetime, *,
    audit: Callable[[sqlite3.Connection, PruneReport], None] | None = None,
) -> PruneReport:
    """:func:`prune_results` in one transaction with its audit entry (``audit`` is given
    the report, to record what was pruned)."""
    with store.transaction() as db:
        report = prune_results(db, keep, at)
        if audit is not None:
            audit(db, report)
    return report


# ----------------------------------------------------------------------------------- reads


def runs(store: Database, limit: int = 50) -> list[RunRecord]:
    rows = store.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))
    return [_run(r) for r in rows]


def run(store: Database, run_id: str) -> RunRecord | None:
    row = store.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
    return _run(row) if row else None


def latest_run(store: Database, kind: str = "assess") -> RunRecord | None:
    row = store.execute(
        "SELECT * FROM runs WHERE kind=? ORDER BY started_at DESC LIMIT 1", (kind,)
    ).fetchone()
    return _run(row) if row else None


def previous_run(store: Database, run: RunRecord) -> RunRecord | None:
    """The newest run of the same kind and the same targets started before ``run``: the
    same selection (inventory, limit, snapshots, transport, framework ...), whichever hosts
    answered (``identities``, what each host turned out to be, is not compared)."""
    want = _asked(run.targets)
    rows = store.execute(
        "SELECT * FROM runs WHERE kind=? AND started_at<? AND id<>? ORDER BY started_at DESC",
        (run.kind, ts(run.started_at), run.id))
    for r in rows:
        if _asked(json.loads(r["targets"])) == want:
            return _run(r)
    return None


def results(store: Database, run_id: str) -> list[RuleResult]:
    rows = store.execute("SELECT * FROM results WHERE run_id=? ORDER BY host, rule_id",
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


def has_runs(store: Database) -> bool:
    return store.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is not None


def run_ids_between(store: Database, start: datetime, end: datetime, *, limit: int,
                    verification: bool = False) -> list[str]:
    """Ids of the runs started in [start, end], newest first: assessments, or
    (``verification``) only remediations' verification runs."""
    rows = store.execute(
        "SELECT id FROM runs WHERE started_at >= ? AND started_at <= ?"
        f" AND id {'IN' if verification else 'NOT IN'} ({VERIFY_RUNS})"
        " ORDER BY started_at DESC, id DESC LIMIT ?", (start.isoformat(), end.isoformat(), limit))
    return [r["id"] for r in rows]


def count_between(store: Database, start: datetime, end: datetime, *,
                  verification: bool = False) -> int:
    """How many runs started in [start, end] (as :func:`run_ids_between` picks them)."""
    row = store.execute(
        "SELECT count(*) FROM runs WHERE started_at >= ? AND started_at <= ?"
        f" AND id {'IN' if verification else 'NOT IN'} ({VERIFY_RUNS})",
        (start.isoformat(), end.isoformat())).fetchone()
    return int(row[0])


def status_counts(store: Database, run_ids: Sequence[str]) -> list[sqlite3.Row]:
    """Per run, pack, rule, status and severity: how many results (``n``)."""
    out: list[sqlite3.Row] = []
    for chunk in chunks(list(run_ids), 500):
        out.extend(store.execute(
            f"SELECT run_id, pack, rule_id, status, severity, count(*) AS n FROM results"
            f" WHERE run_id IN ({marks(chunk)}) GROUP BY run_id, pack, rule_id, status, severity",
            chunk))
    return out


def history(store: Database, host: str, rule_id: str, start: str, end: str, limit: int
            ) -> list[sqlite3.Row]:
    """One (rule, host)'s results in runs started in [start, end], newest first, each with
    its run's start and whether the run was a remediation's verification."""
    return store.execute(
        "SELECT r.run_id, runs.started_at, r.status, r.evidence, r.reason,"
        f" r.run_id IN ({VERIFY_RUNS}) AS verification FROM results r"
        " JOIN runs ON runs.id = r.run_id WHERE r.host = ? AND r.rule_id = ?"
        " AND runs.started_at >= ? AND runs.started_at <= ?"
        " ORDER BY runs.started_at DESC, runs.id DESC LIMIT ?",
        (host, rule_id, start, end, limit)).fetchall()


def run_results(store: Database, run_id: str, hosts: Sequence[str]
                ) -> dict[tuple[str, str], Mapping[str, Any]]:
    """A run's results on ``hosts``, per (rule id, host), as plain rows."""
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    uniq = sorted(set(hosts))
    for i in range(0, len(uniq), 400):
        chunk = uniq[i:i + 400]
        rows = store.execute(
            "SELECT rule_id, host, pack, title, status, severity, evidence FROM results"
            f" WHERE run_id=? AND host IN ({marks(chunk)})", [run_id, *chunk])
        for r in rows:
            out[(r["rule_id"], r["host"])] = dict(r)
    return out


def latest_results(
    store: Database, pairs: Sequence[tuple[str, str]], exclude_runs: set[str], *,
    skip_errors: bool = False,
) -> dict[tuple[str, str], sqlite3.Row]:
    """Per (rule_id, host), the newest stored result outside ``exclude_runs`` (and, with
    ``skip_errors``, the newest that is not an ERROR: an error says nothing about the host)."""
    if not pairs:
        return {}
    hosts = sorted({h for _, h in pairs})
    rules = sorted({r for r, _ in pairs})
    wanted = set(pairs)
    out: dict[tuple[str, str], sqlite3.Row] = {}
    try:
        for hchunk in chunks(hosts, 400):
            for rchunk in chunks(rules, 400):
                sql = (
                    "SELECT r.rule_id, r.host, r.status, r.evidence, r.run_id, runs.started_at"
                    " FROM results r JOIN runs ON runs.id = r.run_id"
                    f" WHERE r.host IN ({marks(hchunk)})"
                    f" AND r.rule_id IN ({marks(rchunk)})"
                    + (" AND r.status != 'ERROR'" if skip_errors else "")
                    + " ORDER BY runs.started_at, r.run_id"
                )
                for row in store.db.execute(sql, [*hchunk, *rchunk]):
                    key = (row["rule_id"], row["host"])
                    if key in wanted and row["run_id"] not in exclude_runs:
                        out[key] = row
    except sqlite3.DatabaseError as e:
        raise StoreError(f"cannot read results from {store.path}: {e}") from e
    return out
