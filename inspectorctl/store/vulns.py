"""What a vulnerability run records beyond its results: each vulnerability finding's details
(newest per finding) and the package inventory it matched per host (for SBOMs), both as the
JSON the vulnerability workflow (``vuln_assess.py``) writes and reads; the store does not
interpret them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from inspectorctl.store.base import Database
from inspectorctl.store.findings import set_scores


def save_details(db: sqlite3.Connection, run_id: str,
                 details: Iterable[tuple[str, str, str]]) -> None:
    """(finding id, host, JSON) of each detail, inside the caller's transaction; a detail of a
    finding the store does not have (a result that opened none) is left out."""
    db.executemany(
        "INSERT INTO vuln_details(finding_id, run_id, host, data) VALUES (?,?,?,?)"
        " ON CONFLICT(finding_id) DO UPDATE SET run_id=excluded.run_id,"
        " data=excluded.data",
        [(fid, run_id, host, data) for fid, host, data in details
         if db.execute("SELECT 1 FROM findings WHERE id=?", (fid,)).fetchone()])


def save_inventory(db: sqlite3.Connection, run_id: str, host: str, data: str) -> None:
    """A host's package inventory (JSON) as the run matched it, inside the caller's
    transaction."""
    db.execute("INSERT OR REPLACE INTO host_packages(run_id, host, data) VALUES (?,?,?)",
               (run_id, host, data))


def record_host(db: sqlite3.Connection, run_id: str, host: str,
                details: Sequence[tuple[str, float, str]], inventory: str | None) -> None:
    """One host's vulnerability findings, inside the run's transaction (``Store.recording``)
    after the host's results were added, so the findings those results opened exist: each
    finding's adjusted score and details JSON ``(finding id, adjusted score, details)``, and
    the host's package inventory JSON (None: the host could not be matched)."""
    set_scores(db, [(score, fid) for fid, score, _ in details])
    save_details(db, run_id, [(fid, host, data) for fid, _, data in details])
    if inventory is not None:
        save_inventory(db, run_id, host, inventory)


def detail(store: Database, finding_id: str) -> str | None:
    row = store.execute("SELECT data FROM vuln_details WHERE finding_id=?",
                        (finding_id,)).fetchone()
    return str(row[0]) if row is not None else None


def inventory(store: Database, run_id: str | None, host: str) -> tuple[str, str] | None:
    """(run id, JSON) of the package inventory a vulnerability run matched for ``host``: that
    run's, or with ``run_id`` None the newest run's; None when there is none."""
    if run_id is None:
        row = store.execute(
            "SELECT hp.run_id, hp.data FROM host_packages hp JOIN runs r ON r.id=hp.run_id"
            " WHERE hp.host=? ORDER BY r.started_at DESC LIMIT 1", (host,)).fetchone()
    else:
        row = store.execute("SELECT run_id, data FROM host_packages WHERE run_id=? AND host=?",
                            (run_id, host)).fetchone()
    return (str(row[0]), str(row[1])) if row is not None else None


def host_details(store: Database, host: str, run_id: str) -> list[str]:
    """The details (JSON) a run recorded for a host."""
    return [str(r[0]) for r in store.execute(
        "SELECT data FROM vuln_details WHERE host=? AND run_id=?", (host, run_id))]


def run_hosts(store: Database, run_id: str) -> list[str]:
    """The hosts whose inventory a run matched, by name."""
    return [str(r[0]) for r in store.execute(
        "SELECT host FROM host_packages WHERE run_id=? ORDER BY host", (run_id,))]
