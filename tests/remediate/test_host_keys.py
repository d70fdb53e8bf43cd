"""SSH host key fingerprints in a host's identity (issue 9 item 5): the probe reads the public
host keys, the controller fingerprints them (only for a host reached over SSH), the plan keeps
them, and the Ansible executor's identity play refuses a host whose keys are others.

The executor tests run the real wrapper with ``ansible-playbook -c local`` on this machine: the
play only reads /etc/machine-id and /etc/ssh/ssh_host_*_key.pub; the "remediation" writes a
file under tmp_path, which shows whether the host was let through.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inspectorctl.collect._result import (
    host_key_fingerprints,
    reached_over_ssh,
    snapshot_from_probe,
    ssh_fingerprint,
)
from inspectorctl.models.plan import PlannedIdentity
from inspectorctl.models.snapshot import HostSnapshot
from inspectorctl.models.targets import Targets
from inspectorctl.probe.context import ProbeContext
from inspectorctl.probe.run import _ssh_host_keys
from inspectorctl.remediate.ansible import AnsibleExecutor, host_key_check
from inspectorctl.remediate.interface import ExecRequest, ExecutorError, HostStatus

FP = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")


def _keygen(path: Path, kind: str = "ed25519") -> str:
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.skip("ssh-keygen is not installed")
    subprocess.run([keygen, "-q", "-t", kind, "-N", "", "-C", "root@x", "-f", str(path)],
                   check=True, capture_output=True)
    out = subprocess.run([keygen, "-l", "-E", "sha256", "-f", f"{path}.pub"], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[1]


def test_fingerprints_are_openssh_s(tmp_path: Path) -> None:
    for kind in ("ed25519", "rsa", "ecdsa"):
        want = _keygen(tmp_path / kind, kind)
        blob = (tmp_path / f"{kind}.pub").read_text().split()[1]
        assert ssh_fingerprint(blob) == want
        assert FP.match(want)


def test_the_probe_reads_the_public_host_keys_only(tmp_path: Path) -> None:
    ssh = tmp_path / "etc/ssh"
    ssh.mkdir(parents=True)
    (ssh / "ssh_host_ed25519_key").write_text("PRIVATE KEY\n")
    (ssh / "ssh_host_ed25519_key.pub").write_text("ssh-ed25519 AAAAC3Nz root@h\nsecond line\n")
    (ssh / "ssh_host_rsa_key.pub").write_text("ssh-rsa AAAAB3Nz")  # no newline, no comment
    (ssh / "ssh_host_bad_key.pub").write_text("one-field\n")
    (ssh / "moduli.pub").write_text("ssh-rsa AAAA\n")
    (ssh / "ssh_host_dir_key.pub").mkdir()
    assert _ssh_host_keys(ProbeContext(str(tmp_path))) == ["ssh-ed25519 AAAAC3Nz",
                                                          "ssh-rsa AAAAB3Nz"]
    assert _ssh_host_keys(ProbeContext(str(tmp_path / "nothing"))) == []


def test_fingerprints_are_kept_only_for_hosts_reached_over_ssh(tmp_path: Path) -> None:
    want = _keygen(tmp_path / "k")
    key = " ".join((tmp_path / "k.pub").read_text().split()[:2])
    probe = {"schema_version": 1, "collected_at": "2026-01-01T00:00:00+00:00",
             "host": {"machine_id": "a" * 32, "ssh_host_keys": [key, key, "x y", 7]}}
    for transport, hostvars, kept in (
            ("ansible", {}, (want,)),  # ssh is Ansible's default connection
            ("ansible", {"ansible_connection": "ssh"}, (want,)),
            ("ansible", {"ansible_connection": "local"}, ()),
            ("ssm", {}, ()),
            ("local", {}, ())):
        snap = snapshot_from_probe(probe, name="h", transport=transport, hostvars=hostvars)
        assert isinstance(snap, HostSnapshot), snap
        assert snap.host.ssh_host_keys == kept, (transport, hostvars)
    assert reached_over_ssh("ansible", {"ansible_connection": "ansible.builtin.ssh"})
    assert not reached_over_ssh("ansible", {"ansible_connection": "docker"})


@given(st.lists(st.one_of(st.text(max_size=80), st.integers(), st.none(),
                          st.builds(lambda t, b: f"{t} {b}", st.text(max_size=20),
                                    st.text(max_size=60)),
                          st.builds(lambda b: "ssh-ed25519 " + base64.b64encode(b).decode(),
                                    st.binary(max_size=64))), max_size=30))
def test_hostile_host_key_values_never_crash(values: list[object]) -> None:
    out = host_key_fingerprints(values)
    assert list(out) == sorted(set(out))
    assert all(FP.match(fp) for fp in out)
    assert len(out) <= 16


def test_the_plan_digest_of_a_host_without_keys_is_unchanged() -> None:
    """Plans made before host keys were recorded keep their digest (no new empty field)."""
    from inspectorctl.models.plan import Plan, PlanSource
    from tests.remediate.helpers import T0

    base = Plan(plan_id="p-1", created_at=T0, source=PlanSource(run_id="r-1"), actions=[],
                findings_digest="0" * 64,
                identities={"h": PlannedIdentity(machine_id="a" * 32)}).sealed()
    dumped = base.model_dump(mode="json", exclude={"digest", "signature"})
    assert "ssh_host_keys" in dumped["identities"]["h"]
    with_keys = base.model_copy(update={"identities": {"h": PlannedIdentity(
        machine_id="a" * 32, ssh_host_keys=["SHA256:" + "A" * 43])}}).sealed()
    assert with_keys.digest != base.digest
    # the digest is computed as if the field did not exist
    import hashlib

    from inspectorctl.models.plan import canonical_json

    del dumped["identities"]["h"]["ssh_host_keys"]
    dumped["source"].pop("ssm", None)
    assert base.digest == hashlib.sha256(canonical_json(dumped).encode()).hexdigest()


def test_host_key_check_values() -> None:
    fp = "SHA256:" + base64.b64encode(bytes(range(32))).decode().rstrip("=")
    assert host_key_check([fp, fp]) == {"sha256": [bytes(range(32)).hex()], "shown": [fp]}
    with pytest.raises(ExecutorError, match="is not SHA256"):
        host_key_check(["MD5:aa"])
    with pytest.raises(ExecutorError, match="is not base64"):
        host_key_check(["SHA256:!!"])


# ------------------------------------------------------------------ the identity play, for real


NOOP = """\
- name: A remediation that leaves a mark
  hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        content: "changed\\n"
        dest: "{{ items[0].path }}"
"""


def _this_machine() -> tuple[str, list[str]]:
    keys = sorted(Path("/etc/ssh").glob("ssh_host_*_key.pub"))
    mid = Path("/etc/machine-id")
    if not keys or not mid.is_file():
        pytest.skip("this machine has no SSH host keys or no /etc/machine-id")
    fps = sorted({fp for p in keys
                  if (fp := ssh_fingerprint(p.read_text().split()[1])) is not None})
    return mid.read_text().strip(), fps


def _apply(tmp_path: Path, mid: str, fps: list[str]) -> tuple[HostStatus, str, bool]:
    root = tmp_path / "playbooks"
    (root / "noop").mkdir(parents=True, exist_ok=True)
    (root / "roles").mkdir(exist_ok=True)
    (root / "noop/playbook.yml").write_text(NOOP)
    inv = tmp_path / "inventory.ini"
    inv.write_text("box ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n")
    mark = tmp_path / "mark"
    mark.unlink(missing_ok=True)
    request = ExecRequest(playbook="noop", hosts=["box"], items=[{"path": str(mark)}],
                          run_id="a-test", targets=Targets(inventory=str(inv)),
                          playbooks_root=root, machine_ids={"box": mid},
                          host_keys={"box": fps} if fps else {})
    result = AnsibleExecutor().run(request)
    out = result.hosts["box"]
    return out.status, out.message, mark.exists()


def test_the_identity_play_lets_the_recorded_machine_through(tmp_path: Path) -> None:
    mid, fps = _this_machine()
    status, message, changed = _apply(tmp_path, mid, fps)
    assert (status, message, changed) == (HostStatus.CHANGED, "", True)


def test_other_host_keys_are_refused_before_the_playbook(tmp_path: Path) -> None:
    mid, fps = _this_machine()
    other = "SHA256:" + base64.b64encode(b"\x01" * 32).decode().rstrip("=")
    for recorded in ([other], [*fps[1:], other], fps[1:] or [other]):
        status, message, changed = _apply(tmp_path, mid, sorted(recorded))
        assert status is HostStatus.FAILED
        assert not changed, "the remediation ran on a host whose keys are others"
        assert message == (
            "task 'Refuse a host whose SSH host keys are others': identity mismatch: the "
            "machine reached as box has other SSH host keys than the plan's assessment "
            f"recorded for it ({', '.join(sorted(recorded))}); nothing was changed on it. "
            "Check the inventory entry of box (it reaches another machine, or the host's "
            "keys were replaced), then assess and plan again")
    # no keys recorded (not assessed over SSH): only the machine-id is checked
    assert _apply(tmp_path, mid, [])[2]
