"""What a run records for vulnerability findings beyond their rule results (tables of
migration 7 of ``inspectorctl.store.db``): each finding's adjusted score and details (JSON of
``inspectorctl.vuln_assess.VulnFinding``), and the package inventory matched per host.

Written inside the run's transaction (``Store.recording``), after the host's results were
added, so the findings those results opened exist.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


def record_host(db: sqlite3.Connection, run_id: str, host: str,
                details: Sequence[tuple[str, float, str]], inventory: str | None) -> None:
    """One host's vulnerability details: ``(finding id, adjusted score, details JSON)`` per
    finding (kept only for findings the store has: a match that opened none leaves none) and
    the host's package inventory as JSON (None: it could not be matched)."""
    db.executemany("UPDATE findings SET score=? WHERE id=?",
                   [(score, fid) for fid, score, _ in details])
    db.executemany(
        "INSERT INTO vuln_details(finding_id, run_id, host, data) VALUES (?,?,?,?)"
        " ON CONFLICT(finding_id) DO UPDATE SET run_id=excluded.run_id,"
        " data=excluded.data",
        [(fid, run_id, host, data) for fid, _, data in details
         if db.execute("SELECT 1 FROM findings WHERE id=?", (fid,)).fetchone()])
    if inventory is not None:
        db.execute("INSERT OR REPLACE INTO host_packages(run_id, host, data) VALUES (?,?,?)",
                   (run_id, host, inventory))
