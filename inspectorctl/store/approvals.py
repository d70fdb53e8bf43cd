"""Approval rows. Approvals are append-only (triggers, ``schema.py``); what an approval is
bound to and how its digest chains and is signed is ``remediate/approval.py``'s: this module
only reads rows and appends one."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime

from inspectorctl.models.plan import Approval, ApprovalKind
from inspectorctl.store.base import Database, Queryable


def rows(store: Database) -> list[sqlite3.Row]:
    """Every approval row, in order (read them with :func:`to_approval`)."""
    return store.execute("SELECT * FROM approvals ORDER BY seq").fetchall()


def to_approval(r: sqlite3.Row) -> Approval:
    """One row as an approval; ``ValueError``/``TypeError`` for a row that is not one."""
    return Approval(
        seq=r["seq"], plan_id=r["plan_id"], plan_digest=r["plan_digest"],
        action_ids=json.loads(r["action_ids"]), approver=r["approver"],
        kind=ApprovalKind(r["kind"]), comment=r["comment"],
        created_at=datetime.fromisoformat(r["created_at"]),
        expires_at=datetime.fromisoformat(r["expires_at"]),
        requirements=json.loads(r["requirements"]), prev_digest=r["prev_digest"],
        digest=r["digest"], signature=r["signature"], audit_head=r["audit_head"],
    )


def head(db: Queryable) -> tuple[int, str] | None:
    """The newest approval's number and digest; None when there is none."""
    row = db.execute("SELECT seq, digest FROM approvals ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row["seq"]), str(row["digest"])) if row else None


def append(
    db: sqlite3.Connection,
    *,
    seq: int,
    plan_id: str,
    plan_digest: str,
    action_ids: Sequence[str],
    approver: str,
    kind: str,
    comment: str,
    created_at: str,
    expires_at: str,
    requirements: Mapping[str, int],
    prev_digest: str,
    digest: str,
    signature: str,
    audit_head: str,
) -> None:
    """Insert one approval inside the caller's transaction (signed by the caller)."""
    db.execute(
        "INSERT INTO approvals(seq, plan_id, plan_digest, action_ids, approver, kind,"
        " comment, created_at, expires_at, requirements, prev_digest, digest, signature,"
        " audit_head) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (seq, plan_id, plan_digest, json.dumps(list(action_ids)), approver, kind, comment,
         created_at, expires_at, json.dumps(requirements), prev_digest, digest, signature,
         audit_head),
    )


def newest_audit_head(store: Database) -> tuple[int, str] | None:
    """The newest approval that names the audit log's head when it was made: its number and
    that head (``SEQ:DIGEST``)."""
    row = store.execute("SELECT seq, audit_head FROM approvals WHERE audit_head != ''"
                        " ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row["seq"]), str(row["audit_head"])) if row else None
