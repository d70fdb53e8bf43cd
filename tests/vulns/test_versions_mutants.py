"""Version-order facts that mutation testing (benchmarks/mutation.py) found unpinned (issue 10).

Each fact is checked against an oracle where one is on the machine: dpkg's own
``dpkg --compare-versions`` for dpkg, ``packaging`` (the reference implementation of PEP 440)
for PyPI; semver facts are the precedence list of the Semantic Versioning 2.0.0 text (section
11); rpm facts follow librpm's ``rpmvercmp`` (rpmio/rpmvercmp.c) where librpm is not installed.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest

from inspectorctl.vulns.versions import (
    VersionError,
    compare,
    compare_apk,
    compare_dpkg,
    compare_pep440,
    compare_rpm,
    compare_semver,
    ecosystem_order,
    parse_dpkg,
    parse_rpm,
    rpmvercmp,
    sort_key,
)

# ----------------------------------------------------------------------------------- dpkg


@pytest.mark.parametrize(("bad", "message"), [
    # whitespace inside is refused as a whole, before the epoch or revision is looked at
    ("1 2:3", "invalid dpkg version '1 2:3'"),
    ("1.0-a b", "invalid dpkg version '1.0-a b'"),
    ("", "invalid dpkg version ''"),
    ("1.0-a_b", "invalid dpkg version '1.0-a_b': bad revision"),
    ("1.0-", "invalid dpkg version '1.0-': revision number is empty"),
    ("x:1.0", "invalid dpkg version 'x:1.0': epoch is not a number"),
])
def test_invalid_dpkg_versions_say_what_is_wrong(bad: str, message: str) -> None:
    with pytest.raises(VersionError) as e:
        parse_dpkg(bad)
    assert str(e.value) == message


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
@pytest.mark.parametrize("bad", ["1 2:3", "1.0-a b", "1.0-a_b"])
def test_dpkg_itself_refuses_them_too(bad: str) -> None:
    proc = subprocess.run(["dpkg", "--compare-versions", bad, "lt", "1.0"],
                          capture_output=True, text=True, check=False)
    # dpkg refuses (exit 2) or warns "bad syntax" and compares nothing sensible
    assert proc.returncode == 2 or "bad syntax" in proc.stderr, proc


# ------------------------------------------------------------------------------------ rpm

@pytest.mark.parametrize(("a", "b", "expected"), [
    # after a caret on both sides the segments that follow decide (rpmvercmp.c: both '^'
    # are skipped, then the next segments compare)
    ("1.0^a", "1.0^b", -1), ("1.0^b", "1.0^a", 1), ("1.0^1", "1.0^2", -1),
    # a caret against any other segment: the caret side is older, whatever follows it
    ("1.0^A", "1.0A", -1), ("1.0A", "1.0^A", 1), ("1.0^Z", "1.0a", -1),
    # likewise after a tilde on both sides (rpmvercmp.c skips both '~' and goes on)
    ("1.0~alpha", "1.0~beta", -1), ("1.0~2", "1.0~10", -1), ("1.0~10", "1.0~2", 1),
])
def test_rpm_caret_and_tilde_facts(a: str, b: str, expected: int) -> None:
    assert rpmvercmp(a, b) == expected


def test_rpm_epoch_ends_at_the_first_colon() -> None:
    assert parse_rpm("1:2:3-4") == (1, "2:3", "4")
    assert compare_rpm("1:2:3-4", "1:2:3-4") == 0
    assert compare_rpm("2:1.0", "10:0.1") == -1


# ------------------------------------------------------------------------------------ apk

@pytest.mark.parametrize("bad", ["x.1", "_1", "1.0_1", "1.0_5-r1"])
def test_apk_refuses_a_leading_letter_and_a_suffix_number_without_suffix(bad: str) -> None:
    with pytest.raises(VersionError, match=f"invalid apk version {bad!r}"):
        compare_apk(bad, "1.0")


# ------------------------------------------------------------------------------ PEP 440

PEP440_ORDER = ["1.0.dev1", "1.0a1", "1.0a2.dev1", "1.0a2", "1.0b1", "1.0rc1", "1.0",
                "1.0.post1", "1.0.1", "1.1", "1!0.1"]


def test_pep440_order_agrees_with_packaging() -> None:
    from packaging.version import Version

    assert sorted(PEP440_ORDER, key=Version) == PEP440_ORDER  # the oracle's own order
    for x, y in itertools.product(PEP440_ORDER, repeat=2):
        want = (Version(x) > Version(y)) - (Version(x) < Version(y))
        assert compare_pep440(x, y) == want, (x, y)
        assert compare("pep440", x, y) == want
    assert compare_pep440("1.0", "1.0.0") == 0


def test_invalid_pep440_versions_are_version_errors() -> None:
    with pytest.raises(VersionError, match=r"^invalid PEP 440 version: Invalid version: "):
        compare_pep440("not a version", "1.0")


# ------------------------------------------------------------------------------- semver

#: Semantic Versioning 2.0.0, section 11, in precedence order
SEMVER_ORDER = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
                "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0",
                "2.0.0", "2.1.0", "2.1.1"]


def test_semver_precedence_is_the_specifications() -> None:
    for (i, x), (j, y) in itertools.product(enumerate(SEMVER_ORDER), repeat=2):
        assert compare_semver(x, y) == (i > j) - (i < j), (x, y)
    assert sorted(reversed(SEMVER_ORDER), key=sort_key("semver")) == SEMVER_ORDER


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("v1.2.3", "1.2.3", 0),  # Go's leading v
    ("1.2.3+build.5", "1.2.3+build.9", 0),  # build metadata is ignored
    ("1", "1.0.0", 0), ("1.2", "1.2.0", 0),  # missing minor/patch are 0
    ("1.2", "1.10", -1), ("0.9.9", "1", -1),  # numbers, not text
    ("1.0.0-2", "1.0.0-10", -1),  # numeric identifiers compare as numbers
    ("1.0.0-2", "1.0.0-a", -1),  # and below alphanumeric ones
    ("1.0.0-rc.1", "1.0.0-rc.1+b", 0),
])
def test_semver_facts(a: str, b: str, expected: int) -> None:
    assert compare_semver(a, b) == expected
    assert compare_semver(b, a) == -expected


@pytest.mark.parametrize("bad", ["", "01.2.3", "1.2.3-", "1.2.3.4", "x"])
def test_invalid_semver_is_a_version_error(bad: str) -> None:
    with pytest.raises(VersionError, match=f"^invalid semantic version {bad!r}$"):
        compare_semver(bad, "1.0.0")


# --------------------------------------------------------------------------- ecosystems

@pytest.mark.parametrize(("ecosystem", "order"), [
    ("Debian", "dpkg"), ("Debian:12", "dpkg"), ("Ubuntu:22.04:LTS", "dpkg"),
    ("Alpine:v3.19", "apk"), ("Rocky Linux:9", "rpm"), ("PyPI", "pep440"), ("Go", "semver"),
])
def test_an_ecosystem_is_named_before_its_first_colon(ecosystem: str, order: str) -> None:
    assert ecosystem_order(ecosystem) == order


def test_an_unknown_ecosystem_is_refused() -> None:
    with pytest.raises(VersionError, match=r"^no version order known for ecosystem 'Plan9:1'; "
                                           "known: Debian, Ubuntu, Alpine, "):
        ecosystem_order("Plan9:1")
    with pytest.raises(VersionError):
        ecosystem_order(":Debian")


def test_dpkg_facts_checked_against_dpkg() -> None:
    if shutil.which("dpkg") is None:
        pytest.skip("dpkg is not installed")
    pairs = [("1:0.1", "2.0", 1), ("1.0~rc1", "1.0", -1), ("1.0+a", "1.0a", 1),
             ("1.0-1", "1.0-1~bpo1", 1)]
    for a, b, want in pairs:
        assert compare_dpkg(a, b) == want
        op = {-1: "lt", 0: "eq", 1: "gt"}[want]
        assert subprocess.run(["dpkg", "--compare-versions", a, op, b],
                              check=False).returncode == 0, (a, op, b)


def test_apk_an_empty_number_reads_as_zero() -> None:
    # apk-tools' get_token reads the digits of a number token and starts from 0: "1..2" has
    # the components 1, 0 (empty), 2, and a zero written "0" ranks below it (leading zeros
    # count negative)
    assert compare_apk("1..2", "1.1.2") == -1
    assert compare_apk("1..2", "1.0.2") == 1
