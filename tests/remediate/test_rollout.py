"""Rollout logic with a fake executor: gate first, canary, batches, threshold, journal, resume.

Everything that touches real hosts is proven end to end on the lab (tests/e2e).
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from inspectorctl.collect.interface import Targets
from inspectorctl.models.plan import JournalState, Plan
from inspectorctl.remediate import rollout
from inspectorctl.remediate.approval import ApprovalRefused, approve_by
from inspectorctl.remediate.interface import (
    ExecProgress,
    ExecRequest,
    ExecResult,
    ExecutorError,
    HostOutcome,
    HostStatus,
)
from inspectorctl.remediate.rollout import (
    CountOrPercent,
    RolloutOptions,
    apply_plan,
    phases,
)
from inspectorctl.store import journal
from inspectorctl.store.db import Store
from tests.remediate.helpers import T0, fake_catalog, later, plan_from_store, record, result

__all__ = ["fake_catalog"]

pytestmark = pytest.mark.usefixtures("fake_catalog")

TARGETS = Targets(inventory=Path("/nonexistent/inventory.yml"))


class FakeExecutor:
    """Implements the Executor protocol; hosts in ``fail``/``down`` fail/are unreachable."""

    name = "fake"

    def __init__(self, fail: frozenset[str] | set[str] = frozenset(),
                 down: frozenset[str] | set[str] = frozenset(),
                 interrupt_on: str | None = None, raise_on: str | None = None) -> None:
        self.fail, self.down = set(fail), set(down)
        self.calls: list[tuple[str, list[str], str]] = []
        self.interrupt_on = interrupt_on
        self.raise_on = raise_on
        self.changed: set[tuple[str, str]] = set()

    def run(self, request: ExecRequest, progress: ExecProgress | None = None) -> ExecResult:
        self.calls.append((request.playbook, list(request.hosts), request.run_id))
        if self.interrupt_on in request.hosts:
            raise KeyboardInterrupt
        if self.raise_on in request.hosts:
            raise ExecutorError("ansible-playbook not found")
        out = {}
        for h in request.hosts:
            if h in self.down:
                st = HostStatus.UNREACHABLE
            elif h in self.fail:
                st = HostStatus.FAILED
            elif (request.playbook, h) in self.changed:
                st = HostStatus.OK  # idempotent: the second time nothing changes
            else:
                st = HostStatus.CHANGED
                self.changed.add((request.playbook, h))
            out[h] = HostOutcome(host=h, status=st, stats={"changed": int(st == "changed")},
                                 message="boom" if st == HostStatus.FAILED else "")
        return ExecResult(status="successful", rc=0, hosts=out, seconds=0.01)


HOSTS = tuple(f"h{i:02d}" for i in range(1, 11))


def _approved(tmp_path: Path, hosts: tuple[str, ...] = HOSTS,
              rules: tuple[str, ...] = ("ssh-root", "fwd")) -> tuple[Store, Plan]:
    store = Store(tmp_path / "f.db")
    rid = record(store, [result(r, h) for h in hosts for r in rules])
    plan = plan_from_store(store, rid)
    approve_by(store, plan, "alice", T0)
    return store, plan


def _clock() -> datetime:
    return later(1)


def _apply(store: Store, plan: Plan, ex: FakeExecutor, **kw: object):  # type: ignore[no-untyped-def]
    return apply_plan(plan, store, ex, TARGETS, RolloutOptions.model_validate(kw),
                      actor="alice", clock=_clock)


def test_phases() -> None:
    assert phases(["a", "b", "c", "d", "e"], 1, CountOrPercent(value=2)) == [
        ("canary", ["a"]), ("batch 1", ["b", "c"]), ("batch 2", ["d", "e"])]
    assert phases(["a", "b", "c", "d"], 0, None) == [("batch 1", ["a", "b", "c", "d"])]
    assert phases(list("abcdefgh"), 2, CountOrPercent(value=25, percent=True)) == [
        ("canary", ["a", "b"]), ("batch 1", ["c", "d"]), ("batch 2", ["e", "f"]),
        ("batch 3", ["g", "h"])]
    assert CountOrPercent.parse("25%", "--x") == CountOrPercent(value=25, percent=True)
    assert CountOrPercent(value=10, percent=True).of(25) == 2


def test_unapproved_plan_runs_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    rid = record(store, [result("ssh-root", "h01")])
    plan = plan_from_store(store, rid)
    ex = FakeExecutor()
    with pytest.raises(ApprovalRefused) as e:
        _apply(store, plan, ex)
    assert e.value.exit_code == 3
    assert ex.calls == []
    assert journal.apply_runs(store) == []


def test_canary_then_batches_journal(tmp_path: Path) -> None:
    store, plan = _approved(tmp_path)
    ex = FakeExecutor()
    rep = _apply(store, plan, ex, canary=1, batch_size=CountOrPercent(value=50, percent=True))
    assert rep.complete and not rep.stopped
    # canary h01 alone (both actions), then batches of 5 hosts
    assert [(pb, hosts) for pb, hosts, _ in ex.calls] == [
        ("sshd_config", ["h01"]), ("sysctl", ["h01"]),
        ("sshd_config", list(HOSTS[1:6])), ("sysctl", list(HOSTS[1:6])),
        ("sshd_config", list(HOSTS[6:])), ("sysctl", list(HOSTS[6:]))]
    assert {rid for _, _, rid in ex.calls} == {rep.run_id}  # backups land under the run id
    rows = journal.entries(store, rep.run_id)
    assert len(rows) == 20 and all(r.state is JournalState.CHANGED for r in rows)
    assert {r.phase for r in rows if r.host == "h01"} == {"canary"}
    assert all(r.attempts == 1 and r.started_at and r.ended_at for r in rows)
    assert all(r.ansible_seconds == 0.01 and r.overhead_seconds is not None for r in rows)
    assert journal.apply_run(store, rep.run_id).status == "completed"  # type: ignore[union-attr]
    # a second apply of the same plan: everything ok, nothing changed
    rep2 = _apply(store, plan, ex)
    assert {e.state for e in rep2.entries} == {JournalState.OK}


def test_threshold_stops_and_resume_finishes(tmp_path: Path) -> None:
    store, plan = _approved(tmp_path, hosts=("h01", "h02", "h03", "h04"))
    ex = FakeExecutor(down={"h02"})
    rep = _apply(store, plan, ex, canary=1, batch_size=CountOrPercent(value=1))
    assert rep.stopped
    states = {(e.host, e.playbook): e.state for e in rep.entries}
    assert states == {
        ("h01", "sshd_config"): JournalState.CHANGED, ("h01", "sysctl"): JournalState.CHANGED,
        ("h02", "sshd_config"): JournalState.UNREACHABLE,
        ("h02", "sysctl"): JournalState.SKIPPED_THRESHOLD,
        ("h03", "sshd_config"): JournalState.SKIPPED_THRESHOLD,
        ("h03", "sysctl"): JournalState.SKIPPED_THRESHOLD,
        ("h04", "sshd_config"): JournalState.SKIPPED_THRESHOLD,
        ("h04", "sysctl"): JournalState.SKIPPED_THRESHOLD,
    }
    assert rep.hosts_in(JournalState.CHANGED) == ["h01"]
    assert rep.stop_reason == ("stopped: 1 host(s) failed (h02), more than --max-errors 0 "
                               "allows")
    assert journal.apply_run(store, rep.run_id).status == "stopped"  # type: ignore[union-attr]
    # the host comes back; --resume runs exactly what remains
    ex.down.clear()
    ex.calls.clear()
    rep2 = _apply(store, plan, ex, resume=True)
    assert rep2.run_id == rep.run_id and rep2.resumed and rep2.complete
    assert sorted((pb, tuple(h)) for pb, h, _ in ex.calls) == [
        ("sshd_config", ("h02",)), ("sshd_config", ("h03",)), ("sshd_config", ("h04",)),
        ("sysctl", ("h02",)), ("sysctl", ("h03",)), ("sysctl", ("h04",))]
    with pytest.raises(Exception, match="nothing to resume"):
        _apply(store, plan, ex, resume=True)


def test_max_errors_count_and_percent(tmp_path: Path) -> None:
    store, plan = _approved(tmp_path, rules=("fwd",))
    ex = FakeExecutor(fail={"h01", "h02"})
    rep = _apply(store, plan, ex, batch_size=CountOrPercent(value=2),
                 max_errors=CountOrPercent(value=2))
    assert not rep.stopped and len(rep.failed) == 2 and not rep.complete
    assert journal.apply_run(store, rep.run_id).status == "failed"  # type: ignore[union-attr]
    store2, plan2 = _approved(tmp_path / "b", rules=("fwd",))
    ex2 = FakeExecutor(fail={"h01", "h02", "h03"})
    rep2 = _apply(store2, plan2, ex2, batch_size=CountOrPercent(value=2),
                  max_errors=CountOrPercent(value=20, percent=True))  # 2 of 10 hosts
    assert rep2.stopped
    assert rep2.hosts_in(JournalState.FAILED) == ["h01", "h02", "h03"]
    assert rep2.hosts_in(JournalState.CHANGED) == ["h04"]
    assert len(rep2.hosts_in(JournalState.SKIPPED_THRESHOLD)) == 6


def test_interrupt_leaves_running_rows_and_resume_reruns_them(tmp_path: Path) -> None:
    store, plan = _approved(tmp_path, hosts=("h01", "h02", "h03"), rules=("fwd",))
    ex = FakeExecutor(interrupt_on="h02")
    with pytest.raises(KeyboardInterrupt):
        _apply(store, plan, ex, batch_size=CountOrPercent(value=1))
    (run,) = journal.apply_runs(store)
    assert run.status == "interrupted"
    states = {e.host: e.state for e in journal.entries(store, run.id)}
    assert states == {"h01": JournalState.CHANGED, "h02": JournalState.RUNNING,
                      "h03": JournalState.PENDING}
    ex.interrupt_on = None
    ex.calls.clear()
    rep = _apply(store, plan, ex, resume=True)
    assert [h for _, h, _ in ex.calls] == [["h02"], ["h03"]]
    assert rep.complete
    h2 = next(e for e in rep.entries if e.host == "h02")
    assert h2.attempts == 2


def test_only_approved_actions_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    rid = record(store, [result(r, "h01") for r in ("ssh-root", "fwd")])
    plan = plan_from_store(store, rid)
    ssh = next(a for a in plan.actions if a.playbook == "sshd_config")
    approve_by(store, plan, "alice", T0, action_ids=[ssh.id])
    ex = FakeExecutor()
    rep = _apply(store, plan, ex)
    assert [pb for pb, _, _ in ex.calls] == ["sshd_config"]
    assert rep.applied_actions == [ssh.id] and len(rep.not_approved) == 1
    with pytest.raises(ApprovalRefused, match="--require-all: 1 of 2 actions"):
        _apply(store, plan, ex, require_all=True)


def test_executor_error_fails_the_hosts(tmp_path: Path) -> None:
    store, plan = _approved(tmp_path, hosts=("h01", "h02"), rules=("fwd",))
    rep = _apply(store, plan, FakeExecutor(raise_on="h01"))
    assert {e.host: (e.state, e.message) for e in rep.entries} == {
        "h01": (JournalState.FAILED, "ansible-playbook not found"),
        "h02": (JournalState.FAILED, "ansible-playbook not found")}


def test_irreversible_actions_are_named_for_a_rollback(tmp_path: Path) -> None:
    """The user's report: a removed package stayed removed and the rollback said only
    `changed 3`. Actions declared reversible: false that changed a host are listed (the CLI
    prints them before the rollback is approved and after it)."""
    from inspectorctl.remediate.verify import NotUndone, not_undone

    store, plan = _approved(tmp_path, hosts=("h01", "h02"), rules=("boot", "fwd"))
    ex = FakeExecutor(fail={"h02"})
    rep = _apply(store, plan, ex, max_errors=CountOrPercent(value=1))
    grub = next(a for a in plan.actions if a.playbook == "grub")
    assert not grub.reversible
    # only where it changed the host (h02 failed); the reversible sysctl action is not listed
    assert not_undone(store, rep.run_id) == [
        NotUndone(action_id=grub.id, playbook="grub", hosts=["h01"])]
    assert not_undone(store, rep.run_id, ["h02"]) == []


class KilledExecutor(FakeExecutor):
    """The host changes, then the orchestrator dies (kill -9) before the result is recorded:
    the row stays ``running`` (a BaseException other than KeyboardInterrupt skips every
    handler, as SIGKILL does)."""

    class Died(BaseException):
        pass

    def __init__(self, die_on: str) -> None:
        super().__init__()
        self.die_on: str | None = die_on

    def run(self, request: ExecRequest, progress: ExecProgress | None = None) -> ExecResult:
        result = super().run(request, progress)
        if self.die_on in request.hosts:
            raise self.Died
        return result


def test_a_row_running_when_the_process_died_is_possibly_changed(tmp_path: Path) -> None:
    store, plan = _approved(tmp_path, hosts=("h01", "h02", "h03"), rules=("fwd",))
    ex = KilledExecutor(die_on="h02")
    with pytest.raises(KilledExecutor.Died):
        _apply(store, plan, ex, batch_size=CountOrPercent(value=1))
    (run,) = journal.apply_runs(store)
    assert run.status == "running"  # nobody recorded the end
    states = {e.host: e.state for e in journal.entries(store, run.id)}
    assert states["h02"] is JournalState.RUNNING
    # h02 was changed; a rollback now includes it although nothing recorded the change
    from inspectorctl.remediate.plans import rollback_plan

    assert rollback_plan(store, run.id, later(2)).actions[0].hosts == ["h01", "h02"]
    ex.die_on = None
    ex.calls.clear()
    rep = _apply(store, plan, ex, resume=True)
    # resumed: h02 runs again (idempotent: nothing left to change) and stays possibly changed
    assert [h for _, h, _ in ex.calls] == [["h02"], ["h03"]]
    assert rep.complete
    rows = {e.host: e for e in rep.entries}
    assert rows["h02"].state is JournalState.POSSIBLY_CHANGED
    assert rows["h02"].message.startswith("possibly changed by the attempt that died")
    assert rows["h03"].state is JournalState.CHANGED
    # the rollback of the run includes every host the run may have changed
    assert rollback_plan(store, run.id, later(3)).actions[0].hosts == ["h01", "h02", "h03"]
    from inspectorctl.remediate import audit

    (start,) = [e for e in audit.entries(store, run_id=run.id)
                if e.event.value == "apply_start" and e.detail.get("resume")]
    assert start.detail["possibly_changed"] == [f"{plan.actions[0].id}@h02"]


def test_a_dead_runs_journal_reads_as_possibly_changed(tmp_path: Path) -> None:
    """Before any resume, the journal of a run whose process died shows its ``running`` rows
    as possibly changed; while the process applying that plan lives they stay ``running``."""
    from inspectorctl.remediate.rollout import journal_view

    store, plan = _approved(tmp_path, hosts=("h01", "h02"), rules=("fwd",))
    with pytest.raises(KilledExecutor.Died):
        _apply(store, plan, KilledExecutor(die_on="h02"), batch_size=CountOrPercent(value=1))
    (run,) = journal.apply_runs(store)
    lock = Path(str(store.path) + ".lock")
    # kill -9 leaves the holder's line behind: a pid that is gone holds nothing
    gone = subprocess.Popen(["true"])
    gone.wait()
    lock.write_text(f"pid {gone.pid}, plan {plan.plan_id}")
    seen = journal_view(store, run.id)
    assert seen is not None
    r, rows = seen
    assert (r.status, r.message) == ("died", "the process applying it died; finish it with "
                                     "--resume (or roll it back)")
    states = {e.host: (e.state, e.message) for e in rows}
    assert states == {"h01": (JournalState.CHANGED, ""),
                      "h02": (JournalState.POSSIBLY_CHANGED, journal.DIED_WHILE_RUNNING)}
    # nothing was written: the stored row is still running (--resume records it)
    assert {e.host: e.state for e in journal.entries(store, run.id)}["h02"] \
        is JournalState.RUNNING
    # a live process applying this plan (a resume in progress): shown as it is
    lock.write_text(f"pid {os.getpid()}, plan {plan.plan_id}")
    seen = journal_view(store, run.id)
    assert seen is not None
    assert seen[0].status == "running"
    assert {e.host: e.state for e in seen[1]}["h02"] is JournalState.RUNNING
    # a live process applying another plan does not keep this run alive
    lock.write_text(f"pid {os.getpid()}, plan p-other")
    seen = journal_view(store, run.id)
    assert seen is not None and seen[0].status == "died"
    assert journal_view(store, "a-nope") is None


def test_one_apply_at_a_time(tmp_path: Path) -> None:
    from inspectorctl.remediate.rollout import ApplyLocked, apply_lock

    store, plan = _approved(tmp_path, hosts=("h01",), rules=("fwd",))
    ex = FakeExecutor()
    with apply_lock(store, plan):
        # a second apply (same or another process: flock is per open file) is refused
        with pytest.raises(ApplyLocked) as info:
            _apply(store, plan, ex)
        assert info.value.exit_code == 3
        assert str(info.value) == (
            f"another apply is running against {store.path} (pid {os.getpid()}, plan "
            f"{plan.plan_id}); nothing was run: wait for it to finish (or, if its process is "
            "gone, run again: the lock is released when a process dies)")
    assert ex.calls == []
    assert journal.apply_runs(store) == []
    assert _apply(store, plan, ex).complete  # released


def test_every_batch_runs_the_one_private_copy(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    staged: list[Path] = []

    def stage(digests: dict[str, str], dest: Path) -> Path:
        staged.append(dest / "playbooks")
        return dest / "playbooks"

    monkeypatch.setattr(rollout, "stage_playbooks", stage)
    roots: list[Path | None] = []

    class Recording(FakeExecutor):
        def run(self, request: ExecRequest, progress: ExecProgress | None = None
                ) -> ExecResult:
            roots.append(request.playbooks_root)
            return super().run(request, progress)

    store, plan = _approved(tmp_path, hosts=("h01", "h02", "h03"))
    _apply(store, plan, Recording(), batch_size=CountOrPercent(value=1))
    assert len(staged) == 1 and len(roots) == 6
    assert set(roots) == {staged[0]}
    assert not staged[0].parent.exists()  # the private copy is removed after the rollout


def test_the_identities_the_run_recorded_reach_the_executor(tmp_path: Path) -> None:
    from inspectorctl.models.finding import RunRecord
    from inspectorctl.models.plan import PlannedIdentity
    from inspectorctl.remediate import plansign
    from inspectorctl.remediate.approval import RefusalKind, check_approvals
    from inspectorctl.remediate.plans import with_identities

    store = Store(tmp_path / "f.db")
    mid = "a" * 32
    store.record_run(RunRecord(
        id="r-ids", started_at=T0, ended_at=T0, packs=["mini"],
        targets={"transport": "ansible", "inventory": "/inv.yml", "identities": {
            "h01": {"machine_id": mid, "instance_id": "i-0123", "hostname": "one"}}}),
        [result("fwd", "h01"), result("fwd", "h02")])
    plan = plansign.sign_plan(store, with_identities(store, plan_from_store(store, "r-ids")))
    assert plan.identities == {"h01": PlannedIdentity(machine_id=mid, instance_id="i-0123",
                                                      hostname="one")}
    # identities edited (and the plan signed again with the key): refused
    evil = plansign.sign_plan(store, plan.model_copy(update={"identities": {
        "h01": PlannedIdentity(machine_id="b" * 32)}}).sealed())
    g = check_approvals(evil, store, later(1))
    assert [p.kind for p in g.problems] == [RefusalKind.PLAN_FORGED]
    assert "the host identities it records are not those run r-ids assessed" \
        in g.problems[0].message
    approve_by(store, plan, "alice", T0)
    seen: list[dict[str, str]] = []

    class Recording(FakeExecutor):
        def run(self, request: ExecRequest, progress: ExecProgress | None = None
                ) -> ExecResult:
            seen.append(dict(request.machine_ids))
            return super().run(request, progress)

    assert _apply(store, plan, Recording()).complete
    assert seen == [{"h01": mid}]  # h02: no identity recorded, nothing to compare


class FakeManyExecutor(FakeExecutor):
    """Also runs several actions in one call, as the Ansible executor does: a host that fails
    an action gets none of the later ones of that call, and once more hosts failed (beyond
    ``failed_before``) than ``tolerate``, no later action starts on any host."""

    def __init__(self, fail_pairs: set[tuple[str, str]] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__()
        self.fail_pairs = set(fail_pairs)
        self.many: list[tuple[list[str], list[str], int | None]] = []

    def run(self, request: ExecRequest, progress: ExecProgress | None = None) -> ExecResult:
        self.fail = {h for pb, h in self.fail_pairs if pb == request.playbook}
        return super().run(request, progress)

    def run_many(self, requests: list[ExecRequest], *, tolerate: int | None = None,
                 failed_before: list[str] | tuple[str, ...] = ()) -> list[ExecResult]:
        self.many.append(([r.playbook for r in requests], list(requests[0].hosts), tolerate))
        failed: set[str] = set()
        out: list[ExecResult] = []
        stopped = False
        for r in requests:
            if stopped:
                out.append(ExecResult(status="failed", rc=2, hosts={}, seconds=0.01,
                                      not_reached=list(r.hosts)))
                continue
            live = [h for h in r.hosts if h not in failed]
            res = self.run(r.model_copy(update={"hosts": live}))
            failed |= {h for h, o in res.hosts.items() if o.status is HostStatus.FAILED}
            out.append(res.model_copy(update={
                "not_reached": [h for h in r.hosts if h not in live]}))
            if tolerate is not None and len(failed - set(failed_before)) > tolerate:
                stopped = True
        return out


def test_actions_on_the_same_hosts_run_in_one_call(tmp_path: Path) -> None:
    store, plan = _approved(tmp_path)
    ex = FakeManyExecutor()
    rep = _apply(store, plan, ex, canary=1, batch_size=CountOrPercent(value=50, percent=True))
    assert rep.complete and rep.executor_calls == 3
    assert ex.many == [(["sshd_config", "sysctl"], ["h01"], 0),
                       (["sshd_config", "sysctl"], list(HOSTS[1:6]), 0),
                       (["sshd_config", "sysctl"], list(HOSTS[6:]), 0)]
    rows = journal.entries(store, rep.run_id)
    assert len(rows) == 20 and {r.state for r in rows} == {JournalState.CHANGED}
    assert {r.attempts for r in rows} == {1}


def test_a_host_failing_an_action_gets_the_later_ones_in_a_next_call(tmp_path: Path) -> None:
    store, plan = _approved(tmp_path, hosts=("h01", "h02", "h03"))
    ex = FakeManyExecutor(fail_pairs={("sshd_config", "h02")})
    rep = _apply(store, plan, ex, max_errors=CountOrPercent(value=100, percent=True))
    assert ex.many == [(["sshd_config", "sysctl"], ["h01", "h02", "h03"], 3)]
    # the row the combined run did not reach runs alone next, as it would have run alone
    assert ex.calls[-1] == ("sysctl", ["h02"], rep.run_id)
    rows = {(r.playbook, r.host): r for r in journal.entries(store, rep.run_id)}
    assert rows[("sshd_config", "h02")].state is JournalState.FAILED
    assert rows[("sysctl", "h02")].state is JournalState.CHANGED
    assert rows[("sysctl", "h02")].attempts == 1  # not counted twice
    assert rows[("sysctl", "h01")].state is JournalState.CHANGED


def test_the_threshold_skips_what_a_combined_run_did_not_start(tmp_path: Path) -> None:
    store, plan = _approved(tmp_path, hosts=("h01", "h02", "h03"))
    ex = FakeManyExecutor(fail_pairs={("sshd_config", "h02")})
    rep = _apply(store, plan, ex)  # --max-errors 0
    assert rep.stopped and "1 host(s) failed (h02)" in rep.stop_reason
    assert len(ex.many) == 1 and len(ex.calls) == 1  # sysctl started nowhere
    rows = {(r.playbook, r.host): r.state for r in journal.entries(store, rep.run_id)}
    assert rows == {("sshd_config", "h01"): JournalState.CHANGED,
                    ("sshd_config", "h02"): JournalState.FAILED,
                    ("sshd_config", "h03"): JournalState.CHANGED,
                    ("sysctl", "h01"): JournalState.SKIPPED_THRESHOLD,
                    ("sysctl", "h02"): JournalState.SKIPPED_THRESHOLD,
                    ("sysctl", "h03"): JournalState.SKIPPED_THRESHOLD}
    # resume finishes it: the rows skipped at the threshold run, the failed one again
    ex2 = FakeManyExecutor()
    rep2 = apply_plan(plan, store, ex2, TARGETS, RolloutOptions(resume=True), actor="alice",
                      clock=_clock)
    assert rep2.complete
