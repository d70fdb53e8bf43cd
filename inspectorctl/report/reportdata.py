"""What a report of stored runs holds, read from the database: the run it describes, the runs of
its trend, the rules (with their references and fixes) those runs used, posture per framework,
and the findings with their history.

Everything here is data (dataclasses of plain values); ``report.html`` renders it. Values read
from the database (host names, evidence, titles, pack paths) are untrusted: this module never
interprets them, the renderer escapes them.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from inspectorctl.errors import InputError, InspectorctlError
from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import Evidence, Finding, RuleResult, RunRecord, finding_id
from inspectorctl.models.rule import FRAMEWORKS, Rule
from inspectorctl.report.summary import framework_compliance
from inspectorctl.rules.loader import load_pack, resolve_pack, shipped_pack_ids
from inspectorctl.store import runs as runs_repo
from inspectorctl.store.db import Store, StoreError
from inspectorctl.textsafe import one_line

#: the pseudo-pack of vulnerability findings (``inspectorctl.vuln_assess.PACK``): not a rulepack
VULN_PACK = "vulns"
#: the trend window when only a run (or nothing) is given
DEFAULT_WINDOW = timedelta(days=30)
#: at most this many runs in a trend (the newest ones of the window)
MAX_TREND_RUNS = 200
#: findings shown with their details (the most severe first); the rest are counted
MAX_FINDINGS = 5000
#: runs listed in one finding's history (newest first)
MAX_HISTORY = 30
#: the longest --since accepted
MAX_SINCE_DAYS = 3650

_SINCE = re.compile(r"^([1-9][0-9]{0,5})([hdw])$")

SEVERITIES: tuple[Severity, ...] = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM,
                                    Severity.LOW, Severity.INFORMATIONAL)


def parse_since(text: str) -> timedelta:
    """``30d``, ``12h``, ``6w``: a window ending now. Anything else is bad input."""
    m = _SINCE.match(text.strip())
    if not m:
        raise InputError(f"--since {text!r}: expected a number of hours, days or weeks such as "
                         "12h, 30d or 6w")
    n, unit = int(m.group(1)), m.group(2)
    delta = {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
    if delta > timedelta(days=MAX_SINCE_DAYS):
        raise InputError(f"--since {text!r}: at most {MAX_SINCE_DAYS} days")
    return delta


# ------------------------------------------------------------------------------------- scope


@dataclass(frozen=True)
class Scope:
    """The run a report describes and the runs of its trend (oldest first, ``run`` last)."""

    run: RunRecord
    trend: tuple[RunRecord, ...]
    window_start: datetime
    #: findings' histories run up to here (the newest run, verification runs included, unless
    #: a run was asked for)
    history_end: datetime
    #: runs of the window left out of the trend (more than MAX_TREND_RUNS)
    trend_cut: int = 0
    #: remediations' verification runs in the window (not in the trend)
    verification_runs: int = 0


def resolve_scope(store: Store, *, run_id: str | None, since: timedelta | None,
                  now: datetime) -> Scope:
    """``run_id``: that run, with the runs of the 30 days up to it. ``since``: the newest run
    of that window, with every run of it. Neither: the newest run, with the 30 days up to it.

    A remediation's verification runs (re-assessments of the hosts and rules an apply touched,
    partial by design) are left out of the trend and are not picked as the newest run; they
    still show in each finding's history, and ``--run`` reports on one when asked.
    An unknown run, an empty database or an empty window is bad input (exit 2)."""
    if run_id is not None and since is not None:
        raise InputError("give --run or --since, not both (--run ID reports that run with the "
                         "30 days before it as its trend)")
    if not runs_repo.has_runs(store):
        raise InputError(f"no run recorded in {store.path}: nothing to report; run "
                         "`inspectorctl assess` first (or give the right --db)")
    if run_id is not None:
        run = store.run(run_id)
        if run is None:
            raise InputError(f"no run {run_id!r} in {store.path}; see `inspectorctl runs list`")
        start, until = run.started_at - DEFAULT_WINDOW, run.started_at
    elif since is not None:
        start, until = now - since, now
        newest = (_runs_between(store, start, until, limit=1)
                  or _runs_between(store, start, until, limit=1, verification=True))
        if not newest:
            last = store.runs(1)[0]
            raise InputError(
                f"no run in the last {_span(since)} in {store.path} (the newest is {last.id} "
                f"of {last.started_at:%Y-%m-%d %H:%M}); widen --since or give --run")
        run = newest[0]
    else:
        newest_any = store.runs(1)[0]
        until = newest_any.started_at
        run = (_runs_between(store, datetime.min.replace(tzinfo=UTC), until, limit=1)
               or [newest_any])[0]
        start = run.started_at - DEFAULT_WINDOW
    newest_first = _runs_between(store, start, run.started_at, limit=MAX_TREND_RUNS)
    trend = [r for r in newest_first if r.id != run.id][:MAX_TREND_RUNS - 1]
    trend.reverse()
    trend.append(run)  # the run reported on ends its trend
    in_window = runs_repo.count_between(store, start, run.started_at)
    return Scope(run=run, trend=tuple(trend), window_start=start, history_end=until,
                 trend_cut=max(0, in_window - len(newest_first)),
                 verification_runs=runs_repo.count_between(store, start, until,
                                                            verification=True))


def _span(d: timedelta) -> str:
    hours = int(d.total_seconds() // 3600)
    return f"{hours // 24} day(s)" if hours % 24 == 0 else f"{hours} hour(s)"


def _runs_between(store: Store, start: datetime, end: datetime, *, limit: int,
                  verification: bool = False) -> list[RunRecord]:
    """Runs started in [start, end], newest first: assessments, or (``verification``) only
    remediations' verification runs."""
    ids = runs_repo.run_ids_between(store, start, end, limit=limit, verification=verification)
    runs = [store.run(i) for i in ids]
    return [r for r in runs if r is not None]


# ------------------------------------------------------------------------------------- rules


@dataclass
class RuleIndex:
    """The rules a set of runs used, found again from the packs each run names."""

    by_key: dict[tuple[str, str], Rule] = field(default_factory=dict)
    by_id: dict[str, Rule] = field(default_factory=dict)
    #: packs whose rules could not be loaded, with the reason (shown in the report)
    missing: dict[str, str] = field(default_factory=dict)

    def get(self, pack: str, rule_id: str) -> Rule | None:
        return self.by_key.get((pack, rule_id)) or self.by_id.get(rule_id)


def load_rules(runs: Iterable[RunRecord]) -> RuleIndex:
    """Each run names its packs (a shipped pack's id, another pack's absolute path); a pack
    that cannot be loaded now (moved, edited into an invalid file) is named with the reason and
    its findings are shown without rule details."""
    index = RuleIndex()
    shipped = shipped_pack_ids()
    refs: list[str] = []
    for run in runs:
        for ref in run.packs:
            if ref not in refs:
                refs.append(ref)
    for ref in refs:
        if ref == VULN_PACK:
            continue  # vulnerability findings carry their own title and evidence
        try:
            pack = load_pack(shipped[ref] if ref in shipped else resolve_pack(ref))
        except InspectorctlError as e:
            index.missing[ref] = str(e)
            continue
        for rule in pack.rules:
            index.by_key.setdefault((pack.id, rule.id), rule)
            index.by_id.setdefault(rule.id, rule)
    return index


# ----------------------------------------------------------------------------------- posture
#
# The posture and trend queries below are this report's own: compliance per framework and
# failures per severity, for every run of a trend, from one grouped query over the results.
# ``framework_compliance`` (the ``assess --framework`` view) gives the run reported on; a test
# holds the two to the same answer.


@dataclass(frozen=True)
class FrameworkScore:
    framework: str
    requirements: int
    compliant: int
    non_compliant: int
    unknown: int

    @property
    def percent(self) -> float | None:
        return 100.0 * self.compliant / self.requirements if self.requirements else None


@dataclass(frozen=True)
class RunPosture:
    run: RunRecord
    #: FAIL results per severity
    failed: dict[Severity, int]
    frameworks: dict[str, FrameworkScore]
    results: int


def run_postures(store: Store, runs: Sequence[RunRecord], rules: RuleIndex
                 ) -> list[RunPosture]:
    """Per run: FAIL results per severity, and per framework how many requirements (of the
    rules the run evaluated) are compliant, non-compliant (a mapped rule FAILs on a host) or
    unknown (an ERROR and no FAIL), as ``framework_compliance`` decides them."""
    if not runs:
        return []
    ids = [r.id for r in runs]
    #: run -> rule -> set of statuses; run -> severity -> FAIL count; run -> result count
    statuses: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    failed: dict[str, dict[Severity, int]] = defaultdict(lambda: dict.fromkeys(SEVERITIES, 0))
    totals: dict[str, int] = defaultdict(int)
    packs: dict[tuple[str, str], str] = {}
    rows = runs_repo.status_counts(store, ids)
    for row in rows:
        rid, rule_id, status, n = row["run_id"], row["rule_id"], row["status"], row["n"]
        statuses[rid][rule_id].add(status)
        packs[(rid, rule_id)] = row["pack"]
        totals[rid] += n
        if status == Status.FAIL.value:
            with contextlib.suppress(ValueError):
                failed[rid][Severity(row["severity"])] += n
    out = []
    for run in runs:
        per_rule = statuses.get(run.id, {})
        scores = {}
        for fw in FRAMEWORKS:
            req_states: dict[str, set[str]] = defaultdict(set)
            for rule_id, sts in per_rule.items():
                rule = rules.get(packs[(run.id, rule_id)], rule_id)
                if rule is None:
                    continue
                for req in rule.references.framework_ids(fw):
                    req_states[req] |= sts
            if not req_states:
                continue
            non = sum(1 for s in req_states.values() if Status.FAIL.value in s)
            unk = sum(1 for s in req_states.values()
                      if Status.FAIL.value not in s and Status.ERROR.value in s)
            scores[fw] = FrameworkScore(fw, len(req_states), len(req_states) - non - unk, non,
                                        unk)
        out.append(RunPosture(run, failed[run.id] if run.id in failed
                              else dict.fromkeys(SEVERITIES, 0), scores, totals.get(run.id, 0)))
    return out


def _chunks(items: Sequence[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield list(items[i:i + n])


@dataclass(frozen=True)
class Requirement:
    framework: str
    requirement: str
    title: str
    state: str
    rules: tuple[str, ...]
    passed: int
    failed: int
    errors: int
    not_applicable: int
    failing_hosts: tuple[str, ...]


def framework_posture(results: Sequence[RuleResult], rules: RuleIndex
                      ) -> dict[str, list[Requirement]]:
    """The ``assess --framework`` view of a run, for every framework its rules map to: the
    rules are those the run evaluated, found again in their packs."""
    from inspectorctl.report.requirements import requirement_title

    evaluated: dict[str, Rule] = {}
    for res in results:
        rule = rules.get(res.pack, res.rule_id)
        if rule is not None:
            evaluated.setdefault(rule.id, rule)
    rule_list = list(evaluated.values())
    out: dict[str, list[Requirement]] = {}
    for fw in FRAMEWORKS:
        rows = framework_compliance(results, rule_list, fw)
        if not rows:
            continue
        reqs = []
        for row in rows:
            title = requirement_title(fw, row["requirement"]) or "; ".join(
                sorted({evaluated[r].title for r in row["rules"]}))
            reqs.append(Requirement(
                framework=fw, requirement=row["requirement"], title=title, state=row["state"],
                rules=tuple(row["rules"]), passed=row["passed"], failed=row["failed"],
                errors=row["errors"], not_applicable=row["not_applicable"],
                failing_hosts=tuple(row["failing_hosts"])))
        out[fw] = reqs
    return out


# ---------------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class HistoryEntry:
    run_id: str
    started_at: datetime
    status: str
    evidence: Evidence | None
    reason: str | None
    #: a remediation's verification run
    verification: bool = False


@dataclass(frozen=True)
class FindingView:
    """A problem result of the run reported on, with what is known about it."""

    result: RuleResult
    finding: Finding | None
    rule: Rule | None
    history: tuple[HistoryEntry, ...]

    @property
    def id(self) -> str:
        return finding_id(self.result.rule_id, self.result.host)


def problem_findings(store: Store, scope: Scope, results: Sequence[RuleResult],
                     rules: RuleIndex) -> tuple[list[FindingView], int]:
    """The run's FAIL and ERROR results (most severe first), each with its stored finding
    (lifecycle, suppression), its rule and its results in the trend's runs (newest first).
    Returns the views and how many problems were left out (over MAX_FINDINGS)."""
    problems = [r for r in results if r.status in (Status.FAIL, Status.ERROR)]
    problems.sort(key=lambda r: (r.status is not Status.FAIL, -r.severity.rank, r.host,
                                 r.rule_id))
    left_out = max(0, len(problems) - MAX_FINDINGS)
    problems = problems[:MAX_FINDINGS]
    stored = {f.id: f for f in _findings_by_id(store, [r.finding_id for r in problems])}
    start = scope.trend[0].started_at.isoformat()
    end = scope.history_end.isoformat()
    views = []
    for res in problems:
        rows = runs_repo.history(store, res.host, res.rule_id, start, end, MAX_HISTORY)
        history = tuple(HistoryEntry(
            run_id=row["run_id"], started_at=datetime.fromisoformat(row["started_at"]),
            status=row["status"], evidence=_evidence(row["evidence"]), reason=row["reason"],
            verification=bool(row["verification"]))
            for row in rows)
        views.append(FindingView(res, stored.get(res.finding_id),
                                 rules.get(res.pack, res.rule_id), history))
    return views, left_out


def _findings_by_id(store: Store, ids: Sequence[str]) -> list[Finding]:
    out: list[Finding] = []
    for chunk in _chunks(list(ids), 500):
        out.extend(store.findings(ids=chunk))
    return out


def _evidence(text: str | None) -> Evidence | None:
    if not text:
        return None
    try:
        return Evidence.model_validate_json(text)
    except ValueError:
        # a row someone edited: shown as what it is, never interpreted
        return Evidence(expected="?", found=text[:4096], source="(unreadable evidence row)")


# ------------------------------------------------------------------------------ host / rule


@dataclass(frozen=True)
class HostRow:
    host: str
    counts: dict[Status, int]
    failed: dict[Severity, int]


def host_rows(results: Sequence[RuleResult]) -> list[HostRow]:
    counts: dict[str, dict[Status, int]] = defaultdict(lambda: dict.fromkeys(Status, 0))
    failed: dict[str, dict[Severity, int]] = defaultdict(lambda: dict.fromkeys(SEVERITIES, 0))
    for r in results:
        counts[r.host][r.status] += 1
        if r.status is Status.FAIL:
            failed[r.host][r.severity] += 1
    return [HostRow(h, counts[h], failed[h]) for h in sorted(counts)]


@dataclass(frozen=True)
class RuleRow:
    rule_id: str
    pack: str
    title: str
    severity: Severity
    counts: dict[Status, int]
    rule: Rule | None


def rule_rows(results: Sequence[RuleResult], rules: RuleIndex) -> list[RuleRow]:
    counts: dict[tuple[str, str], dict[Status, int]] = defaultdict(
        lambda: dict.fromkeys(Status, 0))
    first: dict[tuple[str, str], RuleResult] = {}
    for r in results:
        key = (r.pack, r.rule_id)
        counts[key][r.status] += 1
        first.setdefault(key, r)
    return [RuleRow(rule_id=k[1], pack=k[0], title=first[k].title, severity=first[k].severity,
                    counts=counts[k], rule=rules.get(*k))
            for k in sorted(counts, key=lambda k: (k[1], k[0]))]


def severity_counts(results: Sequence[RuleResult]) -> dict[Severity, int]:
    out = dict.fromkeys(SEVERITIES, 0)
    for r in results:
        if r.status is Status.FAIL:
            out[r.severity] += 1
    return out


# ------------------------------------------------------------------------------ everything


@dataclass(frozen=True)
class ReportData:
    scope: Scope
    generated_at: datetime
    db_path: str
    results: int
    status_counts: dict[Status, int]
    severity: dict[Severity, int]
    hosts: list[HostRow]
    rules: list[RuleRow]
    posture: dict[str, list[Requirement]]
    trend: list[RunPosture]
    findings: list[FindingView]
    findings_left_out: int
    missing_packs: dict[str, str]


def collect_report(store: Store, *, run_id: str | None, since: timedelta | None,
                   now: datetime) -> ReportData:
    """Everything a report shows, read once from ``store``. A row the store cannot read back
    (a status or severity that is none of inspectorctl's, a JSON column that is not JSON) is a
    ``StoreError`` naming the database, never a traceback."""
    try:
        return _collect(store, run_id=run_id, since=since, now=now)
    except ValueError as e:
        raise StoreError(f"the database {store.path} holds a row inspectorctl cannot read "
                         f"({_first_line(e)}); was it edited by hand? Move it aside or use "
                         "another --db") from e


def _first_line(e: Exception) -> str:
    return one_line(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)


def _collect(store: Store, *, run_id: str | None, since: timedelta | None,
             now: datetime) -> ReportData:
    scope = resolve_scope(store, run_id=run_id, since=since, now=now)
    rules = load_rules(scope.trend)
    results = store.results(scope.run.id)
    statuses = dict.fromkeys(Status, 0)
    for r in results:
        statuses[r.status] += 1
    findings, left_out = problem_findings(store, scope, results, rules)
    return ReportData(
        scope=scope, generated_at=now, db_path=str(store.path), results=len(results),
        status_counts=statuses, severity=severity_counts(results), hosts=host_rows(results),
        rules=rule_rows(results, rules), posture=framework_posture(results, rules),
        trend=run_postures(store, scope.trend, rules), findings=findings,
        findings_left_out=left_out, missing_packs=dict(rules.missing))
