"""The audit log is append-only (triggers) and chained (edits after dropping them are found)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from inspectorctl.remediate import audit
from inspectorctl.remediate.approval import ApprovalRefused, approve_by
from inspectorctl.remediate.audit import AuditEvent
from inspectorctl.remediate.rollout import RolloutOptions, apply_plan
from inspectorctl.store.db import Store
from tests.remediate.helpers import T0, fake_catalog, later, plan_from_store, record, result
from tests.remediate.test_rollout import TARGETS, FakeExecutor

__all__ = ["fake_catalog"]

pytestmark = pytest.mark.usefixtures("fake_catalog")


def test_update_and_delete_raise(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    audit.record(store, AuditEvent.APPROVE, "alice", T0, plan_id="p-1")
    for sql in ("UPDATE audit_log SET actor='mallory'", "DELETE FROM audit_log"):
        with pytest.raises(sqlite3.DatabaseError, match="the audit log is append-only"):
            store.db.execute(sql)
    # also through a separate connection (the sqlite3 command line would do the same)
    db = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit_log WHERE seq=1")
    db.close()
    assert [e.actor for e in audit.entries(store)] == ["alice"]


def test_chain_detects_edits_made_without_triggers(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    for who in ("alice", "bob", "carol"):
        audit.record(store, AuditEvent.APPROVE, who, T0, plan_id="p-1")
    assert audit.verify_chain(store) is None
    db = sqlite3.connect(store.path)
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET actor='mallory' WHERE seq=2")
    db.commit()
    db.close()
    assert audit.verify_chain(store) == (
        "entry 2 (approve by 'mallory') does not match its keyed digest: it was edited, or "
        "inserted by someone without the key")


def test_approvals_refusals_and_applies_are_logged(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    rid = record(store, [result("fwd", "h1")])
    plan = plan_from_store(store, rid)
    with pytest.raises(ApprovalRefused):
        apply_plan(plan, store, FakeExecutor(), TARGETS, RolloutOptions(), actor="eve",
                   clock=lambda: later(1))
    approve_by(store, plan, "alice", T0, comment="ticket 42")
    rep = apply_plan(plan, store, FakeExecutor(), TARGETS, RolloutOptions(), actor="bob",
                     clock=lambda: later(2))
    log = audit.entries(store)
    assert [(e.event, e.actor) for e in log] == [
        (AuditEvent.REFUSE, "eve"), (AuditEvent.APPROVE, "alice"),
        (AuditEvent.APPLY_START, "bob"), (AuditEvent.APPLY_END, "bob")]
    assert log[0].detail["reasons"] == ["no_approval"]
    assert log[1].detail["comment"] == "ticket 42"
    assert log[3].run_id == rep.run_id and log[3].detail["status"] == "completed"
    assert all(e.plan_digest == plan.digest for e in log)
    assert audit.verify_chain(store) is None


def _tamper(store: Store, *sql: str) -> None:
    """What an attacker with write access to the database does: drop the triggers, edit."""
    db = sqlite3.connect(store.path)
    db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    db.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    for s in sql:
        db.execute(s)
    db.commit()
    db.close()


def _log(store: Store, n: int) -> None:
    for i in range(n):
        audit.record(store, AuditEvent.REFUSE, f"user{i}", T0, plan_id="p-1",
                     detail={"n": i})


def test_deleting_rows_and_recomputing_the_unkeyed_chain_is_detected(tmp_path: Path) -> None:
    """The attack of the issue: delete refusals, recompute sha256(prev + row) for the rest.
    Without the key the recomputed digests are not the keyed ones."""
    store = Store(tmp_path / "f.db")
    _log(store, 6)
    assert audit.verify(store).ok
    _tamper(store, "DELETE FROM audit_log WHERE seq IN (2, 3)")
    db = sqlite3.connect(store.path)
    prev = audit.GENESIS
    for seq, at, ev, actor, pid, pd, rid, detail in db.execute(
            "SELECT seq, at, event, actor, plan_id, plan_digest, run_id, detail FROM audit_log"
            " ORDER BY seq").fetchall():
        d = audit._row_digest(prev, at, ev, actor, pid, pd, rid, detail)
        db.execute("UPDATE audit_log SET prev_digest=?, digest=? WHERE seq=?", (prev, d, seq))
        prev = d
    db.commit()
    db.close()
    report = audit.verify(store)
    kinds = [(p.kind, p.seq) for p in report.problems]
    assert (audit.ProblemKind.DELETED, 4) in kinds
    assert report.problems[0].message == (
        "entries 2-3 are missing before entry 4: deleted from the database")
    # even renumbered (no gap), rows with an unkeyed digest are not the log's
    assert not report.ok


def test_a_deleted_row_is_named(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    _log(store, 4)
    _tamper(store, "DELETE FROM audit_log WHERE seq=2")
    report = audit.verify(store)
    assert [(p.kind, p.seq) for p in report.problems] == [(audit.ProblemKind.DELETED, 3)]
    assert report.problems[0].message == (
        "entry 2 is missing before entry 3: deleted from the database")


def test_truncating_the_tail_shows_through_the_head_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    _log(store, 5)
    head = audit.head_path(store)
    assert head.is_file() and (head.stat().st_mode & 0o077) == 0
    _tamper(store, "DELETE FROM audit_log WHERE seq >= 4")
    report = audit.verify(store)
    assert [(p.kind, p.seq) for p in report.problems] == [(audit.ProblemKind.TRUNCATED, 5)]
    assert "entries 4-5 were cut off the end" in report.problems[0].message


def test_a_forged_head_file_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    _log(store, 3)
    audit.head_path(store).write_text('{"seq": 1, "digest": "x", "mac": "y"}')
    report = audit.verify(store)
    assert [p.kind for p in report.problems] == [audit.ProblemKind.UNVERIFIABLE]


def test_rows_from_before_the_keyed_chain_are_verified_and_reported(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    prev = audit.GENESIS
    with store.transaction() as db:  # two rows as inspectorctl 0.8 wrote them
        for actor in ("alice", "bob"):
            d = audit._row_digest(prev, T0.isoformat(), "plan", actor, None, None, None, "{}")
            db.execute("INSERT INTO audit_log(at, event, actor, detail, prev_digest, digest)"
                       " VALUES (?,?,?,?,?,?)", (T0.isoformat(), "plan", actor, "{}", prev, d))
            prev = d
    audit.record(store, AuditEvent.APPROVE, "carol", T0)
    report = audit.verify(store)
    assert report.ok and report.legacy == 2
    assert report.notes == ["entries 1-2 predate the keyed chain (plain sha256): someone who "
                            "can write the database could have rewritten them"]
    # an unkeyed row after keyed ones is an insertion, even with a correct plain digest
    audit.record(store, AuditEvent.APPROVE, "dave", T0)
    d4 = audit._row_digest(audit.entries(store)[2].digest, T0.isoformat(), "approve", "mallory",
                           None, None, None, "{}")
    _tamper(store, f"UPDATE audit_log SET actor='mallory', digest='{d4}' WHERE seq=4")
    assert [(p.kind, p.seq) for p in audit.verify(store).problems] == [
        (audit.ProblemKind.INSERTED, 4), (audit.ProblemKind.EDITED, 4)]


def test_a_missing_key_makes_the_log_unverifiable(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    _log(store, 2)
    Path(str(store.path) + ".key").unlink()
    report = audit.verify(store)
    assert [p.kind for p in report.problems] == [audit.ProblemKind.UNVERIFIABLE]
    assert "approval key file" in report.problems[0].message


def test_approval_records_show_a_truncation_without_the_head_file(tmp_path: Path) -> None:
    """Each approval record (HMAC'd) names the log's last entry when it was made."""
    store = Store(tmp_path / "f.db")
    rid = record(store, [result("fwd", "h1")])
    plan = plan_from_store(store, rid)
    _log(store, 3)
    approve_by(store, plan, "alice", T0)
    n = len(audit.entries(store))
    audit.head_path(store).unlink()  # the attacker removes the head file too
    _tamper(store, f"DELETE FROM audit_log WHERE seq >= {n - 2}")
    report = audit.verify(store)
    assert [(p.kind, p.seq) for p in report.problems] == [
        (audit.ProblemKind.TRUNCATED, n - 1)]
    assert report.problems[0].message == (
        f"the log ends at entry {n - 3} but approval record 1 was made after entry {n - 1}: "
        f"entries {n - 2}-{n - 1} or more were cut off the end")
