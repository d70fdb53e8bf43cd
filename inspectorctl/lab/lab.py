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
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from inspectorctl.lab.errors import (
    LabError,
    LabInputError,
    LabRequirementError,
)
from inspectorctl.lab.hostsetup import HostSetup, keygen
from inspectorctl.lab.inventory import inventory_yaml, ssh_options
from inspectorctl.lab.models import (
    HOST_NAME_PATTERN,
    NETNS_PREFIX_PATTERN,
    DesiredState,
    HostState,
    LabHost,
    LabRecord,
    TeardownReport,
)
from inspectorctl.lab.overlay import (
    check_tools_visible,
    host_hidden_paths,
    is_mountpoint,
    remove_run_netns,
    umount_leftovers,
)
from inspectorctl.lab.processes import (
    HOST_ENV,
    NETNS_DIR,
    add_netns,
    all_pids,
    host_alive,
    host_argv,
    host_state,
    kill_and_wait,
    netns_inode,
    orphan_inits,
    pids_in_netns,
    run_in_host,
)
from inspectorctl.lab.profiles import LoadedProfile, Profile, load_profiles, shipped_profiles
from inspectorctl.lab.profiles import load_profile as _load_profile
from inspectorctl.lab.requirements import (
    Tools,
    check_requirements,
    default_search_path,
    find_tools,
)
from inspectorctl.lab.state import (
    DEFAULT_NETNS_PREFIX,
    DEFAULT_STATE_DIR,
    ENV_STATE_DIR,
    MAX_STATE_DIR_LENGTH,
    LabState,
    default_state_dir,
    natural,
    now,
    write_atomic,
)

MAX_HOSTS_PER_CALL = 64


class Lab:
    """A lab kept in ``state_dir`` (default: :func:`default_state_dir`).

    ``netns_prefix`` (default ``ictl-``) starts the name of every network namespace the lab
    makes, so that ``down()`` finds them even when the state dir is gone. It is recorded in the
    state dir when the lab is created; two labs on one machine need different prefixes.
    ``search_path`` is where the lab looks for its tools (default ``$PATH`` plus sbin).

    The Lab is the lab's API; the work is done by ``LabState`` (the state dir), ``HostSetup``
    (making, booting and removing hosts), ``processes`` and ``overlay``.
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
        self._lab_state = LabState(self.state_dir)
        self._hosts = HostSetup(self._lab_state)

    # -- paths ----------------------------------------------------------------------------------

    @property
    def hosts_dir(self) -> Path:
        return self._lab_state.hosts_dir

    @property
    def private_key_path(self) -> Path:
        return self._lab_state.private_key_path

    @property
    def known_hosts_path(self) -> Path:
        return self._lab_state.known_hosts_path

    @property
    def inventory_path(self) -> Path:
        """The inventory file, rewritten by every ``up``/``start``/``stop``."""
        return self._lab_state.inventory_path

    @property
    def control_dir(self) -> Path:
        return self._lab_state.control_dir

    @property
    def netns_prefix(self) -> str:
        try:
            record = self._lab_state.load_lab()
        except LabError:  # unreadable lab.json: what the caller said, so down can still clean
            record = None
        if record is not None:
            return record.netns_prefix
        return self._prefix_arg or DEFAULT_NETNS_PREFIX

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
        with self._lab_state.locked(create=True):
            lab = self._ensure_lab(tools)
            records = self._lab_state.records()
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
                    self._hosts.create_host(
                        name, loaded, lab, tools, created, lock, self._hidden_state_dirs()
                    )
                except BaseException as exc:  # collected, re-raised below
                    errors.append(exc)

            with ThreadPoolExecutor(max_workers=min(count, 8)) as pool:
                list(pool.map(make, names))
            if errors:
                for name in created:
                    with contextlib.suppress(LabError, OSError):
                        self._hosts.destroy_host(name, tools, self.netns_prefix)
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
        raise self._lab_state.unknown(name)

    def inventory_yaml(self) -> str:
        """The Ansible inventory of every host (running or not)."""
        tools = self._tools_no_check()
        return inventory_yaml(
            sorted(self._lab_state.records().values(), key=lambda r: natural(r.name)),
            ip=tools["ip"],
            nc=tools["nc"],
            private_key=self.private_key_path,
            known_hosts=self.known_hosts_path,
            control_dir=self.control_dir,
        )

    def write_inventory(self, path: Path) -> Path:
        """Write the inventory to ``path`` (mode 0600: it names the lab's private key)."""
        write_atomic(path, self.inventory_yaml(), 0o600)
        return path

    def ssh_argv(self, host: str, command: Sequence[str] = ()) -> list[str]:
        """A complete ``ssh`` command line reaching ``host`` as root (for tests and users)."""
        record = self._lab_state.record(host)
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
        record = self._lab_state.record(host)
        if not host_alive(record):
            state = host_state(record)
            hint = (
                f"start it with `inspectorctl lab start {host}`"
                if state is HostState.STOPPED
                else "`inspectorctl lab start` restarts it"
            )
            raise LabError(f"host {host} is {state.value}: {hint}")
        assert record.pid is not None
        tools = self._require(selftest=False)
        return run_in_host(record.pid, argv, tools, input, timeout, capture=capture)

    def host_command(self, host: str, argv: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        """The command line and environment that run ``argv`` as root inside ``host`` (as
        :meth:`exec` does), for callers that run it themselves (the SSM agent cancels and times
        out commands while they run). Raises :class:`LabError` when the host is not running."""
        if not argv:
            raise LabInputError("no command given")
        record = self._lab_state.record(host)
        if not host_alive(record):
            raise LabError(f"host {host} is {host_state(record).value}")
        assert record.pid is not None
        tools = self._require(selftest=False)
        return host_argv(record.pid, argv, tools), dict(HOST_ENV)

    def stop(self, host: str) -> LabHost:
        """Kill every process of ``host``: it becomes unreachable; its files and network stay."""
        self._lab_state.record(host)
        self._require(selftest=False)
        with self._lab_state.locked():
            record = self._lab_state.record(host)
            if record.pid is not None and host_alive(record):
                kill_and_wait({record.pid})
            self._lab_state.save_record(
                record.model_copy(
                    update={"desired": DesiredState.STOPPED, "pid": None, "starttime": None}
                )
            )
            self._write_access_files()
        return self.host(host)

    def start(self, host: str) -> LabHost:
        """Boot ``host`` again on its own upper dir (its files as they were); waits for SSH."""
        self._lab_state.record(host)
        tools = self._require()
        with self._lab_state.locked():
            record = self._lab_state.record(host)
            if host_alive(record):
                if record.desired is not DesiredState.RUNNING:
                    self._lab_state.save_record(
                        record.model_copy(update={"desired": DesiredState.RUNNING})
                    )
                return self.host(host)
            # leftovers of a crash: whatever still runs in its namespace
            inode = netns_inode(NETNS_DIR / record.netns)
            if inode is not None:
                kill_and_wait(pids_in_netns({inode}))
            else:
                add_netns(record.netns, tools)
            record = record.model_copy(update={"desired": DesiredState.RUNNING})
            self._lab_state.save_record(record)
            try:
                record = self._hosts.boot(record, tools, steps=None)
                self._hosts.wait_ssh(record, tools)
            except LabError:
                if record.pid is not None:
                    with contextlib.suppress(LabError):
                        kill_and_wait({record.pid})
                raise
            self._write_access_files()
        return self.host(host)

    def down(self) -> TeardownReport:
        """Remove every host, namespace, process, mount and file of this lab. Idempotent.

        Also finds what a crashed lab left: network namespaces with the lab's prefix and host
        inits whose state was lost.
        """
        tools = self._require_teardown()
        from inspectorctl.lab.ssm.state import stop_endpoint

        stop_endpoint(self.state_dir)
        prefix = self.netns_prefix
        with self._lab_state.locked():
            records = self._lab_state.records()
            try:
                lab = self._lab_state.load_lab()
            except LabError:
                lab = None  # unreadable: everything goes all the same
            pids: set[int] = set()
            for record in records.values():
                if record.pid is not None and host_alive(record):
                    pids.add(record.pid)
            pids |= orphan_inits(prefix)
            namespaces = {r.netns for r in records.values()}
            if NETNS_DIR.is_dir():
                namespaces |= {n for n in os.listdir(NETNS_DIR) if n.startswith(prefix)}
            inodes = {ino for n in namespaces if (ino := netns_inode(NETNS_DIR / n)) is not None}
            pids |= pids_in_netns(inodes)
            killed = kill_and_wait(pids)
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
            umount_leftovers(self.state_dir)
            removed = False
            if self.state_dir.exists():
                shutil.rmtree(self.state_dir)
                removed = True
            if lab is not None:
                remove_run_netns(lab)
                for parent in lab.created_parents:  # deepest first, only if left empty
                    with contextlib.suppress(OSError):
                        os.rmdir(parent)
        orphans = tuple(
            sorted(n for n in namespaces if n not in {r.netns for r in records.values()})
        )
        return TeardownReport(
            hosts=tuple(sorted(records, key=natural)),
            orphan_namespaces=orphans,
            processes_killed=killed,
            state_dir_removed=removed,
        )

    def orphan_namespaces(self) -> list[str]:
        """Network namespaces with this lab's prefix that no host of it claims (a lab whose
        state was lost); ``down()`` removes them."""
        if not NETNS_DIR.is_dir():
            return []
        claimed = {r.netns for r in self._lab_state.records().values()}
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
        found += [f"host init process {pid}" for pid in sorted(orphan_inits(prefix))]
        marker = f"upperdir={self.state_dir}/"
        for pid in all_pids():
            try:
                text = Path(f"/proc/{pid}/mountinfo").read_text()
            except OSError:
                continue
            if marker in text:
                found.append(f"overlay mount of the lab in the mount namespace of process {pid}")
        if self.state_dir.exists():
            found.append(f"state dir {self.state_dir}")
        return found

    def _ensure_lab(self, tools: Tools) -> LabRecord:
        record = self._lab_state.load_lab()
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
            created_at=now(),
            run_netns_existed=NETNS_DIR.is_dir(),
            run_netns_was_mount=is_mountpoint(NETNS_DIR),
            created_parents=tuple(self._lab_state.created_parents),
        )
        self.hosts_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.control_dir.mkdir(exist_ok=True, mode=0o700)
        if not self.private_key_path.exists():
            keygen(self.private_key_path, f"inspectorctl-lab@{record.lab_id}", tools)
        self._lab_state.save_lab(record)
        return record

    def _status(self) -> list[LabHost]:
        hosts = []
        for record in sorted(self._lab_state.records().values(), key=lambda r: natural(r.name)):
            state = host_state(record)
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

    def _write_access_files(self) -> None:
        self._lab_state.write_known_hosts()
        write_atomic(self.inventory_path, self.inventory_yaml(), 0o600)

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


__all__ = [
    "DEFAULT_NETNS_PREFIX",
    "DEFAULT_STATE_DIR",
    "ENV_STATE_DIR",
    "NETNS_DIR",
    "Lab",
    "default_state_dir",
]
