"""What every gatherer shares: the probe context (root prefix, caches), commands run in the
background, the state of one run (``Gatherer``) and how a fact is declared (``Fact``)."""

import errno
import grp
import os
import pwd
import re
import subprocess
import threading
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Set, Tuple

from .parsers import parse_group, parse_passwd, parse_proc_mounts

PROBE_VERSION = 1


SCHEMA_VERSION = 1


_SUBPROCESS_ENV = {
    "LC_ALL": "C",
    "LANG": "C",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}


class ProbeContext:
    """Where to read from, who we are, and caches shared by the gatherers."""

    def __init__(self, root: str = "/", allow_imds: Optional[bool] = None) -> None:
        self.root = os.path.abspath(root)
        self.euid = os.geteuid()
        if allow_imds is None:
            allow_imds = self.root == "/" and not os.environ.get("INSPECTORCTL_PROBE_NO_IMDS")
        self.allow_imds = bool(allow_imds) and self.root == "/"
        self._passwd: Optional[List[Dict[str, Any]]] = None
        self._groups: Optional[List[Dict[str, Any]]] = None
        self._procs: Optional[List[Dict[str, Any]]] = None
        self._mounts: Optional[List[Dict[str, Any]]] = None
        self._uid_names: Dict[int, Optional[str]] = {}
        self._gid_names: Dict[int, Optional[str]] = {}

    def path(self, p: str) -> str:
        """A host path (``/etc/passwd``) as seen through the root prefix."""
        if self.root == "/":
            return p
        return os.path.join(self.root, p.lstrip("/"))

    def host_path(self, p: str) -> str:
        """Inverse of :meth:`path`."""
        if self.root == "/":
            return p
        rel = os.path.relpath(p, self.root)
        return "/" if rel == "." else "/" + rel

    def read(self, p: str, limit: Optional[int] = None) -> str:
        with open(self.path(p), "rb") as fh:
            data = fh.read() if limit is None else fh.read(limit)
        return data.decode("utf-8", "replace")

    def reason(self, exc: BaseException, what: str) -> str:
        if isinstance(exc, OSError):
            if exc.errno in (errno.EACCES, errno.EPERM):
                return "permission denied: %s%s" % (what, "" if self.euid == 0 else " (not root)")
            if exc.errno == errno.ENOENT:
                return "not found: %s" % what
            return "%s: %s" % (what, exc.strerror or exc)
        return "%s: %s: %s" % (what, type(exc).__name__, exc)

    # -- accounts used by several facts --------------------------------------------------------

    def passwd(self) -> List[Dict[str, Any]]:
        if self._passwd is None:
            try:
                self._passwd = parse_passwd(self.read("/etc/passwd"))
            except OSError:
                self._passwd = []
        return self._passwd

    def groups(self) -> List[Dict[str, Any]]:
        if self._groups is None:
            try:
                self._groups = parse_group(self.read("/etc/group"))
            except OSError:
                self._groups = []
        return self._groups

    def user_name(self, uid: int) -> Optional[str]:
        if uid not in self._uid_names:
            name: Optional[str] = None
            for entry in self.passwd():
                if entry["uid"] == uid:
                    name = entry["name"]
                    break
            if name is None and self.root == "/":
                try:
                    name = pwd.getpwuid(uid).pw_name  # NSS (LDAP, sssd...) on the real root
                except KeyError:
                    name = None
            self._uid_names[uid] = name
        return self._uid_names[uid]

    def group_name(self, gid: int) -> Optional[str]:
        if gid not in self._gid_names:
            name: Optional[str] = None
            for entry in self.groups():
                if entry["gid"] == gid:
                    name = entry["name"]
                    break
            if name is None and self.root == "/":
                try:
                    name = grp.getgrgid(gid).gr_name
                except KeyError:
                    name = None
            self._gid_names[gid] = name
        return self._gid_names[gid]

    # -- processes -----------------------------------------------------------------------------

    def processes(self) -> List[Dict[str, Any]]:
        """Every visible process: pid, exe (readlink, root only for others), argv0, comm."""
        if self._procs is None:
            procs: List[Dict[str, Any]] = []
            proc = self.path("/proc")
            try:
                names = os.listdir(proc)
            except OSError:
                names = []
            for name in names:
                if not name.isdigit():
                    continue
                base = os.path.join(proc, name)
                entry: Dict[str, Any] = {"pid": int(name), "exe": None, "argv0": None, "comm": None}
                try:
                    exe = os.readlink(os.path.join(base, "exe"))
                    if exe.endswith(" (deleted)"):
                        exe = exe[: -len(" (deleted)")]
                    entry["exe"] = exe
                except OSError:
                    pass
                try:
                    with open(os.path.join(base, "cmdline"), "rb") as fh:
                        argv = fh.read().split(b"\0")
                    if argv and argv[0]:
                        entry["argv0"] = argv[0].decode("utf-8", "replace")
                except OSError:
                    pass
                try:
                    with open(os.path.join(base, "comm"), "rb") as fh:
                        entry["comm"] = fh.read().decode("utf-8", "replace").strip()
                except OSError:
                    pass
                if entry["exe"] or entry["argv0"] or entry["comm"]:
                    procs.append(entry)
            self._procs = procs
        return self._procs

    def mounts(self) -> List[Dict[str, Any]]:
        if self._mounts is None:
            text = None
            for candidate in ("/proc/self/mounts", "/proc/mounts"):
                try:
                    text = self.read(candidate)
                    break
                except OSError:
                    continue
            if text is None:
                raise OSError(errno.ENOENT, "no /proc/self/mounts")
            self._mounts = parse_proc_mounts(text)
        return self._mounts


def _which(ctx: ProbeContext, names: Iterable[str]) -> Optional[str]:
    """First existing executable among candidate absolute paths (under the root prefix)."""
    for name in names:
        p = ctx.path(name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


class _Background(object):
    """A subprocess run in a thread, so slow commands (apt, sshd -T) overlap with the rest."""

    def __init__(self, argv: List[str], timeout: float, pass_fds: Tuple[int, ...] = ()) -> None:
        """``pass_fds``: descriptors the command inherits; closed here once it has ended."""
        self.argv = argv
        self.timeout = timeout
        self.pass_fds = pass_fds
        self.returncode: Optional[int] = None
        self.stdout = ""
        self.stderr = ""
        self.error: Optional[str] = None
        self._thread = threading.Thread(target=self._run)
        self._thread.daemon = True
        self._thread.start()

    def _run(self) -> None:
        try:
            proc = subprocess.run(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                universal_newlines=True,
                timeout=self.timeout,
                env=_SUBPROCESS_ENV,
                pass_fds=self.pass_fds,
            )
            self.returncode = proc.returncode
            self.stdout = proc.stdout
            self.stderr = proc.stderr
        except subprocess.TimeoutExpired:
            self.error = "%s timed out after %ss" % (os.path.basename(self.argv[0]), self.timeout)
        except OSError as e:
            self.error = "cannot run %s: %s" % (self.argv[0], e.strerror or e)
        finally:
            for fd in self.pass_fds:
                os.close(fd)

    def wait(self) -> "_Background":
        self._thread.join()
        return self

    def failure(self, skip: Optional[str] = None) -> str:
        """A one-line reason for a non-zero exit, from stderr (or stdout); lines matching the
        regex ``skip`` are left out."""
        if self.error:
            return self.error
        text = (self.stderr or self.stdout or "").strip()
        lines = [ln.strip() for ln in text.splitlines()
                 if ln.strip() and not (skip and re.match(skip, ln.strip()))]
        detail = "; ".join(lines[-3:]) if lines else "no output"
        return "%s exited %s: %s" % (os.path.basename(self.argv[0]), self.returncode, detail)


def _read_each(
    ctx: ProbeContext, files: List[str], errors: Dict[str, str]
) -> Iterator[Tuple[str, str]]:
    """(host path, text) of each file that can be read; the others go to ``errors`` with the
    reason (for settings files, where an unreadable one could hold what decides)."""
    for host_file in files:
        try:
            text = ctx.read(host_file)
        except OSError as e:
            errors[host_file] = ctx.reason(e, host_file)
            continue
        yield host_file, text


def _listdir(ctx: ProbeContext, directory: str) -> List[str]:
    try:
        return os.listdir(ctx.path(directory))
    except OSError:
        return []


def _listdir_abs(directory: str) -> List[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return []


_CONF_DIRS = ("/etc", "/run", "/usr/local/lib", "/usr/lib", "/lib")


def conf_d_files(ctx: ProbeContext, subdir: str, suffix: str) -> List[str]:
    """systemd-style drop-in precedence: files from /etc/X, /run/X, /usr/local/lib/X,
    /usr/lib/X, /lib/X; a basename in an earlier dir masks the same basename later; result sorted
    by basename. Directories that are the same (merged /usr: /lib -> /usr/lib) count once."""
    chosen: Dict[str, str] = {}
    seen_dirs: Set[str] = set()
    for base in _CONF_DIRS:
        directory = base + "/" + subdir
        real = os.path.realpath(ctx.path(directory))
        if real in seen_dirs:
            continue
        seen_dirs.add(real)
        for name in _listdir(ctx, directory):
            if name.endswith(suffix) and name not in chosen:
                chosen[name] = directory + "/" + name
    return [chosen[n] for n in sorted(chosen)]


class Gatherer(object):
    """The state of one probe run: the request, the background commands started for it (by
    name), and what the ``updates`` fact learnt when it started its command."""

    def __init__(self, ctx: ProbeContext, request: Dict[str, Any]) -> None:
        self.ctx = ctx
        self.request = request
        self.facts = list(request.get("facts") or [])
        self.bg: Dict[str, _Background] = {}
        self.updater: Optional[str] = None
        #: apt: the full simulation, and whether the one running considers only security sources
        self.apt_full: List[str] = []
        self.apt_scope = "all"


class Fact(object):
    """One fact the probe gathers, declared once, in its module: its name (a ``ProbeRequest``
    fact and a ``HostSnapshot`` field), the function that gathers it, the function that starts
    its slow commands in the background before any fact is gathered (or None), and the names of
    those background jobs (a fact that waits for one is gathered last, after the walk)."""

    def __init__(
        self,
        name: str,
        gather: Callable[[Gatherer], Any],
        start: Optional[Callable[[Gatherer], None]] = None,
        jobs: Tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.gather = gather
        self.start = start
        self.jobs = jobs
