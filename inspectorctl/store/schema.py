"""The store's schema: every table, index and trigger, as versioned migrations in ONE list.

``PRAGMA user_version`` is how many of ``MIGRATIONS`` a database has had. The order is this
module's tuple, never an import order: a new migration is one more entry at its end, and a
released one is never edited (a database that had it would not have it again).

Approvals and the audit log are append-only: triggers raise on UPDATE and DELETE. Approvals
are also signed (HMAC chain, see ``remediate/approval.py``), so a row edited after dropping a
trigger is still detected.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]


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


_REMEDIATION_TABLES = """
CREATE TABLE plans (
    digest TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX plans_plan_id ON plans(plan_id);
CREATE TABLE remediation_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE approvals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id TEXT NOT NULL,
    plan_digest TEXT NOT NULL,
    action_ids TEXT NOT NULL,
    approver TEXT NOT NULL,
    kind TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    requirements TEXT NOT NULL DEFAULT '{}',
    prev_digest TEXT NOT NULL,
    digest TEXT NOT NULL
);
CREATE INDEX approvals_plan ON approvals(plan_id);
CREATE TABLE apply_runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    plan_digest TEXT NOT NULL,
    status TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    started_at TEXT NOT NULL,
    ended_at TEXT,
    verify_run_id TEXT,
    rollback_of TEXT,
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX apply_runs_plan ON apply_runs(plan_digest);
CREATE TABLE journal (
    run_id TEXT NOT NULL REFERENCES apply_runs(id),
    action_id TEXT NOT NULL,
    host TEXT NOT NULL,
    playbook TEXT NOT NULL,
    state TEXT NOT NULL,
    phase TEXT NOT NULL DEFAULT '',
    seq INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at TEXT,
    ended_at TEXT,
    rc INTEGER,
    stats TEXT NOT NULL DEFAULT '{}',
    message TEXT NOT NULL DEFAULT '',
    ansible_seconds REAL,
    overhead_seconds REAL,
    PRIMARY KEY (run_id, action_id, host)
);
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    plan_id TEXT,
    plan_digest TEXT,
    run_id TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    prev_digest TEXT NOT NULL,
    digest TEXT NOT NULL
)
"""

#: trigger bodies contain ';' so they are executed one statement each
_APPEND_ONLY_TRIGGERS = (
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER approvals_no_update BEFORE UPDATE ON approvals
       BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END""",
    """CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals
       BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END""",
)


def _m2_remediation(db: sqlite3.Connection) -> None:
    """The remediation side's tables (plans, approvals, apply runs, journal, audit log) and the
    triggers that keep approvals and the audit log append-only."""
    run_script(db, _REMEDIATION_TABLES)
    for trigger in _APPEND_ONLY_TRIGGERS:
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
