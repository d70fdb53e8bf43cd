"""Pure parsers several fact families share: deb822 paragraphs, passwd and group, the mount
table, ``key = value`` files."""

import re
from typing import Any, Dict, List, Optional


def deb822_paragraphs(text: str, comments: bool = False) -> List[Dict[str, str]]:
    """Paragraphs of a deb822 file (dpkg status, apt ``.sources``): ``Field: value`` lines,
    paragraphs separated by blank lines. A field's continuation lines (starting with a space or
    tab) are joined to its value with newlines. ``comments``: lines starting with ``#`` are
    comments (apt's sources), not fields."""
    paragraphs: List[Dict[str, str]] = []
    for block in re.split(r"\n[ \t]*\n", text):
        fields: Dict[str, str] = {}
        more: Dict[str, List[str]] = {}
        last: Optional[str] = None
        for line in block.splitlines():
            if not line or (comments and line[0] == "#"):
                continue
            if line[0] in " \t":
                if last is not None:
                    more.setdefault(last, []).append(line.strip())
                continue
            key, sep, value = line.partition(":")
            if not sep:
                last = None
                continue
            last = key.strip()
            fields[last] = value.strip()
            more.pop(last, None)
        for key, lines in more.items():
            fields[key] = "\n".join([fields[key], *lines])
        if fields:
            paragraphs.append(fields)
    return paragraphs


_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def unescape_mount_field(field: str) -> str:
    """The kernel escapes space, tab, newline and backslash in /proc/mounts as ``\\ooo``."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def escape_mount_field(field: str) -> str:
    """Inverse of :func:`unescape_mount_field` (what the kernel does in ``mangle()``)."""
    out = []
    for ch in field:
        if ch in " \t\n\\":
            out.append("\\%03o" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def parse_proc_mounts(text: str) -> List[Dict[str, Any]]:
    """``/proc/self/mounts`` (fstab(5) format): device, mountpoint, fstype, options."""
    mounts: List[Dict[str, Any]] = []
    for line in text.split("\n"):
        # the kernel separates fields by one space and escapes only space, tab, newline and
        # backslash: str.split() would also split on other (Unicode) whitespace in a path
        parts = [p for p in line.split(" ") if p]
        # no comments here (unlike fstab): a device may well be named "#..."
        if len(parts) < 4:
            continue
        mounts.append(
            {
                "device": unescape_mount_field(parts[0]),
                "mountpoint": unescape_mount_field(parts[1]),
                "fstype": unescape_mount_field(parts[2]),
                "options": [unescape_mount_field(o) for o in parts[3].split(",") if o],
            }
        )
    return mounts


def parse_keyvalue_conf(text: str) -> Dict[str, str]:
    """pwquality.conf / faillock.conf: ``key = value`` lines; a bare ``key`` is a flag (``""``)."""
    out: Dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        out[key.strip()] = value.strip() if sep else ""
    return out


def parse_passwd(text: str) -> List[Dict[str, Any]]:
    """/etc/passwd entries. The password field is reduced to what it says (``x`` = shadowed)."""
    out: List[Dict[str, Any]] = []
    for line in text.split("\n"):
        if not line or line.startswith(("#", "+", "-")):
            continue
        parts = line.split(":")
        if len(parts) < 7:
            continue
        try:
            uid, gid = int(parts[2]), int(parts[3])
        except ValueError:
            continue
        out.append(
            {
                "name": parts[0],
                "password": "shadow" if parts[1] == "x" else _password_state(parts[1]),
                "uid": uid,
                "gid": gid,
                "home": parts[5],
                "shell": parts[6],
            }
        )
    return out


def _password_state(field: str) -> str:
    if field == "":
        return "empty"
    if field[0] in "!*":
        return "locked"
    return "set"


def parse_group(text: str) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    for line in text.split("\n"):
        if not line or line.startswith(("#", "+", "-")):
            continue
        parts = line.split(":")
        if len(parts) < 4:
            continue
        try:
            gid = int(parts[2])
        except ValueError:
            continue
        members = [m for m in parts[3].split(",") if m]
        out.append({"name": parts[0], "gid": gid, "members": members})
    return out
