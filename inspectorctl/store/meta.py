"""The remediation side's settings (``remediation_meta``: key, value), e.g. the id of the key
approvals and the audit log are made with."""

from __future__ import annotations

from inspectorctl.store.base import Database


def get(store: Database, key: str) -> str | None:
    row = store.execute("SELECT value FROM remediation_meta WHERE key=?", (key,)).fetchone()
    return str(row["value"]) if row else None


def set_once(store: Database, key: str, value: str) -> None:
    """Set ``key`` unless it is set already (its first value stays), in its own transaction."""
    with store.transaction() as db:
        db.execute("INSERT OR IGNORE INTO remediation_meta(key, value) VALUES (?,?)",
                   (key, value))
