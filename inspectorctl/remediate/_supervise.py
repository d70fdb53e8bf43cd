"""The ``ansible-playbook`` the executor starts: a supervisor that dies with the orchestrator.

ansible-runner starts ``ansible-playbook`` through pexpect in a new session with SIGHUP
ignored, so when the orchestrator is killed (kill -9) an orphaned ``ansible-playbook`` goes on
changing hosts while a ``--resume`` runs. The executor puts this supervisor first on the
``PATH`` it gives ansible-runner. The supervisor:

- asks the kernel for SIGTERM when its parent (the orchestrator) dies
  (``prctl(PR_SET_PDEATHSIG)``), and exits at once if the parent is already gone;
- leads its own process group (pexpect made it a session leader) and runs the real
  ``ansible-playbook`` in it;
- on SIGTERM, SIGHUP or SIGINT kills the whole group (``killpg`` SIGKILL): ``ansible-playbook``,
  its workers and their ssh children;
- writes its pid to ``$INSPECTORCTL_SUPERVISOR_PIDFILE`` so the executor can kill the group
  when a run is abandoned without the orchestrator dying (an exception, Ctrl-C).

Standard library only; Linux (prctl) only, as is the executor.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from types import FrameType

PR_SET_PDEATHSIG = 1
REAL_ENV = "INSPECTORCTL_ANSIBLE_PLAYBOOK"
PARENT_ENV = "INSPECTORCTL_PARENT_PID"
PIDFILE_ENV = "INSPECTORCTL_SUPERVISOR_PIDFILE"


def _kill_group(signum: int, frame: FrameType | None) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    real = os.environ.pop(REAL_ENV, "")
    parent = int(os.environ.pop(PARENT_ENV, "0") or 0)
    pidfile = os.environ.pop(PIDFILE_ENV, "")
    if not real:
        print(f"inspectorctl supervisor: {REAL_ENV} is not set", file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        print("inspectorctl supervisor: prctl(PR_SET_PDEATHSIG) failed", file=sys.stderr)
        return 2
    if parent and os.getppid() != parent:
        return 137  # the orchestrator died before the death signal was armed
    if os.getpgrp() != os.getpid():
        with contextlib.suppress(OSError):  # a session leader already leads its group
            os.setpgid(0, 0)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _kill_group)
    if pidfile:
        with open(pidfile, "w", encoding="ascii") as fh:
            fh.write(str(os.getpid()))
    child = subprocess.Popen([real, *args])
    return child.wait()


if __name__ == "__main__":
    raise SystemExit(main())
