"""What the lab needs from the machine, checked before the lab touches anything.

Every missing piece ends up in one :class:`LabRequirementError` whose message names the Debian
package to install, or the reason (not root, no namespaces, no overlayfs). There is no fallback:
without what it needs, the lab does nothing at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from inspectorctl.lab.errors import LabRequirementError
from inspectorctl.models.common import Frozen

#: Searched after ``$PATH``: root's tools live in sbin, which a user's PATH may lack.
FALLBACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: The interpreter the hosts (and Ansible, through the inventory) use. A fixed path on purpose:
#: the first ``python3`` on PATH may be a virtualenv or a pyenv shim, which a host cannot run.
HOST_PYTHON = "/usr/bin/python3"

#: tool -> Debian package that ships it
TOOLS: dict[str, str] = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "setpriv": "util-linux",
    "pivot_root": "util-linux",
    "sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "nc": "netcat-openbsd",
}

HOSTINIT = Path(__file__).resolve().parent / "hostinit.py"


class Tools(Frozen):
    """Absolute paths of the programs the lab runs, as found by :func:`check_requirements`."""

    ip: str
    nsenter: str
    setpriv: str
    pivot_root: str
    sshd: str
    ssh: str
    ssh_keygen: str
    nc: str
    python3: str = HOST_PYTHON


def default_search_path() -> str:
    """``$PATH`` followed by the standard sbin/bin folders."""
    parts = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    for extra in FALLBACK_PATH.split(os.pathsep):
        if extra not in parts:
            parts.append(extra)
    return os.pathsep.join(parts)


def find_tools(search_path: str) -> tuple[dict[str, str], list[str]]:
    """Resolve every tool on ``search_path``; return (found, missing tool names)."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for tool in TOOLS:
        path = shutil.which(tool, path=search_path)
        if path is None:
            missing.append(tool)
        else:
            found[tool] = os.path.abspath(path)
    return found, missing


def _is_openbsd_netcat(nc: str) -> bool:
    try:
        out = subprocess.run([nc, "-h"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "OpenBSD netcat" in (out.stdout + out.stderr)


def _nearest_existing_dir(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return Path("/")


def selftest_namespaces(python3: str, near: Path) -> str | None:
    """Create every namespace a host uses and an overlay of ``/`` next to ``near``.

    Returns None when that works, else the reason. Everything it made is gone when it returns:
    the mounts live in a private mount namespace, the scratch folder is removed.
    """
    base = _nearest_existing_dir(near)
    scratch = Path(tempfile.mkdtemp(prefix=".inspectorctl-lab-selftest-", dir=base))
    try:
        for sub in ("upper", "work", "root"):
            (scratch / sub).mkdir()
        try:
            out = subprocess.run(
                [python3, "-I", "-S", str(HOSTINIT), "--selftest", str(scratch)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"the namespace self-test could not run: {exc}"
        lines = out.stdout.strip().splitlines()
        if out.returncode == 0 and lines and lines[-1] == "ok":
            return None
        detail = lines[-1].removeprefix("error ") if lines else out.stderr.strip()[-300:]
        if "overlay" in detail:
            return (
                f"overlayfs is not usable here ({detail}); the lab needs a kernel with overlayfs "
                f"and a state dir that is not itself on overlayfs"
            )
        return f"namespaces are not usable here ({detail}); inside a container, run it privileged"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def check_requirements(
    state_dir: Path,
    *,
    search_path: str | None = None,
    euid: int | None = None,
    host_python: str = HOST_PYTHON,
    selftest: bool = True,
) -> Tools:
    """Check everything the lab needs; raise one :class:`LabRequirementError` naming all gaps.

    ``search_path`` (default: ``$PATH`` plus the sbin folders) and ``euid`` (default: this
    process's) exist so the check can be exercised without uninstalling anything.
    """
    uid = os.geteuid() if euid is None else euid
    if uid != 0:
        raise LabRequirementError(
            "the lab must run as root: it creates network namespaces and overlay mounts "
            f"(running as uid {uid})"
        )
    if not sys.platform.startswith("linux"):
        raise LabRequirementError("the lab needs Linux (network, mount and PID namespaces)")
    found, missing = find_tools(search_path or default_search_path())
    problems: list[str] = []
    packages: list[str] = []
    for tool in missing:
        problems.append(f"{tool} not found (Debian package {TOOLS[tool]})")
        packages.append(TOOLS[tool])
    if "nc" in found and not _is_openbsd_netcat(found["nc"]):
        problems.append(f"{found['nc']} is not OpenBSD netcat (Debian package netcat-openbsd)")
        packages.append("netcat-openbsd")
    if not os.access(host_python, os.X_OK):
        problems.append(f"{host_python} not found (Debian package python3)")
        packages.append("python3")
    if problems:
        install = " ".join(dict.fromkeys(packages))
        raise LabRequirementError(
            "the lab cannot run on this machine: "
            + "; ".join(problems)
            + f". Install with: apt-get install {install}"
        )
    if selftest:
        reason = selftest_namespaces(host_python, state_dir)
        if reason is not None:
            raise LabRequirementError(f"the lab cannot run on this machine: {reason}")
    return Tools(
        ip=found["ip"],
        nsenter=found["nsenter"],
        setpriv=found["setpriv"],
        pivot_root=found["pivot_root"],
        sshd=found["sshd"],
        ssh=found["ssh"],
        ssh_keygen=found["ssh-keygen"],
        nc=found["nc"],
        python3=host_python,
    )
