"""Apply and rollback runs and their journal: one row per (action, host), from pending to
what the host ended as, so a run killed midway resumes and rolls back what it touched."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from inspectorctl.models.plan import ApplyRun, HostUpdate, JournalEntry, JournalState, Plan
from inspectorctl.store.base import Database, dt, ts
from inspectorctl.store.plans import record_plan


def _apply_run(r: sqlite3.Row) -> ApplyRun:
    return ApplyRun(
        id=r["id"], kind=r["kind"], plan_id=r["plan_id"], plan_digest=r["plan_digest"],
        status=r["status"], options=json.loads(r["options"]),
        started_at=datetime.fromisoformat(r["started_at"]), ended_at=dt(r["ended_at"]),
        verify_run_id=r["verify_run_id"], rollback_of=r["rollback_of"], message=r["message"],
    )


def apply_run(store: Database, run_id: str) -> ApplyRun | None:
    row = store.execute("SELECT * FROM apply_runs WHERE id=?", (run_id,)).fetchone()
    return _apply_run(row) if row else None


def apply_runs(store: Database, plan_digest: str | None = None) -> list[ApplyRun]:
    if plan_digest is None:
        rows = store.execute("SELECT * FROM apply_runs ORDER BY started_at DESC")
    else:
        rows = store.execute(
            "SELECT * FROM apply_runs WHERE plan_digest=? ORDER BY started_at DESC",
            (plan_digest,))
    return [_apply_run(r) for r in rows]


def create_apply_run(
    store: Database,
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
             json.dumps(run.options, sort_keys=True), ts(run.started_at), run.rollback_of),
        )
        db.executemany(
            "INSERT INTO journal(run_id, action_id, host, playbook, state, phase, seq)"
            " VALUES (?,?,?,?,?,?,?)",
            [(e.run_id, e.action_id, e.host, e.playbook, e.state.value, e.phase, e.seq)
             for e in rows],
        )


def finish_apply_run(
    store: Database, run_id: str, status: str, at: datetime, message: str = ""
) -> None:
    with store.transaction() as db:
        db.execute("UPDATE apply_runs SET status=?, ended_at=?, message=? WHERE id=?",
                   (status, ts(at), message, run_id))


def set_run_status(store: Database, run_id: str, status: str) -> None:
    with store.transaction() as db:
        db.execute("UPDATE apply_runs SET status=?, ended_at=NULL WHERE id=?",
                   (status, run_id))


def set_verify_run(store: Database, run_id: str, verify_run_id: str) -> None:
    with store.transaction() as db:
        db.execute("UPDATE apply_runs SET verify_run_id=? WHERE id=?", (verify_run_id, run_id))


def _entry(r: sqlite3.Row) -> JournalEntry:
    return JournalEntry(
        run_id=r["run_id"], action_id=r["action_id"], host=r["host"], playbook=r["playbook"],
        state=JournalState(r["state"]), phase=r["phase"], seq=r["seq"], attempts=r["attempts"],
        started_at=dt(r["started_at"]), ended_at=dt(r["ended_at"]), rc=r["rc"],
        stats=json.loads(r["stats"]), message=r["message"],
        ansible_seconds=r["ansible_seconds"], overhead_seconds=r["overhead_seconds"],
    )


def entries(store: Database, run_id: str) -> list[JournalEntry]:
    """The run's journal rows in the order they run."""
    rows = store.execute("SELECT * FROM journal WHERE run_id=? ORDER BY seq, action_id, host",
                         (run_id,))
    return [_entry(r) for r in rows]


def mark_running(
    store: Database, run_id: str, action_id: str, hosts: Sequence[str], at: datetime
) -> None:
    with store.transaction() as db:
        db.executemany(
            "UPDATE journal SET state=?, started_at=?, ended_at=NULL, attempts=attempts+1,"
            " rc=NULL, message='' WHERE run_id=? AND action_id=? AND host=?",
            [(JournalState.RUNNING.value, ts(at), run_id, action_id, h) for h in hosts],
        )


def unmark_running(
    store: Database, run_id: str, action_id: str, hosts: Sequence[str]
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


def record_results(
    store: Database, run_id: str, action_id: str, updates: Sequence[HostUpdate], at: datetime
) -> None:
    with store.transaction() as db:
        db.executemany(
            "UPDATE journal SET state=?, ended_at=?, rc=?, stats=?, message=?,"
            " ansible_seconds=?, overhead_seconds=? WHERE run_id=? AND action_id=? AND host=?",
            [(u.state.value, ts(at), u.rc, json.dumps(u.stats, sort_keys=True), u.message,
              u.ansible_seconds, u.overhead_seconds, run_id, action_id, u.host)
             for u in updates],
        )


def set_overhead(store: Database, run_id: str, action_id: str, hosts: Sequence[str],
                 seconds: float) -> None:
    with store.transaction() as db:
        db.executemany(
            "UPDATE journal SET overhead_seconds=? WHERE run_id=? AND action_id=? AND host=?",
            [(seconds, run_id, action_id, h) for h in hosts])


def skip_remaining(store: Database, run_id: str, at: datetime, message: str) -> int:
    """Every row not started yet becomes ``skipped_threshold``; returns how many."""
    with store.transaction() as db:
        cur = db.execute(
            "UPDATE journal SET state=?, ended_at=?, message=? WHERE run_id=? AND state=?",
            (JournalState.SKIPPED_THRESHOLD.value, ts(at), message, run_id,
             JournalState.PENDING.value))
        return cur.rowcount


#: what a row left ``running`` by a dead process says
DIED_WHILE_RUNNING = ("the process applying it died while it ran (kill -9, crash or power "
                      "loss): the host may have been changed")


def reset_for_resume(store: Database, run_id: str) -> tuple[int, set[tuple[str, str]]]:
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


def touched_hosts(store: Database, run_id: str) -> list[str]:
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
