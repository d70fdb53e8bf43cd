"""Orchestration of an assessment: targets -> collect -> evaluate -> store.

Options travel as one ``AssessOptions`` object; the CLI builds it from flags or a template.
"""

from __future__ import annotations

import gc
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from inspectorctl.collect.interface import (
    CollectionFailure,
    Collector,
    HostResult,
    ProgressCallback,
    Targets,
)
from inspectorctl.errors import InputError
from inspectorctl.models.common import Frozen, Severity, Status, trusted
from inspectorctl.models.finding import Evidence, RuleResult, RunCounts, RunRecord
from inspectorctl.models.rule import FRAMEWORKS, RulePack
from inspectorctl.models.snapshot import HostSnapshot
from inspectorctl.models.template import AssessmentTemplate
from inspectorctl.rules.engine import Selection, evaluate_host, evaluate_outcomes
from inspectorctl.rules.facts import probe_request
from inspectorctl.rules.loader import DEFAULT_PACKS, load_packs, shipped_pack_ids
from inspectorctl.snapshots import iter_snapshots as iter_snapshots  # re-exported
from inspectorctl.snapshots import read_snapshot as read_snapshot
from inspectorctl.snapshots import snapshot_files as snapshot_files
from inspectorctl.store.db import ResultRow, Store, now
from inspectorctl.vuln_assess import FACTS as VULN_FACTS
from inspectorctl.vuln_assess import PACK as VULN_PACK
from inspectorctl.vuln_assess import HostVulns, VulnFinding, VulnStep
from inspectorctl.yamlfile import load_model


class AssessOptions(Frozen):
    packs: tuple[str, ...] = DEFAULT_PACKS
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    framework: str | None = None
    tailoring: dict[str, Any] = Field(default_factory=dict)
    targets: Targets = Field(default_factory=Targets)
    transport: str = "ansible"
    from_snapshots: Path | None = None
    template: str | None = None
    walk_max_seconds: float = 20.0


ResultsKept = Literal["all", "problems", "none"]


@dataclass
class AssessmentResult:
    run: RunRecord
    results: list[RuleResult]
    failures: list[CollectionFailure]
    snapshots: list[HostSnapshot]
    selection: Selection
    timings: dict[str, float] = field(default_factory=dict)
    #: host -> status -> count, for every host (whatever ``keep`` was)
    host_counts: dict[str, dict[Status, int]] = field(default_factory=dict)
    status_counts: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(Status, 0))
    probe_seconds: float = 0.0
    #: the vulnerability findings of the run (when it matched vulnerabilities; not kept with
    #: ``keep="none"``)
    vuln_findings: list[VulnFinding] = field(default_factory=list)

    def count(self, results: list[RuleResult], keep: ResultsKept) -> None:
        for r in results:
            per_host = self.host_counts.get(r.host)
            if per_host is None:
                per_host = self.host_counts[r.host] = dict.fromkeys(Status, 0)
            per_host[r.status] += 1
            self.status_counts[r.status] += 1
            if keep == "all" or (keep == "problems" and r.status in (Status.FAIL,
                                                                     Status.ERROR)):
                self.results.append(r)

    def count_rows(self, host_rows: HostRows, kept: list[RuleResult]) -> None:
        """Count one host's rows; ``kept`` are the RuleResults made for the ones to keep."""
        counts = dict.fromkeys(Status, 0)
        for status, _evidence, _reason in host_rows.rows:
            counts[_STATUS[status]] += 1
        per_host = self.host_counts.setdefault(host_rows.host, dict.fromkeys(Status, 0))
        for st, n in counts.items():
            per_host[st] += n
            self.status_counts[st] += n
        self.results.extend(kept)

    def count_vulns(self, hv: HostVulns, keep: ResultsKept) -> None:
        """Count one host's vulnerability results (in the run's counts, not in the per-host
        counts of rule results)."""
        for r in hv.results:
            self.status_counts[r.status] += 1
            if keep == "all" or (keep == "problems" and r.status in _PROBLEMS):
                self.results.append(r)
        if keep != "none":
            self.vuln_findings.extend(hv.findings)

    def fails_at(self, severity: Severity) -> list[RuleResult]:
        return [r for r in self.results
                if r.status is Status.FAIL and r.severity.rank >= severity.rank]


def options_from_template(path: Path, **overrides: Any) -> AssessOptions:
    tpl = load_model(path, AssessmentTemplate, "template")
    tpl = tpl.model_copy(update={"source": str(path)})
    inv = tpl.inventory_path()
    if inv is not None and not inv.is_file():
        raise InputError(f"{path}: targets.inventory: no such inventory file {inv}")
    opts = AssessOptions(
        packs=tuple(tpl.packs),
        include=tuple(tpl.rules.include),
        exclude=tuple(tpl.rules.exclude),
        framework=tpl.framework,
        tailoring=dict(tpl.tailoring),
        targets=Targets(inventory=inv, limit=tpl.targets.limit, become=tpl.targets.become,
                        forks=tpl.targets.forks),
        transport=tpl.targets.transport,
        template=tpl.name,
    )
    return opts.model_copy(update={k: v for k, v in overrides.items() if v is not None})


def select(options: AssessOptions, packs: Sequence[RulePack] | None = None) -> Selection:
    if options.framework is not None and options.framework not in FRAMEWORKS:
        raise InputError(
            f"unknown framework {options.framework!r}; valid: {', '.join(FRAMEWORKS)}"
        )
    packs = list(packs) if packs is not None else load_packs(options.packs)
    known = {v for p in packs for v in p.variables} | {
        f"{p.id}.{v}" for p in packs for v in p.variables}
    unknown = sorted(set(options.tailoring) - known)
    if unknown:
        raise InputError(
            f"unknown tailoring variable(s) {', '.join(unknown)}; the selected packs define: "
            f"{', '.join(sorted(known)) or 'none'}"
        )
    sel = Selection(packs, options.tailoring, options.include, options.exclude,
                    options.framework)
    if not len(sel):
        raise InputError("no rule matches the selection (check --pack, --rule, --exclude "
                         "and --framework)")
    return sel


# ----------------------------------------------------------------------------------------------
# Offline evaluation of many snapshots on every core
# ----------------------------------------------------------------------------------------------

#: below this many files, evaluate in this process (a pool costs ~0.3 s to start)
PARALLEL_MIN_FILES = 64
_CHUNK = 16
_worker_selection: Selection | None = None

#: a result as it crosses processes: status, evidence (an Evidence as JSON), reason
_Row = tuple[str, str | None, str | None]


@dataclass(frozen=True, slots=True)
class HostRows:
    """One host's results as compact rows aligned with ``selection.rules``: how results come
    back from the offline workers. Building a RuleResult per rule costs about as much as
    evaluating it, so the store takes the rows as they are and RuleResult objects are made
    only for the results a caller keeps (``results``)."""

    host: str
    probe_seconds: float
    rows: list[_Row]

    def store_rows(self, selection: Selection) -> list[ResultRow]:
        host = self.host
        return [(rule.id, rule.pack, host, rule.title, rule.severity.value, status, evidence,
                 reason)
                for (rule, _), (status, evidence, reason) in zip(selection.rules, self.rows,
                                                                 strict=True)]

    def results(self, selection: Selection,
                statuses: frozenset[Status] | None = None) -> list[RuleResult]:
        """RuleResult objects for the rows (only those with a status in ``statuses``)."""
        out = []
        for (rule, _), (status, evidence, reason) in zip(selection.rules, self.rows,
                                                         strict=True):
            st = _STATUS[status]
            if statuses is not None and st not in statuses:
                continue
            out.append(trusted(RuleResult, {
                "rule_id": rule.id, "pack": rule.pack, "host": self.host, "status": st,
                "severity": rule.severity, "title": rule.title,
                "evidence": None if evidence is None else Evidence.model_validate_json(
                    evidence),
                "reason": reason}))
        return out


_STATUS = {s.value: s for s in Status}
_PROBLEMS = frozenset((Status.FAIL, Status.ERROR))


def _worker_init(options_json: str) -> None:
    global _worker_selection
    _worker_selection = select(AssessOptions.model_validate_json(options_json))
    # the modules and the selection live as long as the worker: keep the collector off them
    gc.freeze()


def _worker_eval(paths: list[str]) -> list[HostRows]:
    selection = _worker_selection
    assert selection is not None
    out = []
    # validating and evaluating a host triggers ~6 young-generation collections and, every
    # other host, an older one that walks the worker's whole heap: a third of the time. What
    # a host allocates is freed by reference counting, so the collector runs once per chunk
    gc.disable()
    try:
        for p in paths:
            snap = read_snapshot(Path(p))
            rows: list[_Row] = [
                (o.status.value, None if o.evidence is None else o.evidence.model_dump_json(),
                 o.reason)
                for o in evaluate_outcomes(snap, selection)]
            out.append(HostRows(snap.host.name, snap.probe_seconds, rows))
    finally:
        gc.enable()
        gc.collect()
    return out


def evaluate_snapshots_parallel(
    options: AssessOptions, selection: Selection, files: Sequence[Path], workers: int
) -> Iterator[HostRows]:
    """Every file's results, in file order, evaluated by ``workers`` processes; at most a
    few chunks are in flight, so memory stays bounded."""
    import concurrent.futures as cf
    import multiprocessing

    chunks = [[str(f) for f in files[i:i + _CHUNK]] for i in range(0, len(files), _CHUNK)]
    ctx = multiprocessing.get_context("forkserver")
    with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                initargs=(options.model_dump_json(),)) as pool:
        pending: list[cf.Future[list[HostRows]]] = []
        queue = iter(chunks)
        for chunk in queue:
            pending.append(pool.submit(_worker_eval, chunk))
            if len(pending) >= workers * 3:
                break
        while pending:
            done = pending.pop(0).result()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append(pool.submit(_worker_eval, nxt))
            yield from done


def collect(
    options: AssessOptions,
    selection: Selection,
    progress: ProgressCallback | None = None,
    *,
    collector: Collector | None = None,
    vulns: bool = False,
) -> Sequence[HostResult]:
    """Probe the targets through ``collector`` (default: the options' transport); with
    ``vulns``, the facts vulnerability matching reads too (same probe, same round trip)."""
    from inspectorctl.collect import get_collector

    request = probe_request(selection.rule_list, walk_max_seconds=options.walk_max_seconds)
    if vulns:
        request = request.model_copy(update={"facts": tuple(sorted({*request.facts,
                                                                    *VULN_FACTS}))})
    if collector is None:
        collector = get_collector(options.transport)
    # a Sequence, not a list: a transport may parse each host's result only when it is read
    return collector.collect(request, options.targets, progress)


def save_snapshots(results: Sequence[HostResult], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for r in results:
        if isinstance(r, HostSnapshot):
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in r.host.name)
            p = out / f"{safe}.json"
            tmp = p.with_suffix(".json.tmp")
            tmp.write_text(r.model_dump_json(indent=None), encoding="utf-8")
            tmp.replace(p)
            written.append(p)
    return written


def run_assessment(
    options: AssessOptions,
    store: Store | None,
    progress: ProgressCallback | None = None,
    *,
    keep: ResultsKept = "all",
    collector: Collector | None = None,
    vulns: VulnStep | None = None,
) -> AssessmentResult:
    """Collect (or read saved snapshots), evaluate, and record one run in ``store``; with
    ``vulns``, also match each host's packages against the advisory data (the same
    snapshot) and record the vulnerability findings in the same run.

    Hosts are evaluated and recorded one at a time inside one store transaction, so memory
    stays bounded for large fleets: ``keep`` says which results the returned object holds
    ("all", "problems" = FAIL and ERROR only, "none"); counts per host are always kept.
    """
    t0 = time.perf_counter()
    selection = select(options)
    t_load = time.perf_counter()
    started = now()
    files: list[Path] = []
    if options.from_snapshots is not None:
        files = snapshot_files(options.from_snapshots)
        host_results: Iterable[HostResult] = (read_snapshot(f) for f in files)
    else:
        host_results = collect(options, selection, progress, collector=collector,
                               vulns=vulns is not None)
    workers = min(os.cpu_count() or 1, 8)
    # matching needs each snapshot in this process: with vulnerabilities, evaluate here
    parallel = (len(files) >= PARALLEL_MIN_FILES and workers > 1 and keep != "all"
                and vulns is None)
    t_collect = time.perf_counter()
    draft = RunRecord(
        id=new_run_id(),
        template=options.template,
        started_at=started,
        targets=_targets_json(options) if vulns is None else {
            **_targets_json(options), "vuln_db": str(Path(vulns.db.path).resolve())},
        # the vulnerability pseudo pack last: whatever reads the packs finds the rules first
        packs=pack_refs(selection.packs) + ([VULN_PACK] if vulns is not None else []),
        counts=RunCounts(rules=len(selection)),
    )
    out = AssessmentResult(draft, [], [], [], selection)
    eval_seconds = 0.0
    #: host -> who it was (kept with the run: a plan records it, apply checks it)
    identities: dict[str, dict[str, Any]] = {}

    def consume(add: Callable[[list[RuleResult]], None],
                add_rows: Callable[[list[ResultRow]], None],
                add_vulns: Callable[[HostVulns], None]) -> int:
        nonlocal eval_seconds
        n = 0
        if parallel:
            # reading and evaluating happen in the workers: count the whole loop
            te = time.perf_counter()
            for rows in evaluate_snapshots_parallel(options, selection, files, workers):
                n += 1
                add_rows(rows.store_rows(selection))
                out.count_rows(rows, rows.results(selection, _PROBLEMS)
                               if keep == "problems" else [])
                out.probe_seconds = max(out.probe_seconds, rows.probe_seconds)
            eval_seconds = time.perf_counter() - te
            return n
        for hr in host_results:
            n += 1
            te = time.perf_counter()
            results = evaluate_host(hr, selection)
            eval_seconds += time.perf_counter() - te
            add(results)
            out.count(results, keep)
            if vulns is not None:
                hv = vulns.match(hr)
                add_vulns(hv)
                out.count_vulns(hv, keep)
            if not isinstance(hr, CollectionFailure):
                identities[hr.host.name] = _identity(hr)
            if isinstance(hr, CollectionFailure):
                out.failures.append(hr)
            elif keep == "all":
                out.snapshots.append(hr)
            else:
                out.probe_seconds = max(out.probe_seconds, hr.probe_seconds)
        return n

    if store is not None:
        with store.recording(draft) as rec:
            hosts = consume(rec.add, rec.add_rows,
                            lambda hv: vulns.record(rec, hv) if vulns is not None else None)
            rec.draft = rec.draft.model_copy(update={"counts": rec.draft.counts.model_copy(
                update={"hosts": hosts, "hosts_failed": len(out.failures)}),
                "targets": {**rec.draft.targets, "identities": identities}})
        assert rec.run is not None
        out.run = rec.run
    else:
        hosts = consume(lambda _results: None, lambda _rows: None, lambda _hv: None)
        c = out.status_counts
        out.run = draft.model_copy(update={"ended_at": now(), "counts": draft.counts.model_copy(
            update={"hosts": hosts, "hosts_failed": len(out.failures),
                    "passed": c[Status.PASS], "failed": c[Status.FAIL],
                    "errors": c[Status.ERROR], "not_applicable": c[Status.NOT_APPLICABLE]})})
    t_end = time.perf_counter()
    if options.from_snapshots is not None:
        # snapshots are read lazily while evaluating: reading counts as collection time
        t_collect = t_end - eval_seconds - (vulns.seconds if vulns is not None else 0.0)
    out.timings = {
        "load_rules": t_load - t0,
        "collect": t_collect - t_load,
        "probe_max": max([s.probe_seconds for s in out.snapshots] + [out.probe_seconds]),
        "evaluate": eval_seconds,
        **({"match_vulns": vulns.seconds} if vulns is not None else {}),
        "total": t_end - t0,
    }
    return out


def pack_refs(packs: Sequence[RulePack]) -> list[str]:
    """How a run names its packs so that ``plan`` and verification find them again: the id
    of a shipped pack, the absolute path of any other pack file."""
    shipped = {pid: f.resolve() for pid, f in shipped_pack_ids().items()}
    out = []
    for p in packs:
        src = Path(p.source).resolve() if p.source else None
        out.append(p.id if src is None or shipped.get(p.id) == src else str(src))
    return out


_MACHINE_ID = re.compile(r"^[0-9a-f]{32}$")


_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")


def _identity(snap: HostSnapshot) -> dict[str, Any]:
    """What identifies the machine behind a host name (values from the host: checked)."""
    mid = (snap.host.machine_id or "").strip().lower()
    out: dict[str, Any] = {"machine_id": mid if _MACHINE_ID.match(mid) else None,
                           "instance_id": (snap.host.instance_id or "")[:64] or None,
                           "hostname": (snap.host.hostname or "")[:255] or None}
    keys = sorted({k for k in snap.host.ssh_host_keys if _FINGERPRINT.match(k)})
    if keys:
        out["ssh_host_keys"] = keys
    return out


def new_run_id() -> str:
    return "r-" + time.strftime("%Y%m%d%H%M%S", time.gmtime()) + uuid.uuid4().hex[:4]


def _targets_json(options: AssessOptions) -> dict[str, Any]:
    t = options.targets
    d: dict[str, Any] = {"transport": options.transport}
    if options.from_snapshots is not None:
        d["snapshots"] = str(options.from_snapshots)
    elif t.ssm is not None:
        # the managed instances, as targeted (no credentials: the AWS config is named only)
        d["ssm"] = t.ssm.model_dump(mode="json", include={"instance_ids", "tags", "aws",
                                                          "output_s3"})
    else:
        # absolute, so a plan made from this run can be applied from any directory
        d["inventory"] = str(t.inventory.resolve()) if t.inventory else "localhost"
        if t.limit:
            d["limit"] = t.limit
        if t.become:
            d["become"] = True
    if options.framework:
        d["framework"] = options.framework
    if options.template:
        d["template"] = options.template
    return d
