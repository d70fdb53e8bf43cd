"""Importers and the advisory database: each format, idempotence, withdrawn records, limits,
and one clear error for bad input."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inspectorctl.vulns import sources
from inspectorctl.vulns.db import AdvisoryDB
from inspectorctl.vulns.models import AdvisoryInputError, SourceKind, TrackerState
from inspectorctl.vulns.sources import detect, open_source
from tests.vulns import records as R

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _db(tmp_path: Path) -> AdvisoryDB:
    return AdvisoryDB(tmp_path / "vulns.db")


def test_osv_zip_import_is_idempotent_and_updates_on_modified(tmp_path: Path) -> None:
    z = R.osv_zip(tmp_path / "Debian.zip", [*R.OSV_RECORDS, dict(R.WITHDRAWN)])
    assert detect(z) is SourceKind.OSV
    with _db(tmp_path) as db:
        st = db.import_source(open_source(z))
        assert (st.source, st.read, st.added, st.withdrawn) == ("osv:Debian", 6, 6, 1)
        again = db.import_source(open_source(z))
        assert (again.added, again.updated, again.unchanged) == (0, 0, 6)
        newer = {**R.CURL, "modified": "2025-01-01T00:00:00Z", "aliases": ["X-1"]}
        z2 = R.osv_zip(tmp_path / "Debian2.zip", [newer])
        third = db.import_source(open_source(z2, name="osv:Debian"))
        assert (third.added, third.updated) == (0, 1)
        [curl] = db.lookup("cve-2023-38545")
        assert curl.aliases == ("X-1",)
        assert db.lookup("X-1")[0].id == "CVE-2023-38545"
        # GIT ranges name no package: only the two Debian entries are kept
        assert [(a.ecosystem, a.package) for a in curl.affected] == [
            ("Debian:11", "curl"), ("Debian:12", "curl")]
        src = {s.name: s for s in db.sources()}["osv:Debian"]
        assert src.records == 6
        assert src.newest_record == datetime(2025, 2, 6, 23, 51, 25, 197609, tzinfo=UTC)
        assert db.lookup("GHSA-xxxx-withdrawn") == []


def test_rows_are_read_once_per_package_and_forgotten_on_import(tmp_path: Path) -> None:
    with _db(tmp_path) as db:
        db.import_source(open_source(R.osv_zip(tmp_path / "Debian.zip", R.OSV_RECORDS)))
        first = db.affected_rows(["Debian:12"], ["curl", "libwebp", "nothing"])
        assert sorted((r.package, r.vuln_id) for r in first) == [
            ("curl", "CVE-2023-38545"), ("libwebp", "CVE-2023-4863")]
        again = db.affected_rows(["Debian:12"], ["libwebp", "curl"])
        assert [id(r) for r in again] == [id(r) for r in first]  # kept, not read again
        newer = {**R.CURL, "modified": "2025-01-01T00:00:00Z", "affected": [
            {"package": {"ecosystem": "Debian:12", "name": "curl"},
             "ranges": [{"type": "ECOSYSTEM", "events": [
                 {"introduced": "0"}, {"fixed": "7.88.1-10+deb12u5"}]}]}]}
        db.import_source(open_source(R.osv_zip(tmp_path / "D2.zip", [newer]), name="osv:Debian"))
        [curl] = db.affected_rows(["Debian:12"], ["curl"])
        assert curl.data["ranges"][0]["events"][1] == {"fixed": "7.88.1-10+deb12u5"}


def test_withdrawn_record_is_removed_when_reimported(tmp_path: Path) -> None:
    d = tmp_path / "osv"
    R.write_json(d / "CVE-2023-38545.json", R.CURL)
    with _db(tmp_path) as db:
        db.import_source(open_source(d, name="x"))
        assert db.lookup("CVE-2023-38545")
        R.write_json(d / "CVE-2023-38545.json", {**R.CURL, "withdrawn": "2025-01-01T00:00:00Z"})
        st = db.import_source(open_source(d, name="x"))
        assert st.withdrawn == 1
        assert db.lookup("CVE-2023-38545") == []


def test_tracker_keeps_the_no_fix_states_apart(tmp_path: Path) -> None:
    p = R.write_json(tmp_path / "tracker.json", R.TRACKER)
    assert detect(p) is SourceKind.DEBIAN_TRACKER
    with _db(tmp_path) as db:
        db.import_source(open_source(p))
        states = {}
        for cve in ("CVE-2023-29383", "CVE-2023-6277", "CVE-2023-48231", "CVE-2023-4911",
                    "CVE-2024-2511", "CVE-2023-38546", "CVE-2024-2398"):
            [v] = db.lookup(cve)
            [a] = v.affected  # sid has no ecosystem a host maps to: dropped
            states[cve] = (a.ecosystem, a.state, a.reason)
    assert states == {
        "CVE-2023-29383": ("Debian:12", TrackerState.POSTPONED, "postponed: Minor issue"),
        "CVE-2023-6277": ("Debian:12", TrackerState.IGNORED, "ignored: Minor issue"),
        "CVE-2023-48231": ("Debian:12", TrackerState.UNIMPORTANT, "urgency unimportant"),
        "CVE-2023-4911": ("Debian:12", TrackerState.RANGES, None),
        "CVE-2024-2511": ("Debian:12", TrackerState.NO_DSA, "no-dsa: Minor issue"),
        "CVE-2023-38546": ("Debian:12", TrackerState.NOT_AFFECTED, None),
        "CVE-2024-2398": ("Debian:12", TrackerState.UNFIXED, None),
    }


def test_alas_secdb_and_kev(tmp_path: Path) -> None:
    R.write_json(tmp_path / "alas" / "2" / "core" / "2023" / "ALAS2-2023-2000.json",
                        R.ALAS2)
    R.write_json(tmp_path / "secdb" / "3.19" / "main.json", R.SECDB)
    kev = R.write_json(tmp_path / "kev.json", R.KEV)
    assert [detect(p) for p in (tmp_path / "alas", tmp_path / "secdb", kev)] == [
        SourceKind.ALAS, SourceKind.ALPINE_SECDB, SourceKind.KEV]
    with _db(tmp_path) as db:
        for p in (tmp_path / "alas", tmp_path / "secdb", kev):
            db.import_source(open_source(p))
        [a] = db.lookup("CVE-2021-3522")
        assert (a.id, a.vendor_severity) == ("ALAS2-2023-2000", "medium")
        assert [(x.ecosystem, x.package, x.ranges[0].events[1].fixed) for x in a.affected] == [
            ("Amazon Linux:2", "gstreamer1-plugins-base", "0:1.10.4-2.amzn2.0.3"),
            ("Amazon Linux:2", "gstreamer1-plugins-base-tools", "0:1.10.4-2.amzn2.0.3")]
        [busy0] = db.lookup("CVE-2021-28831")
        assert busy0.affected[0].state is TrackerState.NOT_AFFECTED
        [busy] = db.lookup("CVE-2023-42363")
        assert (busy.affected[0].ecosystem, busy.affected[0].ranges[0].events[1].fixed) == (
            "Alpine:v3.19", "1.36.1-r6")
        assert set(db.kev(["CVE-2023-4863", "CVE-2023-38545"])) == {"CVE-2023-4863"}
        names = {s.name: s for s in db.sources()}
        assert names["cisa-kev"].newest_record == datetime(2023, 9, 13, tzinfo=UTC)


@pytest.mark.parametrize("bad, message", [
    ({"id": "CVE-1", "affected": []}, "modified: missing or not a date"),
    ({"id": "CVE-1", "modified": "yesterday"}, "modified: not an ISO date"),
    ({"id": "CVE-1", "modified": "2024-01-01T00:00:00Z", "affected": [
        {"package": {"ecosystem": "Debian:12", "name": "x"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]}]}]},
     "affected[0]: events: each event has exactly one of"),
])
def test_bad_osv_record_is_one_clear_error_and_nothing_is_kept(
        tmp_path: Path, bad: dict[str, object], message: str) -> None:
    d = tmp_path / "osv"
    R.write_json(d / "a.json", R.CURL)
    R.write_json(d / "b.json", bad)
    with _db(tmp_path) as db:
        with pytest.raises(AdvisoryInputError) as e:
            db.import_source(open_source(d, SourceKind.OSV))
        assert f"{d / 'b.json'}: " in str(e.value) and message in str(e.value)
        assert e.value.exit_code == 2
        assert db.lookup("CVE-2023-38545") == []  # the whole import was rolled back
        assert db.sources() == []


def test_zip_bomb_and_oversized_members_are_refused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("CVE-1.json", '{"id": "CVE-1", "pad": "' + "A" * (8 * 1024 * 1024) + '"}')
    with pytest.raises(AdvisoryInputError, match=r"bomb.zip:CVE-1.json: compressed more than "
                                                 r"200:1 \(a zip bomb\?\)"):
        list(sources.iter_files(bomb))
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 1000)
    big = R.write_json(tmp_path / "big.json", {"x": "y" * 2000})
    with pytest.raises(AdvisoryInputError, match=r"big\.json: larger than 0 MiB"):
        list(sources.iter_files(big))


def test_unknown_format_and_missing_path(tmp_path: Path) -> None:
    p = R.write_json(tmp_path / "x.json", {"hello": 1})
    with pytest.raises(AdvisoryInputError, match="cannot tell the advisory format; name it "
                                                 "with --format"):
        detect(p)
    with pytest.raises(AdvisoryInputError, match="no such file or folder"):
        detect(tmp_path / "nope")
    with pytest.raises(AdvisoryInputError, match="unknown advisory format 'nvd'; valid: osv, "
                                                 "debian-tracker, alas, alpine-secdb, kev"):
        sources.source_kind("nvd")


def test_database_from_a_newer_inspectorctl_is_refused(tmp_path: Path) -> None:
    import sqlite3

    from inspectorctl.vulns.models import VulnError

    p = tmp_path / "v.db"
    AdvisoryDB(p).close()
    c = sqlite3.connect(p)
    c.execute("PRAGMA user_version = 99")
    c.close()
    with pytest.raises(VulnError, match="schema version 99, newer than"):
        AdvisoryDB(p)


@pytest.mark.skipif(not (SHARED / "vulns" / "debian-osv-bookworm.zip").exists(),
                    reason="the shared Debian OSV snapshot (../shared/data/vulns) is absent")
def test_real_debian_osv_records_import(tmp_path: Path) -> None:
    """The first 300 records of the real snapshot (a sample; the whole import is measured in
    benchmarks/vulns_import.py)."""
    src = SHARED / "vulns" / "debian-osv-bookworm.zip"
    sample = tmp_path / "sample.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(sample, "w") as zout:
        members = sorted(n for n in zin.namelist() if n.endswith(".json"))[:300]
        for n in members:
            zout.writestr(n, zin.read(n))
    with _db(tmp_path) as db:
        st = db.import_source(open_source(sample))
        assert st.added == 300
        first = json.loads(zipfile.ZipFile(src).read(members[0]))
        [rec] = [v for v in db.lookup(first["id"]) if v.source == st.source]
        debian = [a for a in first["affected"]
                  if a.get("package", {}).get("ecosystem", "").startswith("Debian")]
        assert len([a for a in rec.affected if a.ecosystem.startswith("Debian")]) == len(debian)


def test_yaml_osv_with_timestamps_and_alas_extras_ids(tmp_path: Path) -> None:
    """PyPA's advisory database writes OSV as YAML whose unquoted dates YAML reads as
    timestamps; Amazon's extras repositories name advisories ALAS2NITRO-ENCLAVES-2021-001."""
    (tmp_path / "pypa").mkdir()
    (tmp_path / "pypa" / "PYSEC-2023-120.yaml").write_text(
        "id: PYSEC-2023-120\nmodified: 2023-07-26T18:21:54.543463Z\n"
        "published: 2023-07-19T21:15:00Z\naliases:\n- CVE-2023-37276\naffected:\n"
        "- package:\n    ecosystem: PyPI\n    name: aiohttp\n  ranges:\n  - type: ECOSYSTEM\n"
        "    events:\n    - introduced: '0'\n    - fixed: 3.8.5\n")
    alas = {**R.ALAS2, "ID": "ALAS2NITRO-ENCLAVES-2021-001"}
    R.write_json(tmp_path / "alas" / "ALAS2NITRO-ENCLAVES-2021-001.json", alas)
    R.write_json(tmp_path / "alas" / "ALAS2HTTPD_MODULES-2023-001.json",
                 {**R.ALAS2, "ID": "ALAS2HTTPD_MODULES-2023-001"})
    with _db(tmp_path) as db:
        db.import_source(open_source(tmp_path / "pypa", name="osv:PyPI"))
        db.import_source(open_source(tmp_path / "alas"))
        [v] = db.lookup("CVE-2023-37276")
        assert (v.id, v.modified) == ("PYSEC-2023-120",
                                      datetime(2023, 7, 26, 18, 21, 54, 543463, tzinfo=UTC))
        assert v.affected[0].ranges[0].events[1].fixed == "3.8.5"
        assert [(v.id, v.affected[0].ecosystem) for v in db.lookup("CVE-2021-3522")] == [
            ("ALAS2HTTPD_MODULES-2023-001", "Amazon Linux:2"),
            ("ALAS2NITRO-ENCLAVES-2021-001", "Amazon Linux:2")]
