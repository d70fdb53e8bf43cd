"""Vulnerability data: import of the shared Debian OSV snapshot, and matching a host.

Targets (issue 14): importing the shared Debian data (31k records) <= 60 s; matching a host of
1,000 packages <= 0.2 s after import; RSS reported.

    python benchmarks/bench_vulns.py [--data ../shared/data/vulns] [--runs 5]

Import: a fresh advisory database in a temp dir, ``vulns update`` of the zip in-process (wall
and CPU seconds, peak RSS), then a second import of the same zip (idempotent: every record
unchanged). Matching: a host of 1,000 packages made of the machine's own installed packages
(dpkg-query, with source package and source version) padded with source packages the data
names at a version above every fix, read from the database and matched the way
``vulns assess`` does (wall/CPU per run, min / median / max). ``--db`` matches against an
advisory database imported earlier (skips the import).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inspectorctl.models.snapshot import HostSnapshot
from inspectorctl.vuln_assess import Matcher
from inspectorctl.vulns import score
from inspectorctl.vulns.db import AdvisoryDB
from inspectorctl.vulns.sources import open_source

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "vulns"


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def host_packages(db: AdvisoryDB, n: int) -> list[dict[str, str]]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f",
         "${db:Status-Abbrev}\t${Package}\t${Version}\t${source:Package}\t${source:Version}\n"],
        capture_output=True, text=True, check=True).stdout
    pkgs = []
    for ln in out.splitlines():
        st, name, ver, src, sver = ln.split("\t")
        if st[1:2] == "i":
            pkgs.append({"name": name, "version": ver, "source": src, "source_version": sver,
                         "arch": "amd64"})
    have = {p["source"] for p in pkgs}
    extra = [r[0] for r in db.db.execute(
        "SELECT DISTINCT package FROM affected WHERE ecosystem='Debian:12' ORDER BY package")
        if r[0] not in have]
    # padded with source packages the data names, at a version above every fixed one (epoch
    # 99): each is read and compared, and only its still-open CVEs match, as on a current host
    for name in extra[: max(0, n - len(pkgs))]:
        pkgs.append({"name": name, "version": "99:1.0-1", "source": name,
                     "source_version": "99:1.0-1", "arch": "amd64"})
    return pkgs[:n]


def importing(db: AdvisoryDB, zpath: Path, path: Path) -> None:
    w0, c0 = time.perf_counter(), time.process_time()
    st = db.import_source(open_source(zpath))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(f"import {zpath.name}: {st.read} records ({st.added} added) in {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU; peak RSS {rss_mib():.0f} MiB; database "
          f"{path.stat().st_size / 2**20:.0f} MiB")
    w0, c0 = time.perf_counter(), time.process_time()
    again = db.import_source(open_source(zpath))
    print(f"re-import: {again.unchanged} unchanged, {again.added} added in "
          f"{time.perf_counter() - w0:.1f} s wall, {time.process_time() - c0:.1f} s CPU")


def matching(db: AdvisoryDB, n_packages: int, runs: int) -> None:
    """Each run opens the database anew (nothing read yet: the first host of a process) and
    matches the host, then matches it again as the next host of a fleet would be (the rows
    its packages name are kept by the database object)."""
    pkgs = host_packages(db, n_packages)
    snap = HostSnapshot.model_validate({
        "host": {"name": "bench", "transport": "snapshot"},
        "collected_at": "2026-12-04T00:00:00+00:00",
        "os": {"id": "debian", "version_id": "12", "family": "debian",
               "kernel": os.uname().release, "arch": "x86_64"},
        "packages": {"manager": "dpkg", "items": pkgs}, "sockets": []})
    times: dict[str, tuple[list[float], list[float]]] = {"first": ([], []), "next": ([], [])}
    n = 0
    for _ in range(runs):
        score._cvss3.cache_clear()  # the first host parses its CVSS vectors too
        with AdvisoryDB(db.path) as fresh:
            matcher = Matcher(fresh)
            for which in ("first", "next"):
                w0, c0 = time.perf_counter(), time.process_time()
                fs, _ = matcher.host(snap)
                times[which][0].append(time.perf_counter() - w0)
                times[which][1].append(time.process_time() - c0)
                n = len(fs)
    for which, (walls, cpus) in times.items():
        print(f"match {len(pkgs)} packages ({len({p['source'] for p in pkgs})} sources), "
              f"{which} host: {n} findings; wall min/median/max {min(walls):.3f} / "
              f"{statistics.median(walls):.3f} / {max(walls):.3f} s; CPU median "
              f"{statistics.median(cpus):.3f} s; peak RSS {rss_mib():.0f} MiB")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--packages", type=int, default=1000)
    ap.add_argument("--db", type=Path, help="an advisory database with the Debian data already "
                    "imported: skip the import and measure matching only")
    args = ap.parse_args()
    zpath = args.data / "debian-osv-bookworm.zip"
    if not zpath.exists():
        print(f"skipped: {zpath} is absent", file=sys.stderr)
        return 0
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.db is not None:
            db = AdvisoryDB(args.db)
        else:
            db = AdvisoryDB(Path(tmp) / "vulns.db")
            importing(db, zpath, Path(tmp) / "vulns.db")
        matching(db, args.packages, args.runs)
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
