"""End to end on the lab (hosts remed-1, remed-2, weak profile): plan -> approve -> apply ->
re-assess, every refusal of the gate with the hosts unchanged, a host stopped mid-rollout,
resume, and rollback.

The steps run in order and share one database (module-scoped ``ctx``). A few rules keep it
short: two sshd options (playbook sshd_config) and one sysctl (playbook sysctl), so a plan has
two actions on two hosts.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from inspectorctl.cli.main import app
from inspectorctl.lab import Lab
from inspectorctl.remediate import ansible as ansible_executor
from inspectorctl.remediate import catalog
from inspectorctl.store import journal
from inspectorctl.store.db import Store

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOSTS = ("remed-1", "remed-2")
RULES = ("ssh-max-auth-tries", "ssh-x11-forwarding", "sysctl-net-ipv4-conf-all-send-redirects")

runner = CliRunner()


@dataclass
class Ctx:
    lab: Lab
    tmp: Path
    db: Path
    inventory: Path
    playbooks: Path
    etc_before: dict[str, str] = field(default_factory=dict)
    apply_run: str = ""

    @property
    def plan(self) -> Path:
        return self.tmp / "plan.json"

    def cli(self, *args: str) -> Result:
        return runner.invoke(app, [*args, "--db", str(self.db)])

    def assess(self, *extra: str) -> str:
        args = ["assess", "-i", str(self.inventory), "--limit", ",".join(HOSTS),
                "--pack", "cis-linux", *(a for r in RULES for a in ("--rule", r)), *extra]
        res = self.cli(*args)
        assert res.exit_code == 0, res.output
        return res.stdout.split(":")[0].split()[-1]  # "Run r-...: ..."

    def etc(self, host: str) -> str:
        """A digest of the host's /etc: every path, type, mode, owner, link and content."""
        script = ("find /etc -xdev -printf '%p %y %m %U:%G %l\\n' | LC_ALL=C sort; "
                  "find /etc -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum")
        out = self.lab.exec(host, ["sh", "-c", script])
        assert out.returncode == 0, out.stderr
        return hashlib.sha256(out.stdout.encode()).hexdigest()

    def etc_all(self) -> dict[str, str]:
        return {h: self.etc(h) for h in HOSTS}


@pytest.fixture(scope="module")
def ctx(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    tmp = tmp_path_factory.mktemp("remediation")
    # the playbooks run from a private copy, so the "playbook changed" case can edit one
    playbooks = tmp / "playbooks"
    shutil.copytree(catalog.playbooks_root(), playbooks,
                    ignore=shutil.ignore_patterns("molecule", "__pycache__"))
    mp = pytest.MonkeyPatch()
    mp.setattr(catalog, "playbooks_root", lambda: playbooks)
    mp.setattr(ansible_executor, "playbooks_root", lambda: playbooks)
    mp.setenv("NO_COLOR", "1")
    mp.setenv("COLUMNS", "200")
    try:
        yield Ctx(lab=lab, tmp=tmp, db=tmp / "findings.db", inventory=lab.inventory_path,
                  playbooks=playbooks)
    finally:
        mp.undo()


def _refused(c: Ctx, res: Result, message: str) -> None:
    assert res.exit_code == 3, res.output
    assert res.stderr == f"error: refused: {message}\nno host was changed\n"
    assert c.etc_all() == c.etc_before, "a refused apply changed a host"


def test_plan_and_apply_without_approval_is_refused(ctx: Ctx) -> None:
    ctx.assess()
    res = ctx.cli("plan", "-o", str(ctx.plan))
    assert res.exit_code == 0, res.output
    plan = json.loads(ctx.plan.read_text())
    assert sorted((a["playbook"], tuple(a["hosts"])) for a in plan["actions"]) == [
        ("sshd_config", HOSTS), ("sysctl", HOSTS)]
    assert sorted(f["rule_id"] for a in plan["actions"] for f in a["findings"]) == sorted(
        [r for r in RULES for _ in HOSTS])
    ctx.etc_before = ctx.etc_all()
    pid = plan["plan_id"]
    _refused(ctx, ctx.cli("apply", str(ctx.plan)),
             f"plan {pid} has no approval; approve it with `inspectorctl approve PLAN --by "
             "NAME` (or --policy FILE)")


def test_expired_approval_is_refused(ctx: Ctx) -> None:
    res = ctx.cli("approve", str(ctx.plan), "--by", "alice", "--ttl", "1s")
    assert res.exit_code == 0, res.output
    time.sleep(1.5)
    res = ctx.cli("apply", str(ctx.plan))
    assert res.exit_code == 3, res.output
    assert "expired at" in res.stderr and "by alice" in res.stderr
    assert ctx.etc_all() == ctx.etc_before


def test_tampered_plan_is_refused(ctx: Ctx) -> None:
    doc = json.loads(ctx.plan.read_text())
    pid, digest = doc["plan_id"], doc["digest"]
    doc["actions"][0]["items"].append({"option": "PermitRootLogin", "value": "yes"})
    evil = ctx.tmp / "evil.json"
    evil.write_text(json.dumps(doc))
    _refused(ctx, ctx.cli("apply", str(evil)),
             f"plan {pid} was modified after it was made: its content does not match its "
             f"digest {digest[:12]}; make a new plan with `inspectorctl plan`")
    # the same edit with a recomputed digest: not signed by `plan` with this database's key
    from inspectorctl.remediate.plans import load_plan

    doc["digest"] = ""
    resealed = load_plan(evil).model_copy(update={"digest": ""}).sealed()
    evil.write_text(resealed.model_dump_json())
    res = ctx.cli("approve", str(ctx.plan), "--by", "alice")  # a live approval of the original
    assert res.exit_code == 0, res.output
    _refused(ctx, ctx.cli("apply", str(evil)),
             f"plan {pid} is not signed: only plans made by `inspectorctl plan` with the "
             f"database {ctx.db} are accepted; make a new plan")


def test_changed_playbook_is_refused(ctx: Ctx) -> None:
    f = ctx.playbooks / "sysctl" / "playbook.yml"
    original = f.read_text()
    try:
        f.write_text(original + "\n# an innocent-looking edit\n")
        res = ctx.cli("apply", str(ctx.plan))
        assert res.exit_code == 3, res.output
        assert "playbook sysctl changed (digest" in res.stderr
        assert ctx.etc_all() == ctx.etc_before
    finally:
        f.write_text(original)


def test_tampered_approval_record_is_refused(ctx: Ctx) -> None:
    db = sqlite3.connect(ctx.db)
    db.execute("DROP TRIGGER approvals_no_update")
    (seq, approver) = db.execute(
        "SELECT seq, approver FROM approvals ORDER BY seq DESC LIMIT 1").fetchone()
    db.execute("UPDATE approvals SET approver='mallory' WHERE seq=?", (seq,))
    db.commit()
    try:
        _refused(ctx, ctx.cli("apply", str(ctx.plan)),
                 f"approval record {seq} in {ctx.db} (by mallory) fails its signature check: "
                 "it was altered outside inspectorctl; no approval is trusted until it is "
                 "resolved")
    finally:
        db.execute("UPDATE approvals SET approver=? WHERE seq=?", (approver, seq))
        db.commit()
        db.close()


def test_stale_plan_is_refused(ctx: Ctx) -> None:
    # a newer assessment whose evidence differs (another limit is expected)
    ctx.assess("--set", "ssh_max_auth_tries=5")
    res = ctx.cli("apply", str(ctx.plan))
    assert res.exit_code == 3, res.output
    assert "is stale: 2 of its findings changed since it was made (ssh-max-auth-tries on " \
           "remed-1: new evidence in run" in res.stderr
    assert ctx.etc_all() == ctx.etc_before
    # assessed again as planned: current again
    ctx.assess()


def test_approve_apply_reassess_all_fixed(ctx: Ctx) -> None:
    res = ctx.cli("apply", str(ctx.plan), "--by", "bob")
    assert res.exit_code == 0, res.output
    assert "applied 2 action(s): changed 4" in res.stdout
    assert "fixed 6, still failing 0, regressed 0, not verified 0" in res.stdout
    with Store(ctx.db) as store:
        (run,) = [r for r in journal.apply_runs(store) if r.status == "completed"]
        ctx.apply_run = run.id
        rows = journal.entries(store, run.id)
    assert {(e.host, e.playbook, e.state.value) for e in rows} == {
        (h, pb, "changed") for h in HOSTS for pb in ("sshd_config", "sysctl")}
    assert ctx.etc_all() != ctx.etc_before


def test_second_apply_changes_nothing(ctx: Ctx) -> None:
    etc = ctx.etc_all()
    res = ctx.cli("apply", str(ctx.plan), "--by", "bob")
    assert res.exit_code == 0, res.output
    assert "applied 2 action(s): ok 4" in res.stdout
    assert "fixed 6, still failing 0" in res.stdout
    assert ctx.etc_all() == etc


def test_rollback_restores_the_files(ctx: Ctx) -> None:
    res = ctx.cli("rollback", ctx.apply_run)
    assert res.exit_code == 2
    assert "needs an approver: give --by NAME" in res.stderr
    from inspectorctl.models.finding import FindingState, finding_id

    ids = sorted(finding_id(r, h) for r in RULES for h in HOSTS)
    with Store(ctx.db) as store:
        assert {f.state for f in store.findings(ids=ids, states=list(FindingState))} == {
            FindingState.CLOSED}
    res = ctx.cli("rollback", ctx.apply_run, "--by", "carol")
    assert res.exit_code == 0, res.output
    assert "applied 1 action(s): changed 2" in res.stdout
    assert ctx.etc_all() == ctx.etc_before
    # the user's report: the findings stayed PASS/closed until the next assessment, which
    # then called them new. The rollback re-assesses what it touched, as apply does
    assert re.search(r"Re-assessed 2 host\(s\), 3 rule\(s\) in run r-\w+: failing again 6 "
                     r"\(reopened 6\), not failing 0", res.stdout), res.stdout
    for fid in ids:
        assert f"  reopened: {fid} " in res.stdout
    assert "not undone" not in res.stdout  # sshd_config and sysctl are reversible
    with Store(ctx.db) as store:
        found = store.findings(ids=ids, states=list(FindingState))
    assert {(f.state, f.status.value) for f in found} == {(FindingState.ACTIVE, "FAIL")}
    res = ctx.cli("audit", "list")
    events = [line.split()[2] for line in res.stdout.splitlines()]
    assert events.count("refuse") == 7
    assert events[-4:] == ["approve", "rollback_start", "rollback_end", "verify"]


def test_host_stopped_mid_rollout_then_resume(ctx: Ctx) -> None:
    # the rollback's re-assessment reopened the findings: an assessment finds nothing new
    args = ["assess", "-i", str(ctx.inventory), "--limit", ",".join(HOSTS), "--pack",
            "cis-linux", *(a for r in RULES for a in ("--rule", r))]
    res = ctx.cli(*args)
    assert res.exit_code == 0, res.output
    assert "New findings: 0, reopened: 0, closed: 0" in res.stdout
    plan2 = ctx.tmp / "plan2.json"
    assert ctx.cli("plan", "-o", str(plan2)).exit_code == 0
    assert ctx.cli("approve", str(plan2), "--by", "alice").exit_code == 0
    ctx.lab.stop("remed-2")
    try:
        res = ctx.cli("apply", str(plan2), "--canary", "1", "--batch-size", "1")
        assert res.exit_code == 1, res.output
        assert "stopped: 1 host(s) failed (remed-2), more than --max-errors 0 allows" \
            in res.stdout
    finally:
        ctx.lab.start("remed-2")
    with Store(ctx.db) as store:
        run = journal.apply_runs(store)[0]
        assert run.status == "stopped"
        states = {(e.host, e.playbook): e.state.value for e in journal.entries(store, run.id)}
    assert states[("remed-1", "sshd_config")] == "changed"
    assert states[("remed-1", "sysctl")] == "changed"
    assert states[("remed-2", "sshd_config")] == "unreachable"
    assert states[("remed-2", "sysctl")] == "skipped_threshold"
    assert ctx.etc("remed-2") == ctx.etc_before["remed-2"]
    res = ctx.cli("journal", run.id)
    assert "canary: sshd_config" in res.stdout and "on remed-2: unreachable" in res.stdout
    res = ctx.cli("apply", str(plan2), "--resume")
    assert res.exit_code == 0, res.output
    assert f"Run {run.id} resumed 2 action(s): changed 4" in res.stdout
    assert "fixed 6, still failing 0, regressed 0" in res.stdout
    with Store(ctx.db) as store:
        rows = journal.entries(store, run.id)
    assert {e.state.value for e in rows} == {"changed"}
    assert {e.host: e.attempts for e in rows if e.playbook == "sysctl"} == {
        "remed-1": 1, "remed-2": 1}


def test_remediate_applies_what_the_policy_allows(ctx: Ctx) -> None:
    policy = ctx.tmp / "policy.yml"
    policy.write_text(
        "approval_ttl: 12h\n"
        "rules:\n"
        "  - name: sysctl anytime\n"
        "    auto_approve: true\n"
        "    disruption: [none]\n"
        "    reversible: true\n"
        "    rules: ['sysctl-*']\n"
        "  - name: sshd needs two\n"
        "    rules: ['ssh-*']\n"
        "    approvers: 2\n")
    pending = ctx.tmp / "pending.json"
    res = ctx.cli("remediate", "--policy", str(policy), "-i", str(ctx.inventory),
                  "--limit", "remed-1", "--pack", "cis-linux",
                  "--rule", "sysctl-net-ipv4-conf-all-accept-redirects",
                  "--rule", "ssh-login-grace-time", "-o", str(pending))
    assert res.exit_code == 4, res.output
    doc = json.loads(pending.read_text())
    ssh = next(a["id"] for a in doc["actions"] if a["playbook"] == "sshd_config")
    assert "applied 1 action(s): changed 1" in res.stdout
    assert f"Not approved, not run: {ssh}" in res.stdout
    assert "fixed 1, still failing 0, regressed 0, not verified 0" in res.stdout
    # the policy explains itself: the deciding rule, and why the auto rule did not take it
    assert (f"Needs 2 approver(s): {ssh} (policy rule 'sshd needs two'; closest "
            "auto-approving rule 'sysctl anytime' failed on ") in res.stdout
    # the pending action still needs two people
    assert ctx.cli("approve", str(pending), "--by", "alice", "--policy", str(policy),
                   "--action", ssh).exit_code == 0
    with Store(ctx.db) as store:
        from inspectorctl.remediate.approval import check_approvals
        from inspectorctl.remediate.plans import load_plan
        from inspectorctl.store.db import now

        gate = check_approvals(load_plan(pending), store, now())
    (verdict,) = [v for v in gate.verdicts if v.action_id == ssh]
    assert not verdict.approved
    assert verdict.reason == "needs 2 distinct approvers, has 1 (alice)"
