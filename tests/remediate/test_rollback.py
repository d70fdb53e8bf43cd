"""Backups and ``_rollback`` on a lab host of its own: remediations applied with a run id are
undone file by file (content, mode, owner; files the run created are removed, files it removed
come back), the first state of a run is kept, and a second rollback changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from inspectorctl.lab import Lab
from inspectorctl.remediate import catalog

pytestmark = pytest.mark.lab  # every test here plays on a lab host

RUN_ID = "rb-test-1"
HOST = "rollback-1"

#: what the remediations below change on a weak host (and a few paths they create or remove)
WATCHED = [
    "/etc/ssh/sshd_config",
    "/etc/ssh/sshd_config.d/10-weak.conf",
    "/etc/login.defs",
    "/etc/issue",
    "/etc/issue.net",
    "/etc/shadow",
    "/etc/passwd",
    "/etc/group",
    "/root/.rhosts",
    "/etc/hosts.equiv",
    "/etc/sysctl.d/60-weak.conf",
    "/etc/sysctl.d/60-inspectorctl.conf",
    "/etc/modprobe.d",
    "/etc/modprobe.d/60-inspectorctl-cramfs.conf",
    "/usr/local/bin/backup.sh",
    "/etc/app.conf",
    "/etc/cron.allow",
    "/etc/at.allow",
    "/etc/cron.deny",
    "/etc/fstab",
    "/etc/systemd/system/multi-user.target.wants/rbtest-daemon.service",
    "/etc/systemd/system/rbtest-daemon.service",
]

#: remediation -> items, applied in one ansible-playbook run with RUN_ID
APPLIED: list[tuple[str, list[dict[str, Any]]]] = [
    ("sshd_config", [{"option": "X11Forwarding", "value": "no"},
                     {"option": "MaxAuthTries", "value": 4}]),
    ("config_line", [{"path": "/etc/login.defs", "regexp": r"^\s*PASS_MAX_DAYS\s",
                      "line": "PASS_MAX_DAYS\t365"},
                     {"path": "/etc/issue", "regexp": r"(?i)(\\[mrsv]|\bdebian\b)",
                      "line": "Authorized users only."}]),
    ("file_permissions", [{"path": "/etc/shadow", "mode": "0640", "owner": "root"},
                          {"path": "/etc/passwd", "mode": "0644"}]),
    ("file_absent", [{"path": "/root/.rhosts"}]),
    ("sysctl", [{"key": "net.ipv4.ip_forward", "value": "0"},
                {"key": "kernel.randomize_va_space", "value": "2"}]),
    ("kernel_module_disabled", [{"module": "cramfs"}]),
    ("world_writable", [{}]),
    ("cron_allow", [{}]),
    ("mount_options", [{"mountpoint": "/tmp", "options": ["noexec"]}]),
    ("service_disabled", [{"name": "rbtest-daemon"}]),
]

#: an enabled service unit (its program does not run) for service_disabled to disable and mask
UNIT_SETUP = """
unit=/lib/systemd/system/rbtest-daemon.service
printf '%s\\n' '[Unit]' 'Description=rollback test' '[Service]' \\
    'ExecStart=/usr/sbin/rbtest-daemon' '[Install]' 'WantedBy=multi-user.target' > "$unit"
wants=/etc/systemd/system/multi-user.target.wants
mkdir -p "$wants"
ln -sfn "$unit" "$wants/rbtest-daemon.service"
"""

_SNAPSHOT = r"""
import hashlib, json, os, stat, sys
out = {}
for p in json.loads(sys.argv[1]):
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        out[p] = None
        continue
    d = {"mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid, "gid": st.st_gid,
         "type": "dir" if stat.S_ISDIR(st.st_mode) else "link" if stat.S_ISLNK(st.st_mode)
         else "file"}
    if d["type"] == "file":
        with open(p, "rb") as fh:
            d["sha256"] = hashlib.sha256(fh.read()).hexdigest()
    elif d["type"] == "dir":
        d["entries"] = sorted(os.listdir(p))
    else:
        d["target"] = os.readlink(p)
    out[p] = d
print(json.dumps(out))
"""


def _ansible_playbook() -> str:
    here = Path(sys.executable).parent / "ansible-playbook"
    found = str(here) if here.is_file() else shutil.which("ansible-playbook")
    if found is None:
        pytest.fail("ansible-playbook is not installed", pytrace=False)
    return found


@pytest.fixture(scope="module")
def host(lab: Lab) -> Iterator[str]:
    """A weak lab host of this module's own."""
    lab.up(1, ["weak"], "rollback")
    yield HOST
    lab.stop(HOST)


def snapshot(lab: Lab, host: str) -> dict[str, Any]:
    proc = lab.exec(host, ["/usr/bin/python3", "-c", _SNAPSHOT, json.dumps(WATCHED)])
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout or "{}")
    return data


def in_host(lab: Lab, host: str, script: str) -> str:
    proc = lab.exec(host, ["/bin/sh", "-c", script])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout or ""


def play(lab: Lab, inventory: Path, host: str, playbook: Path,
         extra: dict[str, Any]) -> dict[str, int]:
    """Run ``playbook`` on ``host`` only; the host's stats (changed, failures, ...)."""
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(catalog.roles_root()),
           "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_RETRY_FILES_ENABLED": "0"}
    proc = subprocess.run(
        [_ansible_playbook(), "-i", str(inventory), "--limit", host, str(playbook),
         "-e", json.dumps(extra)],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )
    assert proc.returncode == 0, (proc.stdout[-8000:] + proc.stderr[-4000:])
    stats: dict[str, int] = json.loads(proc.stdout)["stats"][host]
    return stats


def test_rollback_restores_what_a_run_changed(
    lab: Lab, lab_inventory: Path, host: str, tmp_path: Path,
) -> None:
    root = catalog.playbooks_root()
    wrapper = tmp_path / "apply.yml"
    wrapper.write_text(yaml.safe_dump([
        {"ansible.builtin.import_playbook": str(root / pid / "playbook.yml"),
         "vars": {"items": items}}
        for pid, items in APPLIED
    ], sort_keys=False), encoding="utf-8")
    in_host(lab, host, "printf '+ +\\n' > /root/.rhosts; chmod 0644 /root/.rhosts")
    in_host(lab, host, UNIT_SETUP)
    before = snapshot(lab, host)
    sshd_before = in_host(lab, host, "sshd -T | grep -E '^(x11forwarding|maxauthtries) '")

    stats = play(lab, lab_inventory, host, wrapper, {"inspectorctl_run_id": RUN_ID})
    assert stats["changed"] > 0
    # a second apply within the same run, after the file changed again: the backup keeps the
    # state from before the run's first change
    in_host(lab, host, "echo 'changed between two applies of one run' >> /etc/issue")
    play(lab, lab_inventory, host, wrapper, {"inspectorctl_run_id": RUN_ID})

    applied = snapshot(lab, host)
    changed_paths = {p for p in WATCHED if applied[p] != before[p]}
    assert {"/etc/ssh/sshd_config", "/etc/login.defs", "/etc/issue", "/etc/shadow",
            "/root/.rhosts", "/etc/sysctl.d/60-inspectorctl.conf", "/etc/modprobe.d",
            "/etc/modprobe.d/60-inspectorctl-cramfs.conf", "/usr/local/bin/backup.sh",
            "/etc/cron.allow", "/etc/fstab", "/etc/systemd/system/rbtest-daemon.service",
            "/etc/systemd/system/multi-user.target.wants/rbtest-daemon.service"} <= changed_paths
    assert in_host(lab, host, "sshd -T | grep -E '^(x11forwarding|maxauthtries) '") != sshd_before

    rollback = root / "_rollback" / "playbook.yml"
    stats = play(lab, lab_inventory, host, rollback, {"inspectorctl_run_id": RUN_ID})
    assert stats["changed"] > 0
    after = snapshot(lab, host)
    assert {p: after[p] for p in WATCHED if after[p] != before[p]} == {}
    # sshd was reloaded with the restored files
    assert in_host(lab, host, "sshd -T | grep -E '^(x11forwarding|maxauthtries) '") == sshd_before

    again = play(lab, lab_inventory, host, rollback, {"inspectorctl_run_id": RUN_ID})
    assert again["changed"] == 0
    assert snapshot(lab, host) == before


def test_rollback_of_an_unknown_run_changes_nothing(
    lab: Lab, lab_inventory: Path, host: str,
) -> None:
    rollback = catalog.playbooks_root() / "_rollback" / "playbook.yml"
    stats = play(lab, lab_inventory, host, rollback, {"inspectorctl_run_id": "no-such-run"})
    assert stats["changed"] == 0 and stats["failures"] == 0


def test_a_run_id_is_required(lab: Lab, lab_inventory: Path, host: str) -> None:
    rollback = catalog.playbooks_root() / "_rollback" / "playbook.yml"
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(catalog.roles_root()), "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run(
        [_ansible_playbook(), "-i", str(lab_inventory), "--limit", host, str(rollback),
         "-e", json.dumps({"inspectorctl_run_id": "../etc"})],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode != 0
    assert "inspectorctl_run_id" in proc.stdout
