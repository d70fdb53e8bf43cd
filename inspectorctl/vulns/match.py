"""Matching installed packages against advisory rows: pure functions, no I/O.

- The host's release picks the ecosystem (``Debian:12``, ``Ubuntu:22.04``, ``Alpine:v3.19``,
  ``AlmaLinux:9``, ``Amazon Linux:2023``...).
- Debian, Ubuntu and Alpine advisories name SOURCE packages (origin for apk) and are compared
  with the source version: a binNMU (``5.2.15-2+b13``) or a binary whose version differs from
  its source (``postgresql 15+248``, source ``248``) is compared by its source version. RPM
  advisories (ALAS, AlmaLinux, Rocky) name binary packages.
- The kernel is only the running kernel's image package; other binaries of the kernel source
  (``linux-libc-dev``, headers, ``linux-perf``, images of kernels not running) are not the
  running kernel and are not reported as it.
- States are kept apart (see ``VulnState``); ``fix_available`` is derived from them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from inspectorctl.models.common import Frozen, trusted
from inspectorctl.models.snapshot import OsInfo
from inspectorctl.vulns import versions
from inspectorctl.vulns.db import AffectedRow
from inspectorctl.vulns.models import SourceKind, TrackerState


class VulnState(enum.StrEnum):
    AFFECTED_FIX = "affected-fix-available"
    AFFECTED_NO_FIX = "affected-no-fix"
    FIX_DEFERRED = "fix-deferred"  # postponed / no-dsa, with its reason
    WILL_NOT_FIX = "will-not-fix"  # ignored, end-of-life
    UNIMPORTANT = "unimportant"  # informational, hidden unless asked
    PROBABLY_FIXED = "probably-fixed"  # the package's changelog names the CVE
    NOT_AFFECTED = "not-affected"
    FIXED = "fixed"  # installed at or beyond the fixed version

    @property
    def affected(self) -> bool:
        """Counted as a vulnerability on the host."""
        return self in _AFFECTED


_AFFECTED = frozenset((VulnState.AFFECTED_FIX, VulnState.AFFECTED_NO_FIX,
                       VulnState.FIX_DEFERRED, VulnState.WILL_NOT_FIX, VulnState.UNIMPORTANT))


class FixAvailable(enum.StrEnum):
    YES = "YES"
    NO = "NO"
    PARTIAL = "PARTIAL"


_TRACKER_STATE = {
    TrackerState.UNFIXED: VulnState.AFFECTED_NO_FIX,
    TrackerState.POSTPONED: VulnState.FIX_DEFERRED,
    TrackerState.NO_DSA: VulnState.FIX_DEFERRED,
    TrackerState.IGNORED: VulnState.WILL_NOT_FIX,
    TrackerState.END_OF_LIFE: VulnState.WILL_NOT_FIX,
    TrackerState.UNIMPORTANT: VulnState.UNIMPORTANT,
}

#: which source wins when several name the same (vulnerability, package): the richer first
SOURCE_PRIORITY = {SourceKind.DEBIAN_TRACKER: 0, SourceKind.ALAS: 1, SourceKind.OSV: 2,
                   SourceKind.ALPINE_SECDB: 3, SourceKind.KEV: 9}


class InstalledPackage(Frozen):
    name: str
    version: str
    #: the package advisories name: dpkg source package, apk origin, rpm binary name
    source: str
    #: the version advisories compare: dpkg source version; else the package's own version
    source_version: str
    arch: str | None = None


class HostInventory(Frozen):
    """What matching needs from one host."""

    host: str
    manager: str  # dpkg, rpm, apk
    ecosystem: str | None  # "Debian:12"...; None when the release has no advisory ecosystem
    kernel_release: str | None = None  # uname -r
    packages: tuple[InstalledPackage, ...]
    #: package name -> CVE ids its own changelog names (the stale-data guard)
    changelog_cves: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class VulnMatch(Frozen):
    """One vulnerability on one (source) package of one host."""

    host: str
    vuln_id: str
    source: str  # advisory source name
    aliases: tuple[str, ...] = ()
    package: str  # the advisory's package name (source package for dpkg/apk)
    ecosystem: str
    #: installed binaries it covers: name -> installed version
    binaries: dict[str, str]
    installed_version: str  # the compared (source) version
    state: VulnState
    fixed_version: str | None = None
    fix_available: FixAvailable
    reason: str | None = None
    kernel: bool = False


def binnmu_source_version(version: str) -> str:
    """dpkg's source version of a binNMU when the probe did not record it: ``+bN`` off."""
    head, sep, tail = version.rpartition("+b")
    return head if sep and tail.isdigit() else version


def host_ecosystem(os: OsInfo | None) -> str | None:
    """The OSV ecosystem of the host's release (the base name; Ubuntu's ``:LTS`` variants
    are found by prefix), or None."""
    if os is None or not os.version_id:
        return None
    vid = os.version_id
    match os.id:
        case "debian":
            return "Debian:" + vid.split(".")[0]
        case "ubuntu":
            return "Ubuntu:" + vid
        case "alpine":
            return "Alpine:v" + ".".join(vid.split(".")[:2])
        case "almalinux":
            return "AlmaLinux:" + vid.split(".")[0]
        case "rocky":
            return "Rocky Linux:" + vid.split(".")[0]
        case "amzn":
            return "Amazon Linux:" + ("1" if vid.startswith("20") and vid != "2023"
                                      and vid != "2022" else vid)
    return None


def is_kernel_source(source: str, binaries: Iterable[str]) -> bool:
    if source in ("linux", "kernel") or source.startswith(("linux-signed", "linux-meta")):
        return True
    return source.startswith("linux-") and any(b.startswith("linux-image-") for b in binaries)


def running_kernel_package(name: str, kernel_release: str | None) -> bool:
    if not kernel_release:
        return False
    return name in (f"linux-image-{kernel_release}", f"linux-image-{kernel_release}-unsigned")


def _rpm_kernel(pkg: InstalledPackage, kernel_release: str | None) -> bool | None:
    """None: not a kernel package; else whether it is the running one."""
    if pkg.name not in ("kernel", "kernel-core", "kernel-default"):
        return None
    if not kernel_release:
        return False
    evr = pkg.version.split(":", 1)[-1]
    return kernel_release in (evr, f"{evr}.{pkg.arch}")


@dataclass
class _Eval:
    affected: bool
    fixed: str | None = None


def in_ranges(cmp: Callable[[str, str], int], version: str, data: dict[str, Any]) -> _Eval:
    """OSV's rule: affected when listed in ``versions`` or inside any range. A range is the
    events in version order: ``introduced`` opens (``0`` = from the start), ``fixed`` closes
    at that version, ``last_affected`` closes after it, ``limit`` caps the range."""
    if version in (data.get("versions") or ()):
        return _Eval(True, _first_fixed_after(cmp, version, data))
    for r in data.get("ranges") or ():
        events = r.get("events") or []
        # the shapes nearly every distribution record has, [introduced 0] and [introduced 0,
        # fixed F], answered directly (the same answers as the general rule below)
        n = len(events)
        if 0 < n <= 2 and len(e0 := events[0]) == 1 and e0.get("introduced") == "0":
            if n == 1:
                return _Eval(True, None)
            e1 = events[1]
            if len(e1) == 1 and (f := e1.get("fixed")) is not None:
                if cmp(version, f) >= 0:
                    continue
                return _Eval(True, f)
        if any(e.get("limit") not in (None, "*") and cmp(version, e["limit"]) >= 0
               for e in events):
            continue
        inside = False
        # the common shapes ([introduced], [introduced, fixed]) need no sorting
        ordered = events if len(events) <= 1 or (
            len(events) == 2 and events[0].get("introduced") == "0") else sorted(
            events, key=lambda e: _event_key(cmp, e))
        for ev in ordered:
            if ev.get("introduced") is not None:
                if ev["introduced"] == "0" or cmp(version, ev["introduced"]) >= 0:
                    inside = True
            elif ev.get("fixed") is not None:
                if cmp(version, ev["fixed"]) >= 0:
                    inside = False
            elif ev.get("last_affected") is not None and cmp(version, ev["last_affected"]) > 0:
                inside = False
        if inside:
            fixes = [e["fixed"] for e in events
                     if e.get("fixed") is not None and cmp(version, e["fixed"]) < 0]
            first = None
            for f in fixes:
                # one version spelt two ways ('0-1', '0:0-1'): the same answer whatever the
                # order of the events (the shorter spelling, then the lower text)
                if first is None or cmp(f, first) < 0 or (
                        cmp(f, first) == 0 and (len(f), f) < (len(first), first)):
                    first = f
            return _Eval(True, first)
    return _Eval(False)


def _event_key(cmp: Callable[[str, str], int], ev: dict[str, str]) -> Any:
    from functools import cmp_to_key

    value = next(v for v in ev.values() if v is not None)
    opens = ev.get("introduced") is not None
    # "0" is OSV's "from the very start" for ``introduced`` only (below every version, even
    # "0~"); a ``fixed`` or ``last_affected`` "0" is the version 0
    where = (0, None) if opens and value == "0" else (1, cmp_to_key(cmp)(value))
    # at the same version a range opens before it closes: [introduced X, fixed X] is empty
    # whichever order the record lists them in
    return (where, 0 if opens else 1)


def _first_fixed_after(cmp: Callable[[str, str], int], version: str,
                       data: dict[str, Any]) -> str | None:
    best: str | None = None
    for r in data.get("ranges") or ():
        for ev in r.get("events") or ():
            f = ev.get("fixed")
            if f and cmp(version, f) < 0 and (best is None or cmp(f, best) < 0 or (
                    cmp(f, best) == 0 and (len(f), f) < (len(best), best))):
                best = f
    return best


@dataclass
class _Target:
    package: str
    version: str
    binaries: dict[str, str] = field(default_factory=dict)
    kernel: bool = False


def targets(inv: HostInventory) -> tuple[dict[str, list[_Target]], list[str]]:
    """advisory package name -> what to compare; and notes on what was left out (kernel
    binaries that are not the running kernel)."""
    out: dict[str, list[_Target]] = {}
    notes: list[str] = []
    if inv.manager == "rpm":
        for p in inv.packages:
            k = _rpm_kernel(p, inv.kernel_release)
            if k is False:
                notes.append(f"{p.name} {p.version}: a kernel that is not running")
                continue
            out.setdefault(p.name, []).append(
                _Target(p.name, p.version, {p.name: p.version}, kernel=bool(k)))
        return out, notes
    by_source: dict[tuple[str, str], dict[str, str]] = {}
    for p in inv.packages:
        by_source.setdefault((p.source, p.source_version), {})[p.name] = p.version
    sources_bins: dict[str, set[str]] = {}
    for (src, _), bins in by_source.items():
        sources_bins.setdefault(src, set()).update(bins)
    for (src, sver), bins in sorted(by_source.items()):
        if inv.manager == "dpkg" and is_kernel_source(src, sources_bins[src]):
            for b, bver in sorted(bins.items()):
                if running_kernel_package(b, inv.kernel_release):
                    # the image's own version is the kernel source's (linux-signed-* has
                    # its own version scheme; advisories name "linux")
                    out.setdefault("linux", []).append(_Target("linux", bver, {b: bver},
                                                               kernel=True))
                else:
                    notes.append(f"{b} {bver} (source {src}): not the running kernel's image")
            continue
        out.setdefault(src, []).append(_Target(src, sver, dict(bins)))
    return out, notes


def match(inv: HostInventory, rows: Sequence[AffectedRow],
          source_kinds: dict[str, SourceKind], *, include_resolved: bool = False
          ) -> list[VulnMatch]:
    """Every vulnerability of ``inv`` that ``rows`` describe, one per (package, vulnerability).
    Resolved states (fixed, not affected) are returned only with ``include_resolved`` (VEX)."""
    if inv.ecosystem is None:
        return []
    order = versions.ecosystem_order(inv.ecosystem)
    compare = versions.dpkg_comparator() if order == "dpkg" else versions._COMPARE[order]
    cache: dict[tuple[str, str], int] = {}

    def cmp(a: str, b: str) -> int:
        key = (a, b)
        c = cache.get(key)
        if c is None:
            try:
                c = compare(a, b)
            except versions.VersionError:
                # an unparsable advisory version cannot be ordered: treat as not equal and
                # higher, so that it never hides a vulnerability
                c = -1
            cache[key] = c
        return c

    tgt, _notes = targets(inv)
    # several sources may describe the same (vulnerability, package): the richest one wins,
    # and a CVE named by both an advisory (DSA/ALAS) and itself is reported once, by id
    best: dict[tuple[str, str, str], tuple[int, AffectedRow]] = {}
    prios: dict[str, int] = {}
    for row in rows:
        if row.package not in tgt:
            continue
        prio = prios.get(row.source)
        if prio is None:
            prio = prios[row.source] = SOURCE_PRIORITY.get(
                source_kinds.get(row.source, SourceKind.OSV), 5)
        key = (row.package, row.vuln_id, row.ecosystem)
        cur = best.get(key)
        if cur is None or prio < cur[0]:
            best[key] = (prio, row)
    out: list[VulnMatch] = []
    for (pkg, vid, eco), (_p, row) in sorted(best.items()):
        found = [m for t in tgt[pkg]
                 if (m := _evaluate(inv, row, t, cmp, vid, row.aliases, eco,
                                    include_resolved)) is not None]
        if len(found) > 1:
            found = [_merge(found, cmp)]
        out.extend(found)
    return out


_STATE_RANK = {VulnState.AFFECTED_FIX: 0, VulnState.AFFECTED_NO_FIX: 1,
               VulnState.FIX_DEFERRED: 2, VulnState.WILL_NOT_FIX: 3, VulnState.UNIMPORTANT: 4,
               VulnState.PROBABLY_FIXED: 5, VulnState.FIXED: 6, VulnState.NOT_AFFECTED: 7}


def _merge(found: list[VulnMatch], cmp: Callable[[str, str], int]) -> VulnMatch:
    """One source package installed at several source versions (a partial upgrade): one
    finding, for the binaries still affected, at the lowest version."""
    affected = [m for m in found if m.state.affected] or found
    worst = min(affected, key=lambda m: _STATE_RANK[m.state])
    lowest = affected[0]
    for m in affected[1:]:
        if cmp(m.installed_version, lowest.installed_version) < 0:
            lowest = m
    binaries: dict[str, str] = {}
    for m in affected:
        binaries.update(m.binaries)
    fixes = [m.fix_available for m in affected]
    fa = (FixAvailable.YES if all(f is FixAvailable.YES for f in fixes) else
          FixAvailable.PARTIAL if any(f is FixAvailable.YES for f in fixes) else
          FixAvailable.NO)
    return worst.model_copy(update={"binaries": binaries, "fix_available": fa,
                                    "installed_version": lowest.installed_version})


def _evaluate(inv: HostInventory, row: AffectedRow, t: _Target, cmp: Callable[[str, str], int],
              vid: str, aliases: tuple[str, ...], eco: str,
              include_resolved: bool) -> VulnMatch | None:
    data = row.data
    tstate = TrackerState(data.get("state", TrackerState.RANGES.value))
    reason = data.get("reason")
    fixed: str | None = None
    if tstate is TrackerState.NOT_AFFECTED:
        state = VulnState.NOT_AFFECTED
        reason = reason or "the distribution says this release was never affected"
    else:
        ev = in_ranges(cmp, t.version, data)
        if not ev.affected:
            if not include_resolved or (not data.get("ranges") and not data.get("versions")):
                return None  # fixed: reported only with include_resolved
            state = VulnState.FIXED
            fixed = _last_fixed(cmp, t.version, data)
        elif tstate is not TrackerState.RANGES:
            state = _TRACKER_STATE[tstate]
        elif ev.fixed is not None:
            state, fixed = VulnState.AFFECTED_FIX, ev.fixed
        else:
            state = VulnState.AFFECTED_NO_FIX
    if state in (VulnState.AFFECTED_NO_FIX, VulnState.FIX_DEFERRED, VulnState.WILL_NOT_FIX,
                 VulnState.UNIMPORTANT):
        ids = {vid, *aliases}
        for b in sorted({t.package, *t.binaries}):
            named = ids.intersection(inv.changelog_cves.get(b, ()))
            if named:
                reason = (f"the installed {b} changelog names {', '.join(sorted(named))}: "
                          f"probably fixed since the data was built (the data says "
                          f"{state.value})")
                state = VulnState.PROBABLY_FIXED
                break
    if not include_resolved and state in (VulnState.FIXED, VulnState.NOT_AFFECTED):
        return None
    fa = FixAvailable.YES if state is VulnState.AFFECTED_FIX else FixAvailable.NO
    # every value is typed above: built without validating again (thousands per host)
    return trusted(VulnMatch, {
        "host": inv.host, "vuln_id": vid, "source": row.source, "aliases": tuple(aliases),
        "package": t.package, "ecosystem": eco, "binaries": dict(t.binaries),
        "installed_version": t.version, "state": state, "fixed_version": fixed,
        "fix_available": fa, "reason": reason, "kernel": t.kernel})


def _last_fixed(cmp: Callable[[str, str], int], version: str,
                data: dict[str, Any]) -> str | None:
    best: str | None = None
    for r in data.get("ranges") or ():
        for ev in r.get("events") or ():
            f = ev.get("fixed")
            if f and cmp(version, f) >= 0 and (best is None or cmp(f, best) > 0):
                best = f
    return best


def fix_available(matches: Sequence[VulnMatch]) -> FixAvailable:
    """Inspector's fixAvailable over the packages one vulnerability affects on a host."""
    states = [m.state for m in matches if m.state.affected]
    if not states:
        return FixAvailable.NO
    fixes = sum(1 for s in states if s is VulnState.AFFECTED_FIX)
    if fixes == len(states):
        return FixAvailable.YES
    return FixAvailable.PARTIAL if fixes else FixAvailable.NO
