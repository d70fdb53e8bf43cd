"""Store tables of the remediation side: plans, approvals, apply runs, journal, audit log.

Created by migration 2 of ``inspectorctl.store.db`` (the store owns every table and
migration; ``remediate/`` reads and writes these through the store's connection). Approvals and
the audit log are append-only: triggers raise on UPDATE and DELETE. Approvals are also signed
(HMAC chain, see ``remediate/approval.py``), so a row edited after dropping the trigger is still
detected.
"""

from __future__ import annotations

TABLES = """
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
TRIGGERS = (
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER approvals_no_update BEFORE UPDATE ON approvals
       BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END""",
    """CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals
       BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END""",
)

