"""What the gate's plan integrity check (``remediate/integrity.py``, ``plansign.py``) refuses,
one refusal per way a plan signed with the database's key can still differ from what ``plan``
makes of its own findings (issue 10's mutation run of those modules found them untested
outside the lab).

Each forged plan here is re-sealed and re-signed with the store's key, as someone holding the
key could: only the recomputation can tell it apart.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from inspectorctl.errors import InputError
from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import RunRecord
from inspectorctl.models.plan import Plan, PlannedIdentity
from inspectorctl.remediate import integrity, plansign
from inspectorctl.remediate.approval import RefusalKind, check_integrity
from inspectorctl.store.db import Store
from tests.remediate.helpers import T0, fake_catalog, plan_from_store, record, result

__all__ = ["fake_catalog"]

#: the seams the fake catalogue replaces, as they are before any fixture runs
REAL_SEAMS = (integrity.rule_index, integrity.catalogue_info, integrity.catalogue_names)

pytestmark = pytest.mark.usefixtures("fake_catalog")


def _plan(tmp_path: Path, results: list[tuple[str, str]]) -> tuple[Store, Plan, str]:
    store = Store(tmp_path / "f.db")
    rid = record(store, [result(r, h) for r, h in results])
    return store, plan_from_store(store, rid), rid


def _forged(store: Store, plan: Plan, **update: Any) -> Plan:
    return plansign.sign_plan(store, plan.model_copy(update=update).sealed())


def _refusal(store: Store, plan: Plan) -> str:
    (p,) = check_integrity(plan, store)
    assert p.kind is RefusalKind.PLAN_FORGED
    prefix = "plan p-test is not what inspectorctl would make of its own findings: "
    assert p.message.startswith(prefix), p.message
    suffix = "; make a new plan with `inspectorctl plan`"
    assert p.message.endswith(suffix)
    return p.message[len(prefix):-len(suffix)]


def _action(plan: Plan, playbook: str, **update: Any) -> list[Any]:
    return [a.model_copy(update=update) if a.playbook == playbook else a for a in plan.actions]


def test_an_unforged_plan_has_no_problem(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1"), ("part-tmp", "web-1")])
    assert check_integrity(plan, store) == []
    assert integrity.bad_playbook_name(plan) is None


def test_only_the_first_differing_field_of_an_action_is_named(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    (a,) = plan.actions
    evil = _forged(store, plan, actions=_action(plan, "sysctl", reversible=False,
                                                description="harmless"))
    assert _refusal(store, evil) == (
        f"action {a.id} (sysctl): reversible in the plan is false, but the stored findings, "
        "rules and catalogue give true")


def test_manual_steps_and_the_findings_digest_are_compared(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1"), ("part-tmp", "web-1")])
    (m,) = plan.manual_steps
    evil = _forged(store, plan, manual_steps=[m.model_copy(update={"text": "ignore it"})])
    assert _refusal(store, evil) == "its manual steps differ from what their rules say"
    evil = _forged(store, plan, findings_digest="0" * 64)
    assert _refusal(store, evil) == "its findings digest does not match the findings it lists"


def test_a_playbook_outside_the_catalogue_and_an_action_closing_nothing(
        tmp_path: Path, fake_catalog: dict[str, str]) -> None:
    store, plan, rid = _plan(tmp_path, [("fwd", "web-1"), ("ssh-root", "web-1")])
    a, b = plan.actions
    fake_catalog["evil"] = "9" * 64  # a digest, but not a catalogue remediation
    names = integrity.catalogue_names()
    del fake_catalog["evil"]
    evil = _forged(store, plan, actions=[a.model_copy(update={"playbook": "evil"}),
                                         b.model_copy(update={"findings": []})])
    problems = integrity.recompute_problems(evil, store)
    assert problems == [
        f"action {a.id} names playbook 'evil', which is not a remediation of the catalogue "
        f"(valid: {', '.join(sorted(names - {'evil'}))})",
        f"action {b.id} ({b.playbook}) closes no finding: every action must fix at least one "
        f"stored finding of run {rid}"]


def test_an_empty_catalogue_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    monkeypatch.setattr(integrity, "catalogue_names", lambda: set())
    (p,) = integrity.recompute_problems(plan, store)
    assert p.endswith("which is not a remediation of the catalogue (valid: none)")


def test_a_source_run_that_is_gone(tmp_path: Path) -> None:
    store, plan, rid = _plan(tmp_path, [("fwd", "web-1")])
    from inspectorctl.models.plan import PlanSource

    evil = _forged(store, plan, source=PlanSource(run_id="r-nowhere", inventory="/inv.yml",
                                                  packs=["mini"]))
    assert _refusal(store, evil) == f"its source run 'r-nowhere' is not in {store.path}"
    evil = _forged(store, plan, source=PlanSource(run_id=None, inventory="/inv.yml",
                                                  packs=["mini"]))
    assert _refusal(store, evil) == f"its source run None is not in {store.path}"
    assert rid != "r-nowhere"


def test_findings_moved_renamed_or_repeated(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1"), ("fwd", "web-2")])
    (a,) = plan.actions
    f1, f2 = a.findings
    moved = _forged(store, plan, actions=[a.model_copy(update={
        "findings": [f1, f2.model_copy(update={"host": "db-1"})]})])
    assert _refusal(store, moved) == "finding fwd on db-1 is listed under an action for other hosts"
    renamed = _forged(store, plan, actions=[a.model_copy(update={
        "findings": [f1, f2.model_copy(update={"id": f1.id})]})])
    assert _refusal(store, renamed) == (
        f"finding fwd on web-2: its id {f1.id!r} is not the id of that rule and host")
    twice = _forged(store, plan, actions=[a.model_copy(update={"findings": [f1, f2, f1]})])
    assert _refusal(store, twice) == "finding fwd on web-1 is listed twice"


def test_stored_results_that_are_no_longer_the_planned_failure(tmp_path: Path) -> None:
    store, plan, rid = _plan(tmp_path, [("fwd", "web-1"), ("fwd", "web-2"), ("fwd", "web-3")])
    db = sqlite3.connect(store.path)
    db.execute("UPDATE results SET status='PASS' WHERE host='web-1'")
    db.execute("UPDATE results SET evidence='{not json' WHERE host='web-2'")
    db.execute("UPDATE results SET severity='critical' WHERE host='web-3'")
    db.commit()
    db.close()
    msg = _refusal(store, plan)
    assert msg.startswith(
        f"finding fwd on web-1 is PASS in run {rid}, not a failure; finding fwd on web-2: its "
        "stored result is unreadable (")
    # an unreadable row does not stop the others from being checked
    assert msg.endswith(f"; finding fwd on web-3 has severity critical in run {rid}, not "
                        f"{plan.actions[0].findings[2].severity.value}")


def test_a_finding_whose_evidence_or_severity_the_plan_misstates(tmp_path: Path) -> None:
    store, plan, rid = _plan(tmp_path, [("fwd", "web-1")])
    (a,) = plan.actions
    (f,) = a.findings
    evil = _forged(store, plan, actions=[a.model_copy(update={
        "findings": [f.model_copy(update={"evidence_digest": "0" * 64})]})])
    assert _refusal(store, evil) == (
        f"finding fwd on web-1: the evidence the plan recorded is not the evidence of run {rid}")
    other = Severity.LOW if f.severity is not Severity.LOW else Severity.HIGH
    evil = _forged(store, plan, actions=[a.model_copy(update={
        "findings": [f.model_copy(update={"severity": other})]})])
    assert _refusal(store, evil) == (
        f"finding fwd on web-1 has severity {f.severity.value} in run {rid}, not {other.value}")


@pytest.mark.parametrize(("gone", "named"), [(4, 4), (5, 5), (7, 5)])
def test_at_most_five_finding_problems_are_collected(tmp_path: Path, gone: int,
                                                     named: int) -> None:
    hosts = [f"web-{i}" for i in range(1, 9)]
    store, plan, rid = _plan(tmp_path, [("fwd", h) for h in hosts])
    db = sqlite3.connect(store.path)
    db.executemany("DELETE FROM results WHERE host=?", [(h,) for h in hosts[:gone]])
    db.commit()
    db.close()
    problems = integrity.recompute_problems(plan, store)
    assert problems == [f"finding fwd on {h} is not a result of run {rid}"
                        for h in hosts[:named]]


def test_results_are_read_in_chunks_without_losing_a_host(tmp_path: Path) -> None:
    hosts = [f"h{i:03d}" for i in range(401)]
    store, plan, _ = _plan(tmp_path, [("fwd", h) for h in hosts])
    assert integrity.recompute_problems(plan, store) == []


def test_rules_that_cannot_be_read_refuse_the_plan(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])

    def broken(source: Any, framework: Any) -> Any:
        raise InputError("pack mini: no such pack")

    monkeypatch.setattr(integrity, "rule_index", broken)
    assert integrity.recompute_problems(plan, store) == [
        "its rules or playbooks cannot be read to check it: pack mini: no such pack"]


def test_short_keeps_160_characters() -> None:
    assert integrity._short("a" * 158) == '"' + "a" * 158 + '"'  # 160 with the quotes
    assert integrity._short("a" * 159) == '"' + "a" * 159 + "..."


# ------------------------------------------------------------------------------ identities

def _run(store: Store, rid: str, targets: dict[str, Any]) -> None:
    store.record_run(RunRecord(id=rid, started_at=T0, ended_at=T0, packs=["mini"],
                               targets={"transport": "ansible", "inventory": "/inv.yml",
                                        **targets}),
                     [result("fwd", "h01", Status.FAIL)])


def test_run_identities_read_what_the_run_recorded_and_skip_the_rest(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    mid = "a" * 32
    _run(store, "r-1", {"identities": {"h01": "not a dict", "h02": {"machine_id": 5},
                                       "h03": {"machine_id": mid}}})
    assert plansign.run_identities(store, "r-1") == {"h03": PlannedIdentity(machine_id=mid)}
    _run(store, "r-2", {"identities": ["h01"]})
    assert plansign.run_identities(store, "r-2") == {}
    _run(store, "r-3", {})
    assert plansign.run_identities(store, "r-3") == {}
    assert plansign.run_identities(store, "r-none") == {}
    assert plansign.run_identities(store, None) == {}


def test_identities_the_plan_misstates_are_named(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    _run(store, "r-1", {"identities": {"h01": {"machine_id": "a" * 32}}})
    plan = plan_from_store(store, "r-1")  # made without the identities
    assert integrity.identity_problems(plan, store) == [
        'the host identities it records are not those run r-1 assessed (plan: {}; run: '
        '{"h01":{"hostname":null,"instance_id":null,"machine_id":"' + "a" * 32
            + '","ssh_host_keys":[]}})']


def test_a_plan_whose_key_is_gone_cannot_be_checked_and_no_key_is_made(tmp_path: Path) -> None:
    store, plan, _ = _plan(tmp_path, [("fwd", "web-1")])
    key = Path(str(store.path) + ".key")
    key.unlink()
    with store.transaction() as db:  # and its id: a read must still not make a new key
        db.execute("DELETE FROM remediation_meta WHERE key='approval_key_id'")
    problem = plansign.signature_problem(plan, store)
    assert problem is not None
    assert problem.startswith("plan p-test: its signature cannot be checked: approval key "
                              f"file {key} is missing")
    assert not key.exists()


def test_catalogue_problems_are_returned_before_the_findings_are_looked_at(
        tmp_path: Path) -> None:
    store, plan, rid = _plan(tmp_path, [("fwd", "web-1"), ("ssh-root", "web-1")])
    a = next(x for x in plan.actions if x.playbook == "sysctl")
    db = sqlite3.connect(store.path)
    db.execute("DELETE FROM results WHERE rule_id='ssh-root'")
    db.commit()
    db.close()
    evil = _forged(store, plan, actions=_action(plan, "sysctl", findings=[]))
    assert integrity.recompute_problems(evil, store) == [
        f"action {a.id} ({a.playbook}) closes no finding: every action must fix at least one "
        f"stored finding of run {rid}"]


# -------------------------------------------------------------------------------- rollback

def _rolled_back(tmp_path: Path) -> tuple[Store, Plan, str]:
    from inspectorctl.remediate.plans import rollback_plan
    from inspectorctl.store import journal
    from tests.remediate.test_rollout import FakeExecutor, _apply, _approved

    store, plan = _approved(tmp_path, hosts=("h01", "h02"), rules=("fwd",))
    _apply(store, plan, FakeExecutor())
    (run,) = journal.apply_runs(store)
    return store, rollback_plan(store, run.id, T0), run.id


def test_a_rollback_plan_is_rebuilt_from_the_journal(tmp_path: Path) -> None:
    store, rb, run_id = _rolled_back(tmp_path)
    assert rb.rollback_of == run_id
    assert integrity.recompute_problems(rb, store) == []
    assert integrity.identity_problems(rb, store) == []
    # rebuilding it to compare needs no key (it is not signed again)
    Path(str(store.path) + ".key").unlink()
    assert integrity.recompute_problems(rb, store) == []


def test_forged_rollback_plans_are_named(tmp_path: Path) -> None:
    store, rb, run_id = _rolled_back(tmp_path)
    assert integrity.recompute_problems(rb.model_copy(update={"rollback_of": None}), store) == [
        "a rollback plan must name the apply run it rolls back"]
    (p,) = integrity.recompute_problems(rb.model_copy(update={"rollback_of": "a-nowhere"}),
                                        store)
    assert p.startswith("it cannot be rebuilt from the journal of run a-nowhere: no apply run "
                        "'a-nowhere' in ")
    (a,) = rb.actions
    more = rb.model_copy(update={"actions": [a.model_copy(update={"hosts": ["h01", "h02",
                                                                            "h09"]})]})
    (p,) = integrity.recompute_problems(more, store)
    assert p.startswith(f"its actions are not what the journal of run {run_id} gives (plan: ")
    other = rb.model_copy(update={"identities": {"h01": PlannedIdentity(machine_id="b" * 32)}})
    assert integrity.recompute_problems(other, store) == [
        f"the host identities it records are not those of the plan run {run_id} applied"]
    # a rollback plan's identities are the journal's business, not the source run's
    assert integrity.identity_problems(other, store) == []


def test_the_seams_read_the_real_packs_and_catalogue() -> None:
    from inspectorctl.models.plan import PlanSource
    from inspectorctl.remediate.catalog import available_playbooks
    from inspectorctl.remediate.plans import _rule_index
    from inspectorctl.remediate.remediations import remediation_info

    rule_index, catalogue_info, catalogue_names = REAL_SEAMS
    assert catalogue_names() == available_playbooks()
    assert "sysctl" in catalogue_names()
    assert catalogue_info("sysctl") == remediation_info("sysctl")
    source = PlanSource(run_id="r", inventory="/inv.yml", packs=["cis-linux"])
    index = rule_index(source, None)
    assert index and set(index) == set(_rule_index(["cis-linux"], {}, None))
