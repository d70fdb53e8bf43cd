"""Package names and versions as dpkg and rpm define them (``inspectorctl/vulns/pkgnames.py``):
what a host or an advisory file says is checked before it reaches a package manager."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inspectorctl.vulns import pkgnames

_DEB_CHARS = string.ascii_letters + string.digits + ".+~-"


@given(st.integers(0, 99), st.text("0123456789", min_size=1, max_size=3),
       st.text(_DEB_CHARS.replace("-", ""), max_size=10),
       st.text(string.ascii_letters + string.digits + "+.~", min_size=1, max_size=8),
       st.booleans(), st.booleans())
def test_debian_versions_of_the_grammar_are_accepted(epoch: int, lead: str, rest: str,
                                                     revision: str, with_epoch: bool,
                                                     with_revision: bool) -> None:
    v = (f"{epoch}:" if with_epoch else "") + lead + rest + (
        f"-{revision}" if with_revision else "")
    assert pkgnames.debian_version(v) == v


@given(st.text(min_size=1, max_size=40))
def test_anything_outside_the_grammar_is_refused(text: str) -> None:
    if not set(text) <= set(_DEB_CHARS + ":"):
        with pytest.raises(pkgnames.PackageNameError):
            pkgnames.debian_version("1" + text)
        with pytest.raises(pkgnames.PackageNameError):
            pkgnames.debian_name("aa" + text)
    if not set(text) <= set(string.ascii_letters + string.digits + "._+~^-:"):
        with pytest.raises(pkgnames.PackageNameError):
            pkgnames.rpm_version("1" + text)
        with pytest.raises(pkgnames.PackageNameError):
            pkgnames.rpm_name("a" + text)


@pytest.mark.parametrize("ok", ["1.0-1", "2:1.2.3-4.el9", "1.0~rc1^git2", "3.0.7-27.el9_4"])
def test_rpm_versions(ok: str) -> None:
    assert pkgnames.rpm_version(ok) == ok


@pytest.mark.parametrize("bad", ["1-2-3", "x:1", "", "1 2", "1" * 129])
def test_rpm_versions_refused(bad: str) -> None:
    with pytest.raises(pkgnames.PackageNameError):
        pkgnames.rpm_version(bad)


@pytest.mark.parametrize(("name", "ok"), [("libc6", True), ("g++-12", True), ("a", False),
                                          ("Curl", False), ("-rf", False), ("x" * 129, False)])
def test_debian_names(name: str, ok: bool) -> None:
    if ok:
        assert pkgnames.debian_name(name) == name
    else:
        with pytest.raises(pkgnames.PackageNameError):
            pkgnames.debian_name(name)
