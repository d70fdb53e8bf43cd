"""Package version order: dpkg and rpm, checked against the managers themselves.

Properties (hypothesis): compare is reflexive, antisymmetric and sorts consistently (which
needs transitivity); dpkg agrees with ``dpkg --compare-versions`` and rpm with librpm's own
``rpmvercmp`` where they are installed, and with vectors from rpm's test suite (rpmvercmp.at).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspectorctl.vulns.versions import (
    VersionError,
    compare,
    compare_apk,
    compare_dpkg,
    compare_rpm,
    dpkg_comparator,
    parse_dpkg,
    rpmvercmp,
    sort_key,
)

# ------------------------------------------------------------------------------- strategies

DIGITS = "0123456789"
#: dpkg upstream/revision characters (dpkg also allows ':' and '-' in upstream only with an
#: epoch / a revision; they are added below under those conditions)
DPKG_CHARS = DIGITS + "abzAZ.+~"


@st.composite
def dpkg_versions(draw: st.DrawFn) -> str:
    epoch = draw(st.one_of(st.none(), st.integers(0, 3)))
    revision = draw(st.one_of(st.none(), st.text(DPKG_CHARS, min_size=1, max_size=6)))
    extra = ("-" if revision is not None else "") + (":" if epoch is not None else "")
    first = draw(st.sampled_from(DIGITS))
    rest = draw(st.text(DPKG_CHARS + extra, max_size=8))
    version = first + rest
    if epoch is not None:
        version = f"{epoch}:{version}"
    if revision is not None:
        version = f"{version}-{revision}"
    return version


#: rpm version strings: alphanumeric segments, separators, tilde and caret
RPM_CHARS = DIGITS + "abzAZ.~^_+"
rpm_strings = st.text(RPM_CHARS, min_size=1, max_size=10)


@st.composite
def rpm_evrs(draw: st.DrawFn, release_optional: bool = True) -> str:
    epoch = draw(st.one_of(st.none(), st.integers(0, 3)))
    version = draw(st.text(DIGITS + "abz.~^_", min_size=1, max_size=8))
    release_text = st.text(DIGITS + "abz.~^_", min_size=1, max_size=6)
    release = draw(st.one_of(st.none(), release_text) if release_optional else release_text)
    evr = version if release is None else f"{version}-{release}"
    return evr if epoch is None else f"{epoch}:{evr}"


APK_SUFFIXES = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"]


@st.composite
def apk_versions(draw: st.DrawFn) -> str:
    """apk's grammar: digits{.digits}[letter]{_suffix[N]}[-rN], leading zeros included."""
    number = st.text(DIGITS, min_size=1, max_size=3)
    parts = draw(st.lists(number, min_size=1, max_size=4))
    letter = draw(st.sampled_from(["", "", "a", "b", "z"]))
    suffixes = draw(st.lists(st.tuples(st.sampled_from(APK_SUFFIXES),
                                       st.sampled_from(["", "0", "1", "2", "10"])), max_size=2))
    revision = draw(st.sampled_from(["", "-r0", "-r1", "-r2", "-r10"]))
    return (".".join(parts) + letter + "".join(f"_{n}{k}" for n, k in suffixes)
            + revision)


def sign(n: int) -> int:
    return (n > 0) - (n < 0)


# ------------------------------------------------------------------------ order properties

ORDERS: list[tuple[str, Callable[[str, str], int], st.SearchStrategy[str]]] = [
    ("dpkg", compare_dpkg, dpkg_versions()),
    # a missing release matches any release (rpm's rule for "foo >= 1.0"): "1.0" equals both
    # "1.0-1" and "1.0-2", so the order is total only over full version-release strings
    ("rpm", compare_rpm, rpm_evrs(release_optional=False)),
    ("apk", compare_apk, apk_versions()),
]


@pytest.mark.parametrize(("name", "cmp", "versions"), ORDERS, ids=[o[0] for o in ORDERS])
def test_order_is_reflexive_and_antisymmetric(
    name: str, cmp: Callable[[str, str], int], versions: st.SearchStrategy[str]
) -> None:
    @settings(max_examples=300, deadline=None)
    @given(versions, versions)
    def check(a: str, b: str) -> None:
        assert cmp(a, a) == 0
        assert cmp(a, b) in (-1, 0, 1)
        assert cmp(a, b) == -cmp(b, a)

    check()


@pytest.mark.parametrize(("name", "cmp", "versions"), ORDERS, ids=[o[0] for o in ORDERS])
def test_order_is_transitive(
    name: str, cmp: Callable[[str, str], int], versions: st.SearchStrategy[str]
) -> None:
    @settings(max_examples=200, deadline=None)
    @given(st.lists(versions, min_size=3, max_size=6))
    def check(items: list[str]) -> None:
        ordered = sorted(items, key=sort_key(name))
        # a consistent total order: everything before is <=, everything after is >=
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                assert cmp(a, b) <= 0, (a, b, ordered)

    check()


@settings(max_examples=300, deadline=None)
@given(rpm_evrs(), rpm_evrs())
def test_rpm_antisymmetric_with_or_without_release(a: str, b: str) -> None:
    assert compare_rpm(a, b) == -compare_rpm(b, a)


@settings(max_examples=300, deadline=None)
@given(dpkg_versions(), dpkg_versions(), dpkg_versions())
def test_dpkg_transitivity_on_triples(a: str, b: str, c: str) -> None:
    if compare_dpkg(a, b) <= 0 and compare_dpkg(b, c) <= 0:
        assert compare_dpkg(a, c) <= 0


@settings(max_examples=300, deadline=None)
@given(st.lists(dpkg_versions(), min_size=2, max_size=6))
def test_the_comparator_that_parses_once_answers_as_compare_dpkg(vs: list[str]) -> None:
    cmp = dpkg_comparator()  # one for all pairs: its parsed versions are reused
    for a in vs:
        for b in vs:
            assert cmp(a, b) == compare_dpkg(a, b), (a, b)


def test_the_comparator_refuses_an_invalid_version_every_time() -> None:
    cmp = dpkg_comparator()
    for _ in range(2):
        with pytest.raises(VersionError):
            cmp("1.0-1", "1.0 -1")
        with pytest.raises(VersionError):
            cmp("a:1", "1.0-1")


# ----------------------------------------------------------------- agreement with the tools

def dpkg_says(a: str, b: str) -> int:
    for op, result in (("lt", -1), ("gt", 1)):
        proc = subprocess.run(["dpkg", "--compare-versions", a, op, b],
                              capture_output=True, check=False)
        assert b"warning" not in proc.stderr and b"error" not in proc.stderr, proc.stderr
        if proc.returncode == 0:
            return result
    return 0


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dpkg_versions(), dpkg_versions())
def test_dpkg_agrees_with_dpkg_compare_versions(a: str, b: str) -> None:
    assert compare_dpkg(a, b) == dpkg_says(a, b), (a, b)


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
@pytest.mark.parametrize(("a", "b"), [
    ("1.0~rc1", "1.0"), ("1.0", "1.0+b1"), ("1:0.1", "9.9"), ("1.0-1", "1.0-1~bpo1"),
    ("2.30-1", "2.3-1"), ("1.0a", "1.0+"), ("1.0.", "1.0"), ("0:1.0", "1.0"),
    ("1.0-0", "1.0"), ("7.6p1-4", "7.6p1-4ubuntu0.7"), ("1.2.3-1+deb12u1", "1.2.3-1+deb12u10"),
])
def test_dpkg_known_pairs_agree_with_dpkg(a: str, b: str) -> None:
    assert compare_dpkg(a, b) == dpkg_says(a, b)


def _librpm() -> Callable[[str, str], int] | None:
    name = ctypes.util.find_library("rpm")
    if not name:
        return None
    try:
        lib = ctypes.CDLL(name)
        fn = lib.rpmvercmp
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    fn.restype = ctypes.c_int

    def call(a: str, b: str) -> int:
        return sign(int(fn(a.encode(), b.encode())))

    return call


LIBRPM = _librpm()


@pytest.mark.skipif(LIBRPM is None, reason="librpm is not installed")
@settings(max_examples=400, deadline=None)
@given(rpm_strings, rpm_strings)
def test_rpmvercmp_agrees_with_librpm(a: str, b: str) -> None:
    assert LIBRPM is not None
    assert rpmvercmp(a, b) == LIBRPM(a, b), (a, b)


# rpm's own test vectors (rpm tests/rpmvercmp.at): (a, b, rpmvercmp(a, b))
RPM_VECTORS = [
    ("1.0", "1.0", 0), ("1.0", "2.0", -1), ("2.0", "1.0", 1),
    ("2.0.1", "2.0.1", 0), ("2.0", "2.0.1", -1), ("2.0.1", "2.0", 1),
    ("2.0.1a", "2.0.1a", 0), ("2.0.1a", "2.0.1", 1), ("2.0.1", "2.0.1a", -1),
    ("5.5p1", "5.5p1", 0), ("5.5p1", "5.5p2", -1), ("5.5p2", "5.5p1", 1),
    ("5.5p10", "5.5p10", 0), ("5.5p1", "5.5p10", -1), ("5.5p10", "5.5p1", 1),
    ("10xyz", "10.1xyz", -1), ("10.1xyz", "10xyz", 1),
    ("xyz10", "xyz10", 0), ("xyz10", "xyz10.1", -1), ("xyz10.1", "xyz10", 1),
    ("xyz.4", "xyz.4", 0), ("xyz.4", "8", -1), ("8", "xyz.4", 1),
    ("xyz.4", "2", -1), ("2", "xyz.4", 1),
    ("5.5p2", "5.6p1", -1), ("5.6p1", "5.5p2", 1),
    ("5.6p1", "6.5p1", -1), ("6.5p1", "5.6p1", 1),
    ("6.0.rc1", "6.0", 1), ("6.0", "6.0.rc1", -1),
    ("10b2", "10a1", 1), ("10a2", "10b2", -1),
    ("1.0aa", "1.0aa", 0), ("1.0a", "1.0aa", -1), ("1.0aa", "1.0a", 1),
    ("10.0001", "10.0001", 0), ("10.0001", "10.1", 0), ("10.1", "10.0001", 0),
    ("10.0001", "10.0039", -1), ("10.0039", "10.0001", 1),
    ("4.999.9", "5.0", -1), ("5.0", "4.999.9", 1),
    ("20101121", "20101121", 0), ("20101121", "20101122", -1), ("20101122", "20101121", 1),
    ("2_0", "2_0", 0), ("2.0", "2_0", 0), ("2_0", "2.0", 0),
    ("a", "a", 0), ("a+", "a+", 0), ("a+", "a_", 0), ("a_", "a+", 0),
    ("+a", "+a", 0), ("+a", "_a", 0), ("_a", "+a", 0),
    ("+_", "+_", 0), ("_+", "+_", 0), ("_+", "_", 0), ("+", "_", 0),
    ("1.0~rc1", "1.0~rc1", 0), ("1.0~rc1", "1.0", -1), ("1.0", "1.0~rc1", 1),
    ("1.0~rc1", "1.0~rc2", -1), ("1.0~rc2", "1.0~rc1", 1),
    ("1.0~rc1~git123", "1.0~rc1~git123", 0), ("1.0~rc1~git123", "1.0~rc1", -1),
    ("1.0~rc1", "1.0~rc1~git123", 1),
    ("1.0^", "1.0^", 0), ("1.0^", "1.0", 1), ("1.0", "1.0^", -1),
    ("1.0^git1", "1.0^git1", 0), ("1.0^git1", "1.0", 1), ("1.0", "1.0^git1", -1),
    ("1.0^git1", "1.0^git2", -1), ("1.0^git2", "1.0^git1", 1),
    ("1.0^git1", "1.01", -1), ("1.01", "1.0^git1", 1),
    ("1.0^20160101", "1.0^20160101", 0), ("1.0^20160101", "1.0.1", -1),
    ("1.0.1", "1.0^20160101", 1),
    ("1.0^20160101^git1", "1.0^20160101^git1", 0),
    ("1.0^20160102", "1.0^20160101^git1", 1), ("1.0^20160101^git1", "1.0^20160102", -1),
    ("1.0~rc1^git1", "1.0~rc1^git1", 0), ("1.0~rc1^git1", "1.0~rc1", 1),
    ("1.0~rc1", "1.0~rc1^git1", -1),
    ("1.0^git1~pre", "1.0^git1~pre", 0), ("1.0^git1", "1.0^git1~pre", 1),
    ("1.0^git1~pre", "1.0^git1", -1),
    # and the classic trap PEP 440 gets wrong: a letter segment is older than a number
    ("1.0a", "1.0.1", -1),
]


@pytest.mark.parametrize(("a", "b", "expected"), RPM_VECTORS)
def test_rpmvercmp_vectors(a: str, b: str, expected: int) -> None:
    assert rpmvercmp(a, b) == expected


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("1:1.0-1", "2.0-1", 1),  # epoch first
    ("1.0-2.el9", "1.0-10.el9", -1),  # release compared segment by segment
    ("1.0", "1.0-5.el9", 0),  # a missing release matches any release
    ("8.7p1-38.el9_4.1", "8.7p1-38.el9", 1),
    ("0:1.0-1", "1.0-1", 0),  # no epoch is epoch 0
])
def test_rpm_evr(a: str, b: str, expected: int) -> None:
    assert compare_rpm(a, b) == expected


# ----------------------------------------------------------------------- dpkg specifics

@pytest.mark.parametrize(("version", "parsed"), [
    ("1.0", (0, "1.0", "0")),
    ("2:1.0-1", (2, "1.0", "1")),
    ("1.0-1-2", (0, "1.0-1", "2")),
    ("1:2.0:3-4", (1, "2.0:3", "4")),
])
def test_parse_dpkg(version: str, parsed: tuple[int, str, str]) -> None:
    assert parse_dpkg(version) == parsed


@pytest.mark.parametrize("bad", ["", "a1.0", "1.0-", ":1.0", "1.0 1"])
def test_invalid_dpkg_versions_are_refused(bad: str) -> None:
    with pytest.raises(VersionError):
        compare_dpkg(bad, "1.0")


def test_unknown_manager_lists_the_valid_ones() -> None:
    with pytest.raises(VersionError, match="unknown package manager 'pip'; valid: dpkg, rpm, apk"):
        compare("pip", "1", "2")


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("1.2.3-r0", "1.2.3-r1", -1), ("1.10", "1.9", 1), ("1.2_rc1", "1.2", -1),
    ("1.2_p1", "1.2", 1), ("1.2a", "1.2", 1), ("1.2", "1.2.1", -1),
])
def test_apk_order(a: str, b: str, expected: int) -> None:
    assert compare_apk(a, b) == expected


# ------------------------------------------------------------------------------ apk specifics

APK_DATA = Path(__file__).parent / "data" / "apk-versions.txt"


def apk_vectors() -> list[tuple[str, str, int]]:
    out = []
    for line in APK_DATA.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            a, op, b = line.split()
            out.append((a, b, {"<": -1, "=": 0, ">": 1}[op]))
    return out


@pytest.mark.parametrize(("a", "b", "expected"), apk_vectors())
def test_apk_agrees_with_apk_tools_vectors(a: str, b: str, expected: int) -> None:
    assert compare_apk(a, b) == expected
    assert compare_apk(b, a) == -expected
    assert compare("apk", a, b) == expected


def test_apk_vectors_cover_every_suffix_rank_in_order() -> None:
    ranked = ["1.0_alpha", "1.0_beta", "1.0_pre", "1.0_rc", "1.0", "1.0_cvs", "1.0_svn",
              "1.0_git", "1.0_hg", "1.0_p"]
    assert sorted(reversed(ranked), key=sort_key("apk")) == ranked
    for low, high in itertools.pairwise(ranked):
        assert compare_apk(low, high) == -1, (low, high)


@pytest.mark.parametrize("bad", ["", "1.0bc", "23_foo", "1.0-1",
                                 "1.0_rc1.2", "1.0-r1_p1", "1.0 1", "1.0_RC1", "1.0A"])
def test_apk_invalid_versions_are_refused(bad: str) -> None:
    with pytest.raises(VersionError, match="apk version"):
        compare_apk(bad, "1.0")
    with pytest.raises(VersionError, match="apk version"):
        compare_apk("1.0", bad)


@settings(max_examples=300, deadline=None)
@given(apk_versions(), apk_versions(), apk_versions())
def test_apk_transitivity_on_triples(a: str, b: str, c: str) -> None:
    if compare_apk(a, b) <= 0 and compare_apk(b, c) <= 0:
        assert compare_apk(a, c) <= 0, (a, b, c)
    if compare_apk(a, b) == 0:
        assert compare_apk(a, c) == compare_apk(b, c), (a, b, c)


@settings(max_examples=300, deadline=None)
@given(apk_versions())
def test_apk_revision_and_post_release_sort_after_and_pre_release_before(v: str) -> None:
    base = v.split("-r", 1)[0]
    assert compare_apk(base, base + "-r0") == -1
    assert compare_apk(base + "-r1", base + "-r2") == -1
    assert compare_apk(base + "_p1", base) == 1
    assert compare_apk(base + "_rc1", base) == -1
    assert compare_apk(base + "_rc1", base + "_rc2") == -1


# ------------------------------------------------------------------------------ rpm specifics

@pytest.mark.parametrize("bad", ["x:1.0", ":1.0", "\u00b9:1.0", "1a:1.0", "-1:1.0", ""])
def test_rpm_bad_epoch_or_empty_version_is_a_version_error(bad: str) -> None:
    with pytest.raises(VersionError, match="rpm"):
        compare_rpm(bad, "1.0")
    with pytest.raises(VersionError, match="rpm"):
        compare("rpm", "1.0", bad)
