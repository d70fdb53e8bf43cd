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
    assert audit.verify_chain(store) == "audit entry 2 was altered after it was written"


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
