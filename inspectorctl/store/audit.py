"""The audit log's rows. The log is append-only (triggers, ``schema.py``); what an entry says
and how its digests chain and are keyed is ``remediate/audit.py``'s: this module only reads
rows and appends one."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from inspectorctl.store.base import Database, Queryable, marks

#: runs a remediation recorded as its verification (event ``verify``), as a subquery
VERIFY_RUNS = "SELECT run_id FROM audit_log WHERE event = 'verify' AND run_id IS NOT NULL"


def head(db: Queryable) -> tuple[int, str] | None:
    """The newest entry's number and digest; None for an empty log."""
    row = db.execute("SELECT seq, digest FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row["seq"]), str(row["digest"])) if row else None


def append(
    db: sqlite3.Connection,
    *,
    at: str,
    event: str,
    actor: str,
    plan_id: str | None,
    plan_digest: str | None,
    run_id: str | None,
    detail: str,
    prev_digest: str,
    digest: str,
) -> None:
    """Insert one entry inside the caller's transaction (its digest made by the caller)."""
    db.execute(
        "INSERT INTO audit_log(at, event, actor, plan_id, plan_digest, run_id, detail,"
        " prev_digest, digest) VALUES (?,?,?,?,?,?,?,?,?)",
        (at, event, actor, plan_id, plan_digest, run_id, detail, prev_digest, digest),
    )


def rows(
    store: Database, *, plan_digest: str | None = None, run_id: str | None = None
) -> list[sqlite3.Row]:
    """Entries in order, all or those of a plan (digest) and/or a run."""
    where: list[str] = []
    params: list[Any] = []
    if plan_digest:
        where.append("plan_digest = ?")
        params.append(plan_digest)
    if run_id:
        where.append("run_id = ?")
        params.append(run_id)
    sql = "SELECT * FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq"
    return store.execute(sql, params).fetchall()


def of_events(store: Database, events: Sequence[str]) -> list[sqlite3.Row]:
    """``at`` and ``detail`` of every entry of these events, in no particular order."""
    return store.execute(f"SELECT at, detail FROM audit_log WHERE event IN ({marks(events)})",
                         list(events)).fetchall()


def verify_runs(store: Database, plan_digest: str) -> set[str]:
    """Assessment runs that verified an apply of this plan."""
    rows_ = store.execute(
        "SELECT run_id FROM audit_log WHERE event='verify' AND plan_digest=? AND run_id IS NOT"
        " NULL", (plan_digest,))
    return {r["run_id"] for r in rows_}
