"""Vulnerability findings through the gate: the planner's ``package_upgrade`` items, the gate
rebuilding them from the stored findings (and refusing what no stored finding gives), hostile
names and versions, and the verify step's "repository offers X, fixed in Y"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inspectorctl.collect.interface import ProgressCallback, Targets
from inspectorctl.models.plan import JournalEntry, JournalState, Plan
from inspectorctl.models.snapshot import HostResult, HostSnapshot, ProbeRequest
from inspectorctl.remediate import plansign, vulnfix
from inspectorctl.remediate.approval import RefusalKind, check_approvals
from inspectorctl.remediate.plans import PlanOptions, make_plan
from inspectorctl.remediate.verify import Verdict, verify_apply
from inspectorctl.store.db import Store
from inspectorctl.vuln_assess import VulnOptions, run_vuln_assessment
from inspectorctl.vulns.db import AdvisoryDB
from inspectorctl.vulns.sources import open_source
from tests.vulns import records as R
from tests.vulns.test_match import pkg, snap

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)

OLD = [pkg("curl", "7.88.1-10+deb12u3"), pkg("libcurl4", "7.88.1-10+deb12u3", "curl"),
       pkg("libwebp7", "1.2.4-0.2", "libwebp"), pkg("login", "1:4.13+dfsg1-1", "shadow"),
       pkg("linux-image-6.1.0-18-amd64", "6.1.76-1", "linux-signed-amd64", "6.1.76+1")]


@dataclass
class Env:
    tmp: Path
    store: Store
    db: AdvisoryDB
    run_id: str


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    db = AdvisoryDB(tmp_path / "vulns.db")
    db.import_source(open_source(R.osv_zip(tmp_path / "Debian.zip", R.OSV_RECORDS)))
    store = Store(tmp_path / "findings.db")
    inv = tmp_path / "inv.yml"
    inv.write_text("all: {}\n")
    a = run_vuln_assessment(VulnOptions(targets=Targets(inventory=inv), max_age_days=36500),
                            db, store, hosts=[snap(OLD)])
    try:
        yield Env(tmp_path, store, db, a.run.id)
    finally:
        store.close()
        db.close()


def _plan(env: Env) -> Plan:
    return make_plan(env.store, PlanOptions(), T0)


def _forged(env: Env, plan: Plan, items: list[dict[str, Any]]) -> Plan:
    """The plan with its action's items replaced, resealed and signed with the database's key
    (an attacker who can read the key file): only the recomputation can refuse it."""
    a = plan.actions[0]
    evil = plan.model_copy(update={"actions": [a.model_copy(update={"items": items})]})
    return plansign.sign_plan(env.store, evil.sealed())


def _refusal(env: Env, plan: Plan) -> str:
    g = check_approvals(plan, env.store, T0 + timedelta(minutes=1))
    assert [p.kind for p in g.problems] == [RefusalKind.PLAN_FORGED], g.problems
    return g.problems[0].message


CURL = {"package": "curl", "fixed_version": "7.88.1-10+deb12u4",
        "binaries": ["curl", "libcurl4"]}
WEBP = {"package": "libwebp", "fixed_version": "1.2.4-0.2+deb12u1", "binaries": ["libwebp7"]}


def test_each_fixable_finding_is_one_item_of_one_package_upgrade_per_host(env: Env) -> None:
    plan = _plan(env)
    assert [(a.playbook, a.hosts, a.items) for a in plan.actions] == [
        ("package_upgrade", ["h1"], [CURL, WEBP])]
    a = plan.actions[0]
    assert [f.rule_id for f in a.findings] == ["vuln:CVE-2023-38545:curl",
                                               "vuln:CVE-2023-4863:libwebp"]
    assert (a.severity.value, a.disruption.value, a.privilege.value, a.reversible,
            a.check_mode_supported) == ("critical", "service_restart", "root", False, True)
    assert {(s.rule_id, s.detail) for s in plan.skipped} == {
        ("vuln:CVE-2023-29383:shadow",
         "no fixed version to upgrade to (affected-no-fix): nothing a package upgrade can fix "
         "yet; assess again when the advisory names a fix"),
        ("vuln:CVE-2024-26581:linux",
         "the running kernel: a package upgrade does not replace it (install the fixed kernel "
         "package and reboot the host), so it is not planned")}
    # the gate rebuilds exactly this plan: only the approval is missing
    g = check_approvals(plan, env.store, T0 + timedelta(minutes=1))
    assert [p.kind for p in g.problems] == [RefusalKind.NO_APPROVAL]


def test_forged_package_name_is_refused(env: Env) -> None:
    plan = _plan(env)
    evil = {**CURL, "binaries": ["curl", "libcurl4", "openssh-server"]}
    msg = _refusal(env, _forged(env, plan, [evil, WEBP]))
    a = plan.actions[0]
    assert msg.startswith(
        f"plan {plan.plan_id} is not what inspectorctl would make of its own findings: action "
        f"{a.id} (package_upgrade): items in the plan is ")
    assert "openssh-server" in msg
    assert msg.endswith("make a new plan with `inspectorctl plan`")
    renamed = {**WEBP, "package": "libwebp-evil"}
    assert "items in the plan is" in _refusal(env, _forged(env, plan, [CURL, renamed]))


def test_forged_or_lowered_fixed_version_is_refused(env: Env) -> None:
    plan = _plan(env)
    lowered = {**CURL, "fixed_version": "7.88.1-10+deb12u3"}
    assert "items in the plan is" in _refusal(env, _forged(env, plan, [lowered, WEBP]))
    raised = {**WEBP, "fixed_version": "99:1"}
    assert "items in the plan is" in _refusal(env, _forged(env, plan, [CURL, raised]))


def test_an_item_for_a_package_without_a_finding_is_refused(env: Env) -> None:
    plan = _plan(env)
    extra = {"package": "openssl", "fixed_version": "3.0.15-1~deb12u1",
             "binaries": ["openssl", "libssl3"]}
    assert "items in the plan is" in _refusal(env, _forged(env, plan, [CURL, extra, WEBP]))
    # and without any finding at all: an action must close a stored finding
    a = plan.actions[0]
    bare = plan.model_copy(update={"actions": [a.model_copy(update={"findings": [],
                                                                     "items": [extra]})]})
    msg = _refusal(env, plansign.sign_plan(env.store, bare.sealed()))
    assert msg.endswith(f"action {a.id} (package_upgrade) closes no finding: every action must "
                        f"fix at least one stored finding of run {env.run_id}; make a new plan "
                        "with `inspectorctl plan`")


def _details(env: Env, rule_id: str) -> dict[str, Any]:
    row = env.store.execute("SELECT v.data FROM vuln_details v JOIN findings f ON "
                            "f.id=v.finding_id WHERE f.rule_id=?", (rule_id,)).fetchone()
    data: dict[str, Any] = json.loads(row[0])
    return data


def _set_evidence(env: Env, rule_id: str, **fields: str) -> None:
    """What a hostile host or advisory file would have made the run store (findings and the
    run's results alike)."""
    row = env.store.execute("SELECT evidence FROM results WHERE rule_id=?", (rule_id,)
                            ).fetchone()
    ev = json.dumps({**json.loads(row[0]), **fields})
    with env.store.transaction() as db:
        db.execute("UPDATE results SET evidence=? WHERE rule_id=?", (ev, rule_id))
        db.execute("UPDATE findings SET evidence=? WHERE rule_id=?", (ev, rule_id))


_FOUND = ("curl 7.88.1-10+deb12u3 installed ({}); affected-fix-available, fixAvailable YES, "
          "score 9.8 (base 9.8)")


@pytest.mark.parametrize(("expected", "found", "why"), [
    ("curl;reboot at or above 7.88.1-10+deb12u4 (Debian:12)", None,
     "'curl;reboot' is not a Debian package name"),
    ("curl at or above 7.88.1;reboot (Debian:12)", None,
     "'7.88.1;reboot' is not a Debian version"),
    ("curl at or above {{7*7}} (Debian:12)", None, "'{{7*7}}' is not a Debian version"),
    (None, _FOUND.format("curl 7.88.1-10+deb12u3, -oDpkg::Pre-Invoke=x 1"),
     "'-oDpkg::Pre-Invoke=x' is not a Debian package name"),
    (None, _FOUND.format("curl `id`"), "'`id`' is not a Debian version"),
    (None, _FOUND.format("curl"), "'curl' is not a list of installed binary packages"),
])
def test_hostile_names_and_versions_never_become_items(env: Env, expected: str | None,
                                                       found: str | None, why: str) -> None:
    rid = "vuln:CVE-2023-38545:curl"
    _set_evidence(env, rid, **({"expected": expected} if expected else {}),
                  **({"found": found} if found else {}))
    plan = _plan(env)
    assert [a.items for a in plan.actions] == [[WEBP]]
    (skip,) = [s for s in plan.skipped if s.rule_id == rid]
    assert skip.detail.startswith("refused: ")
    assert why in skip.detail
    assert skip.detail.endswith("names and versions from hosts and advisory data are checked "
                                "before they reach apt")


@pytest.mark.parametrize(("expected", "found"), [
    ("curl at or above 7.88.1-10+deb12u4 --allow-downgrades (Debian:12)", None),
    (None, _FOUND.format("curl $(id)")),
    ("curl at or above 7.88.1-10+deb12u4", None),
])
def test_evidence_that_vulns_assess_did_not_write_is_not_planned(
    env: Env, expected: str | None, found: str | None,
) -> None:
    rid = "vuln:CVE-2023-38545:curl"
    _set_evidence(env, rid, **({"expected": expected} if expected else {}),
                  **({"found": found} if found else {}))
    plan = _plan(env)
    assert [a.items for a in plan.actions] == [[WEBP]]
    (skip,) = [s for s in plan.skipped if s.rule_id == rid]
    assert skip.detail == ("its stored evidence is not what `inspectorctl vulns assess` writes "
                           "(package, fixed version, installed binaries): assess again and plan "
                           "from that run")


def test_evidence_of_another_package_is_not_planned(env: Env) -> None:
    rid = "vuln:CVE-2023-4863:libwebp"
    _set_evidence(env, rid, expected="openssl at or above 3.0.15-1~deb12u1 (Debian:12)",
                  found="openssl 3.0.11-1~deb12u2 installed (openssl 3.0.11-1~deb12u2); "
                        "affected-fix-available, fixAvailable YES, score 7.5 (base 7.5)")
    plan = _plan(env)
    assert [a.items for a in plan.actions] == [[CURL]]
    (skip,) = [s for s in plan.skipped if s.rule_id == rid]
    assert skip.detail == ("its evidence names 'openssl', not the package of "
                           "vuln:CVE-2023-4863:libwebp: assess again and plan from that run")


def test_a_later_assessment_makes_the_plan_stale_not_forged(env: Env) -> None:
    """The items come from the source run's evidence: a later run replacing the findings'
    details does not change what the gate rebuilds; the changed result makes the plan stale."""
    plan = _plan(env)
    later = [pkg("curl", "7.88.1-10+deb12u3"),
             pkg("libcurl4", "7.88.1-10+deb12u4", "curl", "7.88.1-10+deb12u4"), *OLD[2:]]
    run_vuln_assessment(VulnOptions(targets=Targets(inventory=env.tmp / "inv.yml"),
                                    max_age_days=36500), env.db, env.store, hosts=[snap(later)])
    assert _details(env, "vuln:CVE-2023-38545:curl")["binaries"] == {
        "curl": "7.88.1-10+deb12u3"}
    g = check_approvals(plan, env.store, T0 + timedelta(minutes=1))
    assert [p.kind for p in g.problems] == [RefusalKind.STALE], g.problems
    assert "vuln:CVE-2023-38545:curl on h1: new evidence in run" in g.problems[0].message


def test_non_apt_ecosystems_are_skipped_with_the_reason(env: Env) -> None:
    rid = "vuln:CVE-2023-38545:curl"
    _set_evidence(env, rid, expected="curl at or above 7.88.1-10+deb12u4 (AlmaLinux:9)")
    (skip,) = [s for s in _plan(env).skipped if s.rule_id == rid]
    assert skip.detail == (
        "package upgrades are built for apt hosts (Debian, Ubuntu) only, not AlmaLinux:9: "
        "upgrade curl with the host's package manager and assess again")


def test_the_items_are_read_back_from_what_result_of_writes(env: Env) -> None:
    from inspectorctl.vuln_assess import VulnFinding, result_of

    d = VulnFinding.model_validate(_details(env, "vuln:CVE-2023-38545:curl"))
    ev = result_of(d, False).evidence
    assert vulnfix.item_for(d.rule_id, ev, d) == CURL
    assert vulnfix.item_for(d.rule_id, ev, None) == CURL
    assert vulnfix.item_for(d.rule_id, ev, d.model_copy(update={"kernel": True})) == (
        "the running kernel: a package upgrade does not replace it (install the fixed kernel "
        "package and reboot the host), so it is not planned")


# ------------------------------------------------------------------ offers and verification


def test_offers_from_the_host_are_kept_only_when_they_fit_the_grammars() -> None:
    msg = vulnfix.offers_message(
        {"curl": "7.88.1-10+deb12u4", "libwebp7": "1.2.4-0.2", "gone": "none",
         "evil;x": "1", "ok-name": "$(id)"},
        [["curl", "upgrade", "7.88.1-10+deb12u3", "7.88.1-10+deb12u4"],
         ["x y", "upgrade", "1", "2"], "not a row"])
    assert msg == ("upgrade curl 7.88.1-10+deb12u3 -> 7.88.1-10+deb12u4; repository offers: "
                   "curl=7.88.1-10+deb12u4, gone=none, libwebp7=1.2.4-0.2")
    assert vulnfix.parse_offers(msg) == {"curl": "7.88.1-10+deb12u4", "gone": "none",
                                         "libwebp7": "1.2.4-0.2"}
    assert vulnfix.offers_message("not a mapping") == ""
    assert vulnfix.parse_offers("repository offers: a b=1") == {}
    assert vulnfix.parse_offers("failed: something") == {}
    assert vulnfix.still_failing_detail("1.2.4-0.2+deb12u1", ["libwebp7"],
                                        {"libwebp7": "1.2.4-0.2"}) == (
        "repository offers 1.2.4-0.2, fixed in 1.2.4-0.2+deb12u1")
    assert vulnfix.still_failing_detail("2", ["aa", "bb"], {"aa": "1", "bb": "none"}) == (
        "repository offers aa 1, bb none, fixed in 2")
    assert vulnfix.still_failing_detail("2", ["aa"], {}) is None


class _Collector:
    """What the re-assessment collects: the host after the apply."""

    name = "fake"

    def __init__(self, snaps: list[HostSnapshot]) -> None:
        self.snaps = snaps
        self.requests: list[ProbeRequest] = []

    def collect(self, request: ProbeRequest, targets: Targets,
                progress: ProgressCallback | None = None) -> list[HostResult]:
        self.requests.append(request)
        assert targets.limit == "h1"
        return list(self.snaps)


def test_verify_fixed_and_repository_does_not_offer_it(env: Env) -> None:
    plan = _plan(env)
    a = plan.actions[0]
    # the apply upgraded curl; the repository offered libwebp7 only at its installed version
    after = snap([pkg("curl", "7.88.1-10+deb12u4"),
                  pkg("libcurl4", "7.88.1-10+deb12u4", "curl"),
                  *OLD[2:]])
    entry = JournalEntry(run_id="x-1", action_id=a.id, host="h1", playbook=a.playbook,
                         state=JournalState.CHANGED,
                         message=vulnfix.offers_message(
                             {"curl": "7.88.1-10+deb12u4", "libcurl4": "7.88.1-10+deb12u4",
                              "libwebp7": "1.2.4-0.2"},
                             [["curl", "upgrade", "7.88.1-10+deb12u3", "7.88.1-10+deb12u4"]]))
    collector = _Collector([after])
    report = verify_apply(plan, [entry], env.store, Targets(inventory=env.tmp / "inv.yml"),
                          apply_run_id="x-1", actor="alice", now=T0,
                          collector=collector)
    assert collector.requests[0].facts == ("os", "packages", "sockets", "package_changelogs")
    assert [(i.rule_id, i.verdict, i.detail) for i in report.items] == [
        ("vuln:CVE-2023-38545:curl", Verdict.FIXED, "PASS"),
        ("vuln:CVE-2023-4863:libwebp", Verdict.STILL_FAILING,
         "repository offers 1.2.4-0.2, fixed in 1.2.4-0.2+deb12u1")]
    states = {f.rule_id: f.state.value for f in env.store.findings(hosts=["h1"], states=[])}
    assert states["vuln:CVE-2023-38545:curl"] == "closed"
    assert states["vuln:CVE-2023-4863:libwebp"] == "active"
    # the re-assessment is this plan's verification: it does not make the plan stale
    g = check_approvals(plan, env.store, T0 + timedelta(minutes=1))
    assert [p.kind for p in g.problems] == [RefusalKind.NO_APPROVAL]
