"""The lab's processes: finding, signalling and entering them, and the network namespaces hosts
live in. Everything here works from ``/proc`` and the tools found by the requirements check."""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from inspectorctl.lab import hostinit
from inspectorctl.lab.errors import LabError
from inspectorctl.lab.models import DesiredState, HostRecord, HostState
from inspectorctl.lab.requirements import Tools

NETNS_DIR = Path("/run/netns")
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_ENV = {
    "PATH": HOST_PATH,
    "HOME": "/root",
    "USER": "root",
    "LOGNAME": "root",
    "SHELL": "/bin/sh",
    "LANG": "C.UTF-8",
}
#: capabilities no command run in a host gets (``lab exec``, profile steps)
EXEC_DROPPED_CAPS = ",".join(
    f"-{name}" for name in [*hostinit.DROPPED_CAPS, hostinit.AUDIT_CONTROL[0]]
)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # fields after "(comm)": state is [0], starttime (field 22) is [19]
    return raw.rsplit(")", 1)[1].split()


def starttime(pid: int) -> int | None:
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def gone(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is None or fields[0] in ("Z", "X")


def kill_and_wait(pids: set[int], timeout: float = 10.0) -> int:
    """SIGKILL ``pids`` and wait until each is gone (or a zombie). Returns how many were killed."""
    killed = 0
    for pid in pids:
        if pid <= 1 or pid == os.getpid():
            continue
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    pending = {p for p in pids if p > 1 and p != os.getpid()}
    while pending and time.monotonic() < deadline:
        pending = {p for p in pending if not gone(p)}
        if pending:
            time.sleep(0.01)
    if pending:
        raise LabError(f"processes {sorted(pending)} did not end after SIGKILL")
    return killed


def all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def netns_inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def pids_in_netns(inodes: set[int]) -> set[int]:
    found: set[int] = set()
    if not inodes:
        return found
    for pid in all_pids():
        try:
            link = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        match = re.fullmatch(r"net:\[(\d+)\]", link)
        if match and int(match.group(1)) in inodes:
            found.add(pid)
    return found


def read_line(fd: int, buffer: bytearray, deadline: float) -> str | None:
    """One line from ``fd`` before ``deadline``; None on EOF. Raises TimeoutError."""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        buffer.extend(chunk)
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.decode(errors="replace")


def host_alive(record: HostRecord) -> bool:
    """Whether the host's init still runs (same pid, same start time, still our init)."""
    if record.pid is None or record.starttime is None:
        return False
    if starttime(record.pid) != record.starttime:
        return False
    return any(part.endswith("hostinit.py") for part in cmdline(record.pid))


def host_state(record: HostRecord) -> HostState:
    alive = host_alive(record)
    if record.desired is DesiredState.STOPPED and not alive:
        return HostState.STOPPED
    if alive and (NETNS_DIR / record.netns).exists():
        return HostState.RUNNING
    return HostState.BROKEN


def orphan_inits(prefix: str) -> set[int]:
    """Host inits of this lab's prefix, found by their command line (state may be lost)."""
    pids = set()
    for pid in all_pids():
        cmd = cmdline(pid)
        if not any(part.endswith("hostinit.py") for part in cmd):
            continue
        with contextlib.suppress(ValueError, IndexError):
            if cmd[cmd.index("--netns") + 1].startswith(prefix):
                pids.add(pid)
    return pids


def host_argv(pid: int, argv: Sequence[str], tools: Tools) -> list[str]:
    """The command line that runs ``argv`` as root in the namespaces of host init ``pid``, with
    the capabilities no command in a host gets dropped (its environment: ``HOST_ENV``)."""
    return [
        tools.nsenter,
        "-t",
        str(pid),
        "-m",
        "-u",
        "-i",
        "-n",
        "-p",
        "-r",
        "-w",
        "--",
        tools.setpriv,
        "--bounding-set",
        EXEC_DROPPED_CAPS,
        "--",
        *argv,
    ]


def run_in_host(
    pid: int,
    argv: Sequence[str],
    tools: Tools,
    input: str | None,
    timeout: float | None,
    *,
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    full = host_argv(pid, argv, tools)
    env = dict(HOST_ENV, TERM=os.environ.get("TERM", "dumb"))
    if not capture:
        try:
            code = subprocess.run(full, env=env, check=False, timeout=timeout).returncode
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"command timed out after {timeout:g}s") from exc
        return subprocess.CompletedProcess(full, code)
    proc = subprocess.Popen(
        full,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise LabError(f"command {list(argv)[:3]} timed out after {timeout:g}s") from exc
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def add_netns(netns: str, tools: Tools) -> None:
    for argv in (
        [tools.ip, "netns", "add", netns],
        [tools.ip, "-n", netns, "link", "set", "lo", "up"],
    ):
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LabError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
