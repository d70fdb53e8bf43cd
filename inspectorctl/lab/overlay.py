"""A host's root: a copy-on-write overlay of the machine's operating system whose upper dir is
the host's own folder. What a host sees of the machine (see ``lab.py``'s docstring), the files
written into its upper dir before its first boot, and the mounts the lab must never leave."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from inspectorctl.lab import hostinit
from inspectorctl.lab.errors import LabError, LabRequirementError
from inspectorctl.lab.models import HostRecord, LabRecord
from inspectorctl.lab.processes import NETNS_DIR
from inspectorctl.lab.requirements import Tools
from inspectorctl.lab.state import write_atomic

#: Top-level directories of the Filesystem Hierarchy Standard: a host keeps these (the operating
#: system); every other top-level directory of the machine is operator data and hidden in hosts.
OS_TOP_LEVEL = frozenset(
    {
        "bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "media", "mnt",
        "opt", "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var",
    }
)
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


def is_mountpoint(path: Path) -> bool:
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return False
    target = str(path)
    return any(line.split()[4] == target for line in text.splitlines() if len(line.split()) > 4)


def prepare_upper(
    upper: Path,
    record: HostRecord,
    tools: Tools,
    *,
    authorized_key: str,
    hidden_state_dirs: Sequence[Path],
) -> None:
    """The host's own files, written before its first boot (the overlay is not mounted):
    ``authorized_key`` is the lab's public key, ``hidden_state_dirs`` the lab's state dirs."""
    # identity
    write_atomic(upper / "etc/hostname", f"{record.hostname}\n", 0o644)
    write_atomic(upper / "etc/machine-id", f"{record.machine_id}\n", 0o444)
    dbus_id = Path("/var/lib/dbus/machine-id")
    if dbus_id.is_file() and not dbus_id.is_symlink() and _lower_is_plain_dirs("var/lib/dbus"):
        _mkdir_like_lower(upper, "var/lib/dbus")
        write_atomic(upper / "var/lib/dbus/machine-id", f"{record.machine_id}\n", 0o444)
    write_atomic(
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
    write_atomic(lab_dir / "identity.json", json.dumps(identity, indent=2) + "\n", 0o644)
    write_atomic(
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
        write_atomic(
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
            write_atomic(upper / "root" / name, source.read_bytes(), 0o644)
    ssh_dir = upper / "root/.ssh"
    ssh_dir.mkdir()
    os.chmod(ssh_dir, 0o700)
    write_atomic(ssh_dir / "authorized_keys", authorized_key, 0o600)
    # ... the data dirs start empty ...
    for rel in EMPTY_DATA_DIRS:
        if _lower_is_plain_dirs(rel):
            _mkdir_like_lower(upper, rel)
            _opaque(upper / rel)
    # ... and what is not an operating-system directory (or a symlink) is not there at all
    for name in hidden_top_level():
        _whiteout(upper / name)
    # the lab's state dirs are not visible inside hosts
    for hidden in hidden_state_dirs:
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


def umount_leftovers(state_dir: Path) -> None:
    """Overlay mounts of the lab in ``state_dir`` in this mount namespace (there are none unless
    a host's private mount namespace leaked, which the lab never does; checked all the same)."""
    base = str(state_dir) + "/"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    for line in reversed(lines):
        parts = line.split()
        if len(parts) > 4 and parts[4].startswith(base):
            with contextlib.suppress(OSError):
                hostinit.umount(parts[4].replace("\\040", " "), hostinit.MNT_DETACH)


def remove_run_netns(lab: LabRecord) -> None:
    """Undo what ``ip netns add`` did to ``/run/netns`` for this lab, once it is empty."""
    if not NETNS_DIR.is_dir() or os.listdir(NETNS_DIR):
        return
    if not lab.run_netns_was_mount and is_mountpoint(NETNS_DIR):
        try:
            hostinit.umount(str(NETNS_DIR), hostinit.MNT_DETACH)
        except hostinit.InitError:
            return
    if not lab.run_netns_existed:
        with contextlib.suppress(OSError):
            NETNS_DIR.rmdir()


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
