"""The append-only audit log: approvals, refusals, applies, rollbacks.

Rows are only ever inserted: SQLite triggers raise on UPDATE and DELETE (see ``schema.py``).
Each row also carries ``digest = sha256(prev_digest + canonical row)``, so a row removed or
edited after dropping the triggers breaks the chain and ``verify_chain`` names the first bad row.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import Field

from inspectorctl.models.common import Frozen
from inspectorctl.models.plan import canonical_json, sha256_hex
from inspectorctl.store.db import Store

GENESIS = "0" * 64


class AuditEvent(enum.StrEnum):
    PLAN = "plan"
    APPROVE = "approve"
    REFUSE = "refuse"
    APPLY_START = "apply_start"
    APPLY_END = "apply_end"
    ROLLBACK_START = "rollback_start"
    ROLLBACK_END = "rollback_end"
    VERIFY = "verify"
    SUPPRESS = "suppress"
    UNSUPPRESS = "unsuppress"
    PRUNE = "prune"


class AuditEntry(Frozen):
    seq: int
    at: datetime
    event: AuditEvent
    actor: str
    plan_id: str | None = None
    plan_digest: str | None = None
    run_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    prev_digest: str
    digest: str


def _row_digest(prev: str, at: str, event: str, actor: str, plan_id: str | None,
                plan_digest: str | None, run_id: str | None, detail: str) -> str:
    return sha256_hex(prev + canonical_json([at, event, actor, plan_id, plan_digest, run_id,
                                             detail]))


def append(
    db: sqlite3.Connection,
    event: AuditEvent,
    actor: str,
    at: datetime,
    *,
    plan_id: str | None = None,
    plan_digest: str | None = None,
    run_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry inside the caller's transaction."""
    row = db.execute("SELECT digest FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    prev = row[0] if row else GENESIS
    ts = at.isoformat()
    detail_s = canonical_json(dict(detail or {}))
    digest = _row_digest(prev, ts, event.value, actor, plan_id, plan_digest, run_id, detail_s)
    db.execute(
        "INSERT INTO audit_log(at, event, actor, plan_id, plan_digest, run_id, detail,"
        " prev_digest, digest) VALUES (?,?,?,?,?,?,?,?,?)",
        (ts, event.value, actor, plan_id, plan_digest, run_id, detail_s, prev, digest),
    )


def record(store: Store, event: AuditEvent, actor: str, at: datetime, **kw: Any) -> None:
    """Append one entry in its own transaction."""
    with store.transaction() as db:
        append(db, event, actor, at, **kw)


def entries(
    store: Store,
    *,
    plan_digest: str | None = None,
    run_id: str | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    where, params = [], []
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
    rows = list(store.execute(sql, params))
    if limit is not None:
        rows = rows[-limit:]
    return [
        AuditEntry(seq=r["seq"], at=datetime.fromisoformat(r["at"]), event=AuditEvent(r["event"]),
                   actor=r["actor"], plan_id=r["plan_id"], plan_digest=r["plan_digest"],
                   run_id=r["run_id"], detail=json.loads(r["detail"]),
                   prev_digest=r["prev_digest"], digest=r["digest"])
        for r in rows
    ]


def verify_chain(store: Store) -> str | None:
    """None when the chain is intact, else a sentence naming the first broken row."""
    prev = GENESIS
    for r in store.execute("SELECT * FROM audit_log ORDER BY seq"):
        if r["prev_digest"] != prev:
            return (f"audit entry {r['seq']} does not follow entry before it (an entry was "
                    "removed or inserted)")
        want = _row_digest(prev, r["at"], r["event"], r["actor"], r["plan_id"],
                           r["plan_digest"], r["run_id"], r["detail"])
        if r["digest"] != want:
            return f"audit entry {r['seq']} was altered after it was written"
        prev = r["digest"]
    return None
