"""Package names and versions as the package managers define them, checked before a value
collected from a host or read from advisory data reaches a package manager.

Names and versions come from hosts (dpkg's status, the rpm database) and from advisory files:
both may be hostile. A value that does not fit its manager's grammar is refused, never
repaired; nothing here parses a version's order (that is ``versions.py``).

- Debian policy 5.6.1 / 5.6.12: a name is at least two characters of ``a-z 0-9 + - .``
  starting with a letter or digit; a version is ``[epoch:]upstream[-revision]``, the epoch
  digits, the upstream starting with a digit, made of ``A-Za-z0-9 . + ~ -`` (and ``:`` only
  with an epoch), the revision of ``A-Za-z0-9 + . ~``.
- rpm: a name of ``A-Za-z0-9 . _ + -`` starting with a letter, digit or ``_``; a version
  ``[epoch:]version[-release]`` whose version and release are ``A-Za-z0-9 . _ + ~ ^``.
"""

from __future__ import annotations

import re

#: longer than any real name or version; a longer value is refused, not cut
MAX_LEN = 128

_DEB_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_DEB_EPOCH = re.compile(r"[0-9]+")
_DEB_UPSTREAM = re.compile(r"[0-9][A-Za-z0-9.+~:-]*")
_DEB_UPSTREAM_NO_COLON = re.compile(r"[0-9][A-Za-z0-9.+~-]*")
_DEB_REVISION = re.compile(r"[A-Za-z0-9+.~]+")
_RPM_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")
_RPM_PART = re.compile(r"[A-Za-z0-9._+~^]+")


class PackageNameError(ValueError):
    """A package name or version that its manager's grammar does not allow."""


def _len_ok(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise PackageNameError(f"{what} must be a string, not {type(value).__name__}")
    if not value or len(value) > MAX_LEN:
        raise PackageNameError(f"{what} must be 1-{MAX_LEN} characters "
                               f"(got {len(value)})")
    return value


def _show(value: str) -> str:
    return ascii(value[:40] + ("..." if len(value) > 40 else ""))


def debian_name(value: object) -> str:
    v = _len_ok("a Debian package name", value)
    if not _DEB_NAME.fullmatch(v):
        raise PackageNameError(
            f"{_show(v)} is not a Debian package name (at least 2 of a-z 0-9 + - ., starting "
            "with a letter or digit)")
    return v


def debian_version(value: object) -> str:
    v = _len_ok("a Debian version", value)
    epoch, sep, rest = v.partition(":")
    if sep:
        if not _DEB_EPOCH.fullmatch(epoch):
            raise PackageNameError(f"{_show(v)} is not a Debian version (the epoch is digits)")
        upstream_re = _DEB_UPSTREAM
    else:
        rest, upstream_re = v, _DEB_UPSTREAM_NO_COLON
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream = rest
    if not upstream_re.fullmatch(upstream) or (
            dash and not _DEB_REVISION.fullmatch(revision)):
        raise PackageNameError(
            f"{_show(v)} is not a Debian version ([epoch:]upstream[-revision], the upstream "
            "starting with a digit, of A-Za-z0-9 . + ~ -)")
    return v


def rpm_name(value: object) -> str:
    v = _len_ok("an rpm package name", value)
    if not _RPM_NAME.fullmatch(v):
        raise PackageNameError(f"{_show(v)} is not an rpm package name (A-Za-z0-9 . _ + -, "
                               "starting with a letter, digit or _)")
    return v


def rpm_version(value: object) -> str:
    v = _len_ok("an rpm version", value)
    epoch, sep, rest = v.partition(":")
    if sep and not _DEB_EPOCH.fullmatch(epoch):
        raise PackageNameError(f"{_show(v)} is not an rpm version (the epoch is digits)")
    body = rest if sep else v
    parts = body.split("-")
    if len(parts) > 2 or not all(_RPM_PART.fullmatch(p) for p in parts):
        raise PackageNameError(f"{_show(v)} is not an rpm version ([epoch:]version[-release] "
                               "of A-Za-z0-9 . _ + ~ ^)")
    return v
