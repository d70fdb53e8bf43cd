"""PID 1 of a lab host. Standard library only: the machine's ``/usr/bin/python3`` runs this file.

The lab starts it as ``ip netns exec NETNS python3 -I -S hostinit.py ...`` so it already sits in
the host's network namespace. It then:

1. unshares mount, UTS, IPC and PID namespaces and forks; the child is PID 1 of the new PID
   namespace, the parent exits at once (so nothing of the launching process stays around);
2. mounts the host's root: an overlay with ``lowerdir=/`` and the host's own upper dir, then
   ``/proc`` (with ``/proc/sys`` read-only except ``/proc/sys/net``, and the handful of files that
   reach the real kernel read-only or masked), a read-only ``/sys``, a minimal ``/dev`` (no disk
   devices), fresh tmpfs on ``/run`` and ``/tmp``;
3. sets the hostname (its own UTS namespace) and ``pivot_root``\\s into the overlay, so the real
   machine's mounts are no longer reachable from inside;
4. tells the launcher ``mounted PID STARTTIME`` on stdout and, on the first boot (``--hold``),
   waits for ``go`` on stdin while the launcher applies the host's profiles;
5. applies ``tmpfs`` lines of the host's own ``/etc/fstab`` for ``/tmp``, ``/var/tmp`` and
   ``/dev/shm``, runs ``/etc/inspectorctl-lab/boot.d/*`` in order (sshd, simulated services), says
   ``ready`` and reaps children until it is killed.

Every process it starts runs without the capabilities that would let root inside a host change
the real machine (modules, clock, mounts, raw devices, kexec, BPF...). Killing PID 1 ends the PID
namespace, which ends every process of the host and drops every mount with the mount namespace.

``--selftest DIR`` checks that namespaces and an overlay of ``/`` can be created, and exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_NOATIME = 1024
MNT_DETACH = 2

PR_CAPBSET_DROP = 24

#: Capabilities no process of a lab host gets: each reaches past the host into the machine.
DROPPED_CAPS: dict[str, int] = {
    "dac_read_search": 2,  # open_by_handle_at() escapes any root directory
    "linux_immutable": 9,  # immutable files in the upper dir would block teardown
    "sys_module": 16,
    "sys_rawio": 17,
    "sys_pacct": 20,
    "sys_admin": 21,  # mount (a fresh /proc would be writable), sethostname, ...
    "sys_boot": 22,  # kexec
    "sys_time": 25,
    "mknod": 27,  # a block device node for the real disk
    "mac_override": 32,
    "mac_admin": 33,
    "syslog": 34,
    "wake_alarm": 35,
    "block_suspend": 36,
    "perfmon": 38,
    "bpf": 39,
    "checkpoint_restore": 40,
}
#: Dropped as well when this process could reset its audit login id (so sshd can set it).
AUDIT_CONTROL = ("audit_control", 30)

BOOT_DIR = "/etc/inspectorctl-lab/boot.d"
BOOT_SCRIPT_TIMEOUT = 20.0
FSTAB_TMPFS = ("/tmp", "/var/tmp", "/dev/shm")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_LIBC: list[ctypes.CDLL] = []


def libc() -> ctypes.CDLL:
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True))
    return _LIBC[0]


class InitError(Exception):
    pass


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise InitError(f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    rc = libc().mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(rc, f"mount {fstype or 'bind'} {source} on {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(libc().umount2(target.encode(), flags), f"umount {target}")


def unshare(flags: int) -> None:
    _check(libc().unshare(ctypes.c_int(flags)), "unshare")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(libc().sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


def drop_bounding_caps(caps: list[int]) -> None:
    for cap in caps:
        libc().prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0)


def say(message: str) -> None:
    os.write(1, (message + "\n").encode())


def bind(source: str, target: str, readonly: bool = False, rec: bool = False) -> None:
    mount(source, target, "", MS_BIND | (MS_REC if rec else 0))
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC
    mount("", target, "", flags | (MS_RDONLY if readonly else 0))


# ---------------------------------------------------------------------------------------------
# Building the root
# ---------------------------------------------------------------------------------------------


def setup_proc(root: str) -> None:
    proc = root + "/proc"
    mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # The kernel's settings are the machine's: read-only, except this host's own network stack.
    bind(proc + "/sys", proc + "/sys", readonly=True)
    bind(proc + "/sys/net", proc + "/sys/net", readonly=False)
    for name in ("sysrq-trigger", "irq", "bus", "fs", "acpi", "scsi"):
        path = f"{proc}/{name}"
        if os.path.exists(path):
            bind(path, path, readonly=True)
    for name in ("kcore", "keys", "timer_list", "sched_debug", "kmsg", "kallsyms"):
        path = f"{proc}/{name}"
        if os.path.exists(path):
            mount(root + "/dev/null", path, "", MS_BIND)


def setup_dev(root: str) -> None:
    dev = root + "/dev"
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k")
    for name, major, minor in (
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ):
        path = f"{dev}/{name}"
        os.mknod(path, 0o666 | 0o020000, os.makedev(major, minor))
        os.chmod(path, 0o666)
    os.mkdir(dev + "/pts", 0o755)
    mount(
        "devpts",
        dev + "/pts",
        "devpts",
        MS_NOSUID | MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=620,gid=5",
    )
    os.symlink("pts/ptmx", dev + "/ptmx")
    os.mkdir(dev + "/shm", 0o1777)
    mount("tmpfs", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777")
    os.symlink("/proc/self/fd", dev + "/fd")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dev}/{name}")


def setup_root(name: str, root: str, upper: str, work: str, pivot_root: str) -> None:
    mount("", "/", "", MS_REC | MS_PRIVATE)
    mount("overlay", root, "overlay", 0, f"lowerdir=/,upperdir={upper},workdir={work}")
    setup_dev(root)
    setup_proc(root)
    mount("sysfs", root + "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("tmpfs", root + "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=65536k")
    os.mkdir(root + "/run/lock", 0o1777)
    os.chmod(root + "/run/lock", 0o1777)
    # a container says so in /run/systemd/container (what systemd writes in one), with the
    # kind lab.py puts in container= of this process's environment
    os.mkdir(root + "/run/systemd", 0o755)
    with open(root + "/run/systemd/container", "w", encoding="ascii") as fh:
        fh.write(os.environ.get("container", "inspectorctl-lab") + "\n")  # noqa: SIM112
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    sethostname(name)
    # pivot_root(".", ".") then detach the old root: the machine's mounts are gone from here.
    os.chdir(root)
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(pivot_root, ["pivot_root", ".", "."])
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise InitError("pivot_root failed")
    umount(".", MNT_DETACH)
    os.chdir("/")


# ---------------------------------------------------------------------------------------------
# Boot
# ---------------------------------------------------------------------------------------------

_FLAG_OPTIONS = {
    "ro": MS_RDONLY,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
    "noatime": MS_NOATIME,
}
_IGNORED_OPTIONS = {"rw", "defaults", "suid", "dev", "exec", "auto", "noauto", "nofail", "user"}


def apply_fstab() -> list[str]:
    """Mount or remount the ``tmpfs`` entries of the host's fstab on the paths a lab can honour."""
    notes: list[str] = []
    try:
        with open("/etc/fstab", encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return notes
    mounted = set()
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2:
                mounted.add(parts[1])
    for line in lines:
        parts = line.split("#", 1)[0].split()
        if len(parts) < 4 or parts[2] != "tmpfs" or parts[1] not in FSTAB_TMPFS:
            continue
        target = parts[1]
        flags = 0
        data = []
        for opt in parts[3].split(","):
            if opt in _FLAG_OPTIONS:
                flags |= _FLAG_OPTIONS[opt]
            elif opt.startswith(("size=", "mode=", "nr_inodes=", "uid=", "gid=")):
                data.append(opt)
            elif opt not in _IGNORED_OPTIONS:
                notes.append(f"fstab {target}: option {opt} ignored")
        try:
            if target in mounted:
                mount("", target, "", flags | MS_REMOUNT, ",".join(data))
            else:
                if not os.path.isdir(target):
                    os.makedirs(target, 0o1777)
                mount("tmpfs", target, "tmpfs", flags, ",".join(data) or "mode=1777")
        except InitError as exc:
            notes.append(f"fstab {target}: {exc}")
    return notes


def spawn(argv: list[str], dropped: list[int]) -> int:
    """Start ``argv`` in its own session with the lab's capability bounding set and no mask."""
    pid = os.fork()
    if pid == 0:
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            os.setsid()
            drop_bounding_caps(dropped)
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            os.execve(argv[0], argv, {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8"})
        except BaseException as exc:  # a forked child must never return
            os.write(2, f"inspectorctl-lab init: cannot start {argv}: {exc}\n".encode())
        finally:
            os._exit(127)
    return pid


def run_boot_scripts(dropped: list[int]) -> None:
    try:
        names = sorted(os.listdir(BOOT_DIR))
    except OSError:
        return
    for name in names:
        path = f"{BOOT_DIR}/{name}"
        if name.startswith(".") or not os.path.isfile(path) or not os.access(path, os.X_OK):
            continue
        pid = spawn(["/bin/sh", path], dropped)
        code = wait_for(pid, BOOT_SCRIPT_TIMEOUT)
        if code is None:
            os.write(2, f"inspectorctl-lab init: {path} still running, left running\n".encode())
        elif code != 0:
            os.write(2, f"inspectorctl-lab init: {path} exited with {code}\n".encode())


def wait_for(pid: int, timeout: float) -> int | None:
    """Exit code of child ``pid``, or None when it runs longer than ``timeout`` seconds.

    SIGCHLD is blocked in PID 1, so ``sigtimedwait`` wakes on it; other children are reaped.
    """
    deadline = time.monotonic() + timeout
    while True:
        while True:
            try:
                done, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None
            if done == 0:
                break
            if done == pid:
                return os.waitstatus_to_exitcode(status)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        signal.sigtimedwait({signal.SIGCHLD}, remaining)


def reap_forever() -> None:
    sigs = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    while True:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        info = signal.sigtimedwait(sigs, 60)
        if info is not None and info.si_signo in (signal.SIGTERM, signal.SIGINT):
            # Orderly shutdown: every process of this host, then PID 1 itself.
            os.kill(-1, signal.SIGTERM)
            os._exit(0)


def reset_loginuid() -> bool:
    """Unset this process's audit login id, so sshd can set a session's without privileges."""
    try:
        with open("/proc/self/loginuid", "w") as fh:
            fh.write("4294967295")
        return True
    except OSError:
        try:
            with open("/proc/self/loginuid") as fh:
                return fh.read().strip() == "4294967295"
        except OSError:
            return False


def stat_starttime(pid: str) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[19]


def boot(args: dict[str, str], hold: bool) -> None:
    signal.pthread_sigmask(
        signal.SIG_BLOCK, {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    )
    console = os.open(args["--console"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(console, 2)
    # Still the machine's /proc here: it names this process by its pid outside the namespace.
    outer_pid = os.readlink("/proc/self")
    starttime = stat_starttime(outer_pid)
    setup_root(
        args["--name"],
        args["--root"],
        args["--upper"],
        args["--work"],
        args.get("--pivot-root", "/usr/sbin/pivot_root"),
    )
    dropped = list(DROPPED_CAPS.values())
    if reset_loginuid():
        dropped.append(AUDIT_CONTROL[1])
    say(f"mounted {outer_pid} {starttime}")
    if hold:
        line = sys.stdin.readline().strip()
        if line != "go":
            raise InitError(f"launcher went away before releasing the host ({line!r})")
    for note in apply_fstab():
        os.write(2, f"inspectorctl-lab init: {note}\n".encode())
    run_boot_scripts(dropped)
    say("ready")
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(console, 1)
    os.close(devnull)
    reap_forever()


def selftest(directory: str) -> None:
    """Create the namespaces and an overlay of ``/`` in ``directory``, then exit (all undone)."""
    try:
        unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET)
    except InitError as exc:
        say(f"error {exc}")
        sys.exit(1)
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
    try:
        mount("", "/", "", MS_REC | MS_PRIVATE)
        mount(
            "overlay",
            directory + "/root",
            "overlay",
            0,
            f"lowerdir=/,upperdir={directory}/upper,workdir={directory}/work",
        )
        mount("proc", directory + "/root/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        umount(directory + "/root/proc")
        umount(directory + "/root")
    except InitError as exc:
        say(f"error {exc}")
        os._exit(1)
    say("ok")
    os._exit(0)


def parse(argv: list[str]) -> tuple[dict[str, str], bool]:
    args: dict[str, str] = {}
    hold = False
    i = 0
    while i < len(argv):
        if argv[i] == "--hold":
            hold = True
            i += 1
            continue
        args[argv[i]] = argv[i + 1]
        i += 2
    return args, hold


def main() -> None:
    args, hold = parse(sys.argv[1:])
    if "--selftest" in args:
        selftest(args["--selftest"])
        return
    try:
        unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID)
    except InitError as exc:
        say(f"error {exc}")
        sys.exit(1)
    if os.fork():
        os._exit(0)  # the child is PID 1 of the new namespace; it reports for itself
    try:
        boot(args, hold)
    except BaseException as exc:  # PID 1 reports and ends the host
        try:
            say(f"error {exc}")
        finally:
            os._exit(1)


if __name__ == "__main__":
    main()
