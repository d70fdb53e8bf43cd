"""Approvals that do not depend on the shared HMAC key (issue 9, item 8): SSH-signed
approvals checked against an allowed-signers file, and the key file's own safety."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import Result

from inspectorctl.models.plan import ApprovalKind, Plan
from inspectorctl.remediate.approval import record_approval
from inspectorctl.remediate.signing import NAMESPACE
from inspectorctl.store.db import Store, now
from tests.cli.test_remediate_cli import Env, env

__all__ = ["env"]

pytestmark = pytest.mark.skipif(
    subprocess.run(["which", "ssh-keygen"], capture_output=True, check=False).returncode != 0,
    reason="ssh-keygen (openssh-client) is not installed")


def _keygen(tmp: Path, name: str) -> tuple[Path, str]:
    key = tmp / f"{name}_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                    str(key)], check=True)
    return key, key.with_suffix(".pub").read_text().split(" ", 2)[1]


@pytest.fixture
def signed(env: Env) -> tuple[Env, Path, Path, Path]:
    keys = env.tmp / "keys"
    keys.mkdir()
    alice, alice_pub = _keygen(keys, "alice")
    mallory, _ = _keygen(keys, "mallory")
    signers = env.tmp / "allowed_signers"
    signers.write_text(f'# who may approve\nalice namespaces="{NAMESPACE}" ssh-ed25519 '
                       f"{alice_pub} alice@example.org\n")
    pol = env.tmp / "policy.yml"
    pol.write_text("require_signed: true\nallowed_signers: allowed_signers\n")
    env.make_plan()
    return env, pol, alice, mallory


def _apply(env: Env, pol: Path) -> Result:
    return env.run("apply", str(env.plan), "-i", str(env.inventory), "--no-verify",
                   "--policy", str(pol))


def test_a_signed_approval_by_a_listed_signer_counts(signed: tuple[Env, Path, Path, Path]
                                                     ) -> None:
    env, pol, alice, _ = signed
    res = env.run("approve", str(env.plan), "--by", "Alice", "--policy", str(pol),
                  "--sign-with", str(alice))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("Approved by alice, signed: 1 of 1 action(s)")
    res = _apply(env, pol)
    assert res.exit_code == 0, res.output
    assert len(env.executor.calls) == 1


def test_unsigned_and_wrongly_signed_approvals_do_not_count(
        signed: tuple[Env, Path, Path, Path]) -> None:
    env, pol, _, mallory = signed
    res = env.run("approve", str(env.plan), "--by", "alice", "--policy", str(pol))
    assert (res.exit_code, res.stderr) == (
        2, f"error: the policy {pol} requires signed approvals (require_signed): approve with "
           "--sign-with YOUR_SSH_KEY\n")
    # mallory signs as alice with her own key: recorded, but it does not verify
    res = env.run("approve", str(env.plan), "--by", "alice", "--policy", str(pol),
                  "--sign-with", str(mallory))
    assert res.exit_code == 2
    assert "signature does not verify as 'alice'" in res.stderr
    assert "it will not count under this policy" in res.stderr
    # someone who holds the HMAC key writes a record directly: valid HMAC, no signature
    plan = Plan.model_validate_json(env.plan.read_text())
    with Store(env.tmp / "findings.db") as store:
        t = now()
        record_approval(store, plan, approver="alice", kind=ApprovalKind.HUMAN,
                        action_ids=[a.id for a in plan.actions], now=t,
                        expires_at=t + timedelta(hours=1))
    res = _apply(env, pol)
    assert res.exit_code == 3, res.output
    assert ("not approved (needs 1 approver); unsigned or wrongly signed approvals do not "
            "count (require_signed)") in res.stderr
    assert env.executor.calls == []
    # without the policy the HMAC alone decides (what the README says the HMAC mode is)
    res = env.run("apply", str(env.plan), "-i", str(env.inventory), "--no-verify")
    assert res.exit_code == 0, res.output


def test_a_policy_requiring_signatures_needs_a_valid_signers_file(env: Env) -> None:
    pol = env.tmp / "policy.yml"
    pol.write_text("require_signed: true\n")
    env.make_plan()
    res = env.run("approve", str(env.plan), "--policy", str(pol))
    assert res.exit_code == 2
    assert res.stderr == (f"error: {pol}:1: policy: (document): require_signed needs "
                          "allowed_signers: the file (OpenSSH allowed-signers format) that "
                          "lists who may approve\n")
    (env.tmp / "signers").write_text("alice ssh-ed25519 not-base64!\n")
    pol.write_text("require_signed: true\nallowed_signers: signers\n")
    res = env.run("approve", str(env.plan), "--policy", str(pol))
    assert (res.exit_code, res.stderr) == (
        2, f"error: {env.tmp}/signers:1: the key is not base64 (expected 'NAME [OPTIONS] "
           "KEYTYPE KEY', e.g. 'alice ssh-ed25519 AAAAC3...')\n")


def test_a_key_file_others_can_read_is_reported_and_refused_in_strict_mode(env: Env) -> None:
    env.make_plan()
    assert env.run("approve", str(env.plan), "--by", "alice").exit_code == 0
    key = env.tmp / "findings.db.key"
    assert key.stat().st_mode & 0o777 == 0o600
    key.chmod(0o644)
    res = env.run("approve", str(env.plan), "--by", "bob")
    assert res.exit_code == 0, res.output
    assert res.stderr == (
        f"warning: approval key file {key} is readable by its group and everyone (mode "
        "0644): anyone who can read it and write the database can forge approvals; chmod 600 "
        f"{key}\n")
    res = env.run("apply", str(env.plan), "-i", str(env.inventory), "--no-verify",
                  "--strict")
    assert res.exit_code == 1
    assert res.stderr.endswith("(refused: --strict)\n")
    assert env.executor.calls == []


def test_a_fifo_as_key_file_does_not_hang(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.make_plan()
    fifo = env.tmp / "key.fifo"
    os.mkfifo(fifo)
    monkeypatch.setenv("INSPECTORCTL_APPROVAL_KEY_FILE", str(fifo))
    res = env.run("approve", str(env.plan), "--by", "alice")
    # the plan's signature is checked first, with the same refusal of a FIFO
    assert res.exit_code == 3
    assert res.stderr.startswith("error: refused: plan p-")
    assert res.stderr.endswith(
        f"approval key file {fifo} is not a regular file (a FIFO, device or "
        "directory); point INSPECTORCTL_APPROVAL_KEY_FILE at the key file itself\n"
        "nothing was approved\n")
    res = env.run("apply", str(env.plan), "-i", str(env.inventory), "--no-verify")
    assert res.exit_code in (1, 3)
    assert "is not a regular file" in res.stderr
    assert env.executor.calls == []
    assert json.loads(env.run("audit", "list", "-f", "json").stdout or "{}") is not None


def test_rollback_takes_signed_approvals_and_strict(
        signed: tuple[Env, Path, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """``rollback`` signs like ``approve`` (one --sign-with per --by) and refuses like ``apply``
    in --strict mode; a policy that requires signatures could not be met by a rollback
    before."""
    from inspectorctl.remediate import service
    from inspectorctl.remediate.approval import read_approvals
    from inspectorctl.remediate.verify import RollbackReport
    from inspectorctl.store import journal

    env, pol, alice, mallory = signed
    # the re-assessment after the rollback is not what this tests (no hosts here)
    monkeypatch.setattr(service, "verify_rollback", lambda plan, *a, **k: RollbackReport(
        assess_run_id=None, hosts=[], rules=[], items=[], not_undone=[]))
    assert env.run("approve", str(env.plan), "--by", "alice", "--policy", str(pol),
                   "--sign-with", str(alice)).exit_code == 0
    assert _apply(env, pol).exit_code == 0
    with Store(env.tmp / "findings.db") as store:
        (run,) = journal.apply_runs(store)
    rb = ["rollback", run.id, "-i", str(env.inventory), "--policy", str(pol)]
    res = env.run(*rb, "--by", "alice", "--by", "bob", "--sign-with", str(alice))
    assert (res.exit_code, res.stderr) == (
        2, "error: rollback: 2 --by and 1 --sign-with: give one --sign-with KEY per --by "
           "NAME, in the same order\n")
    res = env.run(*rb, "--by", "alice")
    assert (res.exit_code, res.stderr) == (
        2, f"error: the policy {pol} requires signed approvals (require_signed): approve with "
           "--sign-with YOUR_SSH_KEY\n")
    key = env.tmp / "findings.db.key"
    key.chmod(0o644)
    res = env.run(*rb, "--by", "alice", "--sign-with", str(alice), "--strict")
    assert res.exit_code == 1
    assert res.stderr == (
        f"error: approval key file {key} is readable by its group and everyone (mode 0644): "
        "anyone who can read it and write the database can forge approvals; chmod 600 "
        f"{key} (refused: --strict)\n")
    key.chmod(0o600)
    calls = len(env.executor.calls)
    res = env.run(*rb, "--by", "alice", "--sign-with", str(alice))
    assert res.exit_code == 0, res.output
    assert [pb for pb, _, _ in env.executor.calls[calls:]] == ["_rollback"]
    with Store(env.tmp / "findings.db") as store:
        last = read_approvals(store).approvals[-1]
    assert (last.approver, bool(last.signature)) == ("alice", True)
    # mallory's key signing as alice: recorded but it does not count, so nothing runs
    res = env.run(*rb, "--by", "alice", "--sign-with", str(mallory))
    assert res.exit_code == 2
    assert "signature does not verify as 'alice'" in res.stderr
    assert len(env.executor.calls) == calls + 1


def test_remediate_takes_strict(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    pol = env.tmp / "policy.yml"
    pol.write_text("rules: []\n")
    env.make_plan()
    key = env.tmp / "findings.db.key"
    key.chmod(0o640)
    collected: list[object] = []
    monkeypatch.setattr("inspectorctl.collect.get_collector",
                        lambda transport: collected.append(transport))
    res = env.run("remediate", "--policy", str(pol), "--strict", "--sign-with",
                  str(env.tmp / "nokey"))
    assert res.exit_code == 1
    assert res.stderr == (
        f"error: approval key file {key} is readable by its group (mode 0640): anyone who can "
        f"read it and write the database can forge approvals; chmod 600 {key} "
        "(refused: --strict)\n")
    assert collected == [] and env.executor.calls == []
