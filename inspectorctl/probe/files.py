"""The ``files`` fact: metadata, sha256 and matching lines of requested paths (never a password
hash or key material)."""

import errno
import hashlib
import os
import re
import stat
from typing import Any, Dict, List, Optional, Tuple

from .context import Fact, Gatherer, ProbeContext

# Files whose lines are never returned (they hold password hashes).
_NO_LINE_MATCH = frozenset(
    {
        "/etc/shadow",
        "/etc/shadow-",
        "/etc/gshadow",
        "/etc/gshadow-",
        "/etc/security/opasswd",
        "/etc/security/opasswd.old",
        "/etc/master.passwd",
    }
)


_ACCOUNT_FILES = frozenset({"/etc/passwd", "/etc/passwd-", "/etc/group", "/etc/group-"})


_SECRET_LINE_RE = re.compile(
    r"PRIVATE KEY|"  # PEM/OpenSSH private keys
    r"\$(?:1|2[abxy]?|5|6|7|y|gy|sha1|md5|argon2[a-z]*)\$[./A-Za-z0-9$,=+-]{8,}"  # crypt(3) hashes
)


_CHUNK = 1 << 20


_MAX_MATCH_BYTES = 16 << 20


_MAX_SHA256_BYTES = 512 << 20


def mask_account_line(line: str) -> str:
    """An /etc/passwd or /etc/group line with a password field that is not a placeholder
    (``x``, ``*``, ``!``, empty) gets that field replaced: old DES hashes match no pattern."""
    parts = line.split(":")
    if len(parts) >= 3 and parts[1] not in ("x", "*", "!", "!!", ""):
        parts[1] = "<withheld>"
        return ":".join(parts)
    return line


def crypt_like(line: str) -> bool:
    """Does a line look like it holds a password hash or a private key?"""
    return bool(_SECRET_LINE_RE.search(line))


def fact_files(g: Gatherer) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for req in g.request.get("files") or []:
        path = req.get("path", "")
        out[path] = file_info(
            g.ctx, path, bool(req.get("sha256")), list(req.get("patterns") or [])
        )
    return out


def file_info(
    ctx: ProbeContext, path: str, want_sha256: bool, patterns: List[str]
) -> Dict[str, Any]:
    """Metadata of one path. A symlink is reported as type ``link`` with the metadata, digest and
    lines of what it points to (a link's own mode is always 0777 on Linux)."""
    info: Dict[str, Any] = {"path": path, "exists": False}
    if not path.startswith("/"):
        info["error"] = "not an absolute path"
        return info
    real = ctx.path(path)
    try:
        lst = os.lstat(real)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return info
        info["error"] = ctx.reason(e, path)
        return info
    info["exists"] = True
    st = lst
    if stat.S_ISLNK(lst.st_mode):
        info["type"] = "link"
        try:
            st = os.stat(real) if ctx.root == "/" else os.stat(_resolve_in_root(ctx, path))
        except OSError as e:
            info["error"] = "dangling symlink" if e.errno == errno.ENOENT else ctx.reason(e, path)
            return info
    elif stat.S_ISREG(lst.st_mode):
        info["type"] = "file"
    elif stat.S_ISDIR(lst.st_mode):
        info["type"] = "dir"
    else:
        info["type"] = "other"
    info["mode"] = stat.S_IMODE(st.st_mode)
    info["uid"] = st.st_uid
    info["gid"] = st.st_gid
    info["owner"] = ctx.user_name(st.st_uid)
    info["group"] = ctx.group_name(st.st_gid)
    info["size"] = st.st_size
    if not stat.S_ISREG(st.st_mode) or not (want_sha256 or patterns):
        return info
    target = real if ctx.root == "/" or info["type"] != "link" else _resolve_in_root(ctx, path)
    errors: List[str] = []
    if want_sha256:
        if st.st_size > _MAX_SHA256_BYTES:
            errors.append("sha256 skipped: larger than %d bytes" % _MAX_SHA256_BYTES)
        else:
            try:
                digest = hashlib.sha256()
                with open(target, "rb") as fh:
                    for chunk in iter(lambda: fh.read(_CHUNK), b""):
                        digest.update(chunk)
                info["sha256"] = digest.hexdigest()
            except OSError as e:
                errors.append(ctx.reason(e, path))
    if patterns:
        matches = _match_lines(ctx, path, target, st.st_size, patterns, errors)
        if matches is not None:
            info["matches"] = matches
    if errors:
        info["error"] = "; ".join(errors)
    return info


def _resolve_in_root(ctx: ProbeContext, path: str) -> str:
    """Resolve symlinks of a host path inside the root prefix (absolute targets stay inside)."""
    current = ctx.path(path)
    for _ in range(40):
        if not os.path.islink(current):
            return current
        target = os.readlink(current)
        if target.startswith("/"):
            current = ctx.path(target)
        else:
            current = os.path.normpath(os.path.join(os.path.dirname(current), target))
    raise OSError(errno.ELOOP, "too many levels of symbolic links", path)


def _match_lines(
    ctx: ProbeContext, path: str, target: str, size: int, patterns: List[str], errors: List[str]
) -> Optional[Dict[str, List[str]]]:
    canonical = os.path.normpath(path)
    if canonical in _NO_LINE_MATCH or os.path.basename(canonical).startswith(("shadow", "gshadow")):
        errors.append("line matching refused: %s holds password hashes" % path)
        return None
    if size > _MAX_MATCH_BYTES:
        errors.append("line matching skipped: larger than %d bytes" % _MAX_MATCH_BYTES)
        return None
    compiled: List[Tuple[str, Any]] = []
    for p in patterns:
        try:
            compiled.append((p, re.compile(p)))
        except re.error as e:
            errors.append("invalid pattern %r: %s" % (p, e))
    try:
        with open(target, "rb") as fh:
            text = fh.read(_MAX_MATCH_BYTES).decode("utf-8", "replace")
    except OSError as e:
        errors.append(ctx.reason(e, path))
        return None
    if "PRIVATE KEY-----" in text:
        errors.append("line matching refused: %s holds a private key" % path)
        return None
    account_db = canonical in _ACCOUNT_FILES
    matches: Dict[str, List[str]] = {p: [] for p, _ in compiled}
    withheld = 0
    for line in text.splitlines():
        if account_db:
            line = mask_account_line(line)
        for p, rx in compiled:
            if rx.search(line):
                if crypt_like(line):
                    withheld += 1
                    continue
                matches[p].append(line)
    if withheld:
        errors.append(
            "%d matching line(s) withheld: they look like a hash or a private key" % withheld
        )
    return matches


FILES_FACT = Fact("files", fact_files)
