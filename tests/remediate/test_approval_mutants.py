"""Refusals of the approval gate that mutation testing found untested (issue 10).

Each test pins a decision that a mutant of ``remediate/approval.py`` flipped without any test
noticing: an action above an auto-approve rule's severity limit, a policy approval next to a
human one, an empty approver name, two actions sharing a playbook, findings suppressed or
without a result after planning, approving a modified or stale plan with a policy, the key
file (wrong key, mode, length, unreadable), the exact instant an approval expires, and an
unreadable approval record.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from inspectorctl.errors import InputError
from inspectorctl.models.common import Severity, Status
from inspectorctl.models.plan import ApprovalKind, Plan, Policy
from inspectorctl.remediate.approval import (
    KEY_ENV,
    ApprovalError,
    RefusalKind,
    approve_by,
    approve_with_policy,
    check_approvals,
    decide,
    load_policy,
    read_approvals,
)
from inspectorctl.store.db import Store
from tests.remediate.helpers import T0, fake_catalog, later, plan_from_store, record, result

__all__ = ["fake_catalog"]

pytestmark = pytest.mark.usefixtures("fake_catalog")


def _plan(tmp_path: Path, results: list[tuple[str, str]]) -> tuple[Store, Plan, str]:
    store = Store(tmp_path / "f.db")
    rid = record(store, [result(r, h) for r, h in results])
    return store, plan_from_store(store, rid), rid


def _policy(tmp_path: Path, text: str) -> Policy:
    f = tmp_path / "policy.yml"
    f.write_text(text)
    return load_policy(f)


def _count(store: Store, table: str) -> int:
    return int(store.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"])


# ----------------------------------------------------------------------- policy: severity

UP_TO_MEDIUM = """\
rules:
  - name: anything up to medium
    auto_approve: true
    max_severity: medium
default_approvers: 1
"""


def test_an_action_above_the_rules_severity_limit_is_not_auto_approved(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1"), ("boot", "web-1")])
    pol = _policy(tmp_path, UP_TO_MEDIUM)
    fwd = next(a for a in plan.actions if a.playbook == "sysctl")
    boot = next(a for a in plan.actions if a.playbook == "grub")
    assert boot.severity is Severity.CRITICAL
    assert decide(pol, fwd, T0).auto
    d = decide(pol, boot, T0)
    assert (d.rule, d.auto, d.approvers) == (None, False, 1)
    # the limit itself is allowed, one step above is not
    assert decide(pol, fwd.model_copy(update={"severity": Severity.MEDIUM}), T0).auto
    assert not decide(pol, fwd.model_copy(update={"severity": Severity.HIGH}), T0).auto
    res = approve_with_policy(store, plan, pol, T0)
    assert res.auto_ids == [fwd.id]
    g = check_approvals(plan, store, later(1))
    assert g.approved_ids == [fwd.id]
    (un,) = g.unapproved
    assert (un.action_id, un.reason) == (boot.id, "not approved (needs 1 approver)")


# ------------------------------------------------------ policy approval next to people

TWO_FOR_REBOOTS = """\
rules:
  - name: config
    auto_approve: true
    disruption: [none, service_reload, service_restart]
  - name: reboots need two people
    disruption: [reboot]
    approvers: 2
default_approvers: 1
"""


def test_a_policy_approval_keeps_two_people_for_what_it_did_not_approve(
        tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1"), ("boot", "web-1")])
    pol = _policy(tmp_path, TWO_FOR_REBOOTS)
    fwd = next(a for a in plan.actions if a.playbook == "sysctl")
    boot = next(a for a in plan.actions if a.playbook == "grub")
    res = approve_with_policy(store, plan, pol, T0)
    (auto,) = res.approvals
    # the policy's record says what the rest needs, so the gate knows it without the policy
    assert auto.requirements == {boot.id: 2}
    assert auto.action_ids == [fwd.id]
    approve_by(store, plan, "alice", later(1))  # no policy given: one person approves all
    g = check_approvals(plan, store, later(2))
    assert g.approved_ids == [fwd.id]
    (un,) = g.unapproved
    assert (un.required, un.reason) == (2, "needs 2 distinct approvers, has 1 (alice)")
    approve_by(store, plan, "bob", later(2), action_ids=[boot.id])
    assert check_approvals(plan, store, later(3)).approved_ids == [boot.id, fwd.id]


def test_a_human_approval_with_the_policy_records_only_what_people_must_approve(
        tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1"), ("boot", "web-1")])
    pol = _policy(tmp_path, TWO_FOR_REBOOTS)
    boot = next(a for a in plan.actions if a.playbook == "grub")
    a = approve_by(store, plan, "alice", T0, policy=pol)
    assert a.requirements == {boot.id: 2}
    assert a.kind is ApprovalKind.HUMAN


# -------------------------------------------------------------------------- approver name

@pytest.mark.parametrize(("name", "why"), [
    ("", r"^--by: the name is empty; give who you are"),
    (" ", r"^--by: the name is empty; give who you are"),
    ("\t\n", r"^--by .*: contains control or format character\(s\)"),
])
def test_an_empty_approver_name_is_refused_and_nothing_recorded(tmp_path: Path,
                                                                name: str, why: str) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    with pytest.raises(InputError, match=why):
        approve_by(store, plan, name, T0)
    assert _count(store, "approvals") == 0
    # and a name with spaces around counts once, trimmed
    approve_by(store, plan, " alice ", T0)
    approve_by(store, plan, "alice", T0)
    (v,) = check_approvals(plan, store, later(1)).verdicts
    assert v.approvers == ["alice"]


# --------------------------------------------------------------- playbooks and staleness

def test_a_changed_playbook_after_two_actions_sharing_one_is_refused(
        tmp_path: Path, fake_catalog: dict[str, str]) -> None:
    store, plan, _ = _plan(tmp_path, [("ssh-root", "web-1"), ("ssh-root", "web-2"),
                                      ("ssh-tries", "web-2"), ("fwd", "web-1")])
    assert [a.playbook for a in plan.actions] == ["sshd_config", "sshd_config", "sysctl"]
    approve_by(store, plan, "alice", T0)
    assert check_approvals(plan, store, later(1)).ok
    fake_catalog["sysctl"] = "1" * 64
    g = check_approvals(plan, store, later(1))
    assert [p.kind for p in g.problems] == [RefusalKind.PLAYBOOK_CHANGED]
    assert "playbook sysctl changed" in g.problems[0].message
    assert g.approved_ids == []


def test_a_finding_suppressed_after_planning_makes_the_plan_stale(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("ssh-root", "web-1"), ("fwd", "web-1")])
    approve_by(store, plan, "alice", T0)
    fwd = next(f for a in plan.actions for f in a.findings if f.rule_id == "fwd")
    store.suppress([fwd.id], by="bob", reason="accepted", until=None)
    g = check_approvals(plan, store, later(1))
    assert [p.kind for p in g.problems] == [RefusalKind.STALE]
    assert g.problems[0].message == (
        "plan p-test is stale: 1 of its findings changed since it was made (fwd on web-1: "
        "suppressed); make a new plan with `inspectorctl plan` and approve it")


def test_a_finding_whose_result_is_gone_makes_the_plan_stale(tmp_path: Path) -> None:
    store, plan, rid = _plan(tmp_path, [("ssh-root", "web-1"), ("fwd", "web-1")])
    approve_by(store, plan, "alice", T0)
    db = sqlite3.connect(store.path)
    db.execute("DELETE FROM results WHERE run_id=? AND rule_id='fwd'", (rid,))
    db.commit()
    db.close()
    g = check_approvals(plan, store, later(1))
    # the gate rebuilds the plan from the stored results first: a finding without its FAIL
    # result in the source run is a plan the database no longer supports
    assert [p.kind for p in g.problems] == [RefusalKind.PLAN_FORGED]
    assert "fwd" in g.problems[0].message


def test_stale_plans_list_three_findings_and_count_the_rest(tmp_path: Path) -> None:
    hosts = ("web-1", "web-2", "web-3", "web-4", "web-5")
    store, plan, _ = _plan(tmp_path, [("fwd", h) for h in hosts])
    approve_by(store, plan, "alice", T0)
    rid = record(store, [result("fwd", h, Status.PASS) for h in hosts], at=later(5),
                 run_id="r-new")
    g = check_approvals(plan, store, later(6))
    assert g.problems[0].message == (
        f"plan p-test is stale: 5 of its findings changed since it was made (fwd on web-1: "
        f"now PASS in run {rid}; fwd on web-2: now PASS in run {rid}; fwd on web-3: now PASS "
        f"in run {rid}; and 2 more); make a new plan with `inspectorctl plan` and approve it")


def test_the_policy_does_not_approve_a_modified_or_stale_plan(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    pol = _policy(tmp_path, TWO_FOR_REBOOTS)
    evil = plan.model_copy(update={"findings_digest": "0" * 64})
    with pytest.raises(ApprovalError, match="was modified after it was made"):
        approve_with_policy(store, evil, pol, T0)
    record(store, [result("fwd", "web-1", Status.PASS)], at=later(5), run_id="r-new")
    with pytest.raises(ApprovalError, match=r"^refused: plan p-test is stale: 1 of its findings"):
        approve_with_policy(store, plan, pol, later(6))
    assert _count(store, "approvals") == 0


# ----------------------------------------------------------------------------- key file

def _key(store: Store) -> Path:
    return Path(str(store.path) + ".key")


def test_the_key_file_is_created_0600_with_32_random_bytes(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    approve_by(store, plan, "alice", T0)
    st = _key(store).stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_size == 32
    other_store, other_plan, _ = _plan(tmp_path / "other", [("fwd", "web-1")])
    approve_by(other_store, other_plan, "alice", T0)
    assert _key(other_store).read_bytes() != _key(store).read_bytes()


def test_a_key_file_that_is_not_the_signing_key_is_refused(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    approve_by(store, plan, "alice", T0)
    _key(store).write_bytes(os.urandom(32))
    with pytest.raises(ApprovalError, match=r"is not the key the approvals in .* were signed "
                                            r"with; restore the right key file"):
        check_approvals(plan, store, later(1))
    with pytest.raises(ApprovalError, match="is not the key"):
        approve_by(store, plan, "bob", later(1))


def test_a_short_key_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "short.key"
    key.write_bytes(b"k" * 31)
    key.chmod(0o600)
    monkeypatch.setenv(KEY_ENV, str(key))
    # plans are signed with the key when made: a short key refuses the plan itself
    with pytest.raises(ApprovalError, match=r"short.key is too short \(needs 32 bytes"):
        _plan(tmp_path, [("fwd", "web-1")])
    key.write_bytes(b"k" * 32)  # 32 bytes is enough
    store, plan, _ = _plan(tmp_path / "again", [("fwd", "web-1")])
    approve_by(store, plan, "alice", T0)
    assert check_approvals(plan, store, later(1)).ok


def test_key_file_os_errors_are_approval_errors(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    a_dir = tmp_path / "keydir"
    a_dir.mkdir()
    monkeypatch.setenv(KEY_ENV, str(a_dir))
    # plans are signed with the key when made: the key's errors refuse the plan itself
    with pytest.raises(ApprovalError, match=r"approval key file .*keydir is not a regular file"):
        _plan(tmp_path / "one", [("fwd", "web-1")])
    # the key's directory is a dangling symlink: no key file, and it cannot be made
    dangling = tmp_path / "gone"
    dangling.symlink_to(tmp_path / "nowhere")
    monkeypatch.setenv(KEY_ENV, str(dangling / "approval.key"))
    with pytest.raises(ApprovalError, match=r"cannot create the approval key file "):
        _plan(tmp_path / "two", [("fwd", "web-1")])


def test_no_key_is_needed_to_read_an_empty_approval_table(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    _key(store).unlink()  # the plan was signed with it; an empty table needs none
    assert read_approvals(store).approvals == []
    g = check_approvals(plan, store, T0)
    # without the key the plan's signature cannot be checked: refused, never approved
    assert [p.kind for p in g.problems] == [RefusalKind.PLAN_FORGED]


# ------------------------------------------------------------------------------- expiry

def test_an_approval_is_expired_at_the_exact_instant_it_expires(tmp_path: Path) -> None:
    from datetime import timedelta

    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    approve_by(store, plan, "alice", T0, ttl=timedelta(hours=1))
    just_before = later(60) - timedelta(microseconds=1)
    assert check_approvals(plan, store, just_before).ok
    g = check_approvals(plan, store, later(60))
    assert [p.kind for p in g.problems] == [RefusalKind.EXPIRED]


def test_the_latest_expiry_is_named_when_every_approval_expired(tmp_path: Path) -> None:
    from datetime import timedelta

    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    approve_by(store, plan, "alice", T0, ttl=timedelta(hours=2))
    approve_by(store, plan, "bob", T0, ttl=timedelta(hours=1))
    g = check_approvals(plan, store, later(180))
    assert g.problems[0].message == (
        "the approval of plan p-test by alice expired at 2026-03-02T05:00:00+00:00; approve "
        "it again")
    (v,) = check_approvals(plan, store, later(90)).verdicts
    assert (v.approved, v.approvers, v.expires_at) == (True, ["alice"], later(120))


# -------------------------------------------------------------------- unreadable records

def test_an_unreadable_approval_record_is_refused_not_a_crash(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    approve_by(store, plan, "alice", T0)
    db = sqlite3.connect(store.path)
    db.execute("DROP TRIGGER approvals_no_update")
    db.execute("UPDATE approvals SET action_ids='not json' WHERE seq=1")
    db.commit()
    db.close()
    g = check_approvals(plan, store, later(1))
    assert [p.kind for p in g.problems] == [RefusalKind.APPROVAL_TAMPERED]
    assert g.problems[0].message.startswith(f"approval record 1 in {store.path} is unreadable (")
    assert g.problems[0].message.endswith(
        "): it was altered outside inspectorctl; no approval is trusted until it is resolved")
    assert g.approved_ids == []


# ------------------------------------------------------------- second round (mutation run)

def test_a_missing_key_file_is_never_silently_replaced(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    approve_by(store, plan, "alice", T0)
    _key(store).unlink()
    # approving again must not make a new key: the old approvals could never be verified
    with pytest.raises(ApprovalError, match=r"approval key file .* is missing"):
        approve_by(store, plan, "bob", later(1))
    assert not _key(store).exists()
    assert _count(store, "approvals") == 1


def test_a_shared_changed_playbook_is_named_once_and_staleness_waits(
        tmp_path: Path, fake_catalog: dict[str, str]) -> None:
    store, plan, _ = _plan(tmp_path, [("ssh-root", "web-1"), ("ssh-root", "web-2"),
                                      ("ssh-tries", "web-2"), ("fwd", "web-1")])
    approve_by(store, plan, "alice", T0)
    fake_catalog["sshd_config"] = "2" * 64
    record(store, [result("fwd", "web-1", Status.PASS)], at=later(5), run_id="r-new")
    g = check_approvals(plan, store, later(6))
    # one refusal for the playbook two actions share; staleness is not looked at yet
    assert [p.kind for p in g.problems] == [RefusalKind.PLAYBOOK_CHANGED]
    # every action gets a verdict, refused with the problem's kind
    assert [(v.action_id, v.approved, v.reason) for v in g.verdicts] == [
        (a.id, False, "playbook_changed") for a in plan.actions]


@pytest.mark.parametrize(("hosts", "tail"), [(3, ""), (4, "; and 1 more")])
def test_stale_plans_name_up_to_three_findings(tmp_path: Path, hosts: int, tail: str) -> None:
    names = [f"web-{i}" for i in range(1, hosts + 1)]
    store, plan, _ = _plan(tmp_path, [("fwd", h) for h in names])
    approve_by(store, plan, "alice", T0)
    rid = record(store, [result("fwd", h, Status.PASS) for h in names], at=later(5),
                 run_id="r-new")
    (p,) = check_approvals(plan, store, later(6)).problems
    shown = "; ".join(f"fwd on {h}: now PASS in run {rid}" for h in names[:3])
    assert p.message == (
        f"plan p-test is stale: {hosts} of its findings changed since it was made ({shown}"
        f"{tail}); make a new plan with `inspectorctl plan` and approve it")


def test_a_manual_steps_finding_makes_the_plan_stale_too(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1"), ("part-tmp", "web-1")])
    assert plan.manual_steps
    approve_by(store, plan, "alice", T0)
    record(store, [result("fwd", "web-1"), result("part-tmp", "web-1", Status.PASS)],
           at=later(5), run_id="r-new")
    g = check_approvals(plan, store, later(6))
    assert [p.kind for p in g.problems] == [RefusalKind.STALE]
    assert "part-tmp on web-1: now PASS in run r-new" in g.problems[0].message


def test_an_unapproved_action_says_how_many_people_it_needs(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1"), ("boot", "web-1")])
    pol = _policy(tmp_path, TWO_FOR_REBOOTS)
    approve_with_policy(store, plan, pol, T0)
    (un,) = check_approvals(plan, store, later(1)).unapproved
    assert un.reason == "not approved (needs 2 approvers)"


# ------------------------------------------------------------- third round (mutation run)

def _resigned(store: Store, plan: Plan, **update: object) -> Plan:
    """The plan changed as ``update`` says, its digest recomputed and signed with the store's
    key: what someone holding the key could make, or a field ``plan`` fills (created_by)."""
    from inspectorctl.remediate import plansign

    changed = plan.model_copy(update=update)
    return plansign.sign_plan(store, changed.model_copy(
        update={"digest": changed.computed_digest()}))


def test_the_first_approval_follows_the_genesis_digest(tmp_path: Path) -> None:
    # the chain's start is part of the record format: databases written before must verify
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    approve_by(store, plan, "alice", T0)
    approve_by(store, plan, "bob", T0)
    first, second = read_approvals(store).approvals
    assert first.prev_digest == "0" * 64
    assert second.prev_digest == first.digest


def test_lifetimes_default_24h_and_the_shortest_the_policy_gives_wins(tmp_path: Path) -> None:
    from datetime import timedelta

    store, plan, _ = _plan(tmp_path, [("fwd", "web-1"), ("boot", "web-1")])
    assert approve_by(store, plan, "alice", T0).expires_at == T0 + timedelta(hours=24)
    pol = _policy(tmp_path, "approval_ttl: 3h\n")
    assert approve_by(store, plan, "bob", T0, policy=pol).expires_at == T0 + timedelta(hours=3)
    pol = _policy(tmp_path, "approval_ttl: 3h\nrules:\n  - name: reboots\n"
                            "    disruption: [reboot]\n    approval_ttl: 90m\n")
    boot = next(a for a in plan.actions if a.playbook == "grub")
    fwd = next(a for a in plan.actions if a.playbook == "sysctl")
    # the rule's lifetime applies to the actions it matches, not to the others
    assert approve_by(store, plan, "carol", T0, policy=pol,
                      action_ids=[fwd.id]).expires_at == T0 + timedelta(hours=3)
    assert approve_by(store, plan, "dave", T0, policy=pol,
                      action_ids=[boot.id]).expires_at == T0 + timedelta(minutes=90)
    assert approve_by(store, plan, "erin", T0, policy=pol,
                      ttl=timedelta(hours=1)).expires_at == T0 + timedelta(hours=1)


@pytest.mark.parametrize(("ttl", "why"), [(0, "must last longer than"),
                                          (-60, "must last longer than"),
                                          (367 * 24 * 3600, "may last at most 366d, not")])
def test_a_bad_ttl_is_refused_before_anything_is_recorded(tmp_path: Path, ttl: int,
                                                          why: str) -> None:
    from datetime import timedelta

    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    with pytest.raises(InputError, match=rf"^--ttl \S*: an approval {why}"):
        approve_by(store, plan, "alice", T0, ttl=timedelta(seconds=ttl))
    assert _count(store, "approvals") == 0


def test_the_gate_applies_the_policys_lifetime_to_older_approvals(tmp_path: Path) -> None:
    from datetime import timedelta

    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    approve_by(store, plan, "alice", T0)  # 24 h, made without the policy
    pol = _policy(tmp_path, "approval_ttl: 1h\n")
    assert check_approvals(plan, store, later(60) - timedelta(microseconds=1), pol).ok
    g = check_approvals(plan, store, later(60), pol)
    (v,) = g.verdicts
    assert (v.approved, v.reason) == (False, "not approved (needs 1 approver)")
    # without the policy the record's own 24 h still hold
    assert check_approvals(plan, store, later(60)).ok


def test_a_refusal_exits_3_and_is_audited(tmp_path: Path) -> None:
    from inspectorctl.remediate.approval import refuse

    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    g = check_approvals(plan, store, T0)
    err = refuse(store, g, "alice", T0, command="apply")
    assert err.exit_code == 3
    assert str(err) == g.message()
    row = store.execute("SELECT event, actor FROM audit_log ORDER BY seq DESC LIMIT 1"
                        ).fetchone()
    assert (row["event"], row["actor"]) == ("refuse", "alice")


def test_the_allowed_signers_file_is_found_beside_the_policy_and_checked_at_load(
        tmp_path: Path) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    (sub / "policy.yml").write_text("require_signed: true\nallowed_signers: signers\n")
    with pytest.raises(InputError, match=r"conf/signers"):
        load_policy(sub / "policy.yml")
    (sub / "signers").write_text("alice ssh-ed25519 not-base64!\n")
    with pytest.raises(InputError, match=r"conf/signers:1: the key is not base64"):
        load_policy(sub / "policy.yml")
    (sub / "signers").write_text("# nobody yet\n")
    with pytest.raises(InputError, match=r"conf/signers: lists no signer"):
        load_policy(sub / "policy.yml")
    # a well-formed line (any ed25519 public key: 32 bytes after the type name)
    import base64

    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + b"k" * 32
    (sub / "signers").write_text(f"alice ssh-ed25519 {base64.b64encode(blob).decode()}\n")
    assert load_policy(sub / "policy.yml").allowed_signers == str(sub / "signers")


def test_a_decision_without_a_closest_rule_names_only_the_deciding_rule(
        tmp_path: Path) -> None:
    _, plan, _ = _plan(tmp_path, [("boot", "web-1")])
    (boot,) = plan.actions
    pol = _policy(tmp_path, "rules:\n  - name: reboots\n    disruption: [reboot]\n"
                            "    approvers: 2\n")
    d = decide(pol, boot, T0)
    assert (d.auto, d.closest, d.why) == (False, None, "policy rule 'reboots'")
    pol = _policy(tmp_path, "default_approvers: 2\n")
    assert decide(pol, boot, T0).why == "no policy rule matched"


def test_approver_names_person_normalised_policy_verbatim_and_never_empty(
        tmp_path: Path) -> None:
    from inspectorctl.remediate.approval import record_approval

    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    ids = [a.id for a in plan.actions]

    def rec(approver: str, kind: ApprovalKind) -> str:
        return record_approval(store, plan, approver=approver, kind=kind, action_ids=ids,
                               now=T0, expires_at=later(60)).approver

    assert rec("  Alice  ", ApprovalKind.HUMAN) == "alice"
    assert rec("policy:Ops.yml#Low Risk", ApprovalKind.POLICY) == "policy:Ops.yml#Low Risk"
    for bad in (" ", "", "policy:x\x1b[2J#r"):
        with pytest.raises(InputError, match=r"^policy approver .*: empty or holds control "):
            rec(bad, ApprovalKind.POLICY)
    assert _count(store, "approvals") == 2


def test_unknown_actions_and_an_empty_selection_are_refused(tmp_path: Path) -> None:
    from inspectorctl.remediate.approval import record_approval

    store, plan, _ = _plan(tmp_path, [("fwd", "web-1"), ("boot", "web-1")])
    names = ", ".join(a.id for a in plan.actions)
    with pytest.raises(InputError, match=(
            rf"^--action aa: no such action in plan p-test \(actions: {names}\)$")):
        approve_by(store, plan, "alice", T0, action_ids=["zz", plan.actions[0].id, "aa"])
    with pytest.raises(InputError, match=r"^plan p-test has no action to approve$"):
        record_approval(store, plan, approver="alice", kind=ApprovalKind.HUMAN,
                        action_ids=[], now=T0, expires_at=later(60))
    # a plan of manual steps only: nothing to approve, and the gate says there is no approval
    store2, manual, _ = _plan(tmp_path / "manual", [("part-tmp", "web-1")])
    assert manual.actions == [] and manual.manual_steps
    with pytest.raises(InputError, match=r"^plan p-test has no action to approve$"):
        approve_by(store2, manual, "alice", T0)
    with pytest.raises(InputError, match=r"\(actions: none\)$"):
        record_approval(store2, manual, approver="alice", kind=ApprovalKind.HUMAN,
                        action_ids=["a1"], now=T0, expires_at=later(60))
    assert _count(store, "approvals") == _count(store2, "approvals") == 0
    g = check_approvals(manual, store2, T0)
    assert [p.kind for p in g.problems] == [RefusalKind.NO_APPROVAL]


def test_an_approval_into_a_fresh_database_makes_its_key_and_keeps_the_plan(
        tmp_path: Path) -> None:
    from inspectorctl.remediate.approval import record_approval
    from inspectorctl.remediate.keys import key_id, stored_key_id

    _, plan, _ = _plan(tmp_path / "a", [("fwd", "web-1")])
    fresh = Store(tmp_path / "b" / "f.db")
    record_approval(fresh, plan, approver="alice", kind=ApprovalKind.HUMAN,
                    action_ids=[a.id for a in plan.actions], now=T0, expires_at=later(60))
    key = _key(fresh)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stored_key_id(fresh) == key_id(key.read_bytes())
    (a,) = read_approvals(fresh).approvals
    assert a.approver == "alice"
    row = fresh.execute("SELECT plan_id, body FROM plans WHERE digest=?", (plan.digest,)
                        ).fetchone()
    assert row["plan_id"] == "p-test"
    assert Plan.model_validate_json(row["body"]) == plan


def test_an_approval_moves_the_audit_head(tmp_path: Path) -> None:
    import json

    from inspectorctl.remediate import audit

    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    approve_by(store, plan, "alice", T0)
    approve_by(store, plan, "bob", T0)
    last = store.execute("SELECT max(seq) AS s FROM audit_log").fetchone()["s"]
    assert json.loads(audit.head_path(store).read_text())["seq"] == last
    assert audit.verify(store).problems == []


def test_a_read_never_makes_a_key_even_when_its_id_is_gone(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    approve_by(store, plan, "alice", T0)
    _key(store).unlink()
    with store.transaction() as db:
        db.execute("DELETE FROM remediation_meta WHERE key='approval_key_id'")
    with pytest.raises(ApprovalError, match=r"approval key file .* is missing"):
        read_approvals(store)
    assert not _key(store).exists()


def test_the_first_integrity_problem_is_the_one_reported(
        tmp_path: Path, fake_catalog: dict[str, str]) -> None:
    store, plan, _ = _plan(tmp_path, [("ssh-root", "web-1"), ("fwd", "web-1")])
    pol = _policy(tmp_path, "default_approvers: 1\n")
    approve_by(store, plan, "alice", T0)
    fake_catalog["sshd_config"] = "1" * 64
    fake_catalog["sysctl"] = "2" * 64
    with pytest.raises(ApprovalError, match=r"^refused: playbook sshd_config changed "):
        approve_by(store, plan, "bob", T0)
    with pytest.raises(ApprovalError, match=r"^refused: playbook sshd_config changed "):
        approve_with_policy(store, plan, pol, T0)
    # a changed playbook and a tampered approval: every verdict names the first problem
    db = sqlite3.connect(store.path)
    db.execute("DROP TRIGGER approvals_no_update")
    db.execute("UPDATE approvals SET approver='mallory' WHERE seq=1")
    db.commit()
    db.close()
    g = check_approvals(plan, store, later(1))
    assert [p.kind for p in g.problems] == [RefusalKind.PLAYBOOK_CHANGED,
                                            RefusalKind.PLAYBOOK_CHANGED,
                                            RefusalKind.APPROVAL_TAMPERED]
    assert {v.reason for v in g.verdicts} == {"playbook_changed"}


def _planned_by(tmp_path: Path, who: str) -> tuple[Store, Plan]:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    return store, _resigned(store, plan, created_by=who)


def test_the_planner_may_not_approve_under_planner_cannot_approve(tmp_path: Path) -> None:
    store, plan = _planned_by(tmp_path, "alice")
    pol = _policy(tmp_path, "planner_cannot_approve: true\n")
    with pytest.raises(ApprovalError) as e:
        approve_by(store, plan, " Alice ", T0, policy=pol)
    assert e.value.exit_code == 2
    assert str(e.value) == (
        f"alice made plan p-test and the policy {tmp_path / 'policy.yml'} says the planner "
        "may not approve it (planner_cannot_approve); someone else must approve it")
    assert _count(store, "approvals") == 0
    # without the policy the planner's approval is recorded, but the gate does not count it
    approve_by(store, plan, "alice", T0)
    (v,) = check_approvals(plan, store, later(1), pol).verdicts
    assert (v.approved, v.approvers) == (False, [])
    assert v.reason == ("not approved (needs 1 approver); the planner alice does not count "
                        "(planner_cannot_approve)")
    assert check_approvals(plan, store, later(1)).ok
    approve_by(store, plan, "bob", later(1), policy=pol)
    (v,) = check_approvals(plan, store, later(2), pol).verdicts
    assert (v.approved, v.approvers) == (True, ["bob"])


def test_planner_cannot_approve_leaves_other_approvers_alone(tmp_path: Path) -> None:
    store, plan = _planned_by(tmp_path, "carol")
    pol = _policy(tmp_path, "planner_cannot_approve: true\ndefault_approvers: 2\n")
    approve_by(store, plan, "alice", T0, policy=pol)
    (v,) = check_approvals(plan, store, later(1), pol).verdicts
    # no planner among the approvers: nothing is said about the planner
    assert v.reason == "needs 2 distinct approvers, has 1 (alice)"
    # a plan without a recorded planner: the option has nobody to exclude
    store2, plan2, _ = _plan(tmp_path / "anon", [("fwd", "web-1")])
    approve_by(store2, plan2, "alice", T0, policy=pol)
    approve_by(store2, plan2, "bob", T0, policy=pol)
    assert check_approvals(plan2, store2, later(1), pol).ok


def test_wrong_digest_names_the_newest_approved_digest(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    plans = []
    for n in (1, 2, 3):
        rid = record(store, [result("fwd", f"web-{i}") for i in range(1, n + 1)],
                     at=later(n), run_id=f"r-{n}")
        plans.append(plan_from_store(store, rid))
    approve_by(store, plans[0], "alice", later(4))
    approve_by(store, plans[1], "alice", later(4))
    (p,) = check_approvals(plans[2], store, later(5)).problems
    assert p.kind is RefusalKind.WRONG_DIGEST
    assert p.message.startswith(
        f"the approvals of plan p-test are for digest {plans[1].digest[:12]}, not for this "
        f"plan's digest {plans[2].digest[:12]}")


def test_a_gate_result_lists_unapproved_actions_when_it_has_no_problem() -> None:
    from inspectorctl.remediate.approval import ActionVerdict, GateResult

    g = GateResult(plan_id="p-1", plan_digest="d", problems=[], verdicts=[
        ActionVerdict(action_id="a1", playbook="sysctl", hosts=["h"], approved=True,
                      approvers=["alice"], required=1),
        ActionVerdict(action_id="a2", playbook="grub", hosts=["h"], approved=False,
                      approvers=[], required=2, reason="not approved (needs 2 approvers)")])
    assert g.message() == ("refused: nothing in plan p-1 is approved:\n"
                           "  a2 (grub): not approved (needs 2 approvers)\nno host was changed")


def test_a_signed_plan_naming_a_path_as_playbook_is_refused_as_forged(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    (a,) = plan.actions
    evil = _resigned(store, plan, actions=[a.model_copy(update={"playbook": "../evil"})])
    (p,) = check_approvals(evil, store, T0).problems
    assert p.kind is RefusalKind.PLAN_FORGED
    assert p.message.startswith(f"plan p-test: action {a.id} names playbook '../evil', which "
                                "is not a remediation playbook of the catalogue")


@pytest.mark.parametrize(("gone", "tail"), [(3, ""), (4, "; and 1 more")])
def test_a_forged_plan_names_up_to_three_problems(tmp_path: Path, gone: int, tail: str) -> None:
    hosts = [f"web-{i}" for i in range(1, 6)]
    store, plan, rid = _plan(tmp_path, [("fwd", h) for h in hosts])
    db = sqlite3.connect(store.path)
    db.executemany("DELETE FROM results WHERE run_id=? AND host=?",
                   [(rid, h) for h in hosts[:gone]])
    db.commit()
    db.close()
    (p,) = check_approvals(plan, store, T0).problems
    shown = "; ".join(f"finding fwd on {h} is not a result of run {rid}" for h in hosts[:3])
    assert p.kind is RefusalKind.PLAN_FORGED
    assert p.message == (f"plan p-test is not what inspectorctl would make of its own "
                         f"findings: {shown}{tail}; make a new plan with `inspectorctl plan`")


def test_the_policys_default_lifetime_caps_a_longer_rule_lifetime(tmp_path: Path) -> None:
    from datetime import timedelta

    store, plan, _ = _plan(tmp_path, [("boot", "web-1")])
    pol = _policy(tmp_path, "approval_ttl: 1h\nrules:\n  - name: reboots\n"
                            "    disruption: [reboot]\n    approval_ttl: 5h\n")
    assert approve_by(store, plan, "alice", T0, policy=pol).expires_at == T0 + timedelta(hours=1)


@pytest.mark.skipif(__import__("shutil").which("ssh-keygen") is None,
                    reason="ssh-keygen (openssh-client) is not installed")
def test_the_unsigned_note_is_only_on_actions_an_unsigned_approval_covers(
        tmp_path: Path) -> None:
    import subprocess

    from inspectorctl.remediate.approval import record_approval
    from inspectorctl.remediate.signing import NAMESPACE

    store, plan, _ = _plan(tmp_path, [("fwd", "web-1"), ("ssh-root", "web-1")])
    key = tmp_path / "alice_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f",
                    str(key)], check=True)
    pub = key.with_suffix(".pub").read_text().split(" ", 2)[1]
    (tmp_path / "signers").write_text(f'alice namespaces="{NAMESPACE}" ssh-ed25519 {pub}\n')
    pol = _policy(tmp_path, "require_signed: true\nallowed_signers: signers\n"
                            "default_approvers: 2\n")
    approve_by(store, plan, "alice", T0, policy=pol, sign_with=key)
    fwd = next(a for a in plan.actions if a.playbook == "sysctl")
    # bob's record has a valid HMAC but no signature, and covers fwd only
    record_approval(store, plan, approver="bob", kind=ApprovalKind.HUMAN, action_ids=[fwd.id],
                    now=T0, expires_at=later(60))
    g = check_approvals(plan, store, later(1), pol)
    reasons = {v.action_id: v.reason for v in g.verdicts}
    assert reasons == {a.id: "needs 2 distinct approvers, has 1 (alice)" + (
        "; unsigned or wrongly signed approvals do not count (require_signed)"
        if a.id == fwd.id else "") for a in plan.actions}
