"""The supervisor ansible-playbook runs under: its process group dies with the orchestrator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from inspectorctl.remediate import _supervise
from inspectorctl.remediate.ansible import kill_supervised, write_supervisor

#: stands in for the orchestrator: starts the supervisor (in a new session, as pexpect does)
#: with a fake ansible-playbook that starts a worker, then waits
ORCHESTRATOR = """
import os, subprocess, sys, time
env = {**os.environ, "INSPECTORCTL_ANSIBLE_PLAYBOOK": sys.argv[2],
       "INSPECTORCTL_PARENT_PID": str(os.getpid()),
       "INSPECTORCTL_SUPERVISOR_PIDFILE": sys.argv[3]}
subprocess.Popen([sys.argv[1]], env=env, start_new_session=True)
time.sleep(600)
"""

FAKE_PLAYBOOK = """#!/bin/sh
sleep 600 &
echo $! > "{pids}"
echo $$ >> "{pids}"
wait
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead: only its parent has not reaped it yet
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(cond: object, what: str) -> None:
    for _ in range(200):
        if callable(cond) and cond():
            return
        time.sleep(0.05)
    raise AssertionError(what)


def _start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[int], Path]:
    pids = tmp_path / "pids"
    fake = tmp_path / "ansible-playbook-real"
    fake.write_text(FAKE_PLAYBOOK.format(pids=pids))
    fake.chmod(0o700)
    sup = write_supervisor(tmp_path / "bin")
    pidfile = tmp_path / "supervisor.pid"
    orch = subprocess.Popen([sys.executable, "-c", ORCHESTRATOR, str(sup), str(fake),
                             str(pidfile)])
    _wait_for(lambda: pids.is_file() and len(pids.read_text().split()) == 2,
              "the fake ansible-playbook did not start")
    return orch, [int(x) for x in pids.read_text().split()], pidfile


def test_ansible_dies_with_the_orchestrator(tmp_path: Path) -> None:
    orch, (worker, playbook), pidfile = _start(tmp_path)
    supervisor = int(pidfile.read_text())
    assert os.getpgid(worker) == os.getpgid(playbook) == supervisor
    assert _alive(worker) and _alive(playbook)
    orch.send_signal(signal.SIGKILL)  # kill -9 of the orchestrator
    orch.wait()
    _wait_for(lambda: not _alive(worker) and not _alive(playbook) and not _alive(supervisor),
              "ansible-playbook outlived the orchestrator")


def test_an_abandoned_run_kills_the_group(tmp_path: Path) -> None:
    orch, (worker, playbook), _ = _start(tmp_path)
    try:
        kill_supervised(tmp_path)  # what the executor does when a run raises
        _wait_for(lambda: not _alive(worker) and not _alive(playbook),
                  "the process group survived")
    finally:
        orch.kill()
        orch.wait()


def test_the_supervisor_refuses_without_the_real_binary() -> None:
    os.environ.pop(_supervise.REAL_ENV, None)
    assert _supervise.main([]) == 2
