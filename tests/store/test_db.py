from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import Evidence, FindingState, RuleResult, RunRecord, finding_id
from inspectorctl.store.db import MIGRATIONS, Store, StoreError
from tests.fixtures import now


def result(rule: str, host: str, status: Status, sev: Severity = Severity.HIGH) -> RuleResult:
    ev = Evidence(expected="x", found="y") if status in (Status.PASS, Status.FAIL) else None
    return RuleResult(rule_id=rule, pack="p", host=host, status=status, severity=sev,
                      title=f"title {rule}", evidence=ev,
                      reason=None if ev else "could not read")


def run(n: int) -> RunRecord:
    t = now() + timedelta(seconds=n)
    return RunRecord(id=f"r-{n}", started_at=t, ended_at=t)


def test_finding_lifecycle_new_active_closed_reopened(tmp_path: Path) -> None:
    with Store(tmp_path / "f.db") as st:
        r1 = st.record_run(run(1), [result("a", "h1", Status.FAIL),
                                     result("b", "h1", Status.PASS),
                                     result("c", "h1", Status.ERROR)])
        # an ERROR is not a finding: only the FAIL is new
        assert (r1.counts.new, r1.counts.closed, r1.counts.failed) == (1, 0, 1)
        assert (r1.counts.errors, r1.counts.unchecked) == (1, 1)
        active = {f.rule_id: f for f in st.findings(states=[FindingState.ACTIVE])}
        assert set(active) == {"a"}
        assert active["a"].id == finding_id("a", "h1")
        first_seen = active["a"].first_seen

        r2 = st.record_run(run(2), [result("a", "h1", Status.PASS),
                                     result("b", "h1", Status.PASS),
                                     result("c", "h1", Status.ERROR)])
        assert (r2.counts.new, r2.counts.closed) == (0, 1)
        a = st.finding(finding_id("a", "h1"))
        assert a is not None and a.state is FindingState.CLOSED and a.closed_at is not None
        assert a.status is Status.PASS and a.first_seen == first_seen

        r3 = st.record_run(run(3), [result("a", "h1", Status.FAIL)])
        # the same problem back after it was closed: reopened, not new
        assert (r3.counts.new, r3.counts.reopened) == (0, 1)
        a = st.finding(finding_id("a", "h1"))
        assert a is not None and a.state is FindingState.ACTIVE and a.closed_at is None
        assert a.first_run == "r-1" and a.last_run == "r-3"


def test_an_unreachable_host_keeps_what_was_known(tmp_path: Path) -> None:
    """The user's report: a stopped host's 155 FAIL findings became ERROR findings with the
    connection error as their evidence, and ERRORs of rules that had passed counted as new.
    Now an ERROR changes no status, evidence or state; it records why it was not re-checked."""
    with Store(tmp_path / "f.db") as st:
        st.record_run(run(1), [result("a", "h1", Status.FAIL), result("b", "h1", Status.PASS),
                               result("s", "h1", Status.FAIL)])
        fa = finding_id("a", "h1")
        st.suppress([finding_id("s", "h1")], by="ops", reason="bastion", until=None)
        before = {f.id: f for f in st.findings(states=list(FindingState))}
        down = [RuleResult(rule_id=r, pack="p", host="h1", status=Status.ERROR,
                           severity=Severity.HIGH, title=f"title {r}",
                           reason="unreachable: ssh: connect to host h1 port 22: refused")
                for r in ("a", "b", "s")]
        r2 = st.record_run(run(2), down)
        assert (r2.counts.new, r2.counts.closed, r2.counts.reopened, r2.counts.errors,
                r2.counts.unchecked) == (0, 0, 0, 3, 3)
        after = {f.id: f for f in st.findings(states=list(FindingState))}
        assert set(after) == set(before)  # nothing new for "b", which had passed
        for fid, f in after.items():
            keep = ("status", "state", "evidence", "reason", "last_seen", "last_run",
                    "closed_at", "suppressed_by")
            assert {k: getattr(f, k) for k in keep} == {k: getattr(before[fid], k) for k in keep}
            assert f.unchecked_run == "r-2"
        a = after[fa]
        assert a.status is Status.FAIL and a.evidence == Evidence(expected="x", found="y")
        assert a.unchecked_note == ("not re-checked since r-1: unreachable: ssh: connect to "
                                    "host h1 port 22: refused (run r-2)")
        # back online: the next real result clears the note and moves the lifecycle on
        r3 = st.record_run(run(3), [result("a", "h1", Status.PASS)])
        assert r3.counts.closed == 1
        a3 = st.finding(fa)
        assert a3 is not None and a3.unchecked_run is None and a3.unchecked_note is None
        assert a3.state is FindingState.CLOSED


def test_filters(tmp_path: Path) -> None:
    with Store(tmp_path / "f.db") as st:
        st.record_run(run(1), [result("a", "h1", Status.FAIL, Severity.LOW),
                               result("b", "h2", Status.FAIL, Severity.CRITICAL),
                               result("c", "h2", Status.ERROR, Severity.MEDIUM)])
        assert [f.rule_id for f in st.findings(hosts=["h2"])] == ["b"]
        assert [f.rule_id for f in st.findings(min_severity=Severity.MEDIUM)] == ["b"]
        assert [f.rule_id for f in st.findings(statuses=[Status.ERROR])] == []
        assert [f.rule_id for f in st.findings(rules=["a"])] == ["a"]
        st.record_run(run(2), [result("a", "h1", Status.FAIL, Severity.LOW)])
        assert [f.rule_id for f in st.findings(run_id="r-2")] == ["a"]
        assert len(st.findings(run_id="r-1")) == 2


def test_run_is_all_or_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "f.db") as st:
        st.record_run(run(1), [result("a", "h1", Status.FAIL)])
        # the same run id again violates the primary key half-way: nothing of it may remain
        with pytest.raises(StoreError):
            st.record_run(run(1), [result("b", "h1", Status.FAIL)])
        assert [r.id for r in st.runs()] == ["r-1"]
        assert [f.rule_id for f in st.findings()] == ["a"]
        assert st.results("r-1")[0].rule_id == "a"


def test_wal_and_schema_version(tmp_path: Path) -> None:
    with Store(tmp_path / "f.db") as st:
        assert st.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert st.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.db"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"corrupt or not an inspectorctl database"):
        Store(p)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "new.db"
    db = sqlite3.connect(p)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    db.close()
    with pytest.raises(StoreError, match="newer than this inspectorctl knows"):
        Store(p)


def test_locked_database_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "f.db"
    Store(p).close()
    holder = sqlite3.connect(p, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        st = Store(p, timeout=0.2)
        with pytest.raises(StoreError, match="locked by another inspectorctl process"):
            st.record_run(run(1), [result("a", "h1", Status.FAIL)])
        st.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Store(p) as st:
        assert st.runs() == []


def test_suppression_survives_runs_and_expires(tmp_path: Path) -> None:
    with Store(tmp_path / "f.db") as st:
        st.record_run(run(1), [result("a", "h1", Status.FAIL), result("b", "h1", Status.FAIL)])
        fa, fb = finding_id("a", "h1"), finding_id("b", "h1")
        (f,) = st.suppress([fa], by="alice", reason="accepted", until=None)
        assert f.state is FindingState.SUPPRESSED and f.suppressed_by == "alice"
        st.suppress([fb], by="bob", reason="until patch", until=now() + timedelta(seconds=30))
        # still failing: stays suppressed, not active
        st.record_run(run(2), [result("a", "h1", Status.FAIL), result("b", "h1", Status.FAIL)])
        assert [x.id for x in st.findings(states=[FindingState.ACTIVE])] == []
        # a run after b's expiry makes b active again; a (no expiry) stays suppressed
        st.record_run(run(60), [result("a", "h1", Status.FAIL), result("b", "h1", Status.FAIL)])
        assert [x.id for x in st.findings(states=[FindingState.ACTIVE])] == [fb]
        (lifted,) = st.unsuppress([fa])
        assert lifted.state is FindingState.ACTIVE and lifted.suppressed_by is None
        with pytest.raises(StoreError, match="no finding f-nope"):
            st.suppress(["f-nope"], by="x", reason="y", until=None)


def test_suppression_and_its_audit_entry_commit_together(tmp_path: Path) -> None:
    """The audit write runs in the change's transaction: when it fails, nothing is written."""
    from inspectorctl.remediate.audit import AuditEvent, append, chain_key

    def audit_then_fail(db: sqlite3.Connection) -> None:
        append(db, AuditEvent.SUPPRESS, "alice", now(), key=key, detail={"findings": [fa]})
        raise StoreError("disk full (injected)")

    with Store(tmp_path / "f.db") as st:
        key = chain_key(st)
        st.record_run(run(1), [result("a", "h1", Status.FAIL)])
        fa = finding_id("a", "h1")
        with pytest.raises(StoreError, match="injected"):
            st.suppress([fa], by="alice", reason="accepted", until=None, audit=audit_then_fail)
        found = st.finding(fa)
        assert found is not None and found.state is FindingState.ACTIVE
        assert st.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0
        (f,) = st.suppress([fa], by="alice", reason="accepted", until=None,
                           audit=lambda db: append(db, AuditEvent.SUPPRESS, "alice", now(),
                                                   key=key))
        assert f.state is FindingState.SUPPRESSED
        assert st.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 1
        with pytest.raises(StoreError, match="injected"):
            st.unsuppress([fa], audit=audit_then_fail)
        found = st.finding(fa)
        assert found is not None and found.state is FindingState.SUPPRESSED
        assert st.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 1


def test_results_keyed_by_host_migration_keeps_every_result(tmp_path: Path) -> None:
    p = tmp_path / "old.db"
    db = sqlite3.connect(p, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    for n in range(3):  # a database as inspectorctl left it before migration 4
        db.execute("BEGIN")
        MIGRATIONS[n](db)
        db.execute(f"PRAGMA user_version = {n + 1}")
        db.execute("COMMIT")
    db.execute("INSERT INTO runs(id, kind, started_at, ended_at) VALUES ('r-1', 'assess',"
               " '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:01+00:00')")
    rows = [("r-1", rule, "p", host, "FAIL", "high", f"title {rule}",
             '{"expected":"x","found":"y","source":null}', None)
            for host in ("h2", "h1") for rule in ("b", "a")]
    db.executemany("INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?)", rows)
    db.close()
    with Store(p) as st:
        assert st.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        got = [tuple(r) for r in st.execute("SELECT * FROM results ORDER BY host, rule_id")]
        assert got == sorted(rows, key=lambda r: (r[3], r[1]))
        pk = [r["name"] for r in st.execute("PRAGMA table_info(results)") if r["pk"]]
        order = sorted(pk, key=lambda name: next(
            r["pk"] for r in st.execute("PRAGMA table_info(results)") if r["name"] == name))
        assert order == ["run_id", "host", "rule_id"]
        assert {r["name"] for r in st.execute("PRAGMA index_list(results)")} >= {
            "results_host"}
        assert [r.rule_id for r in st.results("r-1")] == ["a", "b", "a", "b"]


def test_prune_keeps_what_staleness_checks_and_verification_read(tmp_path: Path) -> None:
    from inspectorctl.store.db import prune_results
    from inspectorctl.store.runs import latest_results

    with Store(tmp_path / "f.db") as st:
        st.record_run(run(1), [result("a", "h1", Status.FAIL), result("a", "h2", Status.FAIL),
                               result("b", "h1", Status.PASS)])
        st.record_run(run(2), [result("a", "h1", Status.PASS)])
        st.record_run(run(3), [result("b", "h1", Status.FAIL)])
        pairs = [("a", "h1"), ("a", "h2"), ("b", "h1")]

        def latest() -> dict[tuple[str, str], tuple[str, str]]:
            return {k: (row["run_id"], row["status"])
                    for k, row in latest_results(st, pairs, set()).items()}

        before, findings = latest(), [f.model_dump() for f in st.findings(states=[])]
        assert before == {("a", "h1"): ("r-2", "PASS"), ("a", "h2"): ("r-1", "FAIL"),
                          ("b", "h1"): ("r-3", "FAIL")}
        with st.transaction() as tx:
            report = prune_results(tx, 1, now())
        assert (report.runs, report.removed, report.kept) == (("r-2", "r-1"), 2, 2)
        assert latest() == before
        assert [f.model_dump() for f in st.findings(states=[])] == findings
        assert [r.rule_id + "@" + r.host for r in st.results("r-1")] == ["a@h2"]
        assert [r.rule_id for r in st.results("r-2")] == ["a"]
        pruned = {r.id: r.pruned_at is not None for r in st.runs()}
        assert pruned == {"r-3": False, "r-2": True, "r-1": True}
        with pytest.raises(ValueError), st.transaction() as tx:
            prune_results(tx, 0, now())



def test_prune_keeps_what_a_plan_sees_besides_its_own_verification_runs(tmp_path: Path) -> None:
    from inspectorctl.remediate.audit import AuditEvent, record
    from inspectorctl.store.db import prune_results
    from inspectorctl.store.runs import latest_results

    with Store(tmp_path / "f.db") as st:
        st.record_run(run(1), [result("a", "h1", Status.FAIL)])  # what a plan was made from
        st.record_run(run(2), [result("a", "h1", Status.PASS)])  # its verification run
        record(st, AuditEvent.VERIFY, "alice", now(), plan_digest="d", run_id="r-2")
        st.record_run(run(3), [result("b", "h1", Status.PASS)])
        with st.transaction() as tx:
            report = prune_results(tx, 1, now())
        # r-2 verified a plan: it supersedes nothing, so r-1's result stays
        assert (report.removed, report.kept) == (0, 2)
        seen = latest_results(st, [("a", "h1")], {"r-2"})
        assert seen[("a", "h1")]["run_id"] == "r-1"
        assert latest_results(st, [("a", "h1")], set())[("a", "h1")]["run_id"] == "r-2"


def test_a_new_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    import os
    import stat

    path = tmp_path / "sub" / "f.db"
    old_umask = os.umask(0o022)
    try:
        with Store(path) as st:
            st.record_run(run(1), [result("a", "h1", Status.FAIL)])
            modes = {p.name: stat.S_IMODE(p.stat().st_mode)
                     for p in path.parent.iterdir()}
    finally:
        os.umask(old_umask)
    assert modes == {"f.db": 0o600, "f.db-wal": 0o600, "f.db-shm": 0o600}
    # an existing file keeps the mode its owner gave it
    path.chmod(0o640)
    with Store(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
