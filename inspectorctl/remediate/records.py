"""Store access for the remediation tables (plans, apply runs, journal). No policy here.

Approvals live in ``approval.py`` (they are signed), the audit log in ``audit.py``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import Field

from inspectorctl.models.common import Frozen
from inspectorctl.models.plan import JournalEntry, JournalState, Plan
from inspectorctl.store.db import Store, StoreError


def _ts(d: datetime | None) -> str | None:
    return d.isoformat() if d is not None else None


def _dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


def record_plan(db: sqlite3.Connection, plan: Plan, at: datetime) -> None:
    """Keep a copy of every plan made or approved (inside the caller's transaction)."""
    db.execute(
        "INSERT OR IGNORE INTO plans(digest, plan_id, kind, created_at, recorded_at, body)"
        " VALUES (?,?,?,?,?,?)",
        (plan.digest, plan.plan_id, plan.kind.value, _ts(plan.created_at), _ts(at),
         plan.model_dump_json()),
    )


def save_plan(store: Store, plan: Plan, at: datetime) -> None:
    with store.transaction() as db:
        record_plan(db, plan, at)


class ApplyRun(Frozen):
    id: str
    kind: str  # apply | rollback
    plan_id: str
    plan_digest: str
    status: str  # running | completed | stopped | interrupted
    options: dict[str, Any]
    started_at: datetime
    ended_at: datetime | None = None
    verify_run_id: str | None = None
    rollback_of: str | None = None
    message: str = ""


def _apply_run(r: sqlite3.Row) -> ApplyRun:
    return ApplyRun(
        id=r["id"], kind=r["kind"], plan_id=r["plan_id"], plan_digest=r["plan_digest"],
        status=r["status"], options=json.loads(r["options"]),
        started_at=datetime.fromisoformat(r["started_at"]), ended_at=_dt(r["ended_at"]),
        verify_run_id=r["verify_run_id"], rollback_of=r["rollback_of"], message=r["message"],
    )


def apply_run(store: Store, run_id: str) -> ApplyRun | None:
    row = store.execute("SELECT * FROM apply_runs WHERE id=?", (run_id,)).fetchone()
    return _apply_run(row) if row else None


def apply_runs(store: Store, plan_digest: str | None = None) -> list[ApplyRun]:
    if plan_digest is None:
        rows = store.execute("SELECT * FROM apply_runs ORDER BY started_at DESC")
    else:
        rows = store.execute(
            "SELECT * FROM apply_runs WHERE plan_digest=? ORDER BY started_at DESC",
            (plan_digest,))
    return [_apply_run(r) for r in rows]


def stored_plan(store: Store, digest: str) -> Plan | None:
    row = store.execute("SELECT body FROM plans WHERE digest=?", (digest,)).fetchone()
    return Plan.model_validate_json(row["body"]) if row else None


def create_apply_run(
    store: Store,
    run: ApplyRun,
    plan: Plan,
    rows: Sequence[JournalEntry],
) -> None:
    """The run and its pending journal rows, in one transaction."""
    with store.transaction() as db:
        record_plan(db, plan, run.started_at)
        db.execute(
            "INSERT INTO apply_runs(id, kind, plan_id, plan_digest, status, options, started_at,"
            " rollback_of) VALUES (?,?,?,?,?,?,?,?)",
            (run.id, run.kind, run.plan_id, run.plan_digest, run.status,
             json.dumps(run.options, sort_keys=True), _ts(run.started_at), run.rollback_of),
        )
        db.executemany(
            "INSERT INTO journal(run_id, action_id, host, playbook, state, phase, seq)"
            " VALUES (?,?,?,?,?,?,?)",
            [(e.run_id, e.action_id, e.host, e.playbook, e.state.value, e.phase, e.seq)
             for e in rows],
        )


def finish_apply_run(
    store: Store, run_id: str, status: str, at: datetime, message: str = ""
) -> None:
    with store.transaction() as db:
        db.execute("UPDATE apply_runs SET status=?, ended_at=?, message=? WHERE id=?",
                   (status, _ts(at), message, run_id))


def set_run_status(store: Store, run_id: str, status: str) -> None:
    with store.transaction() as db:
        db.execute("UPDATE apply_runs SET status=?, ended_at=NULL WHERE id=?",
                   (status, run_id))


def set_verify_run(store: Store, run_id: str, verify_run_id: str) -> None:
    with store.transaction() as db:
        db.execute("UPDATE apply_runs SET verify_run_id=? WHERE id=?", (verify_run_id, run_id))


def _entry(r: sqlite3.Row) -> JournalEntry:
    return JournalEntry(
        run_id=r["run_id"], action_id=r["action_id"], host=r["host"], playbook=r["playbook"],
        state=JournalState(r["state"]), phase=r["phase"], seq=r["seq"], attempts=r["attempts"],
        started_at=_dt(r["started_at"]), ended_at=_dt(r["ended_at"]), rc=r["rc"],
        stats=json.loads(r["stats"]), message=r["message"],
        ansible_seconds=r["ansible_seconds"], overhead_seconds=r["overhead_seconds"],
    )


def journal(store: Store, run_id: str) -> list[JournalEntry]:
    rows = store.execute("SELECT * FROM journal WHERE run_id=? ORDER BY seq, action_id, host",
                         (run_id,))
    return [_entry(r) for r in rows]


def mark_running(
    store: Store, run_id: str, action_id: str, hosts: Sequence[str], at: datetime
) -> None:
    with store.transaction() as db:
        db.executemany(
            "UPDATE journal SET state=?, started_at=?, ended_at=NULL, attempts=attempts+1,"
            " rc=NULL, message='' WHERE run_id=? AND action_id=? AND host=?",
            [(JournalState.RUNNING.value, _ts(at), run_id, action_id, h) for h in hosts],
        )


def unmark_running(
    store: Store, run_id: str, action_id: str, hosts: Sequence[str]
) -> None:
    """Rows marked running that the executor did not reach (a run of several actions stopped
    before this one on these hosts): pending again, as if never started."""
    with store.transaction() as db:
        db.executemany(
            "UPDATE journal SET state=?, started_at=NULL, attempts=MAX(attempts-1, 0)"
            " WHERE run_id=? AND action_id=? AND host=? AND state=?",
            [(JournalState.PENDING.value, run_id, action_id, h, JournalState.RUNNING.value)
             for h in hosts],
        )


class HostUpdate(Frozen):
    host: str
    state: JournalState
    rc: int | None = None
    stats: dict[str, Any] = Field(default_factory=dict)
    message: str = ""
    ansible_seconds: float | None = None
    overhead_seconds: float | None = None


def record_results(
    store: Store, run_id: str, action_id: str, updates: Sequence[HostUpdate], at: datetime
) -> None:
    with store.transaction() as db:
        db.executemany(
            "UPDATE journal SET state=?, ended_at=?, rc=?, stats=?, message=?,"
            " ansible_seconds=?, overhead_seconds=? WHERE run_id=? AND action_id=? AND host=?",
            [(u.state.value, _ts(at), u.rc, json.dumps(u.stats, sort_keys=True), u.message,
              u.ansible_seconds, u.overhead_seconds, run_id, action_id, u.host)
             for u in updates],
        )


def set_overhead(store: Store, run_id: str, action_id: str, hosts: Sequence[str],
                 seconds: float) -> None:
    with store.transaction() as db:
        db.executemany(
            "UPDATE journal SET overhead_seconds=? WHERE run_id=? AND action_id=? AND host=?",
            [(seconds, run_id, action_id, h) for h in hosts])


def skip_remaining(store: Store, run_id: str, at: datetime, message: str) -> int:
    """Every row not started yet becomes ``skipped_threshold``; returns how many."""
    with store.transaction() as db:
        cur = db.execute(
            "UPDATE journal SET state=?, ended_at=?, message=? WHERE run_id=? AND state=?",
            (JournalState.SKIPPED_THRESHOLD.value, _ts(at), message, run_id,
             JournalState.PENDING.value))
        return cur.rowcount


#: what a row left ``running`` by a dead process says
DIED_WHILE_RUNNING = ("the process applying it died while it ran (kill -9, crash or power "
                      "loss): the host may have been changed")


def reset_for_resume(store: Store, run_id: str) -> tuple[int, set[tuple[str, str]]]:
    """Before a resume (the caller holds the apply lock, so no process runs this run): rows
    left ``running`` become ``possibly_changed`` and run again; every other row that did not
    finish goes back to pending. Returns how many rows run again and the (action id, host)
    of the rows that were running."""
    with store.transaction() as db:
        died = {(r["action_id"], r["host"]) for r in db.execute(
            "SELECT action_id, host FROM journal WHERE run_id=? AND state=?",
            (run_id, JournalState.RUNNING.value))}
        n = db.execute("UPDATE journal SET state=?, message=? WHERE run_id=? AND state=?",
                       (JournalState.POSSIBLY_CHANGED.value, DIED_WHILE_RUNNING, run_id,
                        JournalState.RUNNING.value)).rowcount
        cur = db.execute(
            "UPDATE journal SET state=? WHERE run_id=? AND state NOT IN (?,?,?)",
            (JournalState.PENDING.value, run_id, JournalState.CHANGED.value,
             JournalState.OK.value, JournalState.POSSIBLY_CHANGED.value))
        return cur.rowcount + n, died


def touched_hosts(store: Store, run_id: str) -> list[str]:
    """Hosts the run may have changed: every host with a row that was started (changed,
    possibly changed, ok, failed, unreachable, or still ``running`` after a crash). A failed
    run may have changed files before it failed; the rollback playbook restores what a host
    backed up for the run and does nothing where there is no backup."""
    rows = store.execute(
        "SELECT DISTINCT host FROM journal WHERE run_id=? AND (attempts > 0 OR state IN"
        " (?,?,?)) ORDER BY host",
        (run_id, JournalState.CHANGED.value, JournalState.POSSIBLY_CHANGED.value,
         JournalState.RUNNING.value))
    return [r["host"] for r in rows]


def own_verify_runs(store: Store, plan_digest: str) -> set[str]:
    """Assessment runs that verified an apply of this plan (from the audit log)."""
    rows = store.execute(
        "SELECT run_id FROM audit_log WHERE event='verify' AND plan_digest=? AND run_id IS NOT"
        " NULL", (plan_digest,))
    return {r["run_id"] for r in rows}


def latest_results(
    store: Store, pairs: Sequence[tuple[str, str]], exclude_runs: set[str], *,
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
        for hchunk in _chunks(hosts, 400):
            for rchunk in _chunks(rules, 400):
                sql = (
                    "SELECT r.rule_id, r.host, r.status, r.evidence, r.run_id, runs.started_at"
                    " FROM results r JOIN runs ON runs.id = r.run_id"
                    f" WHERE r.host IN ({','.join('?' * len(hchunk))})"
                    f" AND r.rule_id IN ({','.join('?' * len(rchunk))})"
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


def suppressed(store: Store, finding_ids: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for chunk in _chunks(sorted(set(finding_ids)), 500):
        rows = store.execute(
            f"SELECT id FROM findings WHERE state='suppressed' AND id IN "
            f"({','.join('?' * len(chunk))})", chunk)
        out.update(r["id"] for r in rows)
    return out


def _chunks(seq: Sequence[str], n: int) -> list[Sequence[str]]:
    return [seq[i:i + n] for i in range(0, len(seq), n)] or [[]]
