"""The remediation workflows as library calls: the caller gives the collector and the executor
(here: a collector answering with fixed snapshots, before and after the fix, and the fake
executor of test_rollout), and gets each step as it happens and an outcome."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from inspectorctl.assess import AssessOptions
from inspectorctl.collect.interface import ProgressCallback
from inspectorctl.models.snapshot import HostResult, HostSnapshot, ProbeRequest
from inspectorctl.models.targets import Targets
from inspectorctl.remediate import service
from inspectorctl.remediate.approval import load_policy
from inspectorctl.remediate.rollout import RolloutOptions
from inspectorctl.store.db import Store, now
from tests.cli.test_remediate_cli import PACK
from tests.fixtures import snapshot_dict
from tests.remediate.test_rollout import FakeExecutor


class FixedCollector:
    """A Collector answering each call with the next set of snapshots."""

    name = "fixed"

    def __init__(self, *rounds: dict[str, bool]) -> None:
        #: per call: host -> whether its sshd still allows root login
        self.rounds = list(rounds)
        self.requests: list[tuple[ProbeRequest, Targets]] = []

    def collect(
        self, request: ProbeRequest, targets: Targets, progress: ProgressCallback | None = None
    ) -> Sequence[HostResult]:
        self.requests.append((request, targets))
        hosts = self.rounds[min(len(self.requests), len(self.rounds)) - 1]
        wanted = set(targets.limit.split(",")) if targets.limit else set(hosts)
        return [
            HostSnapshot.model_validate(
                snapshot_dict(h, root_login="yes" if weak else "no", tries="3"))
            for h, weak in sorted(hosts.items()) if h in wanted
        ]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Store, AssessOptions, Path]:
    pack = tmp_path / "mini.yml"
    pack.write_text(PACK)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n    web-1:\n    web-2:\n")
    policy = tmp_path / "policy.yml"
    policy.write_text("rules:\n  - name: ssh on web\n    auto_approve: true\n"
                      "    rules: ['mini-ssh-*']\n    hosts: ['web-*']\n")
    options = AssessOptions(packs=(str(pack),), targets=Targets(inventory=inventory))
    return Store(tmp_path / "f.db"), options, policy


def test_remediate_runs_every_step_through_the_given_collector_and_executor(
    setup: tuple[Store, AssessOptions, Path],
) -> None:
    store, options, policy = setup
    collector = FixedCollector({"web-1": True, "web-2": True}, {"web-1": False, "web-2": False})
    executor = FakeExecutor()
    steps: list[service.Step] = []
    with store:
        outcome = service.remediate(
            store, options, load_policy(policy), collector=collector, executor=executor,
            rollout=RolloutOptions(), actor="policy:test", now=now, on_step=steps.append)
    assert [type(s).__name__ for s in steps] == ["Assessed", "Planned", "Applied", "Verified"]
    assert not outcome.refused and not outcome.failed and outcome.pending == ()
    assert outcome.auto_approved == tuple(a.id for a in outcome.plan.actions)
    assert [(pb, sorted(hosts)) for pb, hosts, _ in executor.calls] == [
        ("sshd_config", ["web-1", "web-2"])]
    # the assessment and the verification both went through the collector given
    assert len(collector.requests) == 2
    assert collector.requests[1][1].limit == "web-1,web-2"
    assert outcome.verify is not None and outcome.verify.all_fixed


def test_remediate_reports_a_fix_that_did_not_hold_and_what_waits_for_people(
    setup: tuple[Store, AssessOptions, Path],
) -> None:
    store, options, policy = setup
    policy.write_text("rules:\n  - name: nothing\n    auto_approve: true\n    rules: ['x']\n"
                      "default_approvers: 2\n")
    collector = FixedCollector({"web-1": True, "web-2": True})
    executor = FakeExecutor()
    with store:
        outcome = service.remediate(
            store, options, load_policy(policy), collector=collector, executor=executor,
            rollout=RolloutOptions(), actor="policy:test", now=now)
    assert outcome.apply is None and executor.calls == []
    assert [d.approvers for d in outcome.pending] == [2] * len(outcome.plan.actions)
    # an auto-approved fix whose re-assessment still fails is a failed outcome
    policy.write_text("rules:\n  - name: ssh on web\n    auto_approve: true\n"
                      "    rules: ['mini-ssh-*']\n    hosts: ['web-*']\n")
    with Store(store.path) as again:
        outcome = service.remediate(
            again, options, load_policy(policy), collector=FixedCollector(
                {"web-1": True, "web-2": True}), executor=executor, rollout=RolloutOptions(),
            actor="policy:test", now=now)
    assert outcome.apply is not None and outcome.apply.complete
    assert outcome.verify is not None and not outcome.verify.all_fixed and outcome.failed


def _tamper_audit_log(path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET actor='mallory' WHERE seq=1")
    db.commit()
    db.close()


def test_a_broken_audit_log_refuses_remediate_and_rollback_before_anything(
    setup: tuple[Store, AssessOptions, Path],
) -> None:
    from inspectorctl.remediate.rollout import AuditLogBroken

    store, options, policy = setup
    collector = FixedCollector({"web-1": True, "web-2": True}, {"web-1": False, "web-2": False})
    executor = FakeExecutor()
    with store:
        outcome = service.remediate(
            store, options, load_policy(policy), collector=collector, executor=executor,
            rollout=RolloutOptions(), actor="policy:test", now=now)
    assert outcome.apply is not None
    _tamper_audit_log(store.path)
    collector.requests.clear()
    executor.calls.clear()
    with Store(store.path) as again:
        with pytest.raises(AuditLogBroken) as info:
            service.remediate(
                again, options, load_policy(policy), collector=collector, executor=executor,
                rollout=RolloutOptions(), actor="policy:test", now=now)
        assert info.value.exit_code == 3
        assert str(info.value).startswith(
            f"refused: the audit log in {store.path} is not intact: entry 1 (plan by "
            "'mallory') does not match its keyed digest")
        with pytest.raises(AuditLogBroken):
            service.rollback(again, outcome.apply.run_id, ["alice"], executor=executor,
                             now=now())
    assert collector.requests == [] and executor.calls == []


def test_remediate_signs_the_policy_approvals_with_sign_with(
    setup: tuple[Store, AssessOptions, Path],
) -> None:
    import shutil
    import subprocess

    from inspectorctl.remediate import signing
    from inspectorctl.remediate.approval import read_approvals

    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    store, options, policy = setup
    policy.write_text("rules:\n  - name: ssh-on-web\n    auto_approve: true\n"
                      "    rules: ['mini-ssh-*']\n")
    key = policy.parent / "robot"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    signers = policy.parent / "signers"
    signers.write_text(f'policy:policy.yml#ssh-on-web namespaces="{signing.NAMESPACE}" '
                       + " ".join(key.with_suffix(".pub").read_text().split()[:2]) + "\n")
    with store:
        outcome = service.remediate(
            store, options, load_policy(policy),
            collector=FixedCollector({"web-1": True}, {"web-1": False}),
            executor=FakeExecutor(), rollout=RolloutOptions(), actor="policy:test", now=now,
            sign_with=key)
        assert outcome.apply is not None and outcome.apply.complete
        (made,) = read_approvals(store).approvals
    assert made.approver == "policy:policy.yml#ssh-on-web" and made.signature
    # anyone holding the public key can check it: ssh-keygen -Y verify, as the gate does
    assert signing.verify(signers, made.approver, signing.statement(
        made.plan_id, made.plan_digest, made.approver, made.action_ids, made.expires_at),
        made.signature) is None
