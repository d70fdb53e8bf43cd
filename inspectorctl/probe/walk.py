"""The ``walks`` fact: one bounded filesystem pass for world-writable, unowned, setuid and setgid
entries."""

import errno
import os
import sys
import time
from typing import Any, Dict, List, Set

from .context import Fact, Gatherer, ProbeContext

WALK_KINDS = ("world_writable", "world_writable_dirs", "unowned", "suid", "sgid")


# Filesystem types a walk never descends into: pseudo filesystems, read-only images and anything
# remote or user-space (network shares, FUSE). tmpfs/ramfs are walked: /tmp, /dev/shm and /run are
# exactly where world-writable directories without the sticky bit hide.
WALK_SKIP_FSTYPES = frozenset(
    {
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "securityfs",
        "debugfs",
        "tracefs",
        "pstore",
        "bpf",
        "mqueue",
        "hugetlbfs",
        "configfs",
        "fusectl",
        "autofs",
        "binfmt_misc",
        "efivarfs",
        "nsfs",
        "rpc_pipefs",
        "selinuxfs",
        "squashfs",
        "iso9660",
        "nfs",
        "nfs4",
        "nfsd",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "9p",
        "virtiofs",
        "davfs",
        "sshfs",
        "fuse",
        "gpfs",
        "ocfs2",
        "gfs2",
    }
)


_SCANDIR_FD = sys.version_info >= (3, 7) and os.scandir in getattr(os, "supports_fd", set())


_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def fact_walks(g: Gatherer) -> Dict[str, Any]:
    return walk(
        g.ctx,
        list(g.request.get("walks") or []),
        int(g.request.get("walk_max_results", 1000)),
        float(g.request.get("walk_max_seconds", 20.0)),
    )


def walk(
    ctx: ProbeContext, kinds: List[str], max_results: int, max_seconds: float
) -> Dict[str, Any]:
    """One bounded ``os.scandir`` pass over local filesystems for every requested kind.

    Kinds: ``world_writable`` (regular files writable by others), ``world_writable_dirs``
    (directories writable by others without the sticky bit), ``unowned`` (any entry whose uid
    or gid has no passwd/group entry), ``suid`` / ``sgid`` (regular files with setuid / setgid).
    Mountpoints of pseudo, image, network and FUSE filesystems (``WALK_SKIP_FSTYPES``, and any
    ``fuse.*``) are pruned; symlinks are never followed; each kind stops at ``max_results``;
    the pass stops after ``max_seconds``.
    """
    results: Dict[str, Dict[str, Any]] = {}
    wanted: List[str] = []
    for kind in kinds:
        if kind in results:
            continue
        if kind not in WALK_KINDS:
            results[kind] = {
                "paths": [],
                "scanned": 0,
                "truncated": True,
                "reason": "unknown walk kind; known: %s" % ", ".join(WALK_KINDS),
                "roots": ["/"],
            }
            continue
        results[kind] = {
            "paths": [],
            "scanned": 0,
            "truncated": False,
            "reason": None,
            "roots": ["/"],
        }
        wanted.append(kind)
    if not wanted:
        return results
    prune: Set[str] = set()
    mount_note = None
    try:
        for m in ctx.mounts():
            fstype = m["fstype"]
            if (fstype in WALK_SKIP_FSTYPES or fstype.startswith("fuse.")) and m[
                "mountpoint"
            ] != "/":
                prune.add(ctx.path(m["mountpoint"]))
    except OSError as e:
        mount_note = "mount table unreadable (%s): nothing pruned" % ctx.reason(e, "mounts")
        for p in ("/proc", "/sys", "/dev"):
            prune.add(ctx.path(p))
    uids = {p["uid"] for p in ctx.passwd()}
    gids = {g["gid"] for g in ctx.groups()}
    known_uid: Dict[int, bool] = {}
    known_gid: Dict[int, bool] = {}

    def uid_ok(uid: int) -> bool:
        if uid in uids:
            return True
        if uid not in known_uid:
            known_uid[uid] = ctx.user_name(uid) is not None
        return known_uid[uid]

    def gid_ok(gid: int) -> bool:
        if gid in gids:
            return True
        if gid not in known_gid:
            known_gid[gid] = ctx.group_name(gid) is not None
        return known_gid[gid]

    want_ww = "world_writable" in wanted
    want_wwd = "world_writable_dirs" in wanted
    want_unowned = "unowned" in wanted
    want_suid = "suid" in wanted
    want_sgid = "sgid" in wanted
    found: Dict[str, List[str]] = {k: results[k]["paths"] for k in wanted}
    full: Set[str] = set()
    deadline = time.monotonic() + max_seconds
    scanned = 0
    denied = 0
    timed_out = False
    root = ctx.root
    host = ctx.host_path
    file_bits = (
        (0o002 if want_ww else 0) | (0o4000 if want_suid else 0) | (0o2000 if want_sgid else 0)
    )

    def add(kind: str, path: str) -> None:
        lst = found[kind]
        if len(lst) < max_results:
            lst.append(host(path))
        else:
            full.add(kind)

    stack = [root]
    while stack and not timed_out:
        if time.monotonic() > deadline:
            timed_out = True
            break
        directory = stack.pop()
        prefix = directory if directory.endswith("/") else directory + "/"
        fd = -1
        try:
            if _SCANDIR_FD:
                # scandir over a directory fd: entry.stat() is fstatat(fd, name), ~20 % cheaper
                # than resolving the whole path again for every entry (needs python 3.7)
                fd = os.open(directory, _DIR_FLAGS)
                it = os.scandir(fd)
            else:
                it = os.scandir(directory)
        except OSError as e:
            if fd >= 0:
                os.close(fd)
            if e.errno in (errno.EACCES, errno.EPERM):
                denied += 1
            continue
        try:
            with it:
                for entry in it:
                    scanned += 1
                    if not scanned & 0x3FF and time.monotonic() > deadline:
                        timed_out = True
                        break
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    mode = st.st_mode
                    fmt = mode & 0o170000
                    if fmt == 0o040000:  # directory
                        path = prefix + entry.name
                        if path not in prune:
                            stack.append(path)
                        if want_wwd and mode & 0o1002 == 0o002:
                            add("world_writable_dirs", path)
                    elif fmt == 0o100000 and mode & file_bits:  # regular file of interest
                        path = prefix + entry.name
                        if want_ww and mode & 0o002:
                            add("world_writable", path)
                        if want_suid and mode & 0o4000:
                            add("suid", path)
                        if want_sgid and mode & 0o2000:
                            add("sgid", path)
                    if (
                        want_unowned
                        and (st.st_uid not in uids or st.st_gid not in gids)
                        and not (uid_ok(st.st_uid) and gid_ok(st.st_gid))
                    ):
                        add("unowned", prefix + entry.name)
        finally:
            if fd >= 0:
                os.close(fd)
        if len(full) == len(wanted):
            break
    notes: List[str] = []
    if mount_note:
        notes.append(mount_note)
    for kind in wanted:
        res = results[kind]
        res["scanned"] = scanned
        res["paths"].sort()
        reasons = list(notes)
        if kind in full:
            reasons.append("stopped at walk_max_results=%d matches" % max_results)
        elif timed_out:
            reasons.append("time limit of %ss reached after %d entries" % (max_seconds, scanned))
        if denied:
            reasons.append(
                "%d director%s unreadable (permission denied%s)"
                % (denied, "y" if denied == 1 else "ies", "" if ctx.euid == 0 else ", not root")
            )
        if reasons:
            res["truncated"] = True
            res["reason"] = "; ".join(reasons)
    return results


WALKS_FACT = Fact("walks", fact_walks)
