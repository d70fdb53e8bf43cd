"""Version order of each package manager (dpkg, rpm, apk), not PEP 440.

``compare(manager, a, b)`` returns -1, 0 or 1. Implementations follow the managers' own
algorithms: dpkg's ``verrevcmp`` (Debian Policy 5.6.12), rpm's ``rpmvercmp`` with epoch and
release, and apk's version comparison for the common forms.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cmp_to_key
from typing import Any

from inspectorctl.errors import InputError


class VersionError(InputError):
    """A version string that the manager's grammar does not accept."""


# ----------------------------------------------------------------------------------------- dpkg


def _dpkg_order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        first_diff = 0
        while (i < la and not a[i].isdigit()) or (j < lb and not b[j].isdigit()):
            ac = _dpkg_order(a[i]) if i < la and not a[i].isdigit() else 0
            bc = _dpkg_order(b[j]) if j < lb and not b[j].isdigit() else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < la and a[i] == "0":
            i += 1
        while j < lb and b[j] == "0":
            j += 1
        while i < la and a[i].isdigit() and j < lb and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < la and a[i].isdigit():
            return 1
        if j < lb and b[j].isdigit():
            return -1
        if first_diff:
            return -1 if first_diff < 0 else 1
    return 0


_DPKG_UPSTREAM = re.compile(r"^[0-9][A-Za-z0-9.+~:-]*$")
_DPKG_REVISION = re.compile(r"^[A-Za-z0-9.+~]+$")


def parse_dpkg(version: str) -> tuple[int, str, str]:
    """``[epoch:]upstream[-revision]`` the way dpkg's parseversion splits it: the epoch ends
    at the first colon, the revision starts after the last hyphen."""
    v = version.strip()
    if not v or any(c.isspace() for c in v):
        raise VersionError(f"invalid dpkg version {version!r}")
    epoch_s, colon, rest = v.partition(":")
    if not colon:
        epoch_s, rest = "", v
    elif not epoch_s.isascii() or not epoch_s.isdigit():
        raise VersionError(f"invalid dpkg version {version!r}: epoch is not a number")
    upstream, hyphen, revision = rest.rpartition("-")
    if not hyphen:
        upstream, revision = rest, ""
    elif not revision:
        raise VersionError(f"invalid dpkg version {version!r}: revision number is empty")
    if not _DPKG_UPSTREAM.match(upstream):
        raise VersionError(f"invalid dpkg version {version!r}")
    if revision and not _DPKG_REVISION.match(revision):
        raise VersionError(f"invalid dpkg version {version!r}: bad revision")
    return int(epoch_s or 0), upstream, revision or "0"


def compare_dpkg(a: str, b: str) -> int:
    ea, ua, ra = parse_dpkg(a)
    eb, ub, rb = parse_dpkg(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


# ------------------------------------------------------------------------------------------ rpm

_RPM_SEG = re.compile(r"([0-9]+|[A-Za-z]+|~|\^)")


def rpmvercmp(a: str, b: str) -> int:
    """rpm's segment comparison (librpm ``rpmvercmp``), including ``~`` and ``^``."""
    if a == b:
        return 0
    sa = _rpm_segments(a)
    sb = _rpm_segments(b)
    i = 0
    while True:
        xa = sa[i] if i < len(sa) else None
        xb = sb[i] if i < len(sb) else None
        if xa == "~" or xb == "~":
            if xa != "~":
                return 1
            if xb != "~":
                return -1
            i += 1
            continue
        if xa == "^" or xb == "^":
            if xa is None:
                return -1
            if xb is None:
                return 1
            if xa != "^":
                return 1
            if xb != "^":
                return -1
            i += 1
            continue
        if xa is None or xb is None:
            if xa is None and xb is None:
                return 0
            return -1 if xa is None else 1
        a_num, b_num = xa.isdigit(), xb.isdigit()
        if a_num and not b_num:
            return 1
        if b_num and not a_num:
            return -1
        if a_num:
            na, nb = int(xa), int(xb)
            if na != nb:
                return -1 if na < nb else 1
        elif xa != xb:
            return -1 if xa < xb else 1
        i += 1


def _rpm_segments(v: str) -> list[str]:
    return _RPM_SEG.findall(v)


def parse_rpm(evr: str) -> tuple[int, str, str]:
    v = evr.strip()
    if not v:
        raise VersionError("empty rpm version")
    epoch = 0
    if ":" in v:
        e, v = v.split(":", 1)
        if not e.isdigit():
            raise VersionError(f"invalid rpm epoch in {evr!r}")
        epoch = int(e)
    version, _, release = v.rpartition("-") if "-" in v else (v, "", "")
    return epoch, version, release


def compare_rpm(a: str, b: str) -> int:
    ea, va, ra = parse_rpm(a)
    eb, vb, rb = parse_rpm(b)
    if ea != eb:
        return -1 if ea < eb else 1
    c = rpmvercmp(va, vb)
    if c or not ra or not rb:
        return c
    return rpmvercmp(ra, rb)


# ------------------------------------------------------------------------------------------ apk

_APK_RE = re.compile(
    r"^(\d+(?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*)(?:-r(\d+))?$"
)
_APK_SUFFIX = {"alpha": -4, "beta": -3, "pre": -2, "rc": -1, "cvs": 1, "svn": 1, "git": 1,
               "hg": 1, "p": 2}


def _apk_key(v: str) -> tuple[object, ...]:
    m = _APK_RE.match(v.strip())
    if not m:
        raise VersionError(f"invalid apk version {v!r}")
    nums, letter, suffixes, rev = m.groups()
    sfx = []
    for s in filter(None, suffixes.split("_")):
        name = s.rstrip("0123456789")
        num = s[len(name):]
        sfx.append((_APK_SUFFIX[name], int(num or 0)))
    sfx.append((0, 0))
    return (tuple(int(n) for n in nums.split(".")), letter, tuple(sfx), int(rev or 0))


def compare_apk(a: str, b: str) -> int:
    ka, kb = _apk_key(a), _apk_key(b)
    # tuple comparison of the numeric parts follows apk (1.10 > 1.9; 1.2 < 1.2.1)
    return (ka > kb) - (ka < kb)


_COMPARE = {"dpkg": compare_dpkg, "rpm": compare_rpm, "apk": compare_apk}


def compare(manager: str, a: str, b: str) -> int:
    try:
        fn = _COMPARE[manager]
    except KeyError as e:
        raise VersionError(
            f"unknown package manager {manager!r}; valid: {', '.join(_COMPARE)}"
        ) from e
    return fn(a, b)


def sort_key(manager: str) -> Callable[[str], Any]:
    """A ``key=`` for ``sorted()`` in the manager's version order."""

    def cmp(a: str, b: str) -> int:
        return compare(manager, a, b)

    return cmp_to_key(cmp)


# --------------------------------------------------------------------------- PEP 440, semver


def compare_pep440(a: str, b: str) -> int:
    from packaging.version import InvalidVersion, Version

    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion as e:
        raise VersionError(f"invalid PEP 440 version: {e}") from e
    return (va > vb) - (va < vb)


_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$")


def _semver_key(v: str) -> tuple[tuple[int, int, int], tuple[tuple[int, int, str], ...] | None]:
    m = _SEMVER.match(v.strip())
    if not m:
        raise VersionError(f"invalid semantic version {v!r}")
    core = (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))
    pre = m.group(4)
    if pre is None:
        return core, None
    # numeric identifiers sort below alphanumeric ones, numerically among themselves
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return core, ids


def compare_semver(a: str, b: str) -> int:
    """Semantic Versioning 2.0.0 precedence (a leading ``v``, as Go writes it, is allowed;
    build metadata is ignored; missing minor/patch count as 0)."""
    (ca, pa), (cb, pb) = _semver_key(a), _semver_key(b)
    if ca != cb:
        return -1 if ca < cb else 1
    if pa == pb:
        return 0
    if pa is None:
        return 1  # a release is above its pre-releases
    if pb is None:
        return -1
    return (pa > pb) - (pa < pb)


_COMPARE["pep440"] = compare_pep440
_COMPARE["semver"] = compare_semver

#: OSV ecosystem (the part before ":") -> the version order it uses
ECOSYSTEM_ORDER = {
    "Debian": "dpkg", "Ubuntu": "dpkg",
    "Alpine": "apk",
    "AlmaLinux": "rpm", "Rocky Linux": "rpm", "Red Hat": "rpm", "Amazon Linux": "rpm",
    "openSUSE": "rpm", "SUSE": "rpm", "Mageia": "rpm",
    "PyPI": "pep440",
    "npm": "semver", "Go": "semver", "crates.io": "semver", "NuGet": "semver",
}


def ecosystem_order(ecosystem: str) -> str:
    base = ecosystem.split(":", 1)[0]
    try:
        return ECOSYSTEM_ORDER[base]
    except KeyError as e:
        raise VersionError(f"no version order known for ecosystem {ecosystem!r}; known: "
                           f"{', '.join(ECOSYSTEM_ORDER)}") from e
