"""Known vulnerabilities on a lab host, over SSH, against the real Debian data.

A lab host records older versions of a few packages in its dpkg database (curl and libcurl4
from source curl, libexpat1 from expat, bash as a binNMU of an older source), the records of
the shared Debian OSV snapshot that name those source packages are imported, the host is
assessed, and the vulnerabilities found are exactly those the data gives for those source
versions, each checked with the host's own ``dpkg --compare-versions``.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from inspectorctl.assess import AssessOptions, run_assessment
from inspectorctl.collect.interface import Targets
from inspectorctl.lab import Lab
from inspectorctl.models.common import Status
from inspectorctl.store.db import Store
from inspectorctl.vuln_assess import VulnOptions, VulnStep, run_vuln_assessment
from inspectorctl.vulns.db import AdvisoryDB
from inspectorctl.vulns.match import VulnState
from inspectorctl.vulns.sources import open_source

pytestmark = pytest.mark.lab

DEBIAN_ZIP = Path(__file__).resolve().parents[3] / "shared" / "data" / "vulns" / \
    "debian-osv-bookworm.zip"

#: binary -> (version recorded, source package, source version recorded)
OLD = {
    "curl": ("7.88.1-10+deb12u3", "curl", "7.88.1-10+deb12u3"),
    "libcurl4": ("7.88.1-10+deb12u3", "curl", "7.88.1-10+deb12u3"),
    "libexpat1": ("2.5.0-1", "expat", "2.5.0-1"),
    "bash": ("5.1-6+b2", "bash", "5.1-6"),
}

REWRITE = r"""
import json, re, sys
old = json.loads(sys.stdin.read())
path = "/var/lib/dpkg/status"
stanzas = open(path).read().split("\n\n")
out = []
for s in stanzas:
    m = re.search(r"(?m)^Package: (\S+)$", s)
    if m and m.group(1) in old:
        ver, src, sver = old[m.group(1)]
        s = re.sub(r"(?m)^Version: .*$", "Version: " + ver, s)
        s = re.sub(r"(?m)^Source: .*\n", "", s)
        if src != m.group(1) or sver != ver:
            s = s.replace("\nVersion: ", "\nSource: %s (%s)\nVersion: " % (src, sver), 1)
    out.append(s)
open(path, "w").write("\n\n".join(out))
"""


def subset(tmp: Path, sources: set[str]) -> tuple[Path, list[dict[str, Any]]]:
    """The real records naming ``sources`` in Debian:12, as an OSV zip of their own."""
    keep = []
    pat = re.compile(rb'"name":\s*"(%s)"' % b"|".join(re.escape(s.encode()) for s in sources))
    with zipfile.ZipFile(DEBIAN_ZIP) as z:
        for n in z.namelist():
            if not n.endswith(".json"):
                continue
            data = z.read(n)
            if not pat.search(data):
                continue
            doc = json.loads(data)
            if any(a.get("package", {}).get("ecosystem") == "Debian:12"
                   and a["package"]["name"] in sources for a in doc.get("affected", [])):
                keep.append(doc)
    out = tmp / "subset.zip"
    with zipfile.ZipFile(out, "w") as z:
        for d in keep:
            z.writestr(f"{d['id']}.json", json.dumps(d))
    return out, keep


@pytest.mark.skipif(not DEBIAN_ZIP.exists(),
                    reason="the shared Debian OSV snapshot (../shared/data/vulns) is absent")
def test_exactly_the_cves_of_the_recorded_versions(lab: Lab, tmp_path: Path) -> None:
    (host,) = lab.up(1, ["baseline"], "vulnt")
    r = lab.exec(host.name, ["python3", "-c", REWRITE], input=json.dumps(OLD))
    assert r.returncode == 0, r.stderr
    sources = {src for _, src, _ in OLD.values()}
    src_version = {src: sver for _, src, sver in OLD.values()}
    binaries = {src: sorted(b for b, (_, s, _) in OLD.items() if s == src) for src in sources}

    def lt(a: str, b: str) -> bool:
        return lab.exec(host.name, ["dpkg", "--compare-versions", a, "lt", b]).returncode == 0

    def changelog(pkg: str) -> set[str]:
        out = lab.exec(host.name, ["sh", "-c", f"zcat /usr/share/doc/{pkg}/changelog.Debian.gz"
                                   " 2>/dev/null | grep -oE 'CVE-[0-9]{4}-[0-9]{4,7}'"]).stdout
        return set(out.split())

    named = {src: set().union(*(changelog(b) for b in [src, *binaries[src]]))
             for src in sources}
    zpath, docs = subset(tmp_path, sources)
    # what the data says, decided with the host's own dpkg
    expected: dict[tuple[str, str], tuple[VulnState, str | None]] = {}
    for d in docs:
        for a in d["affected"]:
            pkg = a.get("package", {})
            if pkg.get("ecosystem") != "Debian:12" or pkg.get("name") not in sources:
                continue
            src = pkg["name"]
            v = src_version[src]
            urgency = (a.get("ecosystem_specific") or {}).get("urgency")
            for rng in a.get("ranges", []):
                if rng["type"] != "ECOSYSTEM":
                    continue
                intro = next(e["introduced"] for e in rng["events"] if "introduced" in e)
                fixed = next((e["fixed"] for e in rng["events"] if "fixed" in e), None)
                if intro != "0" and lt(v, intro):
                    continue
                if fixed is not None:
                    if lt(v, fixed):
                        expected[d["id"], src] = (VulnState.AFFECTED_FIX, fixed)
                elif urgency == "unimportant":
                    expected[d["id"], src] = (VulnState.UNIMPORTANT, None)
                elif d["id"] in named[src]:
                    expected[d["id"], src] = (VulnState.PROBABLY_FIXED, None)
                else:
                    expected[d["id"], src] = (
                        VulnState.WILL_NOT_FIX if urgency == "end-of-life"
                        else VulnState.AFFECTED_NO_FIX, None)
    assert any(s is VulnState.AFFECTED_FIX for s, _ in expected.values())
    assert ("CVE-2022-3715", "bash") in expected  # fixed in 5.2-1: the binNMU's source 5.1-6

    targets = Targets(inventory=lab.inventory_path, limit=host.name)
    with AdvisoryDB(tmp_path / "vulns.db") as adb:
        adb.import_source(open_source(zpath))
        with Store(tmp_path / "findings.db") as store:
            opts = VulnOptions(targets=targets, max_age_days=36500)
            result = run_vuln_assessment(opts, adb, store)
            # `assess` matches the same snapshot it evaluates the rules on, in one run
            both = run_assessment(AssessOptions(include=("ssh-*",), targets=targets),
                                  store, vulns=VulnStep(adb))
    assert result.failures == []
    assert both.failures == []
    # the vulnerability findings are those `vulns assess` opened: only the rules' are new
    assert both.run.packs[-1] == "vulns"
    assert both.run.counts.new == sum(r.status is Status.FAIL and r.pack != "vulns"
                                      for r in both.results)
    assert {r.pack for r in both.results} >= {"cis-linux", "vulns"}
    assert {(f.vuln_id, f.package, f.state, f.fixed_version, f.installed_version)
            for f in both.vuln_findings} == {
        (f.vuln_id, f.package, f.state, f.fixed_version, f.installed_version)
        for f in result.findings}
    # the records also name packages the host has at their current versions (gnutls28 in
    # CVE-2011-3389...): only the recorded ones are compared
    mine = [f for f in result.findings if f.package in sources]
    got = {(f.vuln_id, f.package): (f.state, f.fixed_version) for f in mine}
    assert got == expected
    for f in mine:
        assert f.installed_version == src_version[f.package]
        # the recorded binaries, and for a CVE still open at the current version the host's
        # other binaries of the same source too (libcurl3-gnutls...): a partial upgrade
        assert set(binaries[f.package]) <= set(f.binaries)
        for b, v in f.binaries.items():
            if b not in OLD:  # a binary the host has at its current version: still affected
                assert f.fixed_version is None or lt(v, f.fixed_version), (f.vuln_id, b, v)
        assert f.score.base >= 0.0 and f.score.severity is not None
    failing = {r.rule_id for r in result.results if r.status is Status.FAIL
               and r.rule_id.rsplit(":", 1)[-1] in sources}
    assert failing == {f"vuln:{cve}:{src}" for (cve, src), (st, _) in expected.items()
                       if st not in (VulnState.UNIMPORTANT, VulnState.PROBABLY_FIXED)}
