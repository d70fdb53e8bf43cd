"""Exact-output tests of plan / approve / apply / audit (offline: saved snapshots, a fake
executor in place of Ansible; real hosts are in tests/e2e/test_remediation_lab.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from inspectorctl.cli import remediate as remediate_cli
from inspectorctl.cli.main import app
from inspectorctl.remediate.interface import (
    ExecProgress,
    ExecRequest,
    ExecResult,
    HostOutcome,
    HostStatus,
)
from tests.fixtures import snapshot_dict, write_mini
from tests.remediate.test_rollout import FakeExecutor
from tests.report.schemacheck import validate

runner = CliRunner()

PACK = """\
id: mini
version: "1.0"
title: Mini pack
description: A tiny pack with fixes.
variables:
  max_tries: {default: 4, description: MaxAuthTries limit}
rules:
  - id: mini-ssh-root
    title: SSH root login is disabled
    description: d
    rationale: r
    severity: high
    check: {kind: sshd_option, option: PermitRootLogin, expect: {op: eq, value: "no"}}
    remediation: {playbook: sshd_config, params: {option: PermitRootLogin, value: "no"}}
  - id: mini-ssh-tries
    title: SSH MaxAuthTries is limited
    description: d
    rationale: r
    severity: medium
    check: {kind: sshd_option, option: maxauthtries, expect: {op: le, value: {var: max_tries}}}
    remediation: {playbook: sshd_config, params: {option: MaxAuthTries, value: {var: max_tries}}}
  - id: mini-ip-forward
    title: IP forwarding is disabled
    description: d
    rationale: r
    severity: low
    check: {kind: sysctl, key: net.ipv4.ip_forward, expect: {value: 0}}
    remediation: {manual: "Decide whether this host routes; if not, set net.ipv4.ip_forward=0."}
"""


class Env:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        _, self.snaps = write_mini(tmp, {
            "web-1": snapshot_dict("web-1", root_login="yes", tries="6", forward="1"),
            "web-2": snapshot_dict("web-2", root_login="yes", tries="6"),
        })
        self.pack = tmp / "mini.yml"
        self.pack.write_text(PACK)
        self.inventory = tmp / "inventory.yml"
        self.inventory.write_text("all:\n  hosts:\n    web-1:\n    web-2:\n")
        self.plan = tmp / "plan.json"
        self.executor = FakeExecutor()

    def run(self, *args: str) -> Result:
        return runner.invoke(app, list(args))

    def assess(self) -> str:
        res = self.run("assess", "--pack", str(self.pack), "--from-snapshots", str(self.snaps))
        assert res.exit_code == 0, res.output
        m = re.search(r"Run (r-\w+):", res.stdout)
        assert m
        return m.group(1)

    def make_plan(self) -> dict[str, object]:
        self.assess()
        res = self.run("plan", "--pack", str(self.pack), "-o", str(self.plan))
        assert res.exit_code == 0, res.output
        doc: dict[str, object] = json.loads(self.plan.read_text())
        return doc


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "findings.db"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    e = Env(tmp_path)
    monkeypatch.setattr(remediate_cli, "make_executor", lambda: e.executor)
    return e


def _ids(doc: dict[str, object]) -> tuple[str, str, list[str]]:
    actions = doc["actions"]
    assert isinstance(actions, list)
    return str(doc["plan_id"]), str(doc["digest"]), [a["id"] for a in actions]


def test_plan_output(env: Env) -> None:
    env.assess()
    res = env.run("plan", "--pack", str(env.pack), "-o", str(env.plan))
    assert res.exit_code == 0, res.output
    pid, digest, (aid,) = _ids(json.loads(env.plan.read_text()))
    run = json.loads(env.plan.read_text())["source"]["run_id"]
    assert res.stdout.splitlines() == [
        f"Plan {pid} (digest {digest[:12]}) from run {run}: 1 action(s) on 2 host(s), 1 "
        "manual step(s), 0 skipped finding(s)",
        f"  {aid} sshd_config on web-1, web-2: 4 finding(s), high, disruption service_reload, "
        "privilege root, reversible",
        "    rules: mini-ssh-root, mini-ssh-tries",
        '    item: {"option":"MaxAuthTries","value":4}',
        '    item: {"option":"PermitRootLogin","value":"no"}',
        "Manual steps (not applied by inspectorctl):",
        "  mini-ip-forward (low) on web-1: Decide whether this host routes; if not, set "
        "net.ipv4.ip_forward=0.",
        f"Plan written to {env.plan} (digest {digest[:12]}); approve it with `inspectorctl "
        f"approve {env.plan} --by NAME`",
    ]
    assert env.run("plan", "show", str(env.plan)).stdout.splitlines() == \
        res.stdout.splitlines()[:-1]


def test_plan_needs_out_and_an_assessment(env: Env) -> None:
    res = env.run("plan")
    assert res.exit_code == 2
    assert res.stderr == "error: plan: give the plan file to write with --out/-o FILE\n"
    res = env.run("plan", "-o", str(env.plan))
    assert res.exit_code == 2
    assert res.stderr == (f"error: no assessment in {env.tmp}/findings.db to plan from; run "
                          "`inspectorctl assess` first\n")
    assert not env.plan.exists()


def test_apply_refused_without_approval(env: Env) -> None:
    pid, _, _ = _ids(env.make_plan())
    res = env.run("apply", str(env.plan), "-i", str(env.inventory), "--no-verify")
    assert res.exit_code == 3
    assert res.stdout == ""
    assert res.stderr == (
        f"error: refused: plan {pid} has no approval; approve it with `inspectorctl approve "
        "PLAN --by NAME` (or --policy FILE)\nno host was changed\n")
    assert env.executor.calls == []


def test_apply_refuses_a_modified_plan(env: Env) -> None:
    pid, digest, _ = _ids(env.make_plan())
    assert env.run("approve", str(env.plan), "--by", "alice").exit_code == 0
    doc = json.loads(env.plan.read_text())
    doc["actions"][0]["hosts"].append("evil-1")
    env.plan.write_text(json.dumps(doc))
    res = env.run("apply", str(env.plan), "-i", str(env.inventory), "--no-verify")
    assert res.exit_code == 3
    assert res.stderr == (
        f"error: refused: plan {pid} was modified after it was made: its content does not "
        f"match its digest {digest[:12]}; make a new plan with `inspectorctl plan`\n"
        "no host was changed\n")
    assert env.executor.calls == []
    # approving it is refused by the same gate, with the same exit code
    res = env.run("approve", str(env.plan), "--by", "bob")
    assert (res.exit_code, res.stdout) == (3, "")
    assert res.stderr == (
        f"error: refused: plan {pid} was modified after it was made: its content does not "
        f"match its digest {digest[:12]}; make a new plan with `inspectorctl plan`\n"
        "nothing was approved\n")
    pol = env.tmp / "all.yml"
    pol.write_text("rules:\n  - name: all\n    auto_approve: true\n")
    res = env.run("approve", str(env.plan), "--policy", str(pol))
    assert (res.exit_code, res.stdout) == (3, "")
    assert res.stderr.endswith("\nnothing was approved\n")
    assert env.run("plan", "show", str(env.plan)).stderr == (
        f"warning: {env.plan} was modified after it was made (its content does not match its "
        "digest); it will be refused\n")


def test_approve_then_apply(env: Env) -> None:
    pid, digest, (aid,) = _ids(env.make_plan())
    res = env.run("approve", str(env.plan), "--by", "alice", "--comment", "CHG-1")
    assert res.exit_code == 0, res.output
    assert re.fullmatch(
        rf"Approved by alice: 1 of 1 action\(s\) of plan {pid} \(digest {digest[:12]}\), "
        r"expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\n", res.stdout)
    res = env.run("apply", str(env.plan), "-i", str(env.inventory), "--no-verify",
                  "--canary", "1")
    assert res.exit_code == 0, res.output
    m = re.match(r"Run (a-\w+) applied", res.stdout)
    assert m
    assert res.stdout == f"Run {m.group(1)} applied 1 action(s): changed 2\n"
    assert res.stderr.splitlines() == [
        "== canary", f"canary: sshd_config ({aid}) on web-1: changed",
        "== batch 1", f"batch 1: sshd_config ({aid}) on web-2: changed"]
    res = env.run("journal", m.group(1))
    assert res.stdout.splitlines() == [
        f"Run {m.group(1)} (apply of plan {pid}): completed",
        f"  canary: sshd_config ({aid}) on web-1: changed (tries 1)",
        f"  batch 1: sshd_config ({aid}) on web-2: changed (tries 1)"]
    res = env.run("journal", m.group(1), "-f", "csv")
    assert res.stdout.splitlines()[0] == ("run_id,seq,phase,action_id,playbook,host,state,"
                                          "attempts,rc,started_at,ended_at,message")
    assert [line.split(",")[2:8] for line in res.stdout.splitlines()[1:]] == [
        ["canary", aid, "sshd_config", "web-1", "changed", "1"],
        ["batch 1", aid, "sshd_config", "web-2", "changed", "1"]]
    doc = validate("journal", env.run("journal", m.group(1), "-f", "json").stdout)
    validate("audit", env.run("audit", "list", "-f", "json").stdout)
    assert (doc["kind"], doc["run"]["id"], len(doc["journal"])) == ("journal", m.group(1), 2)
    res = env.run("audit", "list")
    events = [line.split()[2] for line in res.stdout.splitlines()]
    assert events == ["plan", "approve", "apply_start", "apply_end"]
    # the user's report: runs list showed no targets or framework and left applies out
    from tests.fixtures import MINI_PACK

    pci = env.tmp / "mini-pci.yml"
    pci.write_text(MINI_PACK.replace("id: mini\n", "id: minipci\n").replace(
        "id: mini-", "id: minipci-"), encoding="utf-8")
    res = env.run("assess", "--pack", str(pci), "--from-snapshots", str(env.snaps),
                  "--framework", "pci-dss")
    assert res.exit_code == 0, res.output
    res = env.run("runs", "list")
    lines = res.stdout.splitlines()
    assert re.split(r"\s+", lines[0].strip()) == [
        "Run", "Kind", "Started", "Targets", "Hosts", "P/F/E/NA"]
    rows = [ln for ln in lines[1:] if ln.startswith(("r-", "a-"))]
    assert [ln.split()[1] for ln in rows] == ["assess", "apply", "assess"]
    # the targets cell may wrap (the framework onto the next line): read it whole
    assert re.search(rf"assess\s+\S+ \S+\s+snapshots {re.escape(str(env.snaps))}\s+2\s+"
                     r"0/4/0/0\s*\n\s+\[pci-dss\]|pci-dss\]\s+2\s+0/4/0/0", res.stdout), res.stdout
    assert re.search(rf"{m.group(1)}\s+apply\s+\S+ \S+\s+plan {pid}: completed\s+2\s+-\s*$",
                     rows[1]), rows[1]
    doc = validate("runs", env.run("runs", "list", "-f", "json").stdout)["runs"]
    assert [d["kind"] for d in doc] == ["assess", "apply", "assess"]
    assert doc[0]["targets"]["framework"] == "pci-dss"


def test_bad_plan_files(env: Env) -> None:
    bad = env.tmp / "bad.json"
    bad.write_text("{not json")
    res = env.run("plan", "show", str(bad))
    assert res.exit_code == 2
    assert res.stderr == (f"error: {bad}: not a plan file (invalid JSON: Expecting property "
                          "name enclosed in double quotes: line 1 column 2 (char 1))\n")
    bad.write_text(json.dumps({"version": 1, "plan_id": "p", "created_at": "2026-01-01T00:00:00Z",
                               "source": {"run_id": None}, "actions": [{}],
                               "findings_digest": "x"}))
    res = env.run("apply", str(bad))
    assert res.exit_code == 2
    assert res.stderr == f"error: {bad}: not a valid plan: actions.0.id: Field required\n"
    bad.write_text(json.dumps({"version": 9}))
    res = env.run("approve", str(bad), "--by", "x")
    assert res.stderr.startswith(f"error: {bad}: not a valid plan: version: Value error, plan "
                                 "version 9 is not supported")
    res = env.run("apply", str(env.tmp / "nope.json"))
    assert (res.exit_code, res.stderr) == (2, f"error: {env.tmp}/nope.json: no such plan file\n")


def test_bad_options(env: Env) -> None:
    env.make_plan()
    res = env.run("apply", str(env.plan), "--batch-size", "lots")
    assert (res.exit_code, res.stderr) == (
        2, "error: --batch-size 'lots': expected a count (5) or a percentage (25%)\n")
    res = env.run("approve", str(env.plan), "--by", "a", "--ttl", "forever")
    assert (res.exit_code, res.stderr) == (
        2, "error: --ttl forever: expected a duration like 24h, 90m, 7d or 1h30m, got "
           "'forever'\n")
    res = env.run("approve", str(env.plan), "--by", "a", "--action", "a-nope")
    assert res.exit_code == 2
    assert res.stderr.startswith("error: --action a-nope: no such action in plan ")
    res = env.run("approve", str(env.plan))
    assert (res.exit_code, res.stderr) == (
        2, "error: approve: give --by NAME (or --policy FILE, or run it in a terminal to "
           "approve interactively)\n")
    res = env.run("rollback", "a-nope", "--by", "x")
    assert (res.exit_code, res.stderr) == (
        2, f"error: no apply run 'a-nope' in {env.tmp}/findings.db; see `inspectorctl audit "
           "list`\n")


def test_policy_approval(env: Env) -> None:
    _, _, (aid,) = _ids(env.make_plan())
    pol = env.tmp / "policy.yml"
    pol.write_text("rules:\n  - name: ssh on web\n    auto_approve: true\n"
                   "    rules: ['mini-ssh-*']\n    hosts: ['web-*']\n")
    res = env.run("approve", str(env.plan), "--policy", str(pol))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"Approved by policy:policy.yml#ssh on web: {aid} (expires ")
    pol.write_text("rules:\n  - name: nothing\n    auto_approve: true\n    rules: ['x']\n"
                   "default_approvers: 2\n")
    res = env.run("approve", str(env.plan), "--policy", str(pol))
    assert res.stdout.splitlines() == [
        "The policy approves no action of this plan automatically.",
        f"Needs 2 approver(s): {aid} (no policy rule matched; closest auto-approving rule "
        "'nothing' failed on rules: mini-ssh-root, mini-ssh-tries match none of x (playbook "
        "sshd_config))"]
    # --explain: every rule against every action, nothing approved
    pol.write_text("rules:\n  - name: at night\n    auto_approve: true\n"
                   "    rules: ['mini-ssh-*']\n    windows: ['Mon-Sun 00:00-00:01 UTC']\n"
                   "  - name: two people\n    approvers: 2\n    hosts: ['db-*']\n")
    approvals = len(json.loads(env.run("audit", "list", "--format", "json").stdout)["entries"])
    res = env.run("approve", str(env.plan), "--policy", str(pol), "--explain")
    assert res.exit_code == 0, res.output
    assert len(json.loads(
        env.run("audit", "list", "--format", "json").stdout)["entries"]) == approvals
    lines = res.stdout.splitlines()
    assert re.fullmatch(rf"Policy {re.escape(str(pol))} at \d{{4}}-\d\d-\d\d \w{{3}} "
                        rf"(\d\d):(\d\d) UTC, plan p-\w+:", lines[0])
    at = re.search(r"\w{3} \d\d:\d\d UTC", lines[0])
    assert at is not None
    if at.group(0)[4:9] != "00:00":  # outside the one-minute window (nearly always)
        assert lines[1:] == [
            f"{aid} (sshd_config on web-1, web-2; high, disruption service_reload): needs 1 "
            "approver(s), no policy rule matched; closest auto-approving rule 'at night' "
            f"failed on window: {at.group(0)} is outside Mon-Sun 00:00-00:01 UTC",
            f"  rule 'at night' (auto): fails: window: {at.group(0)} is outside Mon-Sun "
            "00:00-00:01 UTC",
            "  rule 'two people' (people): fails: hosts: web-1, web-2 match none of db-*",
            "  no rule matched: default_approvers 1"]
    assert env.run("approve", str(env.plan), "--explain").stderr == (
        "error: approve --explain needs --policy FILE\n")
    pol.write_text("rules:\n  - name: x\n    windows: ['whenever']\n")
    res = env.run("approve", str(env.plan), "--policy", str(pol))
    assert res.exit_code == 2
    assert res.stderr == (
        f"error: {pol}:3: policy: rules.0.windows.0: time window 'whenever': expected 'DAYS "
        "HH:MM-HH:MM [TZ]', e.g. 'Mon-Fri 02:00-05:00 UTC'\n")


def test_interactive_approval(env: Env) -> None:
    _, _, (aid,) = _ids(env.make_plan())
    res = runner.invoke(app, ["approve", str(env.plan), "--interactive"],
                        input="carol\nn\ny\n")
    assert res.exit_code == 0, res.output
    assert "Approve all 1 action(s)? [y/N]:" in res.stdout
    assert f"Approve {aid}: sshd_config on web-1, web-2 (4 finding(s), high, disruption " \
           "service_reload)? [y/N]:" in res.stdout
    assert res.stdout.splitlines()[-1].startswith("Approved by carol: 1 of 1 action(s)")


class PreviewExecutor(FakeExecutor):
    def run(self, request: ExecRequest, progress: ExecProgress | None = None) -> ExecResult:
        assert request.check and request.diff
        self.calls.append((request.playbook, list(request.hosts), request.run_id))
        return ExecResult(status="successful", rc=0, seconds=0.1, hosts={
            h: HostOutcome(host=h, status=HostStatus.CHANGED,
                           diff=f"--- before: /etc/ssh/sshd_config\n+++ after\n+PermitRootLogin no"
                                f"  # {h}\n")
            for h in request.hosts})


def test_preview_keeps_diffs_in_the_plan(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    ex = PreviewExecutor()
    monkeypatch.setattr(remediate_cli, "make_executor", lambda: ex)
    env.assess()
    res = env.run("plan", "--pack", str(env.pack), "-o", str(env.plan), "--preview",
                  "-i", str(env.inventory))
    assert res.exit_code == 0, res.output
    doc = json.loads(env.plan.read_text())
    (action,) = doc["actions"]
    assert action["preview"]["web-2"] == {
        "status": "changed", "message": "",
        "diff": "--- before: /etc/ssh/sshd_config\n+++ after\n+PermitRootLogin no  # web-2\n"}
    assert ex.calls == [("sshd_config", ["web-1", "web-2"], f"preview-{doc['plan_id']}")]
    shown = env.run("plan", "show", str(env.plan)).stdout.splitlines()
    aid = action["id"]
    i = shown.index(f"--- preview {aid} (sshd_config) on web-1: changed")
    assert shown[i + 1:i + 4] == ["--- before: /etc/ssh/sshd_config", "+++ after",
                                  "+PermitRootLogin no  # web-1"]
    # the previewed plan is what gets approved and applied: the digest covers the diffs
    from inspectorctl.remediate.plans import load_plan

    plan = load_plan(env.plan)
    assert plan.digest == plan.computed_digest() == doc["digest"]


def test_plan_finds_the_packs_the_run_used(env: Env) -> None:
    """The user's report: `plan -r 'acme-*'` failed with `unknown rulepack 'acme'` unless
    `-p my-pack.yml` was given again although the run used it."""
    rid = env.assess()
    res = env.run("runs", "list", "--format", "json")
    (run,) = [r for r in json.loads(res.stdout)["runs"] if r["id"] == rid]
    assert run["packs"] == [str(env.pack.resolve())]
    res = env.run("plan", "-r", "mini-ssh-*", "-o", str(env.plan))
    assert res.exit_code == 0, res.output
    doc = json.loads(env.plan.read_text())
    assert doc["source"]["packs"] == [str(env.pack.resolve())]
    assert sorted({f["rule_id"] for a in doc["actions"] for f in a["findings"]}) == [
        "mini-ssh-root", "mini-ssh-tries"]
