"""A copy of every plan made, approved or applied, by digest."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from inspectorctl.models.plan import Plan
from inspectorctl.store.base import Database, ts


def record_plan(db: sqlite3.Connection, plan: Plan, at: datetime) -> None:
    """Keep a copy of every plan made or approved (inside the caller's transaction)."""
    db.execute(
        "INSERT OR IGNORE INTO plans(digest, plan_id, kind, created_at, recorded_at, body)"
        " VALUES (?,?,?,?,?,?)",
        (plan.digest, plan.plan_id, plan.kind.value, ts(plan.created_at), ts(at),
         plan.model_dump_json()),
    )


def save_plan(store: Database, plan: Plan, at: datetime) -> None:
    with store.transaction() as db:
        record_plan(db, plan, at)


def stored_plan(store: Database, digest: str) -> Plan | None:
    row = store.execute("SELECT body FROM plans WHERE digest=?", (digest,)).fetchone()
    return Plan.model_validate_json(row["body"]) if row else None
