"""ansible-runner set-up, one place for collection and remediation: where the Ansible binaries
are, the ``ANSIBLE_*`` environment every run gets, and the tail of a run's output for messages.

The environment: pipelining on (one SSH session per task; the probe is piped to the target's
python), the connection timeout of the targets, no retry files, an inventory that does not parse
is an error (not an empty inventory), interpreter discovery without warnings, Ansible's local
temp files inside the run's private data dir, no colour, no deprecation warnings. ``PATH`` starts
with the directory of the ``ansible-playbook`` found, so ansible-runner runs that Ansible.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def never_cancel() -> bool:
    """The ``cancel_callback`` every ansible-runner call gets. Without one, ansible-runner
    replaces the process's SIGINT and SIGTERM handlers on its first run and never puts them
    back (``ansible_runner.utils.signal_handler``): from then on Ctrl-C and SIGTERM only set a
    flag, so a cancelled run read as a failed one and a rollout went on to its next batch,
    and between runs (evaluating, planning, verifying) inspectorctl ignored both. With this
    callback Python's own handling stays: Ctrl-C raises KeyboardInterrupt wherever the
    process is (in a remediation run, the supervisor then kills the playbook's process group)
    and SIGTERM ends the process."""
    return False


def ansible_bin_dir() -> Path | None:
    """Where ``ansible-playbook`` lives: next to the running interpreter (venv), else PATH."""
    here = Path(sys.executable).parent
    if (here / "ansible-playbook").is_file():
        return here
    found = shutil.which("ansible-playbook")
    return Path(found).parent if found else None


def ansible_env(
    bin_dir: Path,
    private_data_dir: Path,
    timeout: int,
    *,
    roles_path: Path | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of one ansible-runner run (``extra`` last: a caller's own settings,
    e.g. ``ANSIBLE_SSH_ARGS``, win)."""
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_TIMEOUT": str(timeout),
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "ANSIBLE_LOCAL_TEMP": str(private_data_dir / "tmp"),
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
    }
    if roles_path is not None:
        env["ANSIBLE_ROLES_PATH"] = str(roles_path)
    env.update(extra or {})
    return env


def stdout_tail(runner: Any, lines: int = 3) -> str:
    """The last non-empty lines of a run's stdout (banners of ``*`` left out), for a message."""
    try:
        text = runner.stdout.read()
    except Exception:  # the artifact may be gone or unreadable; the tail is only a hint
        return "no output"
    kept = [ln.strip() for ln in str(text).splitlines()]
    kept = [ln for ln in kept if ln and not set(ln) <= {"*"}]
    return " | ".join(kept[-lines:]) or "no output"
