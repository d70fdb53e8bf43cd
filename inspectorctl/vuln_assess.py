"""Vulnerability assessment, the orchestration (collect, match, store; the pure parts are in
``inspectorctl/vulns/``): hosts' packages -> matches -> scored findings in the findings store.

Each (host, package, vulnerability) is one finding, identified like a rule result by the
pseudo rule id ``vuln:<ID>:<package>`` in the pack ``vulns``, so it shares the store's
lifecycle (new / active / closed / suppressed), ``--fail-on`` and the report formats. What a
rule result cannot hold (versions, state, scores, KEV, references) is kept per finding in the
store's ``vuln_details`` table.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspectorctl.collect.interface import CollectionFailure, HostResult, ProgressCallback, Targets
from inspectorctl.errors import InputError
from inspectorctl.models.common import Frozen, Severity, Status
from inspectorctl.models.finding import Evidence, RuleResult, RunCounts, RunRecord, finding_id
from inspectorctl.models.snapshot import HostSnapshot, ProbeRequest
from inspectorctl.store import findings as stored_findings
from inspectorctl.store import vulns as vuln_rows
from inspectorctl.store.base import Database
from inspectorctl.store.db import RunRecorder, Store, now
from inspectorctl.vulns import match as m
from inspectorctl.vulns import score as sc
from inspectorctl.vulns.db import AdvisoryDB
from inspectorctl.vulns.models import SourceInfo, SourceKind

PACK = "vulns"
RULE_PREFIX = "vuln:"
DEFAULT_MAX_AGE_DAYS = 7.0
#: the facts matching and scoring read
FACTS = ("os", "packages", "sockets", "package_changelogs")

#: requirements a vulnerability finding bears on, per framework (``--framework`` views)
FRAMEWORK_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "pci-dss": ("6.3.3", "11.3.1"),
    "nist-800-53": ("RA-5", "SI-2"),
    "hipaa": ("164.308(a)(1)(ii)(A)",),
    "aws": ("Inspector.1",),
    "cis": ("CIS Controls v8 7.3", "CIS Controls v8 7.4"),
}

#: why matching through SSM needs the agent to write its output to S3
SSM_NEEDS_S3 = ("--via ssm: matching vulnerabilities needs --output-s3 s3://BUCKET/PREFIX (a "
                "host's packages are more than the 24,000 characters SSM returns inline)")

_EVIDENCE_PATH = {"dpkg": "/var/lib/dpkg/status", "rpm": "rpm -qa (rpmdb)",
                  "apk": "/lib/apk/db/installed"}


class StaleDataError(InputError):
    """``--require-fresh`` and the advisory data is older than allowed."""


class VulnOptions(Frozen):
    targets: Targets = Targets()
    transport: str = "ansible"
    from_snapshots: Path | None = None
    max_age_days: float = DEFAULT_MAX_AGE_DAYS
    require_fresh: bool = False
    include_unimportant: bool = False


class SourceAge(Frozen):
    name: str
    kind: SourceKind
    newest_record: datetime | None
    age_days: float | None
    stale: bool


class Staleness(Frozen):
    """How current the advisory data is; shown on every output."""

    checked_at: datetime
    max_age_days: float
    sources: tuple[SourceAge, ...]
    stale: bool
    message: str


class VulnFinding(Frozen):
    finding_id: str
    rule_id: str
    host: str
    vuln_id: str
    aliases: tuple[str, ...]
    source: str
    package: str
    ecosystem: str
    binaries: dict[str, str]
    installed_version: str
    fixed_version: str | None
    state: m.VulnState
    fix_available: m.FixAvailable
    reason: str | None
    kernel: bool
    score: sc.Score
    references: tuple[str, ...]
    evidence_path: str
    summary: str | None = None


def staleness(sources: Sequence[SourceInfo], max_age_days: float,
              at: datetime | None = None) -> Staleness:
    at = at or datetime.now(UTC)
    ages = []
    for s in sources:
        age = (at - s.newest_record).total_seconds() / 86400 if s.newest_record else None
        ages.append(SourceAge(name=s.name, kind=s.kind, newest_record=s.newest_record,
                              age_days=None if age is None else round(age, 1),
                              stale=age is None or age > max_age_days))
    stale_ones = [a for a in ages if a.stale]
    if not ages:
        msg = "no advisory data imported: run `inspectorctl vulns update --from PATH`"
        stale = True
    elif stale_ones:
        oldest = max((a.age_days or 0.0) for a in stale_ones)
        msg = (f"advisory data is stale: {', '.join(a.name for a in stale_ones)} "
               f"{oldest:.0f} day(s) old (limit {max_age_days:g}); findings may be missing "
               "or already fixed: run `inspectorctl vulns update`")
        stale = True
    else:
        msg = f"advisory data is current (within {max_age_days:g} day(s))"
        stale = False
    return Staleness(checked_at=at, max_age_days=max_age_days, sources=tuple(ages),
                     stale=stale, message=msg)


def inventory(snap: HostSnapshot) -> m.HostInventory | str:
    """What matching needs from a snapshot, or why it cannot be matched."""
    if snap.packages is None:
        return "packages: " + snap.unknown.get("packages", "not collected")
    eco = m.host_ecosystem(snap.os)
    if eco is None:
        osid = f"{snap.os.id} {snap.os.version_id or ''}".strip() if snap.os else "unknown"
        return f"no advisory ecosystem for this release ({osid})"
    pkgs = []
    manager = snap.packages.manager
    for p in snap.packages.items:
        sv = p.source_version
        if manager == "dpkg":
            src, ver = p.source, sv or m.binnmu_source_version(p.version)
        elif manager == "apk":
            src, ver = p.source, p.version
        else:
            src, ver = p.name, p.version
        pkgs.append(m.InstalledPackage(name=p.name, version=p.version, source=src,
                                       source_version=ver, arch=p.arch))
    changelogs = snap.package_changelogs or {}
    return m.HostInventory(host=snap.host.name, manager=manager, ecosystem=eco,
                           kernel_release=snap.os.kernel if snap.os else None,
                           packages=tuple(pkgs),
                           changelog_cves={k: tuple(v) for k, v in changelogs.items()})


@dataclass
class Matcher:
    """Reads what it needs from the advisory database once per host."""

    db: AdvisoryDB
    kinds: dict[str, SourceKind] = field(default_factory=dict)
    _ecos: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kinds = {s.name: s.kind for s in self.db.sources()}

    def ecosystems(self, base: str) -> list[str]:
        if base not in self._ecos:
            self._ecos[base] = self.db.ecosystems(base)
        return self._ecos[base]

    def host(self, snap: HostSnapshot, *, include_resolved: bool = False
             ) -> tuple[list[VulnFinding], list[m.VulnMatch]]:
        inv = inventory(snap)
        if isinstance(inv, str):
            raise InputError(f"{snap.host.name}: {inv}")
        assert inv.ecosystem is not None
        tgt, _notes = m.targets(inv)
        rows = self.db.affected_rows(self.ecosystems(inv.ecosystem), tgt)
        matches = m.match(inv, rows, self.kinds, include_resolved=include_resolved)
        meta = self.db.records_meta((x.source, x.vuln_id) for x in matches
                                    if x.state.affected or x.state is m.VulnState.PROBABLY_FIXED)
        ids = {x.vuln_id for x in matches} | {a for x in matches for a in x.aliases}
        kev = self.db.kev(ids)
        nvd = self.db.cvss_for(i for i in ids if i.startswith("CVE-"))
        out = []
        for x in matches:
            if not x.state.affected and x.state is not m.VulnState.PROBABLY_FIXED:
                continue
            md = meta.get((x.source, x.vuln_id), {})
            cves = [i for i in (x.vuln_id, *x.aliases) if i.startswith("CVE-")]
            s = sc.score(md.get("cvss", ()), x.source,
                         [v for c in cves for v in nvd.get(c, ())],
                         md.get("vendor_severity"),
                         kev=any(c in kev for c in cves), sockets=snap.sockets,
                         packages=tuple(x.binaries))
            rid = f"{RULE_PREFIX}{x.vuln_id}:{x.package}"
            path = _EVIDENCE_PATH[inv.manager]
            if x.state is m.VulnState.PROBABLY_FIXED:
                path += f"; /usr/share/doc/{x.package}/changelog.Debian.gz"
            out.append(VulnFinding(
                finding_id=finding_id(rid, inv.host), rule_id=rid, host=inv.host,
                vuln_id=x.vuln_id, aliases=x.aliases, source=x.source, package=x.package,
                ecosystem=x.ecosystem, binaries=x.binaries,
                installed_version=x.installed_version, fixed_version=x.fixed_version,
                state=x.state, fix_available=x.fix_available, reason=x.reason,
                kernel=x.kernel, score=s,
                references=tuple(r.get("url", "") for r in md.get("refs", ())[:20]),
                evidence_path=path, summary=md.get("summary")))
        return out, matches


def result_of(f: VulnFinding, include_unimportant: bool) -> RuleResult:
    title = f"{f.vuln_id} in {f.package} {f.installed_version}"
    if f.state is m.VulnState.AFFECTED_FIX:
        expected = f"{f.package} at or above {f.fixed_version} ({f.ecosystem})"
    else:
        expected = f"a fixed {f.package} ({f.ecosystem} has none: {f.state.value})"
    found = (f"{f.package} {f.installed_version} installed "
             f"({', '.join(f'{b} {v}' for b, v in sorted(f.binaries.items()))}); "
             f"{f.state.value}, fixAvailable {f.fix_available.value}, score "
             f"{f.score.adjusted:g} (base {f.score.base:g})" + (", in KEV" if f.score.kev else ""))
    ev = Evidence(expected=expected, found=found, source=f.evidence_path)
    if f.state is m.VulnState.PROBABLY_FIXED:
        status, reason = Status.PASS, f.reason
    elif f.state is m.VulnState.UNIMPORTANT and not include_unimportant:
        status, reason = Status.NOT_APPLICABLE, ("unimportant (informational): shown with "
                                                 "--include-unimportant")
    else:
        status, reason = Status.FAIL, f.reason
    return RuleResult(rule_id=f.rule_id, pack=PACK, host=f.host, status=status,
                      severity=f.score.severity, title=title, evidence=ev, reason=reason)


@dataclass
class VulnAssessment:
    run: RunRecord
    findings: list[VulnFinding]
    results: list[RuleResult]
    failures: list[CollectionFailure]
    staleness: Staleness
    snapshots: list[HostSnapshot] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def fails_at(self, severity: Severity) -> list[RuleResult]:
        return [r for r in self.results
                if r.status is Status.FAIL and r.severity.rank >= severity.rank]


def collect(options: VulnOptions, progress: ProgressCallback | None = None
            ) -> Iterable[HostResult]:
    if options.from_snapshots is not None:
        from inspectorctl.snapshots import iter_snapshots

        return iter_snapshots(options.from_snapshots)
    from inspectorctl.collect import get_collector

    return get_collector(options.transport).collect(ProbeRequest(facts=FACTS),
                                                    options.targets, progress)


@dataclass
class HostVulns:
    """One host's vulnerability results: its rule results (an ERROR when it could not be
    matched), the findings behind them, and the inventory matched (None: not matched)."""

    host: str
    results: list[RuleResult]
    findings: list[VulnFinding]
    inventory: m.HostInventory | None


@dataclass
class VulnStep:
    """Vulnerability matching as a step of a run, host by host: all of ``vulns assess``, and
    what ``assess`` adds to each host's configuration results (same snapshot, same run)."""

    db: AdvisoryDB
    include_unimportant: bool = False
    #: seconds spent matching (and scoring)
    seconds: float = 0.0
    matcher: Matcher = field(init=False)

    def __post_init__(self) -> None:
        self.matcher = Matcher(self.db)

    def match(self, hr: HostResult) -> HostVulns:
        if isinstance(hr, CollectionFailure):
            return HostVulns(hr.host, [RuleResult(
                rule_id=f"{RULE_PREFIX}collect", pack=PACK, host=hr.host,
                status=Status.ERROR, severity=Severity.HIGH,
                title="packages could not be collected", reason=hr.reason)], [], None)
        inv = inventory(hr)
        if isinstance(inv, str):
            return HostVulns(hr.host.name, [RuleResult(
                rule_id=f"{RULE_PREFIX}collect", pack=PACK, host=hr.host.name,
                status=Status.ERROR, severity=Severity.HIGH,
                title="packages cannot be matched", reason=inv)], [], None)
        tm = time.perf_counter()
        fs, _ = self.matcher.host(hr)
        self.seconds += time.perf_counter() - tm
        return HostVulns(hr.host.name, [result_of(f, self.include_unimportant) for f in fs],
                         fs, inv)

    def record(self, rec: RunRecorder, hv: HostVulns) -> None:
        """Add the host's results to the run, with a PASS closing each of its open
        vulnerability findings no longer matched (none when it could not be matched), and
        keep the findings' details and the inventory."""
        hv.results = hv.results + close_missing(rec.store, hv.host, hv.results)
        rec.add(hv.results)
        vuln_rows.record_host(
            rec.store.db, rec.draft.id, hv.host,
            [(f.finding_id, f.score.adjusted, f.model_dump_json()) for f in hv.findings],
            None if hv.inventory is None else hv.inventory.model_dump_json())


def close_missing(store: Database, host: str, rs: list[RuleResult]) -> list[RuleResult]:
    """PASS rows for the host's open vulnerability findings that no longer match; none
    when the host could not be matched (its findings stay as they are)."""
    if any(r.status is Status.ERROR for r in rs):
        return []
    seen = {r.rule_id for r in rs}
    out = []
    for f in stored_findings.select(store, hosts=[host]):
        if f.pack == PACK and f.rule_id not in seen and f.rule_id != f"{RULE_PREFIX}collect":
            out.append(RuleResult(
                rule_id=f.rule_id, pack=PACK, host=host, status=Status.PASS,
                severity=f.severity, title=f.title,
                evidence=Evidence(expected=f.evidence.expected if f.evidence else "fixed",
                                  found="no longer vulnerable: the installed version is "
                                        "fixed or the package is gone",
                                  source=f.evidence.source if f.evidence else None)))
    if not any(r.rule_id == f"{RULE_PREFIX}collect" for r in rs):
        out.append(RuleResult(rule_id=f"{RULE_PREFIX}collect", pack=PACK, host=host,
                              status=Status.PASS, severity=Severity.HIGH,
                              title="packages collected and matched",
                              evidence=Evidence(expected="packages collected",
                                                found="collected")))
    return out


def run_vuln_assessment(options: VulnOptions, db: AdvisoryDB, store: Store | None,
                        progress: ProgressCallback | None = None,
                        hosts: Iterable[HostResult] | None = None) -> VulnAssessment:
    t0 = time.perf_counter()
    stale = check_staleness(db, options.max_age_days, options.require_fresh)
    step = VulnStep(db, options.include_unimportant)
    started = now()
    draft = RunRecord(id="r-" + time.strftime("%Y%m%d%H%M%S", time.gmtime())
                      + uuid.uuid4().hex[:4], started_at=started,
                      targets=_targets(options, db), packs=[PACK], kind="assess")
    findings: list[VulnFinding] = []
    results: list[RuleResult] = []
    failures: list[CollectionFailure] = []
    snaps: list[HostSnapshot] = []
    source = hosts if hosts is not None else collect(options, progress)

    def consume(record: Callable[[HostVulns], None]) -> int:
        n = 0
        for hr in source:
            n += 1
            hv = step.match(hr)
            record(hv)
            if isinstance(hr, CollectionFailure):
                failures.append(hr)
            else:
                snaps.append(hr)
            findings.extend(hv.findings)
            results.extend(hv.results)
        return n

    if store is not None:
        with store.recording(draft) as rec:
            n = consume(lambda hv: step.record(rec, hv))
            rec.draft = rec.draft.model_copy(update={"counts": rec.draft.counts.model_copy(
                update={"hosts": n, "hosts_failed": len(failures), "rules": 0})})
        assert rec.run is not None
        run = rec.run
    else:
        n = consume(lambda _hv: None)
        counts = RunCounts(hosts=n, hosts_failed=len(failures),
                           passed=sum(r.status is Status.PASS for r in results),
                           failed=sum(r.status is Status.FAIL for r in results),
                           errors=sum(r.status is Status.ERROR for r in results),
                           not_applicable=sum(r.status is Status.NOT_APPLICABLE
                                              for r in results))
        run = draft.model_copy(update={"ended_at": now(), "counts": counts})
    return VulnAssessment(run=run, findings=findings, results=results, failures=failures,
                          staleness=stale, snapshots=snaps,
                          timings={"match": step.seconds, "total": time.perf_counter() - t0})


def check_staleness(db: AdvisoryDB, max_age_days: float, require_fresh: bool) -> Staleness:
    """How current ``db`` is; ``StaleDataError`` when it is stale and ``require_fresh``."""
    stale = staleness(db.sources(), max_age_days)
    if require_fresh and stale.stale:
        raise StaleDataError(stale.message + " (--require-fresh)")
    return stale


def _targets(options: VulnOptions, db: AdvisoryDB) -> dict[str, object]:
    # the advisory database is kept so that an apply's verify step matches against the same
    vdb = {"vuln_db": str(Path(db.path).resolve())}
    if options.from_snapshots is not None:
        return {"snapshots": str(options.from_snapshots), "transport": options.transport,
                **vdb}
    t = options.targets
    if t.ssm is not None:
        # the managed instances, as targeted (no credentials: the AWS config is named only)
        return {"transport": options.transport, "ssm": t.ssm.model_dump(
            mode="json", include={"instance_ids", "tags", "aws", "output_s3"}), **vdb}
    return {"transport": options.transport,
            "inventory": str(t.inventory.resolve()) if t.inventory else "localhost",
            **({"limit": t.limit} if t.limit else {}),
            **({"become": True} if t.become else {}), **vdb}


def stored_details(store: Store, finding_ids: Iterable[str]) -> dict[str, VulnFinding]:
    out = {}
    for fid in set(finding_ids):
        data = vuln_rows.detail(store, fid)
        if data is not None:
            out[fid] = VulnFinding.model_validate_json(data)
    return out


def compliance_rows(results: Sequence[RuleResult], framework: str,
                    rows: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """``rows`` (an assessment's per-requirement compliance) with the requirements
    vulnerability findings bear on: non-compliant when a vulnerability FAILs, unknown when a
    host's packages could not be matched; a requirement the rules map too is merged."""
    vr = [r for r in results if r.pack == PACK]
    failing = sorted({r.host for r in vr if r.status is Status.FAIL})
    errors = sorted({r.host for r in vr if r.status is Status.ERROR})
    out = [dict(r) for r in rows]
    by_req = {str(r["requirement"]): r for r in out}
    for req in FRAMEWORK_REQUIREMENTS.get(framework, ()):
        row = by_req.get(req)
        if row is None:
            row = by_req[req] = {"requirement": req, "rules": [], "state": "compliant",
                                 "passed": 0, "failed": 0, "errors": 0, "not_applicable": 0,
                                 "failing_hosts": []}
            out.append(row)
        row["rules"] = sorted({*row["rules"], f"{RULE_PREFIX}*"})
        for key, status in (("passed", Status.PASS), ("failed", Status.FAIL),
                            ("errors", Status.ERROR), ("not_applicable", Status.NOT_APPLICABLE)):
            row[key] = int(row[key]) + sum(r.status is status for r in vr)
        hosts = sorted({*row["failing_hosts"], *failing})
        row["failing_hosts"] = hosts
        row["state"] = ("non-compliant" if hosts else "unknown"
                        if row["state"] == "unknown" or errors else "compliant")
    return out


def default_vuln_db(findings_db: Path) -> Path:
    """``--vuln-db`` default: ``vulns.db`` beside the findings database."""
    return findings_db.with_name("vulns.db")


def report_json(a: VulnAssessment) -> str:
    return json.dumps({
        "run": a.run.model_dump(mode="json"),
        "advisory_data": a.staleness.model_dump(mode="json"),
        "findings": [f.model_dump(mode="json") for f in a.findings],
        "errors": [{"host": r.host, "reason": r.reason} for r in a.results
                   if r.status is Status.ERROR],
        "timings": a.timings,
    }, indent=2)




def stored_inventory(store: Store, run_id: str | None, host: str
                     ) -> tuple[str, m.HostInventory, list[VulnFinding]]:
    """The package inventory a vulnerability run matched for ``host`` (the newest run when
    ``run_id`` is None), and the findings that run recorded for it."""
    row = vuln_rows.inventory(store, run_id, host)
    if row is None:
        where = f"run {run_id}" if run_id else "any vulnerability run"
        raise InputError(f"no package inventory of {host!r} in {where} in {store.path}; run "
                         "`inspectorctl vulns assess` first")
    rid = row[0]
    inv = m.HostInventory.model_validate_json(row[1])
    fs = [VulnFinding.model_validate_json(d) for d in vuln_rows.host_details(store, host, rid)]
    return rid, inv, fs


def run_hosts(store: Store, run_id: str) -> list[str]:
    return vuln_rows.run_hosts(store, run_id)
