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


def dpkg_comparator() -> Callable[[str, str], int]:
    """``compare_dpkg`` that splits each version once (one matching compares a host's
    installed version with every fixed version its advisories name): same answers, same
    errors (an invalid version raises every time it is compared)."""
    parsed: dict[str, tuple[int, str, str]] = {}

    def compare(a: str, b: str) -> int:
        pa = parsed.get(a)
        if pa is None:
            pa = parsed[a] = parse_dpkg(a)
        pb = parsed.get(b)
        if pb is None:
            pb = parsed[b] = parse_dpkg(b)
        if pa[0] != pb[0]:
            return -1 if pa[0] < pb[0] else 1
        return _verrevcmp(pa[1], pb[1]) or _verrevcmp(pa[2], pb[2])

    return compare


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
        if not (e.isascii() and e.isdigit()):
            raise VersionError(f"invalid rpm epoch in {evr!r}: the epoch is a number (0-9)")
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
#
# apk-tools' token walk (src/version.c, apk_version_compare_blob). A version is
# ``{digits}{.digits}...{letter}{_suffix{digits}}...{-r{digits}}``; each token has a type and a
# value, and two versions compare token by token while the types agree:
# - the first component is a number; a later one that starts with zeros ("1.05") gets minus
#   the number of zeros first, then its number (so 1.05 < 1.1 and 1.0 > 1.00);
# - a letter compares by its code; suffixes rank alpha < beta < pre < rc < (none) < cvs < svn
#   < git < hg < p, each followed by an optional number;
# - when one version ends (or changes token type) first, the longer one is greater unless
#   what follows is a pre-release suffix: 1.0_rc1 < 1.0 < 1.0_p1, 1.0 < 1.0-r0.
# One difference with apk-tools 2: a zero component followed by a suffix ("6.0_pre1") reads
# the suffix next, as apk-tools 3 does (its test/version.data: 6.0_pre1 < 6.0); apk-tools 2
# read an empty number there and put 6.0_pre1 after 6.0.

_INVALID, _DIGIT_OR_ZERO, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _REVISION_NO, _END = range(-1, 7)
_APK_PRE = ("alpha", "beta", "pre", "rc")  # ranks -4 .. -1
_APK_POST = ("cvs", "svn", "git", "hg", "p")  # ranks 0 .. 4
#: the token types that may follow one of a lower type
_APK_BACK = {(_DIGIT_OR_ZERO, _DIGIT), (_SUFFIX, _SUFFIX_NO), (_DIGIT, _LETTER)}


def _apk_next(kind: int, v: str, i: int) -> tuple[int, int]:
    """The type of the token at ``v[i:]`` after a token of type ``kind``, and where it starts
    (a separator is skipped)."""
    if i >= len(v):
        return _END, i
    c = v[i]
    if kind in (_DIGIT, _DIGIT_OR_ZERO) and "a" <= c <= "z":
        n = _LETTER
    elif kind == _LETTER and c.isascii() and c.isdigit():
        n = _DIGIT
    elif kind == _SUFFIX and c.isascii() and c.isdigit():
        n = _SUFFIX_NO
    else:
        n = {".": _DIGIT_OR_ZERO, "_": _SUFFIX}.get(c, _INVALID)
        if c == "-" and v[i + 1:i + 2] == "r":
            n, i = _REVISION_NO, i + 1
        i += 1
    if n < kind and (n, kind) not in _APK_BACK:
        n = _INVALID
    return n, i


def _apk_token(kind: int, v: str, i: int) -> tuple[int, int, int]:
    """apk's get_token: (value of the token of type ``kind`` at ``v[i:]``, the next token's
    type, where it starts)."""
    if i >= len(v):
        return 0, _END, i
    start, value, then = i, 0, _INVALID
    if kind == _DIGIT_OR_ZERO and v[i] == "0":
        while i < len(v) and v[i] == "0":
            i += 1
        value = start - i  # minus the number of leading zeros
        if i < len(v) and v[i].isascii() and v[i].isdigit():
            then = _DIGIT
    elif kind in (_DIGIT_OR_ZERO, _DIGIT, _SUFFIX_NO, _REVISION_NO):
        while i < len(v) and v[i].isascii() and v[i].isdigit():
            i += 1
        value = int(v[start:i] or 0)
    elif kind == _LETTER:
        value, i = ord(v[i]), i + 1
    elif kind == _SUFFIX:
        for rank, name in [*enumerate(_APK_PRE, -len(_APK_PRE)), *enumerate(_APK_POST)]:
            if v.startswith(name, i):
                value, i = rank, i + len(name)
                break
        else:
            return -1, _INVALID, i
    else:
        return -1, _INVALID, i
    if i >= len(v):
        return value, _END, i
    if then != _INVALID:
        return value, then, i
    kind, i = _apk_next(_DIGIT if kind == _DIGIT_OR_ZERO else kind, v, i)
    return value, kind, i


def _apk_valid(v: str) -> None:
    kind, i = _DIGIT, 0
    if not v:
        raise VersionError("empty apk version")
    while kind not in (_END, _INVALID):
        _, kind, i = _apk_token(kind, v, i)
    if kind == _INVALID:
        raise VersionError(f"invalid apk version {v!r}: expected digits[.digits...][letter]"
                           f"[_suffix[N]...][-rN]")


def compare_apk(a: str, b: str) -> int:
    a, b = a.strip(), b.strip()
    _apk_valid(a)
    _apk_valid(b)
    at = bt = _DIGIT
    av = bv = i = j = 0
    while at == bt and at not in (_END, _INVALID) and av == bv:
        av, at, i = _apk_token(at, a, i)
        bv, bt, j = _apk_token(bt, b, j)
    if av != bv:
        return -1 if av < bv else 1
    if at == bt:
        return 0
    # equal so far: the one that goes on is greater, unless it goes on with a pre-release
    if at == _SUFFIX and _apk_token(at, a, i)[0] < 0:
        return -1
    if bt == _SUFFIX and _apk_token(bt, b, j)[0] < 0:
        return 1
    return -1 if at > bt else 1


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
