"""The lab: a local fleet of isolated Linux hosts reached over real SSH.

A host is a network namespace (``NETNS_PREFIX + name``, made with ``ip netns add``) in which a
small init (``hostinit.py``) runs as PID 1 of its own PID, mount, UTS and IPC namespaces, on a
copy-on-write overlay of the machine's root whose upper dir is the host's own folder in the
lab's state dir. Everything the lab knows lives in that state dir, so a later process (``lab
status``, ``lab down``) finds the hosts; nothing else on the machine is written but the
namespaces under ``/run/netns``.

A host carries the machine's operating system, not its data. Its upper dir starts with:

- ``/root`` opaque (none of the machine's root home is visible: no cloud credentials, shell
  history or toolchains inside practice hosts that users deliberately weaken), holding what a
  fresh Debian server's root has (``.bashrc`` and ``.profile`` from base-files, else from
  ``/etc/skel``) and ``.ssh/authorized_keys`` with the lab's key only;
- ``/home``, ``/tmp``, ``/var/tmp``, ``/srv``, ``/mnt`` and ``/media`` opaque and empty, with the
  machine's mode and owner;
- every top-level entry that is not one of the FHS's directories (``/work``, ``/farm``,
  ``lost+found``, ``/.dockerenv`` ...: see :data:`OS_TOP_LEVEL`) whited out, as are the lab's
  own state dirs; top-level symlinks stay as they are.

Besides keeping the operator's files out of reach, this keeps an assessment of a host about the
host: filesystem walks cover the operating system, not hundreds of thousands of the operator's
files. The programs the lab runs inside hosts (python3, sshd, setpriv) must therefore live in
the operating system's dirs; :func:`check_tools_visible` refuses to start hosts otherwise.

State dir layout::

    lab.json                 LabRecord
    id_ed25519[.pub]         the lab's SSH key (root of every host accepts it)
    known_hosts              every host's key, under its HostKeyAlias (its name)
    inventory.yml            Ansible inventory, rewritten on every change
    cp/                      ssh ControlPath sockets, one per host
    hosts/NAME/host.json     HostRecord
    hosts/NAME/upper, work   the overlay's upper and work dirs: the host's own files
    hosts/NAME/root          where its root is mounted (inside its own mount namespace only)
    hosts/NAME/console.log   what its init and boot scripts printed
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from inspectorctl.lab import hostinit
from inspectorctl.lab.errors import (
    LabError,
    LabInputError,
    LabRequirementError,
    UnknownHostError,
)
from inspectorctl.lab.inventory import inventory_yaml, ssh_options
from inspectorctl.lab.models import (
    HOST_NAME_PATTERN,
    NETNS_PREFIX_PATTERN,
    DesiredState,
    HostRecord,
    HostState,
    LabHost,
    LabRecord,
    TeardownReport,
    instance_id_for,
)
from inspectorctl.lab.profiles import LoadedProfile, Profile, load_profiles, shipped_profiles
from inspectorctl.lab.profiles import load_profile as _load_profile
from inspectorctl.lab.requirements import (
    HOSTINIT,
    Tools,
    check_requirements,
    default_search_path,
    find_tools,
)

ENV_STATE_DIR = "INSPECTORCTL_LAB_DIR"
DEFAULT_STATE_DIR = Path("/var/lib/inspectorctl/lab")
DEFAULT_NETNS_PREFIX = "ictl-"
NETNS_DIR = Path("/run/netns")
MAX_HOSTS_PER_CALL = 64
#: cp/ + 10 characters + the 17 that ssh appends must fit a Unix socket path (107 bytes)
MAX_STATE_DIR_LENGTH = 75

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
APPLY_SOURCE = (Path(__file__).resolve().parent / "hostapply.py").read_text(encoding="utf-8")

#: Top-level directories of the Filesystem Hierarchy Standard: a host keeps these (the operating
#: system); every other top-level directory of the machine is operator data and hidden in hosts.
OS_TOP_LEVEL = frozenset(
    {
        "bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "media", "mnt",
        "opt", "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var",
    }
)
#: what a lab host calls itself in ``container=`` (PID 1's environment) and
#: /run/systemd/container, the conventions systemd-detect-virt and the probe read
CONTAINER_KIND = "inspectorctl-lab"
#: the empty markers of a merged /usr (Debian 13, Ubuntu 24.04: ``/bin.usr-is-merged`` ...)
USR_MERGED_MARKER = re.compile(r"(bin|lib|lib32|lib64|libx32|sbin)\.usr-is-merged")
#: data dirs a host starts with empty (opaque in its upper dir), with the machine's mode/owner
EMPTY_DATA_DIRS = ("home", "tmp", "var/tmp", "srv", "mnt", "media")
#: root's dotfiles in a host: what a fresh Debian server's root has (base-files installs these
#: as /root/.bashrc and /root/.profile), else the skeleton of new users
ROOT_SKELETON = {
    ".bashrc": ("/usr/share/base-files/dot.bashrc", "/etc/skel/.bashrc"),
    ".profile": ("/usr/share/base-files/dot.profile", "/etc/skel/.profile"),
}

#: seconds a host gets to mount its root / to run its boot scripts / to answer SSH
MOUNT_TIMEOUT = 20.0
BOOT_TIMEOUT = 60.0
SSH_TIMEOUT = 30.0


def default_state_dir() -> Path:
    """``$INSPECTORCTL_LAB_DIR``, else ``/var/lib/inspectorctl/lab``."""
    env = os.environ.get(ENV_STATE_DIR)
    return Path(env) if env else DEFAULT_STATE_DIR


def hidden_top_level(root: Path = Path("/")) -> list[str]:
    """Names of the top-level entries of ``root`` that hosts do not see: every one but the FHS
    directories, the merged-/usr markers and symlinks. Top-level files are the machine's own
    (``/.dockerenv``, a swap file, an operator's download), never the operating system's."""
    hidden = []
    for entry in os.scandir(root):
        if entry.is_symlink():
            continue
        if entry.is_dir(follow_symlinks=False) and (
            entry.name in OS_TOP_LEVEL or USR_MERGED_MARKER.fullmatch(entry.name)
        ):
            continue
        hidden.append(entry.name)
    return sorted(hidden)


def host_hidden_paths(state_dirs: Sequence[Path] = (), root: Path = Path("/")) -> list[str]:
    """Absolute paths whose machine content a host does not see: whited-out top-level dirs, the
    data dirs a host starts with empty (``/root`` included) and the lab's state dirs."""
    paths = [f"/{name}" for name in hidden_top_level(root)]
    paths += ["/root", *(f"/{rel}" for rel in EMPTY_DATA_DIRS)]
    paths += [str(p) for p in state_dirs]
    return paths


def check_tools_visible(tools: Tools, hidden: Sequence[str]) -> None:
    """Refuse a tool the lab runs inside hosts (python3, sshd, setpriv) that lives in a
    directory hosts do not see: it would be missing there, and hosts would fail to boot."""
    problems = []
    inside = {"python3": tools.python3, "sshd": tools.sshd, "setpriv": tools.setpriv}
    for label, path in inside.items():
        for candidate in dict.fromkeys((os.path.abspath(path), os.path.realpath(path))):
            under = next(
                (h for h in hidden if candidate == h or candidate.startswith(h.rstrip("/") + "/")),
                None,
            )
            if under is not None:
                problems.append(f"{label} is {candidate}, under {under}")
                break
    if problems:
        raise LabRequirementError(
            "the lab cannot run on this machine: "
            + "; ".join(problems)
            + ". Lab hosts carry the machine's operating system, not its data: these "
            "directories are empty or absent inside them. Use the distribution's packages "
            "(installed under /usr) and a PATH that finds those first"
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _natural(name: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def _write_atomic(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, raw)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # fields after "(comm)": state is [0], starttime (field 22) is [19]
    return raw.rsplit(")", 1)[1].split()


def _starttime(pid: int) -> int | None:
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _gone(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is None or fields[0] in ("Z", "X")


def _kill_and_wait(pids: set[int], timeout: float = 10.0) -> int:
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
        pending = {p for p in pending if not _gone(p)}
        if pending:
            time.sleep(0.01)
    if pending:
        raise LabError(f"processes {sorted(pending)} did not end after SIGKILL")
    return killed


def _all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _netns_inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _pids_in_netns(inodes: set[int]) -> set[int]:
    found: set[int] = set()
    if not inodes:
        return found
    for pid in _all_pids():
        try:
            link = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        match = re.fullmatch(r"net:\[(\d+)\]", link)
        if match and int(match.group(1)) in inodes:
            found.add(pid)
    return found


def _is_mountpoint(path: Path) -> bool:
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return False
    target = str(path)
    return any(line.split()[4] == target for line in text.splitlines() if len(line.split()) > 4)


def _read_line(fd: int, buffer: bytearray, deadline: float) -> str | None:
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


# ---------------------------------------------------------------------------------------------
# The lab
# ---------------------------------------------------------------------------------------------


class Lab:
    """A lab kept in ``state_dir`` (default: :func:`default_state_dir`).

    ``netns_prefix`` (default ``ictl-``) starts the name of every network namespace the lab
    makes, so that ``down()`` finds them even when the state dir is gone. It is recorded in the
    state dir when the lab is created; two labs on one machine need different prefixes.
    ``search_path`` is where the lab looks for its tools (default ``$PATH`` plus sbin).
    """

    def __init__(
        self,
        state_dir: Path | None = None,
        *,
        netns_prefix: str | None = None,
        search_path: str | None = None,
    ) -> None:
        self.state_dir = Path(os.path.abspath(state_dir or default_state_dir()))
        if re.search(r"[,:\\\s]", str(self.state_dir)):
            raise LabInputError(
                f"state dir {self.state_dir}: a path with commas, colons, backslashes or "
                "spaces cannot be used for overlay mounts"
            )
        if len(str(self.state_dir)) > MAX_STATE_DIR_LENGTH:
            raise LabInputError(
                f"state dir {self.state_dir}: longer than {MAX_STATE_DIR_LENGTH} characters "
                "(ssh control sockets under it would exceed the length of a Unix socket path)"
            )
        if netns_prefix is not None and not re.fullmatch(NETNS_PREFIX_PATTERN, netns_prefix):
            raise LabInputError(
                f"netns prefix {netns_prefix!r}: 2-16 lowercase letters or digits, starting "
                "with a letter, then '-' (e.g. 'ictl-')"
            )
        self._prefix_arg = netns_prefix
        self._search_path = search_path
        self._tools: Tools | None = None
        self._selftested = False
        self._created_parents: list[str] = []

    # -- paths ----------------------------------------------------------------------------------

    @property
    def hosts_dir(self) -> Path:
        return self.state_dir / "hosts"

    @property
    def private_key_path(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def inventory_path(self) -> Path:
        """The inventory file, rewritten by every ``up``/``start``/``stop``."""
        return self.state_dir / "inventory.yml"

    @property
    def control_dir(self) -> Path:
        return self.state_dir / "cp"

    @property
    def _lab_file(self) -> Path:
        return self.state_dir / "lab.json"

    @property
    def netns_prefix(self) -> str:
        try:
            record = self._load_lab()
        except LabError:  # unreadable lab.json: what the caller said, so down can still clean
            record = None
        if record is not None:
            return record.netns_prefix
        return self._prefix_arg or DEFAULT_NETNS_PREFIX

    # -- public API -----------------------------------------------------------------------------

    @staticmethod
    def profiles() -> list[Profile]:
        """The shipped profiles."""
        return [_load_profile(name).profile for name in shipped_profiles()]

    @staticmethod
    def load_profiles(refs: Sequence[str]) -> list[LoadedProfile]:
        """Profiles by name or path, validated; raises :class:`ProfileError`."""
        return load_profiles(list(refs))

    def up(
        self,
        count: int = 1,
        profiles: Sequence[str] = ("baseline",),
        prefix: str | None = None,
    ) -> list[LabHost]:
        """Add ``count`` hosts named ``PREFIX-N`` with ``profiles`` applied in order.

        Returns when every new host answers SSH. ``prefix`` defaults to the first profile's
        name; numbering continues after existing hosts of that prefix. A failed ``up`` removes
        the hosts it started before raising.
        """
        if not 1 <= count <= MAX_HOSTS_PER_CALL:
            raise LabInputError(f"--hosts must be between 1 and {MAX_HOSTS_PER_CALL}")
        loaded = load_profiles(list(profiles))
        prefix = prefix or loaded[0].profile.name.replace("_", "-")
        if not re.fullmatch(HOST_NAME_PATTERN, f"{prefix}-{MAX_HOSTS_PER_CALL * 100}"):
            raise LabInputError(
                f"name prefix {prefix!r}: lowercase letters, digits and '-', starting with a "
                "letter or digit, at most 57 characters"
            )
        tools = self._require()
        with self._locked(create=True):
            lab = self._ensure_lab(tools)
            records = self._records()
            taken = [
                int(m.group(1))
                for name in records
                if (m := re.fullmatch(re.escape(prefix) + r"-(\d+)", name))
            ]
            start = max(taken, default=0) + 1
            names = [f"{prefix}-{i}" for i in range(start, start + count)]
            for name in names:
                if (NETNS_DIR / f"{lab.netns_prefix}{name}").exists():
                    raise LabError(
                        f"network namespace {lab.netns_prefix}{name} already exists: another "
                        "lab uses this prefix; run `inspectorctl lab down` for it or use --name"
                    )
            created: list[str] = []
            errors: list[BaseException] = []
            lock = threading.Lock()

            def make(name: str) -> None:
                try:
                    self._create_host(name, loaded, lab, tools, created, lock)
                except BaseException as exc:  # collected, re-raised below
                    errors.append(exc)

            with ThreadPoolExecutor(max_workers=min(count, 8)) as pool:
                list(pool.map(make, names))
            if errors:
                for name in created:
                    with contextlib.suppress(LabError, OSError):
                        self._destroy_host(name, tools)
                self._write_access_files()
                first = errors[0]
                if isinstance(first, LabError):
                    raise first
                raise LabError(f"lab up failed: {first}") from first
            self._write_access_files()
            status = {h.name: h for h in self._status()}
            return [status[name] for name in names]

    def status(self) -> list[LabHost]:
        """Every host of the lab, with its state as seen now (empty when there is no lab)."""
        return self._status()

    def host(self, name: str) -> LabHost:
        for host in self._status():
            if host.name == name:
                return host
        raise self._unknown(name)

    def inventory_yaml(self) -> str:
        """The Ansible inventory of every host (running or not)."""
        tools = self._tools_no_check()
        return inventory_yaml(
            sorted(self._records().values(), key=lambda r: _natural(r.name)),
            ip=tools["ip"],
            nc=tools["nc"],
            private_key=self.private_key_path,
            known_hosts=self.known_hosts_path,
            control_dir=self.control_dir,
        )

    def write_inventory(self, path: Path) -> Path:
        """Write the inventory to ``path`` (mode 0600: it names the lab's private key)."""
        _write_atomic(path, self.inventory_yaml(), 0o600)
        return path

    def ssh_argv(self, host: str, command: Sequence[str] = ()) -> list[str]:
        """A complete ``ssh`` command line reaching ``host`` as root (for tests and users)."""
        record = self._record(host)
        tools = self._tools_no_check()
        options = ssh_options(
            record,
            ip=tools["ip"],
            nc=tools["nc"],
            known_hosts=self.known_hosts_path,
            control_dir=None,
        )
        return [
            tools.get("ssh", "ssh"),
            *options,
            "-o",
            "BatchMode=yes",
            "-i",
            str(self.private_key_path),
            "-p",
            "22",
            "root@127.0.0.1",
            *command,
        ]

    def exec(
        self,
        host: str,
        argv: Sequence[str],
        input: str | None = None,
        timeout: float | None = 120.0,
        *,
        capture: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as root inside ``host`` (its namespaces and root, without SSH).

        The exit code is the command's. With ``capture=False`` the command shares this
        process's stdin/stdout/stderr (for ``lab exec``) and ``stdout``/``stderr`` are None.
        """
        if not argv:
            raise LabInputError("no command given")
        record = self._record(host)
        if not self._alive(record):
            state = self._state(record)
            hint = (
                f"start it with `inspectorctl lab start {host}`"
                if state is HostState.STOPPED
                else "`inspectorctl lab start` restarts it"
            )
            raise LabError(f"host {host} is {state.value}: {hint}")
        assert record.pid is not None
        tools = self._require(selftest=False)
        return self._run_in_host(record.pid, argv, tools, input, timeout, capture=capture)

    def host_command(self, host: str, argv: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        """The command line and environment that run ``argv`` as root inside ``host`` (as
        :meth:`exec` does), for callers that run it themselves (the SSM agent needs to cancel
        and time out commands while they run). Raises :class:`LabError` when the host is not
        running."""
        if not argv:
            raise LabInputError("no command given")
        record = self._record(host)
        if not self._alive(record):
            raise LabError(f"host {host} is {self._state(record).value}")
        assert record.pid is not None
        tools = self._require(selftest=False)
        return self._host_argv(record.pid, argv, tools), dict(HOST_ENV)

    def stop(self, host: str) -> LabHost:
        """Kill every process of ``host``: it becomes unreachable; its files and network stay."""
        self._record(host)
        self._require(selftest=False)
        with self._locked():
            record = self._record(host)
            if record.pid is not None and self._alive(record):
                _kill_and_wait({record.pid})
            self._save_record(
                record.model_copy(
                    update={"desired": DesiredState.STOPPED, "pid": None, "starttime": None}
                )
            )
            self._write_access_files()
        return self.host(host)

    def start(self, host: str) -> LabHost:
        """Boot ``host`` again on its own upper dir (its files as they were); waits for SSH."""
        self._record(host)
        tools = self._require()
        with self._locked():
            record = self._record(host)
            if self._alive(record):
                if record.desired is not DesiredState.RUNNING:
                    self._save_record(record.model_copy(update={"desired": DesiredState.RUNNING}))
                return self.host(host)
            # leftovers of a crash: whatever still runs in its namespace
            inode = _netns_inode(NETNS_DIR / record.netns)
            if inode is not None:
                _kill_and_wait(_pids_in_netns({inode}))
            else:
                self._add_netns(record.netns, tools)
            record = record.model_copy(update={"desired": DesiredState.RUNNING})
            self._save_record(record)
            try:
                record = self._boot(record, tools, steps=None)
                self._wait_ssh(record, tools)
            except LabError:
                if record.pid is not None:
                    with contextlib.suppress(LabError):
                        _kill_and_wait({record.pid})
                raise
            self._write_access_files()
        return self.host(host)

    def down(self) -> TeardownReport:
        """Remove every host, namespace, process, mount and file of this lab. Idempotent.

        Also finds what a crashed lab left: network namespaces with the lab's prefix and host
        inits whose state was lost.
        """
        tools = self._require_teardown()
        from inspectorctl.lab.ssm.control import stop_endpoint  # the endpoint imports the lab

        stop_endpoint(self.state_dir)
        prefix = self.netns_prefix
        with self._locked():
            records = self._records()
            try:
                lab = self._load_lab()
            except LabError:
                lab = None  # unreadable: everything goes all the same
            pids: set[int] = set()
            for record in records.values():
                if record.pid is not None and self._alive(record):
                    pids.add(record.pid)
            pids |= self._orphan_inits(prefix)
            namespaces = {r.netns for r in records.values()}
            if NETNS_DIR.is_dir():
                namespaces |= {n for n in os.listdir(NETNS_DIR) if n.startswith(prefix)}
            inodes = {ino for n in namespaces if (ino := _netns_inode(NETNS_DIR / n)) is not None}
            pids |= _pids_in_netns(inodes)
            killed = _kill_and_wait(pids)
            existing = sorted(n for n in namespaces if (NETNS_DIR / n).exists())
            if existing:
                batch = "".join(f"netns delete {n}\n" for n in existing)
                result = subprocess.run(
                    [tools["ip"], "-batch", "-"],
                    input=batch,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                left = [n for n in existing if (NETNS_DIR / n).exists()]
                if left:
                    raise LabError(
                        f"could not delete network namespaces {left}: {result.stderr.strip()}"
                    )
            self._umount_leftovers()
            removed = False
            if self.state_dir.exists():
                shutil.rmtree(self.state_dir)
                removed = True
            if lab is not None:
                self._remove_run_netns(lab)
                for parent in lab.created_parents:  # deepest first, only if left empty
                    with contextlib.suppress(OSError):
                        os.rmdir(parent)
        orphans = tuple(
            sorted(n for n in namespaces if n not in {r.netns for r in records.values()})
        )
        return TeardownReport(
            hosts=tuple(sorted(records, key=_natural)),
            orphan_namespaces=orphans,
            processes_killed=killed,
            state_dir_removed=removed,
        )

    def orphan_namespaces(self) -> list[str]:
        """Network namespaces with this lab's prefix that no host of it claims (a lab whose
        state was lost); ``down()`` removes them."""
        if not NETNS_DIR.is_dir():
            return []
        claimed = {r.netns for r in self._records().values()}
        prefix = self.netns_prefix
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix) and n not in claimed)

    def leftovers(self) -> list[str]:
        """What of this lab is still on the machine, one description per item.

        Empty after ``down()``: no network namespace with the lab's prefix, no host init, no
        process anywhere that still has one of the lab's overlays mounted, no state dir.
        """
        prefix = self.netns_prefix
        found: list[str] = []
        if NETNS_DIR.is_dir():
            found += [
                f"network namespace {n}"
                for n in sorted(os.listdir(NETNS_DIR))
                if n.startswith(prefix)
            ]
        found += [f"host init process {pid}" for pid in sorted(self._orphan_inits(prefix))]
        marker = f"upperdir={self.state_dir}/"
        for pid in _all_pids():
            try:
                text = Path(f"/proc/{pid}/mountinfo").read_text()
            except OSError:
                continue
            if marker in text:
                found.append(f"overlay mount of the lab in the mount namespace of process {pid}")
        if self.state_dir.exists():
            found.append(f"state dir {self.state_dir}")
        return found

    # -- hosts ----------------------------------------------------------------------------------

    def _create_host(
        self,
        name: str,
        loaded: list[LoadedProfile],
        lab: LabRecord,
        tools: Tools,
        created: list[str],
        lock: threading.Lock,
    ) -> None:
        hostdir = self.hosts_dir / name
        hostdir.mkdir(mode=0o700, parents=True)
        with lock:
            created.append(name)
        root_stat = os.stat("/")
        for sub in ("upper", "work", "root"):
            (hostdir / sub).mkdir()
            os.chmod(hostdir / sub, 0o755)
        upper = hostdir / "upper"
        # the upper dir's own attributes are those of the host's "/"
        os.chown(upper, root_stat.st_uid, root_stat.st_gid)
        os.chmod(upper, root_stat.st_mode & 0o7777)
        _mkdir_like_lower(upper, "etc/ssh")
        self._keygen(upper / "etc/ssh/ssh_host_ed25519_key", f"root@{name}", tools)
        host_key = (upper / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        profile_names = tuple(lp.profile.name for lp in loaded)
        machine_id = uuid.uuid4().hex
        record = HostRecord(
            name=name,
            profiles=profile_names,
            netns=f"{lab.netns_prefix}{name}",
            instance_id=instance_id_for(machine_id),
            machine_id=machine_id,
            hostname=name,
            tags={"Name": name, "Lab": lab.lab_id, "Profile": "+".join(profile_names)},
            host_key=f"{host_key[0]} {host_key[1]}",
            desired=DesiredState.RUNNING,
            created_at=_now(),
        )
        self._save_record(record)
        with lock:
            self._write_known_hosts()
        self._prepare_upper(upper, record, tools)
        self._add_netns(record.netns, tools)
        steps = [
            {"profile": lp.profile.name, "index": i, "step": step.model_dump(mode="json")}
            for lp in loaded
            for i, step in enumerate(lp.profile.steps)
        ]
        record = self._boot(record, tools, steps=steps)
        self._wait_ssh(record, tools)

    def _prepare_upper(self, upper: Path, record: HostRecord, tools: Tools) -> None:
        """The host's own files, written before its first boot (the overlay is not mounted)."""
        # identity
        _write_atomic(upper / "etc/hostname", f"{record.hostname}\n", 0o644)
        _write_atomic(upper / "etc/machine-id", f"{record.machine_id}\n", 0o444)
        dbus_id = Path("/var/lib/dbus/machine-id")
        if dbus_id.is_file() and not dbus_id.is_symlink() and _lower_is_plain_dirs("var/lib/dbus"):
            _mkdir_like_lower(upper, "var/lib/dbus")
            _write_atomic(upper / "var/lib/dbus/machine-id", f"{record.machine_id}\n", 0o444)
        _write_atomic(
            upper / "etc/hosts",
            f"127.0.0.1\tlocalhost\n127.0.1.1\t{record.hostname}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n",
            0o644,
        )
        lab_dir = upper / "etc/inspectorctl-lab"
        for folder in (lab_dir, lab_dir / "boot.d"):
            folder.mkdir()
            os.chmod(folder, 0o755)
        identity = {
            "name": record.name,
            "hostname": record.hostname,
            "instance_id": record.instance_id,
            "machine_id": record.machine_id,
            "tags": record.tags,
            "profiles": list(record.profiles),
        }
        _write_atomic(lab_dir / "identity.json", json.dumps(identity, indent=2) + "\n", 0o644)
        _write_atomic(
            lab_dir / "boot.d/10-sshd",
            "#!/bin/sh\n"
            "# inspectorctl lab: start sshd the way Debian's init script does.\n"
            "mkdir -p -m 0755 /run/sshd\n"
            f"{tools.sshd}\n",
            0o755,
        )
        # ssh: its own host key only (the machine's are whited out), lab access on loopback
        for lower_key in Path("/etc/ssh").glob("ssh_host_*"):
            target = upper / "etc/ssh" / lower_key.name
            if not target.exists():
                _whiteout(target)
        if Path("/etc/ssh/sshd_config.d").is_dir():
            _mkdir_like_lower(upper, "etc/ssh/sshd_config.d")
            _write_atomic(
                upper / "etc/ssh/sshd_config.d/99-inspectorctl-lab.conf",
                "# inspectorctl lab: how the lab reaches this host (its own network namespace).\n"
                "# Profiles set their options in files that sort before this one.\n"
                "ListenAddress 127.0.0.1\n"
                "PermitRootLogin prohibit-password\n",
                0o644,
            )
        # the operating system, not the machine's data (see the module docstring): root's home
        # is a fresh server's, with the lab's key as the only authorized one ...
        _mkdir_like_lower(upper, "root")
        _opaque(upper / "root")
        for name, sources in ROOT_SKELETON.items():
            source = next((Path(s) for s in sources if os.path.isfile(s)), None)
            if source is not None:
                _write_atomic(upper / "root" / name, source.read_bytes(), 0o644)
        ssh_dir = upper / "root/.ssh"
        ssh_dir.mkdir()
        os.chmod(ssh_dir, 0o700)
        pub = self.private_key_path.with_suffix(".pub").read_text()
        _write_atomic(ssh_dir / "authorized_keys", pub, 0o600)
        # ... the data dirs start empty ...
        for rel in EMPTY_DATA_DIRS:
            if _lower_is_plain_dirs(rel):
                _mkdir_like_lower(upper, rel)
                _opaque(upper / rel)
        # ... and what is not an operating-system directory (or a symlink) is not there at all
        for name in hidden_top_level():
            _whiteout(upper / name)
        # the lab's state dirs are not visible inside hosts
        for hidden in self._hidden_state_dirs():
            rel = str(hidden).lstrip("/")
            parent = os.path.dirname(rel)
            if (
                rel
                and not _under_whiteout(upper, rel)
                and _lower_is_plain_dirs(parent)
                and os.path.lexists(hidden)
            ):
                _mkdir_like_lower(upper, parent)
                target = upper / rel
                if not os.path.lexists(target):
                    _whiteout(target)

    def _boot(
        self, record: HostRecord, tools: Tools, steps: list[dict[str, object]] | None
    ) -> HostRecord:
        """Start the host's init; apply ``steps`` while it holds; wait for its boot scripts."""
        hostdir = self.hosts_dir / record.name
        console = hostdir / "console.log"
        argv = [
            tools.ip,
            "netns",
            "exec",
            record.netns,
            tools.python3,
            "-I",
            "-S",
            str(HOSTINIT),
            "--netns",
            record.netns,
            "--name",
            record.hostname,
            "--root",
            str(hostdir / "root"),
            "--upper",
            str(hostdir / "upper"),
            "--work",
            str(hostdir / "work"),
            "--console",
            str(console),
            "--pivot-root",
            tools.pivot_root,
        ]
        if steps is not None:
            argv.append("--hold")
        with open(console, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                # the host's PID 1 says what it is the way container managers do (systemd
                # reads container= from PID 1's environment): a lab host is a container
                env={"PATH": HOST_PATH, "LANG": "C.UTF-8", "container": CONTAINER_KIND},
            )
        assert proc.stdin is not None and proc.stdout is not None
        buffer = bytearray()
        fd = proc.stdout.fileno()
        try:
            line = self._expect(record, fd, buffer, "mounted", MOUNT_TIMEOUT, console)
            _, pid_text, start_text = line.split()
            record = record.model_copy(update={"pid": int(pid_text), "starttime": int(start_text)})
            self._save_record(record)
            if steps:
                self._apply(record, steps, tools)
            if steps is not None:
                proc.stdin.write(b"go\n")
                proc.stdin.flush()
            proc.stdin.close()
            self._expect(record, fd, buffer, "ready", BOOT_TIMEOUT, console)
        except BaseException:
            if record.pid is not None:
                with contextlib.suppress(LabError):
                    _kill_and_wait({record.pid})
            raise
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            proc.stdout.close()
            proc.wait(timeout=10)
        return record

    def _expect(
        self,
        record: HostRecord,
        fd: int,
        buffer: bytearray,
        word: str,
        timeout: float,
        console: Path,
    ) -> str:
        try:
            line = _read_line(fd, buffer, time.monotonic() + timeout)
        except TimeoutError:
            raise LabError(
                f"host {record.name}: no '{word}' from its init within {timeout:g}s{_tail(console)}"
            ) from None
        if line is None:
            raise LabError(f"host {record.name}: its init ended before '{word}'{_tail(console)}")
        if line.startswith("error "):
            raise LabError(f"host {record.name}: {line[6:]}{_tail(console)}")
        if line.split(" ", 1)[0] != word:
            raise LabError(f"host {record.name}: unexpected word from its init: {line!r}")
        return line

    def _apply(self, record: HostRecord, steps: list[dict[str, object]], tools: Tools) -> None:
        assert record.pid is not None
        result = self._run_in_host(
            record.pid,
            [tools.python3, "-I", "-S", "-c", APPLY_SOURCE],
            tools,
            json.dumps({"steps": steps}),
            timeout=1800,
        )
        try:
            answer = json.loads(result.stdout or "{}")
        except json.JSONDecodeError:
            answer = {}
        if result.returncode != 0 or not isinstance(answer, dict) or "ok" not in answer:
            raise LabError(
                f"host {record.name}: applying its profiles failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout or '').strip()[-600:]}"
            )
        if not answer["ok"]:
            raise LabError(
                f"host {record.name}: profile {answer['profile']} step {answer['index'] + 1} "
                f"({answer['kind']}) failed: {answer['error']}"
            )

    def _wait_ssh(self, record: HostRecord, tools: Tools) -> None:
        argv = [*self._ssh_argv_for(record, tools), "-o", "ConnectTimeout=10", "true"]
        deadline = time.monotonic() + SSH_TIMEOUT
        last = ""
        while True:
            try:
                result = subprocess.run(
                    argv,
                    capture_output=True,
                    text=True,
                    timeout=15,
                    check=False,
                    stdin=subprocess.DEVNULL,
                )
                if result.returncode == 0:
                    return
                last = result.stderr.strip()
            except subprocess.TimeoutExpired:
                last = "ssh timed out"
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        hint = ""
        if record.pid is not None and not _gone(record.pid):
            check = self._run_in_host(record.pid, [tools.sshd, "-t"], tools, None, 30)
            if check.returncode != 0:
                hint = f"; sshd -t says: {check.stderr.strip()[-400:]}"
        raise LabError(f"host {record.name} does not answer SSH: {last[-400:]}{hint}")

    def _ssh_argv_for(self, record: HostRecord, tools: Tools) -> list[str]:
        return [
            tools.ssh,
            *ssh_options(
                record,
                ip=tools.ip,
                nc=tools.nc,
                known_hosts=self.known_hosts_path,
                control_dir=None,
            ),
            "-o",
            "BatchMode=yes",
            "-i",
            str(self.private_key_path),
            "-p",
            "22",
            "root@127.0.0.1",
        ]

    def _run_in_host(
        self,
        pid: int,
        argv: Sequence[str],
        tools: Tools,
        input: str | None,
        timeout: float | None,
        *,
        capture: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        full = self._host_argv(pid, argv, tools)
        env = dict(HOST_ENV, TERM=os.environ.get("TERM", "dumb"))
        return self._run_full(full, argv, env, input, timeout, capture=capture)

    @staticmethod
    def _host_argv(pid: int, argv: Sequence[str], tools: Tools) -> list[str]:
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

    @staticmethod
    def _run_full(
        full: list[str],
        argv: Sequence[str],
        env: dict[str, str],
        input: str | None,
        timeout: float | None,
        *,
        capture: bool,
    ) -> subprocess.CompletedProcess[str]:
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

    def _destroy_host(self, name: str, tools: Tools) -> None:
        records = self._records()
        record = records.get(name)
        netns = record.netns if record else f"{self.netns_prefix}{name}"
        pids: set[int] = set()
        if record is not None and record.pid is not None and self._alive(record):
            pids.add(record.pid)
        inode = _netns_inode(NETNS_DIR / netns)
        if inode is not None:
            pids |= _pids_in_netns({inode})
        _kill_and_wait(pids)
        if (NETNS_DIR / netns).exists():
            subprocess.run([tools.ip, "netns", "delete", netns], capture_output=True, check=False)
        shutil.rmtree(self.hosts_dir / name, ignore_errors=True)

    def _add_netns(self, netns: str, tools: Tools) -> None:
        for argv in (
            [tools.ip, "netns", "add", netns],
            [tools.ip, "-n", netns, "link", "set", "lo", "up"],
        ):
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise LabError(f"{' '.join(argv)} failed: {result.stderr.strip()}")

    def _keygen(self, path: Path, comment: str, tools: Tools) -> None:
        result = subprocess.run(
            [tools.ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise LabError(f"ssh-keygen failed: {result.stderr.strip()}")

    # -- state ----------------------------------------------------------------------------------

    def _ensure_lab(self, tools: Tools) -> LabRecord:
        record = self._load_lab()
        if record is not None:
            if self._prefix_arg is not None and self._prefix_arg != record.netns_prefix:
                raise LabInputError(
                    f"the lab in {self.state_dir} uses netns prefix {record.netns_prefix!r}, "
                    f"not {self._prefix_arg!r}"
                )
            return record
        prefix = self._prefix_arg or DEFAULT_NETNS_PREFIX
        record = LabRecord(
            netns_prefix=prefix,
            lab_id=prefix.rstrip("-"),
            created_at=_now(),
            run_netns_existed=NETNS_DIR.is_dir(),
            run_netns_was_mount=_is_mountpoint(NETNS_DIR),
            created_parents=tuple(self._created_parents),
        )
        self.hosts_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.control_dir.mkdir(exist_ok=True, mode=0o700)
        if not self.private_key_path.exists():
            self._keygen(self.private_key_path, f"inspectorctl-lab@{record.lab_id}", tools)
        self._save_lab(record)
        return record

    def _load_lab(self) -> LabRecord | None:
        try:
            return LabRecord.model_validate_json(self._lab_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            raise LabError(
                f"{self._lab_file} is unreadable ({exc}); `lab down` removes it"
            ) from exc

    def _save_lab(self, record: LabRecord) -> None:
        _write_atomic(self._lab_file, record.model_dump_json(indent=2) + "\n", 0o600)

    def _records(self) -> dict[str, HostRecord]:
        records: dict[str, HostRecord] = {}
        if not self.hosts_dir.is_dir():
            return records
        for path in self.hosts_dir.glob("*/host.json"):
            try:
                record = HostRecord.model_validate_json(path.read_text())
            except (OSError, ValidationError):
                continue
            records[record.name] = record
        return records

    def _record(self, name: str) -> HostRecord:
        records = self._records()
        if name not in records:
            raise self._unknown(name, records)
        return records[name]

    def _unknown(self, name: str, records: dict[str, HostRecord] | None = None) -> UnknownHostError:
        names = sorted(records if records is not None else self._records(), key=_natural)
        if not names:
            return UnknownHostError(f"unknown host {name!r}: the lab has no hosts")
        return UnknownHostError(f"unknown host {name!r}; hosts: {', '.join(names)}")

    def _save_record(self, record: HostRecord) -> None:
        _write_atomic(
            self.hosts_dir / record.name / "host.json",
            record.model_dump_json(indent=2) + "\n",
            0o600,
        )

    def _alive(self, record: HostRecord) -> bool:
        if record.pid is None or record.starttime is None:
            return False
        if _starttime(record.pid) != record.starttime:
            return False
        return any(part.endswith("hostinit.py") for part in _cmdline(record.pid))

    def _state(self, record: HostRecord) -> HostState:
        alive = self._alive(record)
        if record.desired is DesiredState.STOPPED and not alive:
            return HostState.STOPPED
        if alive and (NETNS_DIR / record.netns).exists():
            return HostState.RUNNING
        return HostState.BROKEN

    def _status(self) -> list[LabHost]:
        hosts = []
        for record in sorted(self._records().values(), key=lambda r: _natural(r.name)):
            state = self._state(record)
            hosts.append(
                LabHost(
                    name=record.name,
                    profiles=record.profiles,
                    state=state,
                    netns=record.netns,
                    instance_id=record.instance_id,
                    machine_id=record.machine_id,
                    hostname=record.hostname,
                    tags=dict(record.tags),
                    pid=record.pid if state is HostState.RUNNING else None,
                )
            )
        return hosts

    def _write_known_hosts(self) -> None:
        records = sorted(self._records().values(), key=lambda r: _natural(r.name))
        known = "".join(f"{r.name} {r.host_key}\n" for r in records)
        _write_atomic(self.known_hosts_path, known, 0o644)

    def _write_access_files(self) -> None:
        self._write_known_hosts()
        _write_atomic(self.inventory_path, self.inventory_yaml(), 0o600)

    @contextlib.contextmanager
    def _locked(self, create: bool = False) -> Iterator[None]:
        if not self.state_dir.exists():
            if not create:
                yield
                return
            missing = [p for p in (self.state_dir, *self.state_dir.parents) if not p.exists()]
            self.state_dir.mkdir(parents=True, mode=0o700)
            self._created_parents = [str(p) for p in missing[1:]]
        fd = os.open(self.state_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- requirements -----------------------------------------------------------------------------

    def _require(self, selftest: bool = True) -> Tools:
        """Check the requirements once per Lab object (the namespace self-test only when
        hosts are about to boot)."""
        if self._tools is not None and (self._selftested or not selftest):
            return self._tools
        tools = check_requirements(
            self.state_dir, search_path=self._search_path, selftest=selftest
        )
        check_tools_visible(tools, host_hidden_paths(self._hidden_state_dirs()))
        self._tools = tools
        self._selftested = self._selftested or selftest
        return self._tools

    def _hidden_state_dirs(self) -> list[Path]:
        return list(dict.fromkeys((self.state_dir.resolve(), DEFAULT_STATE_DIR)))

    def _require_teardown(self) -> dict[str, str]:
        """``down`` needs root and ``ip`` only, so it works on a machine missing the rest."""
        if os.geteuid() != 0:
            raise LabRequirementError("the lab must run as root to tear it down")
        found = self._tools_no_check()
        if "ip" not in found:
            raise LabRequirementError("ip not found (Debian package iproute2)")
        return found

    def _tools_no_check(self) -> dict[str, str]:
        found, _ = find_tools(self._search_path or default_search_path())
        found.setdefault("ip", "ip")
        found.setdefault("nc", "nc")
        return found

    # -- teardown helpers -------------------------------------------------------------------------

    def _orphan_inits(self, prefix: str) -> set[int]:
        """Host inits of this lab's prefix, found by their command line (state may be lost)."""
        pids = set()
        for pid in _all_pids():
            cmd = _cmdline(pid)
            if not any(part.endswith("hostinit.py") for part in cmd):
                continue
            with contextlib.suppress(ValueError, IndexError):
                if cmd[cmd.index("--netns") + 1].startswith(prefix):
                    pids.add(pid)
        return pids

    def _umount_leftovers(self) -> None:
        """Overlay mounts of this lab in this mount namespace (there are none unless a host's
        private mount namespace leaked, which the lab never does; checked all the same)."""
        base = str(self.state_dir) + "/"
        try:
            lines = Path("/proc/self/mountinfo").read_text().splitlines()
        except OSError:
            return
        for line in reversed(lines):
            parts = line.split()
            if len(parts) > 4 and parts[4].startswith(base):
                with contextlib.suppress(OSError):
                    hostinit.umount(parts[4].replace("\\040", " "), hostinit.MNT_DETACH)

    def _remove_run_netns(self, lab: LabRecord) -> None:
        """Undo what ``ip netns add`` did to ``/run/netns`` for this lab, once it is empty."""
        if not NETNS_DIR.is_dir() or os.listdir(NETNS_DIR):
            return
        if not lab.run_netns_was_mount and _is_mountpoint(NETNS_DIR):
            try:
                hostinit.umount(str(NETNS_DIR), hostinit.MNT_DETACH)
            except hostinit.InitError:
                return
        if not lab.run_netns_existed:
            with contextlib.suppress(OSError):
                NETNS_DIR.rmdir()


# ---------------------------------------------------------------------------------------------
# Upper dir helpers
# ---------------------------------------------------------------------------------------------


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return ("; console: " + " | ".join(text)) if text else ""


def _lower_is_plain_dirs(rel: str) -> bool:
    """Every component of ``/rel`` on the machine is a real directory (no symlink)."""
    current = Path("/")
    for part in Path(rel).parts:
        current = current / part
        if current.is_symlink() or not current.is_dir():
            return False
    return True


def _mkdir_like_lower(upper: Path, rel: str) -> None:
    """Create ``upper/rel`` with the mode and owner of the machine's ``/rel`` (a merged dir in
    the overlay takes the upper dir's attributes, so they must match the machine's)."""
    current_upper = upper
    current_lower = Path("/")
    for part in Path(rel).parts:
        current_upper = current_upper / part
        current_lower = current_lower / part
        if current_upper.exists():
            continue
        current_upper.mkdir()
        try:
            st = current_lower.lstat()
        except FileNotFoundError:
            os.chmod(current_upper, 0o755)
            continue
        if not current_lower.is_dir() or current_lower.is_symlink():
            raise LabError(f"/{rel}: {current_lower} is not a directory on this machine")
        os.chown(current_upper, st.st_uid, st.st_gid)
        os.chmod(current_upper, st.st_mode & 0o7777)


def _opaque(path: Path) -> None:
    """Mark a directory of the upper dir opaque: the host sees only what the upper dir holds."""
    os.setxattr(path, "trusted.overlay.opaque", b"y")


def _under_whiteout(upper: Path, rel: str) -> bool:
    """Whether an ancestor of ``upper/rel`` is already a whiteout (hidden with all it holds)."""
    current = upper
    for part in Path(rel).parts[:-1]:
        current = current / part
        try:
            mode = current.lstat().st_mode
        except FileNotFoundError:
            return False
        if stat.S_ISCHR(mode):
            return True
    return False


def _whiteout(path: Path) -> None:
    """An overlay whiteout: ``path`` does not exist in the host."""
    try:
        os.mknod(path, 0o000 | 0o020000, os.makedev(0, 0))
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise LabError(f"cannot create a whiteout at {path}: {exc.strerror}") from exc
