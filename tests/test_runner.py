"""The ansible-runner set-up shared by collection and remediation."""

from __future__ import annotations

import io
import os
from pathlib import Path

from inspectorctl.collect.ansible import AnsibleCollector
from inspectorctl.models.targets import Targets
from inspectorctl.remediate.ansible import AnsibleExecutor
from inspectorctl.remediate.catalog import playbooks_root
from inspectorctl.remediate.interface import ExecRequest
from inspectorctl.runner import ansible_bin_dir, ansible_env, stdout_tail


def test_one_environment_for_collection_and_remediation(tmp_path: Path) -> None:
    bin_dir = ansible_bin_dir()
    assert bin_dir is not None and (bin_dir / "ansible-playbook").is_file()
    env = ansible_env(bin_dir, tmp_path, 7, extra={"ANSIBLE_TIMEOUT": "9", "X": "y"})
    assert env["PATH"].startswith(f"{bin_dir}:")
    assert env["ANSIBLE_PIPELINING"] == "True"
    assert env["ANSIBLE_LOCAL_TEMP"] == str(tmp_path / "tmp")
    assert env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] == "True"
    assert env["ANSIBLE_TIMEOUT"] == "9" and env["X"] == "y"  # the caller's settings win
    assert "ANSIBLE_ROLES_PATH" not in env
    collect = AnsibleCollector(extra_env={"X": "y"})._env(bin_dir, tmp_path, Targets(timeout=7))
    assert collect == {**ansible_env(bin_dir, tmp_path, 7), "X": "y"}
    request = ExecRequest(playbook="sysctl", hosts=["h"], items=[], run_id="r",
                          targets=Targets(timeout=7))
    apply = AnsibleExecutor()._env(bin_dir, tmp_path, request)
    roles = str(playbooks_root() / "roles")
    base = ansible_env(bin_dir, tmp_path, 7)
    # remediation runs ansible-playbook through the supervisor (remediate/_supervise.py): its
    # directory comes first on PATH, and it is told the real program, its parent and its pidfile
    assert apply == {
        **base,
        "ANSIBLE_ROLES_PATH": roles,
        "PATH": f"{tmp_path / 'bin'}:{base['PATH']}",
        "INSPECTORCTL_ANSIBLE_PLAYBOOK": str(bin_dir / "ansible-playbook"),
        "INSPECTORCTL_PARENT_PID": str(os.getpid()),
        "INSPECTORCTL_SUPERVISOR_PIDFILE": str(tmp_path / "supervisor.pid"),
    }


class _Runner:
    def __init__(self, text: str | None) -> None:
        self._text = text

    @property
    def stdout(self) -> io.StringIO:
        if self._text is None:
            raise FileNotFoundError("artifact gone")
        return io.StringIO(self._text)


def test_stdout_tail() -> None:
    text = "PLAY [x] ***\n\n*****\nfatal: one\n  two  \nthree\n"
    assert stdout_tail(_Runner(text)) == "fatal: one | two | three"
    assert stdout_tail(_Runner(text), lines=1) == "three"
    assert stdout_tail(_Runner("")) == "no output"
    assert stdout_tail(_Runner(None)) == "no output"
