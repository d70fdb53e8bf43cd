"""The approval gate against an attacker, on the lab (hosts gate-1, gate-2, weak profile):
forged plans (issue 9 item 1), templates in tailoring values (item 2) and an inventory entry
that reaches another machine (item 5). Every refused case proves that no host and no controller
file changed; the hosts end as they started (nothing here is applied successfully).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from inspectorctl.cli.main import app
from inspectorctl.lab import Lab
from inspectorctl.models.plan import Plan, canonical_json
from inspectorctl.remediate import ansible as ansible_executor
from inspectorctl.remediate import catalog, plansign
from inspectorctl.store import journal
from inspectorctl.store.db import Store

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOSTS = ("gate-1", "gate-2")
RULES = ("ssh-max-auth-tries", "sysctl-net-ipv4-conf-all-send-redirects")

runner = CliRunner()

#: a pack whose text variable reaches a remediation item (the shipped packs have none)
PACK = """\
id: gatepack
version: "1.0"
title: Gate test pack
description: A text tailoring variable that ends up in an sshd option's value.
variables:
  tries_text: {default: "4", description: MaxAuthTries as text}
rules:
  - id: gate-ssh-tries
    title: SSH MaxAuthTries is the tailored text
    description: d
    rationale: r
    severity: low
    check: {kind: sshd_option, option: maxauthtries, expect: {op: eq, value: {var: tries_text}}}
    remediation: {playbook: sshd_config, params: {option: MaxAuthTries, value: {var: tries_text}}}
"""


@dataclass
class Ctx:
    lab: Lab
    tmp: Path
    db: Path
    inventory: Path

    def cli(self, *args: str) -> Result:
        return runner.invoke(app, [*args, "--db", str(self.db)])

    def ok(self, *args: str) -> Result:
        res = self.cli(*args)
        assert res.exit_code == 0, res.output
        return res

    def state(self, host: str) -> str:
        """A digest of the host's /etc and /root/.ssh: every path, type, mode, owner, link and
        content (Ansible's own ~/.ansible/tmp comes and goes with every connection)."""
        script = ("mkdir -p /root/.ssh; "
                  "find /etc /root/.ssh -xdev -printf '%p %y %m %U:%G %l\\n' | LC_ALL=C sort; "
                  "find /etc /root/.ssh -xdev -type f -print0 | LC_ALL=C sort -z | "
                  "xargs -0 sha256sum")
        out = self.lab.exec(host, ["sh", "-c", script])
        assert out.returncode == 0, out.stderr
        return hashlib.sha256(out.stdout.encode()).hexdigest()

    def states(self) -> dict[str, str]:
        return {h: self.state(h) for h in HOSTS}

    def assess(self, *args: str) -> str:
        res = self.ok("assess", "-i", str(self.inventory), "--limit", ",".join(HOSTS), *args)
        return res.stdout.split(":")[0].split()[-1]


def controller_files(root: Path) -> str:
    """A digest of the files under ``root`` (the controller side a refusal must not touch),
    but the database and the files the test itself writes (plans, policies)."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith(("findings.db", "forged", "policy")):
            h.update(str(p).encode() + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


@pytest.fixture(scope="module")
def ctx(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    tmp = tmp_path_factory.mktemp("gate")
    # hosts of its own: the remediation tests fix the session's remed-* hosts, after which
    # there would be nothing to plan here
    assert [h.name for h in lab.up(2, ["weak"], "gate")] == list(HOSTS)
    playbooks = tmp / "playbooks"
    shutil.copytree(catalog.playbooks_root(), playbooks,
                    ignore=shutil.ignore_patterns("molecule", "__pycache__"))
    mp = pytest.MonkeyPatch()
    mp.setattr(catalog, "playbooks_root", lambda: playbooks)
    mp.setattr(ansible_executor, "playbooks_root", lambda: playbooks)
    mp.setenv("NO_COLOR", "1")
    mp.setenv("COLUMNS", "200")
    try:
        yield Ctx(lab=lab, tmp=tmp, db=tmp / "findings.db", inventory=lab.inventory_path)
    finally:
        mp.undo()


def _forge(plan: Path, out: Path, edit: dict[str, object], *, key_of: Path | None = None
           ) -> Path:
    """The plan with its first action edited, resealed, and signed with the database's key
    when ``key_of`` is the database (an attacker who can read the key file)."""
    doc = json.loads(plan.read_text())
    doc["actions"][0].update(edit)
    doc["digest"] = ""
    doc["signature"] = ""
    p = Plan.model_validate(doc).sealed()
    if key_of is not None:
        with Store(key_of) as store:
            p = plansign.sign_plan(store, p)
    out.write_text(p.model_dump_json())
    return out


def test_forged_plans_are_refused_and_nothing_changes(ctx: Ctx) -> None:
    ctx.assess("--pack", "cis-linux", *(a for r in RULES for a in ("--rule", r)))
    plan = ctx.tmp / "plan.json"
    ctx.ok("plan", "-o", str(plan))
    before, ctl = ctx.states(), controller_files(ctx.tmp)
    policy = ctx.tmp / "policy.yml"
    policy.write_text("rules:\n  - name: harmless\n    auto_approve: true\n"
                      "    max_severity: low\n    disruption: [none]\n    reversible: true\n")
    pid = json.loads(plan.read_text())["plan_id"]
    evil = {"findings": [], "severity": "low", "disruption": "none", "reversible": True,
            "items": [{"line": "ssh-ed25519 AAAA attacker", "path": "/root/.ssh/authorized_keys"}]}
    # resealed by hand: not signed
    forged = _forge(plan, ctx.tmp / "forged.json", evil)
    for cmd in (("approve", str(forged), "--policy", str(policy)), ("apply", str(forged))):
        res = ctx.cli(*cmd)
        # the gate refuses the plan the same way whether it is approved or applied
        assert res.exit_code == 3, res.output
        assert res.stderr.startswith(f"error: refused: plan {pid} is not signed: only plans "
                                     "made by `inspectorctl plan`")
    # signed with the key (read from beside the database): recomputed, it is not a plan
    forged = _forge(plan, ctx.tmp / "forged2.json", evil, key_of=ctx.db)
    res = ctx.cli("approve", str(forged), "--policy", str(policy))
    assert res.exit_code == 3, res.output
    assert "closes no finding: every action must fix at least one stored finding" in res.stderr
    res = ctx.cli("apply", str(forged))
    assert res.exit_code == 3, res.output
    # made-up metadata with the real findings: recomputed from the catalogue and the findings
    doc = json.loads(plan.read_text())
    first = doc["actions"][0]
    edits: list[tuple[dict[str, object], str]] = [
        ({"severity": "low" if first["severity"] == "critical" else "critical"}, "severity"),
        ({"disruption": "reboot"}, "disruption"),
        ({"reversible": not first["reversible"]}, "reversible"),
        ({"items": [*first["items"], {"option": "PermitRootLogin", "value": "yes"}]}, "items")]
    for edit, field in edits:
        forged = _forge(plan, ctx.tmp / "forged3.json", edit, key_of=ctx.db)
        res = ctx.cli("approve", str(forged), "--by", "mallory")
        assert res.exit_code == 3, res.output
        assert f"({first['playbook']}): {field} in the plan is" in res.stderr, res.stderr
    # a playbook outside the catalogue: refused before any file is looked up by that name
    forged = _forge(plan, ctx.tmp / "forged4.json", {"playbook": "../../somewhere/evil"},
                    key_of=ctx.db)
    res = ctx.cli("apply", str(forged))
    assert res.exit_code == 3, res.output
    assert "names playbook '../../somewhere/evil', which is not a remediation playbook" \
        in res.stderr
    assert ctx.states() == before, "a forged plan changed a host"
    assert controller_files(ctx.tmp) == ctl
    with Store(ctx.db) as store:
        assert journal.apply_runs(store) == []
    # the genuine plan shows every item that an approval approves
    res = runner.invoke(app, ["plan", "show", str(plan)])
    assert res.exit_code == 0, res.output
    shown = res.stdout
    for a in doc["actions"]:
        for item in a["items"]:
            assert f"    item: {canonical_json(item)}" in shown


def test_templates_in_tailoring_values_never_run(ctx: Ctx) -> None:
    pack = ctx.tmp / "gatepack.yml"
    pack.write_text(PACK)
    marker = ctx.tmp / "pwned"
    value = "{{ lookup('pipe', 'touch " + str(marker) + "') }}"
    # a list of strings is not an int: refused when the value is read
    res = ctx.cli("assess", "-i", str(ctx.inventory), "--limit", "gate-1", "--pack",
                  "cis-linux", "--rule", "ssh-max-auth-tries", "--set",
                  "ssh_max_auth_tries=x,y")
    assert res.exit_code == 2, res.output
    assert "expected int like the default 4" in res.stderr
    before = ctx.states()
    ctx.assess("--pack", str(pack), "--set", f"tries_text={value}")
    plan = ctx.tmp / "tpl.json"
    res = ctx.ok("plan", "--pack", str(pack), "--set", f"tries_text={value}", "-o", str(plan),
                 "--preview")
    assert json.loads(plan.read_text())["actions"][0]["items"] == [
        {"option": "MaxAuthTries", "value": value}]
    assert not marker.exists(), "plan --preview evaluated a template in a tailoring value"
    ctx.ok("approve", str(plan), "--by", "alice")
    res = ctx.cli("apply", str(plan), "--no-verify")
    # sshd -t refuses the literal text as a number: the playbook fails
    assert res.exit_code == 1, res.output
    assert not marker.exists(), "apply evaluated a template in a tailoring value"
    policy = ctx.tmp / "all.yml"
    policy.write_text("rules:\n  - name: all\n    auto_approve: true\n")
    template = ctx.tmp / "tpl.yml"
    template.write_text(yaml.safe_dump({
        "name": "gate", "targets": {"inventory": str(ctx.inventory), "limit": "gate-1"},
        "packs": [str(pack)], "tailoring": {"tries_text": value}}))
    res = ctx.cli("remediate", "--policy", str(policy), "-t", str(template))
    assert res.exit_code == 1, res.output
    assert "applied 1 action(s): failed 1" in res.stdout
    assert not marker.exists(), "remediate evaluated a template in a tailoring value"
    # the issue's own template: a list for an int variable is refused, nothing runs
    template.write_text(yaml.safe_dump({
        "name": "gate", "targets": {"inventory": str(ctx.inventory), "limit": "gate-1"},
        "packs": ["cis-linux"], "rules": {"include": ["ssh-max-auth-tries"]},
        "tailoring": {"ssh_max_auth_tries": [value]}}))
    res = ctx.cli("remediate", "--policy", str(policy), "-t", str(template))
    assert res.exit_code == 2, res.output
    assert "tailoring value ssh_max_auth_tries=" in res.stderr
    assert "expected int like the default 4, got list" in res.stderr
    assert not marker.exists()
    # the failed applies may have left edits (the sshd_config playbook comments out drop-in
    # lines before sshd -t refuses the value): roll them back, newest first
    with Store(ctx.db) as store:
        runs = [r.id for r in journal.apply_runs(store) if r.kind == "apply"]
    assert len(runs) == 2
    for run_id in runs:
        ctx.ok("rollback", run_id, "--by", "carol")
    assert not marker.exists()
    assert ctx.states() == before


def test_an_inventory_entry_reaching_another_machine_changes_nothing(ctx: Ctx) -> None:
    ctx.assess("--pack", "cis-linux", *(a for r in RULES for a in ("--rule", r)))
    plan = ctx.tmp / "one.json"
    ctx.ok("plan", "--host", "gate-1", "-o", str(plan))
    doc = json.loads(plan.read_text())
    want = ctx.lab.exec("gate-1", ["cat", "/etc/machine-id"]).stdout.strip()
    assert doc["identities"]["gate-1"]["machine_id"] == want
    ctx.ok("approve", str(plan), "--by", "alice")
    inv = yaml.safe_load(ctx.inventory.read_text())
    hosts = inv["all"]["children"]["lab"]["hosts"]
    hosts["gate-1"] = {**hosts["gate-2"],
                        "inspectorctl_machine_id": hosts["gate-1"]["inspectorctl_machine_id"]}
    evil = ctx.tmp / "evil-inventory.yml"
    evil.write_text(yaml.safe_dump(inv))
    before = ctx.states()
    res = ctx.cli("apply", str(plan), "-i", str(evil), "--no-verify")
    assert res.exit_code == 1, res.output
    assert "identity mismatch: the machine reached as gate-1 has machine-id" in res.output
    assert ctx.states() == before, "an apply through a wrong inventory entry changed a host"
    with Store(ctx.db) as store:
        run = journal.apply_runs(store)[0]
        rows = journal.entries(store, run.id)
    # the first action fails on the identity check; --max-errors 0 stops the second one
    assert sorted((e.host, e.state.value) for e in rows) == [
        ("gate-1", "failed"), ("gate-1", "skipped_threshold")]
    (failed,) = [e for e in rows if e.state.value == "failed"]
    assert failed.message.startswith("task 'Refuse a host that is another machine': identity "
                                     "mismatch: the machine reached as gate-1 has machine-id")


def test_other_ssh_host_keys_change_nothing(ctx: Ctx, tmp_path: Path) -> None:
    """Same machine-id (a cloned image), other SSH host keys: refused before the playbook."""
    ctx.assess("--pack", "cis-linux", *(a for r in RULES for a in ("--rule", r)))
    plan = ctx.tmp / "keys.json"
    ctx.ok("plan", "--host", "gate-1", "-o", str(plan))
    doc = json.loads(plan.read_text())
    pub = "/etc/ssh/ssh_host_ed25519_key.pub"
    real = ctx.lab.exec("gate-1", ["cat", pub]).stdout
    keygen = shutil.which("ssh-keygen")
    assert keygen is not None
    want = subprocess.run([keygen, "-l", "-E", "sha256", "-f", "-"], input=real, text=True,
                          capture_output=True, check=True).stdout.split()[1]
    assert doc["identities"]["gate-1"]["ssh_host_keys"] == [want]
    ctx.ok("approve", str(plan), "--by", "alice")
    # another key in the public key file (sshd keeps its own: the lab's known_hosts still
    # lets Ansible in, as an impostor's would)
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "root@other", "-f",
                    str(tmp_path / "other")], check=True)
    other = (tmp_path / "other.pub").read_text()
    swap = ctx.lab.exec("gate-1", ["sh", "-c", f"printf '%s' '{other.strip()}' > {pub}"])
    assert swap.returncode == 0, swap.stderr
    try:
        before = ctx.states()
        res = ctx.cli("apply", str(plan), "--no-verify")
        assert res.exit_code == 1, res.output
        assert ("identity mismatch: the machine reached as gate-1 has other SSH host keys "
                f"than the plan's assessment recorded for it ({want}); nothing was changed on "
                "it.") in res.output
        assert ctx.states() == before, "an apply to a host with other host keys changed it"
        with Store(ctx.db) as store:
            run = journal.apply_runs(store)[0]
            rows = journal.entries(store, run.id)
        failed = [e for e in rows if e.state.value == "failed"]
        assert [e.host for e in failed] == ["gate-1"]
        assert failed[0].message.startswith(
            "task 'Refuse a host whose SSH host keys are others': identity mismatch")
    finally:
        restore = ctx.lab.exec("gate-1", ["sh", "-c", f"printf '%s' '{real}' > {pub}"])
        assert restore.returncode == 0, restore.stderr
    assert ctx.lab.exec("gate-1", ["cat", pub]).stdout == real
