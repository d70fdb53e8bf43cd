"""Policy matching, signed approvals, and every refusal of the gate (exact messages)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inspectorctl.models.common import Severity, Status
from inspectorctl.models.plan import Action, Disruption, Plan, Policy, TimeWindow
from inspectorctl.remediate import plansign
from inspectorctl.remediate.approval import (
    ApprovalError,
    PolicyError,
    RefusalKind,
    approve_by,
    approve_with_policy,
    check_approvals,
    decide,
    explain,
    load_policy,
)
from inspectorctl.store.db import Store
from tests.remediate.helpers import T0, fake_catalog, later, plan_from_store, record, result

__all__ = ["fake_catalog"]

pytestmark = pytest.mark.usefixtures("fake_catalog")


def _plan(tmp_path: Path, hosts: tuple[str, ...] = ("web-1", "web-2"),
          rules: tuple[str, ...] = ("ssh-root", "fwd")) -> tuple[Store, Plan]:
    store = Store(tmp_path / "f.db")
    rid = record(store, [result(r, h) for h in hosts for r in rules])
    return store, plan_from_store(store, rid)


def _action(plan: Plan, playbook: str) -> Action:
    return next(a for a in plan.actions if a.playbook == playbook)


# ------------------------------------------------------------------------------- policy


POLICY = """\
approval_ttl: 24h
rules:
  - name: low-risk config
    auto_approve: true
    max_severity: medium
    disruption: [none, service_reload]
    reversible: true
    rules: ["fw*", "*sysctl*"]
    hosts: ["web-*"]
    windows: ["Mon-Fri 02:00-05:00 UTC"]
  - name: reboots need two people
    disruption: [reboot]
    approvers: 2
    approval_ttl: 2h
default_approvers: 1
"""


def _policy(tmp_path: Path, text: str = POLICY) -> Policy:
    f = tmp_path / "policy.yml"
    f.write_text(text)
    return load_policy(f)


def test_policy_first_match_and_conditions(tmp_path: Path) -> None:
    _, plan = _plan(tmp_path, rules=("ssh-root", "fwd", "boot"))
    pol = _policy(tmp_path)
    fwd, ssh, boot = (_action(plan, p) for p in ("sysctl", "sshd_config", "grub"))
    d = decide(pol, fwd, T0)
    assert (d.rule, d.auto, d.window_end) == ("low-risk config", True,
                                               datetime(2026, 3, 2, 5, 0, tzinfo=UTC))
    # ssh-root is high severity and its rule id does not match the globs: default approvers
    d = decide(pol, ssh, T0)
    assert (d.rule, d.auto, d.approvers, d.ttl) == (None, False, 1, timedelta(hours=24))
    d = decide(pol, boot, T0)
    assert (d.rule, d.auto, d.approvers, d.ttl) == ("reboots need two people", False, 2,
                                                    timedelta(hours=2))
    # outside the window (Monday 06:00, Saturday 03:00) the first rule does not match
    assert decide(pol, fwd, T0.replace(hour=6)).rule is None
    assert decide(pol, fwd, T0 + timedelta(days=5)).rule is None
    # host globs: every host must match
    odd = fwd.model_copy(update={"hosts": ["web-1", "db-1"]})
    assert decide(pol, odd, T0).rule is None
    # reversibility and disruption
    assert decide(pol, fwd.model_copy(update={"reversible": False}), T0).rule is None
    assert decide(pol, fwd.model_copy(update={"disruption": Disruption.SERVICE_RESTART}),
                  T0).rule is None
    # severity list form
    pol2 = _policy(tmp_path, "rules:\n  - name: x\n    auto_approve: true\n"
                             "    severity: [low]\n")
    assert decide(pol2, fwd, T0).auto
    assert not decide(pol2, fwd.model_copy(update={"severity": Severity.MEDIUM}), T0).auto


def test_policy_says_which_rule_came_closest_and_what_failed(tmp_path: Path) -> None:
    """The user's report: at 15:35 UTC an action every rule would match but for its time
    window got only "no policy rule matched"."""
    _, plan = _plan(tmp_path, rules=("ssh-root", "fwd", "boot"))
    pol = _policy(tmp_path)
    fwd, ssh, boot = (_action(plan, p) for p in ("sysctl", "sshd_config", "grub"))
    afternoon = T0.replace(hour=15, minute=35)  # Monday
    d = decide(pol, fwd, afternoon)
    assert (d.rule, d.auto, d.closest) == (None, False, "low-risk config")
    assert d.closest_failed == ["window: Mon 15:35 UTC is outside Mon-Fri 02:00-05:00 UTC"]
    assert d.why == ("no policy rule matched; closest auto-approving rule 'low-risk config' "
                     "failed on window: Mon 15:35 UTC is outside Mon-Fri 02:00-05:00 UTC")
    # several conditions at once, each with the values that failed
    d = decide(pol, ssh.model_copy(update={"hosts": ["web-1", "db-1"]}), afternoon)
    assert d.closest_failed == [
        "severity: the action is high, the rule allows at most medium",
        "rules: ssh-root match none of fw*, *sysctl* (playbook sshd_config)",
        "hosts: db-1 match none of web-*",
        "window: Mon 15:35 UTC is outside Mon-Fri 02:00-05:00 UTC"]
    # decided by a rule that needs people: the auto rule before it is the closest
    d = decide(pol, boot, T0)
    assert (d.rule, d.closest) == ("reboots need two people", "low-risk config")
    assert d.closest_failed == [
        "severity: the action is critical, the rule allows at most medium",
        "disruption: the action's is reboot, the rule allows none, service_reload",
        "reversible: the action is not reversible, the rule wants reversible: true",
        "rules: boot match none of fw*, *sysctl* (playbook grub)"]
    # auto-approved: nothing to explain; the per-rule evaluation says every rule's outcome
    d = decide(pol, fwd, T0)
    assert (d.auto, d.closest, d.why) == (True, None, "policy rule 'low-risk config'")
    evs = explain(pol, fwd, afternoon)
    assert [(e.rule, e.matched, len(e.failed)) for e in evs] == [
        ("low-risk config", False, 1), ("reboots need two people", False, 1)]
    assert evs[1].failed == ["disruption: the action's is none, the rule allows reboot"]


def test_time_windows() -> None:
    w = TimeWindow.parse("Fri-Mon 22:00-02:00 UTC")  # crosses midnight and the weekend
    fri = datetime(2026, 3, 6, 23, 0, tzinfo=UTC)
    assert w.end_of_window(fri) == datetime(2026, 3, 7, 2, 0, tzinfo=UTC)
    assert w.end_of_window(datetime(2026, 3, 7, 1, 0, tzinfo=UTC)) is not None  # Sat 01:00
    assert w.end_of_window(datetime(2026, 3, 4, 23, 0, tzinfo=UTC)) is None  # Wed
    assert w.end_of_window(datetime(2026, 3, 6, 21, 0, tzinfo=UTC)) is None
    assert TimeWindow.parse("09:00-17:00 Europe/Paris").end_of_window(
        datetime(2026, 3, 4, 8, 30, tzinfo=UTC)) == datetime(2026, 3, 4, 16, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="unknown day"):
        TimeWindow.parse("Funday 01:00-02:00")
    with pytest.raises(ValueError, match="unknown time zone"):
        TimeWindow.parse("Mon 01:00-02:00 Mars/Olympus")


@pytest.mark.parametrize(("text", "message"), [
    ("approval_ttl: soon\n",
     "policy.yml:1: policy: approval_ttl: expected a duration like 24h, 90m, 7d "
     "or 1h30m, got 'soon'"),
    ("rules:\n  - name: a\n    disruption: [explode]\n",
     "policy.yml:3: policy: rules.0.disruption.0: Input should be 'none', 'service_reload', "
     "'service_restart' or 'reboot'"),
    ("rules:\n  - name: a\n    windows: ['Mon 2-3']\n",
     "policy.yml:3: policy: rules.0.windows.0: time window 'Mon 2-3': expected "
     "'DAYS HH:MM-HH:MM [TZ]', e.g. 'Mon-Fri 02:00-05:00 UTC'"),
    ("rules:\n  - name: a\n    auto_approve: true\n    approvers: 2\n",
     "policy.yml:2: policy: rules.0: auto_approve and approvers exclude each "
     "other (an auto-approved action needs no people)"),
    ("rules:\n  - name: a\n    severty: high\n",
     "policy.yml:3: policy: rules.0.severty: unknown field (check its spelling)"),
])
def test_bad_policy_files(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "policy.yml"
    f.write_text(text)
    with pytest.raises(PolicyError) as e:
        load_policy(f)
    assert str(e.value) == f"{tmp_path}/{message}"


# ------------------------------------------------------------------------------- the gate


def test_no_approval_refused(tmp_path: Path) -> None:
    store, plan = _plan(tmp_path)
    g = check_approvals(plan, store, T0)
    assert not g.ok and [p.kind for p in g.problems] == [RefusalKind.NO_APPROVAL]
    assert g.message() == (
        "refused: plan p-test has no approval; approve it with `inspectorctl approve PLAN "
        "--by NAME` (or --policy FILE)\nno host was changed")


def test_human_approval_all_and_subset(tmp_path: Path) -> None:
    store, plan = _plan(tmp_path)
    ssh = _action(plan, "sshd_config")
    approve_by(store, plan, "alice", T0, action_ids=[ssh.id])
    g = check_approvals(plan, store, later(1))
    assert g.ok and g.approved_ids == [ssh.id]
    (un,) = g.unapproved
    assert un.reason == "not approved (needs 1 approver)"
    approve_by(store, plan, "bob", T0)
    assert len(check_approvals(plan, store, later(1)).approved_ids) == 2


def test_expired_approval(tmp_path: Path) -> None:
    store, plan = _plan(tmp_path)
    approve_by(store, plan, "alice", T0, ttl=timedelta(hours=1))
    assert check_approvals(plan, store, later(59)).ok
    g = check_approvals(plan, store, later(61))
    assert [p.kind for p in g.problems] == [RefusalKind.EXPIRED]
    assert g.problems[0].message == (
        "the approval of plan p-test by alice expired at 2026-03-02T04:00:00+00:00; approve "
        "it again")


def test_modified_plan_refused(tmp_path: Path) -> None:
    store, plan = _plan(tmp_path)
    approve_by(store, plan, "alice", T0)
    a = plan.actions[0]
    evil = plan.model_copy(update={"actions": [a.model_copy(update={"hosts": [*a.hosts,
                                                                              "evil"]}),
                                               *plan.actions[1:]]})
    g = check_approvals(evil, store, later(1))
    assert [p.kind for p in g.problems] == [RefusalKind.PLAN_MODIFIED]
    assert g.problems[0].message == (
        f"plan p-test was modified after it was made: its content does not match its digest "
        f"{plan.digest[:12]}; make a new plan with `inspectorctl plan`")
    # re-sealed with a new digest: not signed with the database's key
    g = check_approvals(evil.sealed(), store, later(1))
    assert [p.kind for p in g.problems] == [RefusalKind.PLAN_FORGED]
    assert g.problems[0].message == (
        f"plan p-test is not signed: only plans made by `inspectorctl plan` with the database "
        f"{store.path} are accepted; make a new plan")
    # a signature copied from the original plan does not fit the new digest
    g = check_approvals(evil.sealed().model_copy(update={"signature": plan.signature}), store,
                        later(1))
    assert g.problems[0].message.startswith("plan p-test has an invalid signature: it was not "
                                            "made by `inspectorctl plan` with the database")
    # signed with the key itself: recomputed from the stored findings, the hosts differ
    signed = plansign.sign_plan(store, evil.sealed())
    g = check_approvals(signed, store, later(1))
    assert [p.kind for p in g.problems] == [RefusalKind.PLAN_FORGED]
    assert g.problems[0].message == (
        f"plan p-test is not what inspectorctl would make of its own findings: action {a.id} "
        f"(sshd_config on web-1, web-2, evil) is not what its findings make: their rules' "
        f"remediations give sshd_config on web-1, web-2, sysctl on web-1, web-2; the plan's "
        "findings also make action sshd_config on web-1, web-2, which the plan does not list; "
        "make a new plan with `inspectorctl plan`")
    # a later plan of the same id (signed, made from the same findings): the approval is for
    # a different digest
    newer = plan_from_store(store, plan.source.run_id or "", at=later(1))
    g = check_approvals(newer, store, later(1))
    assert [p.kind for p in g.problems] == [RefusalKind.WRONG_DIGEST]
    assert g.problems[0].message == (
        f"the approvals of plan p-test are for digest {plan.digest[:12]}, not for this plan's "
        f"digest {newer.digest[:12]}: the plan changed after it was approved; review "
        "it and approve it again")


def test_changed_playbook_refused(tmp_path: Path, fake_catalog: dict[str, str]) -> None:
    store, plan = _plan(tmp_path)
    approve_by(store, plan, "alice", T0)
    fake_catalog["sysctl"] = "1" * 64
    g = check_approvals(plan, store, later(1))
    assert [p.kind for p in g.problems] == [RefusalKind.PLAYBOOK_CHANGED]
    assert g.problems[0].message == (
        "playbook sysctl changed (digest eeeeeeeeeeee in the plan, now 111111111111) since "
        "plan p-test was made; make a new plan and have it approved again")
    del fake_catalog["sysctl"]
    assert "playbook sysctl was removed since" in check_approvals(plan, store, later(1)
                                                                  ).problems[0].message


def test_stale_plan_refused(tmp_path: Path) -> None:
    store, plan = _plan(tmp_path, hosts=("web-1",))
    approve_by(store, plan, "alice", T0)
    # a newer assessment with the same results: not stale
    record(store, [result("ssh-root", "web-1"), result("fwd", "web-1")], at=later(5))
    assert check_approvals(plan, store, later(6)).ok
    # new evidence for one finding, and another closed
    rid = record(store, [result("ssh-root", "web-1", found="changed"),
                         result("fwd", "web-1", Status.PASS)], at=later(10), run_id="r-new")
    g = check_approvals(plan, store, later(11))
    assert [p.kind for p in g.problems] == [RefusalKind.STALE]
    assert g.problems[0].message == (
        f"plan p-test is stale: 2 of its findings changed since it was made (ssh-root on "
        f"web-1: new evidence in run {rid}; fwd on web-1: now PASS in run {rid}); make a new "
        "plan with `inspectorctl plan` and approve it")


def test_an_unreachable_host_does_not_make_the_plan_stale(tmp_path: Path) -> None:
    """The user's report: with weak-2 stopped, an assessment turned the pending plan stale.
    ERROR results say nothing about a finding; a real result after them still counts."""
    store, plan = _plan(tmp_path, hosts=("web-1",))
    approve_by(store, plan, "alice", T0)
    record(store, [result("ssh-root", "web-1", Status.ERROR),
                   result("fwd", "web-1", Status.ERROR)], at=later(5), run_id="r-down")
    assert check_approvals(plan, store, later(6)).ok
    rid = record(store, [result("fwd", "web-1", Status.PASS)], at=later(10), run_id="r-up")
    g = check_approvals(plan, store, later(11))
    assert [p.kind for p in g.problems] == [RefusalKind.STALE]
    assert f"fwd on web-1: now PASS in run {rid}" in g.problems[0].message


def test_own_verification_run_does_not_make_the_plan_stale(tmp_path: Path) -> None:
    from inspectorctl.remediate import audit
    from inspectorctl.remediate.audit import AuditEvent

    store, plan = _plan(tmp_path, hosts=("web-1",))
    approve_by(store, plan, "alice", T0)
    vid = record(store, [result("ssh-root", "web-1", Status.PASS),
                         result("fwd", "web-1", Status.PASS)], at=later(3), run_id="r-verify")
    audit.record(store, AuditEvent.VERIFY, "alice", later(3), plan_id=plan.plan_id,
                 plan_digest=plan.digest, run_id=vid)
    assert check_approvals(plan, store, later(4)).ok


def test_two_approvers_needed(tmp_path: Path) -> None:
    store, plan = _plan(tmp_path, rules=("boot",))
    pol = _policy(tmp_path)
    approve_by(store, plan, "alice", T0, policy=pol)
    g = check_approvals(plan, store, later(1))
    assert [p.kind for p in g.problems] == [RefusalKind.TOO_FEW_APPROVALS]
    a = plan.actions[0]
    assert g.message() == (
        f"refused: nothing in plan p-test is approved:\n  {a.id} (grub): needs 2 distinct "
        "approvers, has 1 (alice)\nno host was changed")
    approve_by(store, plan, "alice", later(1), policy=pol)  # the same person again
    assert not check_approvals(plan, store, later(2)).ok
    approve_by(store, plan, "bob", later(2))
    assert check_approvals(plan, store, later(3)).approved_ids == [a.id]
    # the policy given to apply is enforced too, even without a recorded requirement
    store2, plan2 = _plan(tmp_path / "two", rules=("boot",))
    approve_by(store2, plan2, "alice", T0)
    assert check_approvals(plan2, store2, later(1)).ok
    assert not check_approvals(plan2, store2, later(1), pol).ok


def test_policy_auto_approval(tmp_path: Path) -> None:
    store, plan = _plan(tmp_path)
    pol = _policy(tmp_path)
    res = approve_with_policy(store, plan, pol, T0)
    fwd = _action(plan, "sysctl")
    assert res.auto_ids == [fwd.id]
    assert [d.action_id for d in res.needs_people] == [_action(plan, "sshd_config").id]
    (a,) = res.approvals
    assert a.approver == "policy:policy.yml#low-risk config"
    # an auto-approval made in a window lasts until the window closes
    assert a.expires_at == datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    g = check_approvals(plan, store, later(1))
    assert g.approved_ids == [fwd.id]
    assert not check_approvals(plan, store, datetime(2026, 3, 2, 5, 1, tzinfo=UTC)).ok


def _raw(store: Store) -> sqlite3.Connection:
    db = sqlite3.connect(store.path)
    db.execute("DROP TRIGGER approvals_no_update")
    db.execute("DROP TRIGGER approvals_no_delete")
    return db


def test_tampered_approval_record_refused(tmp_path: Path) -> None:
    store, plan = _plan(tmp_path)
    approve_by(store, plan, "alice", T0, ttl=timedelta(hours=1))
    # the triggers refuse edits...
    with pytest.raises(sqlite3.DatabaseError, match="approvals are append-only"):
        store.db.execute("UPDATE approvals SET expires_at='2099-01-01T00:00:00+00:00'")
    # ...and an edit made after dropping them fails the signature
    db = _raw(store)
    db.execute("UPDATE approvals SET expires_at='2099-01-01T00:00:00+00:00'")
    db.commit()
    db.close()
    g = check_approvals(plan, store, later(90))
    assert [p.kind for p in g.problems] == [RefusalKind.APPROVAL_TAMPERED]
    assert g.problems[0].message == (
        f"approval record 1 in {store.path} (by alice) fails its signature check: it was "
        "altered outside inspectorctl; no approval is trusted until it is resolved")


def test_deleted_approval_record_breaks_the_chain(tmp_path: Path) -> None:
    store, plan = _plan(tmp_path)
    approve_by(store, plan, "alice", T0)
    approve_by(store, plan, "bob", T0)
    approve_by(store, plan, "carol", T0)
    db = _raw(store)
    db.execute("DELETE FROM approvals WHERE seq=2")
    db.commit()
    db.close()
    g = check_approvals(plan, store, later(1))
    assert g.problems[0].kind is RefusalKind.APPROVAL_TAMPERED
    assert "approval record 3" in g.problems[0].message
    assert "a record was removed or inserted" in g.problems[0].message


def test_missing_key_file(tmp_path: Path) -> None:
    store, plan = _plan(tmp_path)
    approve_by(store, plan, "alice", T0)
    Path(str(store.path) + ".key").unlink()
    with pytest.raises(ApprovalError, match=r"approval key file .* is missing"):
        check_approvals(plan, store, later(1))


def test_approving_a_modified_plan_is_refused(tmp_path: Path) -> None:
    store, plan = _plan(tmp_path)
    evil = plan.model_copy(update={"findings_digest": "0" * 64})
    with pytest.raises(ApprovalError, match="was modified after it was made"):
        approve_by(store, evil, "alice", T0)


def test_policy_rules_never_match_an_action_without_findings(tmp_path: Path) -> None:
    _, plan = _plan(tmp_path)
    a = plan.actions[0]
    pol = Policy.model_validate({"rules": [{"name": "everything", "auto_approve": True}],
                                 "default_approvers": 2})
    assert decide(pol, a, T0).auto
    d = decide(pol, a.model_copy(update={"findings": []}), T0)
    assert (d.rule, d.auto, d.approvers) == (None, False, 2)
