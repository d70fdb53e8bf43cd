"""The matcher: source packages and versions (binNMU, metapackages), ranges, epochs and
tildes, the kernel, every state, the stale-data guard; properties of range matching against
the version order (hypothesis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from inspectorctl.models.snapshot import HostSnapshot
from inspectorctl.vuln_assess import Matcher, inventory
from inspectorctl.vulns import match as m
from inspectorctl.vulns.db import AdvisoryDB, AffectedRow
from inspectorctl.vulns.match import FixAvailable, VulnState, in_ranges
from inspectorctl.vulns.models import SourceKind
from inspectorctl.vulns.sources import open_source
from inspectorctl.vulns.versions import compare_dpkg
from tests.vulns import records as R
from tests.vulns.test_versions import dpkg_versions


def snap(packages: list[dict[str, Any]], *, kernel: str = "6.1.0-18-amd64",
         changelogs: dict[str, list[str]] | None = None, os_id: str = "debian",
         version_id: str = "12", manager: str = "dpkg",
         sockets: list[dict[str, Any]] | None = None) -> HostSnapshot:
    return HostSnapshot.model_validate({
        "host": {"name": "h1", "transport": "snapshot"},
        "collected_at": "2026-11-27T20:00:00+00:00",
        "os": {"id": os_id, "version_id": version_id, "family": "debian", "kernel": kernel,
               "arch": "x86_64"},
        "packages": {"manager": manager, "items": packages},
        "package_changelogs": changelogs,
        "sockets": sockets,
    })


def pkg(name: str, version: str, source: str | None = None,
        source_version: str | None = None) -> dict[str, Any]:
    return {"name": name, "version": version, "source": source or name,
            "source_version": source_version or version, "arch": "amd64"}


@pytest.fixture
def db(tmp_path: Path) -> AdvisoryDB:
    d = AdvisoryDB(tmp_path / "vulns.db")
    d.import_source(open_source(R.osv_zip(tmp_path / "Debian.zip", R.OSV_RECORDS)))
    d.import_source(open_source(R.write_json(tmp_path / "kev.json", R.KEV)))
    return d


def found(db: AdvisoryDB, s: HostSnapshot) -> dict[tuple[str, str], Any]:
    fs, _ = Matcher(db).host(s)
    return {(f.vuln_id, f.package): f for f in fs}


def test_fixed_version_named_and_compared_on_the_source_version(db: AdvisoryDB) -> None:
    s = snap([pkg("curl", "7.88.1-10+deb12u3"), pkg("libcurl4", "7.88.1-10+deb12u3", "curl"),
              pkg("libwebp7", "1.2.4-0.2+deb12u1", "libwebp")])
    f = found(db, s)
    assert set(f) == {("CVE-2023-38545", "curl")}
    c = f["CVE-2023-38545", "curl"]
    assert (c.state, c.fixed_version, c.fix_available) == (
        VulnState.AFFECTED_FIX, "7.88.1-10+deb12u4", FixAvailable.YES)
    assert c.binaries == {"curl": "7.88.1-10+deb12u3", "libcurl4": "7.88.1-10+deb12u3"}
    assert c.score.base == 9.8 and c.score.base_vector is not None
    assert c.evidence_path == "/var/lib/dpkg/status"


def test_binnmu_and_metapackage_use_the_source_version(db: AdvisoryDB) -> None:
    # bash 5.2.15-2+b2 is a binNMU of source 5.2.15-2: fixed (5.2-1 <= 5.2.15-2)
    # postgresql 15+248+deb12u1 is built from postgresql-common 248+deb12u1: fixed (210)
    s = snap([pkg("bash", "5.2.15-2+b2", "bash", "5.2.15-2"),
              pkg("postgresql", "15+248+deb12u1", "postgresql-common", "248+deb12u1")])
    assert found(db, s) == {}
    # an old snapshot without source versions: the binNMU suffix is dropped, not the trap
    old = snap([{"name": "bash", "version": "5.2.15-2+b2", "source": "bash"}])
    assert inventory(old).packages[0].source_version == "5.2.15-2"  # type: ignore[union-attr]
    # a really old bash is vulnerable
    assert set(found(db, snap([pkg("bash", "5.1-6")]))) == {("CVE-2022-3715", "bash")}


def test_only_the_running_kernel_image_is_the_kernel(db: AdvisoryDB) -> None:
    pkgs = [pkg("linux-image-6.1.0-18-amd64", "6.1.76-1", "linux-signed-amd64", "6.1.76+1"),
            pkg("linux-image-6.1.0-17-amd64", "6.1.69-1", "linux-signed-amd64", "6.1.69+1"),
            pkg("linux-libc-dev", "6.1.76-1", "linux"),
            pkg("linux-headers-6.1.0-18-amd64", "6.1.76-1", "linux")]
    f = found(db, snap(pkgs))
    [k] = f.values()
    assert (k.package, k.binaries, k.kernel, k.fixed_version) == (
        "linux", {"linux-image-6.1.0-18-amd64": "6.1.76-1"}, True, "6.1.82-1")
    # running a kernel whose image is not installed (a container): no kernel finding at all
    assert found(db, snap(pkgs, kernel="6.12.0-1-amd64")) == {}
    # the running kernel is fixed: nothing, though linux-libc-dev is older
    fixed = [pkg("linux-image-6.1.0-20-amd64", "6.1.85-1", "linux-signed-amd64", "6.1.85+1"),
             pkg("linux-libc-dev", "6.1.76-1", "linux")]
    assert found(db, snap(fixed, kernel="6.1.0-20-amd64")) == {}


def test_tracker_states_are_never_folded(tmp_path: Path, db: AdvisoryDB) -> None:
    db.import_source(open_source(R.write_json(tmp_path / "tracker.json", R.TRACKER)))
    s = snap([pkg("login", "1:4.13+dfsg1-1", "shadow"), pkg("libtiff6", "4.5.0-6", "tiff"),
              pkg("vim", "2:9.0.1378-2"), pkg("libc6", "2.36-9+deb12u1", "glibc"),
              pkg("openssl", "3.0.11-1~deb12u2"), pkg("curl", "7.88.1-10+deb12u5")])
    f = found(db, s)
    got = {k: (v.state, v.fix_available, v.fixed_version, v.source) for k, v in f.items()}
    assert got == {
        # the tracker wins over OSV for the same CVE and package
        ("CVE-2023-29383", "shadow"): (VulnState.FIX_DEFERRED, FixAvailable.NO, None,
                                       "debian-tracker"),
        ("CVE-2023-6277", "tiff"): (VulnState.WILL_NOT_FIX, FixAvailable.NO, None,
                                    "debian-tracker"),
        ("CVE-2023-48231", "vim"): (VulnState.UNIMPORTANT, FixAvailable.NO, None,
                                    "debian-tracker"),
        ("CVE-2010-4756", "glibc"): (VulnState.UNIMPORTANT, FixAvailable.NO, None,
                                     "debian-tracker"),
        ("CVE-2023-4911", "glibc"): (VulnState.AFFECTED_FIX, FixAvailable.YES,
                                     "2.36-9+deb12u3", "debian-tracker"),
        ("CVE-2024-2511", "openssl"): (VulnState.FIX_DEFERRED, FixAvailable.NO, None,
                                       "debian-tracker"),
        ("CVE-2024-2398", "curl"): (VulnState.AFFECTED_NO_FIX, FixAvailable.NO, None,
                                    "debian-tracker"),
    }
    assert f["CVE-2023-29383", "shadow"].reason == "postponed: Minor issue"
    # not affected (fixed_version 0) is no finding, but VEX sees it
    inv = inventory(s)
    assert not isinstance(inv, str)
    _, matches = Matcher(db).host(s, include_resolved=True)
    states = {(x.vuln_id, x.state) for x in matches}
    assert ("CVE-2023-38546", VulnState.NOT_AFFECTED) in states
    assert ("CVE-2023-38545", VulnState.FIXED) in states


def test_changelog_naming_the_cve_means_probably_fixed(db: AdvisoryDB) -> None:
    s = snap([pkg("login", "1:4.13+dfsg1-1", "shadow")],
             changelogs={"login": ["CVE-2023-29383", "CVE-2020-1"]})
    [f] = found(db, s).values()
    assert f.state is VulnState.PROBABLY_FIXED
    assert f.reason is not None and f.reason.startswith(
        "the installed login changelog names CVE-2023-29383: probably fixed since the data "
        "was built (the data says affected-no-fix)")
    # a CVE with a fixed version in the data is never second-guessed by the changelog
    s2 = snap([pkg("curl", "7.88.1-10+deb12u3")], changelogs={"curl": ["CVE-2023-38545"]})
    assert found(db, s2)["CVE-2023-38545", "curl"].state is VulnState.AFFECTED_FIX


def test_partial_upgrade_is_one_finding_with_the_affected_binaries(db: AdvisoryDB) -> None:
    s = snap([pkg("curl", "7.88.1-10+deb12u4"), pkg("libcurl4", "7.88.1-10+deb12u3", "curl")])
    [f] = found(db, s).values()
    assert (f.binaries, f.installed_version, f.state) == (
        {"libcurl4": "7.88.1-10+deb12u3"}, "7.88.1-10+deb12u3", VulnState.AFFECTED_FIX)


def test_kev_raises_to_the_top_of_the_band_and_network_is_lowered(db: AdvisoryDB) -> None:
    webp = [pkg("libwebp7", "1.2.4-0.2", "libwebp")]
    [f] = found(db, snap(webp, sockets=[
        {"proto": "tcp", "address": "0.0.0.0", "port": 22, "pid": 1, "process": "sshd"}]
    )).values()
    assert (f.score.base, f.score.adjusted, f.score.kev) == (8.8, 8.9, True)
    assert [a.name for a in f.score.adjustments] == ["kev"]
    [g] = found(db, snap(webp, sockets=[
        {"proto": "tcp", "address": "127.0.0.1", "port": 25, "pid": 1, "process": "exim4"}]
    )).values()
    assert [a.name for a in g.score.adjustments] == ["network-unreachable", "kev"]
    assert g.score.adjusted_vector is not None and g.score.adjusted_vector.endswith("/MAV:L")
    assert g.score.adjustments[0].after < 8.8


def test_release_picks_the_ecosystem() -> None:
    from inspectorctl.models.snapshot import OsInfo

    def eco(osid: str, vid: str) -> str | None:
        return m.host_ecosystem(OsInfo(id=osid, version_id=vid, family="x", kernel="k",
                                       arch="x86_64"))

    assert [eco("debian", "12"), eco("ubuntu", "22.04"), eco("alpine", "3.19.1"),
            eco("almalinux", "9.3"), eco("rocky", "9.2"), eco("amzn", "2"),
            eco("amzn", "2023"), eco("amzn", "2018.03"), eco("arch", "1")] == [
        "Debian:12", "Ubuntu:22.04", "Alpine:v3.19", "AlmaLinux:9", "Rocky Linux:9",
        "Amazon Linux:2", "Amazon Linux:2023", "Amazon Linux:1", None]


def _row(data: dict[str, Any]) -> AffectedRow:
    return AffectedRow("s", "CVE-1", "Debian:12", "p", data)


def rng(*events: tuple[str, str]) -> dict[str, Any]:
    return {"ranges": [{"type": "ECOSYSTEM", "events": [{k: v} for k, v in events]}]}


@pytest.mark.parametrize("version, data, affected, fixed", [
    ("1:1.0-1", rng(("introduced", "0"), ("fixed", "1:1.0-2")), True, "1:1.0-2"),
    ("2.0-1", rng(("introduced", "0"), ("fixed", "1:1.0-2")), True, "1:1.0-2"),  # epoch wins
    ("1.0~rc1-1", rng(("introduced", "0"), ("fixed", "1.0-1")), True, "1.0-1"),  # tilde
    ("1.0-1", rng(("introduced", "0"), ("fixed", "1.0~rc1-1")), False, None),
    ("1.5", rng(("introduced", "1.0"), ("last_affected", "1.5")), True, None),
    ("1.6", rng(("introduced", "1.0"), ("last_affected", "1.5")), False, None),
    ("0.9", rng(("introduced", "1.0"), ("fixed", "2.0")), False, None),
    ("3.0", rng(("introduced", "1.0"), ("fixed", "2.0"), ("introduced", "2.5"),
                ("fixed", "3.1")), True, "3.1"),
    ("2.2", rng(("introduced", "1.0"), ("fixed", "2.0"), ("introduced", "2.5"),
                ("fixed", "3.1")), False, None),
    ("2.0", rng(("introduced", "1.0"), ("limit", "2.0")), False, None),
    ("1.9", rng(("introduced", "1.0"), ("limit", "2.0")), True, None),
    ("1.3", {"versions": ["1.3", "1.4"]}, True, None),
    ("1.3.1", {"versions": ["1.3", "1.4"]}, False, None),
])
def test_ranges(version: str, data: dict[str, Any], affected: bool, fixed: str | None) -> None:
    r = in_ranges(compare_dpkg, version, data)
    assert (r.affected, r.fixed) == (affected, fixed)


@settings(max_examples=300, deadline=None)
@given(dpkg_versions(), dpkg_versions(), dpkg_versions())
def test_range_matching_agrees_with_the_version_order(v: str, intro: str, fix: str) -> None:
    """[introduced, fixed) holds exactly the versions the order puts in it; introduced 0
    with no fix holds everything; last_affected includes its own version."""
    assume(compare_dpkg(intro, fix) < 0)  # OSV ranges open before they close
    r = in_ranges(compare_dpkg, v, rng(("introduced", intro), ("fixed", fix)))
    # "0" is OSV's "from the very start", below even "0~"
    expected = (intro == "0" or compare_dpkg(v, intro) >= 0) and compare_dpkg(v, fix) < 0
    assert r.affected is expected
    if r.affected and compare_dpkg(v, fix) < 0:
        assert r.fixed == fix
    assert in_ranges(compare_dpkg, v, rng(("introduced", "0"))).affected
    la = in_ranges(compare_dpkg, v, rng(("introduced", "0"), ("last_affected", fix)))
    assert la.affected is (compare_dpkg(v, fix) <= 0)


@settings(max_examples=200, deadline=None)
@given(st.lists(dpkg_versions(), min_size=1, max_size=6), dpkg_versions())
def test_fixed_events_sorted_or_not_give_the_same_answer(fixes: list[str], v: str) -> None:
    events = [("introduced", "0"), *(("fixed", f) for f in fixes)]
    a = in_ranges(compare_dpkg, v, rng(*events))
    b = in_ranges(compare_dpkg, v, rng(*reversed(events)))
    assert (a.affected, a.fixed) == (b.affected, b.fixed)
    assert a.affected is all(compare_dpkg(v, f) < 0 for f in fixes)


def test_unparsable_host_release_is_an_error_result() -> None:
    s = snap([pkg("curl", "1")], os_id="gentoo", version_id="2.14")
    assert inventory(s) == "no advisory ecosystem for this release (gentoo 2.14)"


def test_source_priority_covers_every_kind() -> None:
    assert set(m.SOURCE_PRIORITY) == set(SourceKind)


def test_probe_reads_cves_from_package_changelogs(tmp_path: Path) -> None:
    import gzip

    from inspectorctl.probe import packages as probe

    doc = tmp_path / "usr/share/doc"
    for name, text in {"login": "shadow (1:4.13+dfsg1-2) ... CVE-2023-29383 CVE-2023-4641\n",
                       "bash": "bash (5.2.15-2) no security fixes\n"}.items():
        (doc / name).mkdir(parents=True)
        with gzip.open(doc / name / "changelog.Debian.gz", "wt") as fh:
            fh.write(text + "x" * 100)

    def read_gz(path: str) -> bytes:
        with gzip.open(str(tmp_path) + path, "rb") as fh:
            return fh.read(probe.CHANGELOG_MAX_BYTES)

    got = probe.changelog_cves(read_gz, ["login", "bash", "missing", "../etc"])
    assert got == {"login": ["CVE-2023-29383", "CVE-2023-4641"]}


def test_a_fixed_zero_is_the_version_zero_not_the_start() -> None:
    """Only ``introduced: "0"`` means "from the very start"; ``fixed: "0"`` is version 0
    (hypothesis found [introduced 0-~, fixed 0] reported 0 as affected)."""
    events = (("introduced", "0-~"), ("fixed", "0"))
    for order in (events, events[::-1]):
        assert not in_ranges(compare_dpkg, "0", rng(*order)).affected
        r = in_ranges(compare_dpkg, "0-~", rng(*order))
        assert (r.affected, r.fixed) == (True, "0")
