"""Posture over time: per assessment run, how many requirements of each framework were
compliant, and how many FAIL results of each severity there were.

The one entry point for every view (``inspectorctl posture``, the HTML report's trend chart):
``compute_posture(store, framework=None, since=None) -> Posture``; ``Posture.runs`` is oldest
first, each a ``RunPosture`` with ``failed`` (severity -> count), ``errors`` and
``frameworks`` (one ``FrameworkPosture`` per framework with at least one assessed rule mapped
to it: requirements, compliant, non_compliant, unknown, percent).

A requirement counts only in a run that assessed at least one rule mapped to it; it is
compliant when every such result is PASS or NOT_APPLICABLE, non-compliant when one is a FAIL,
and unknown when one is an ERROR and none fails (never compliant for something not seen). The
rules of a run are those of the packs it used (a shipped id or the file it named); a pack that
no longer loads leaves its rules out of that run's compliance, with a note. Pruned runs have
lost part of their results: they are skipped, and named in ``skipped``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field
from rich.console import Console
from rich.table import Table

from inspectorctl.errors import InputError
from inspectorctl.models.common import Frozen, Severity, Status
from inspectorctl.models.finding import RuleResult, RunRecord
from inspectorctl.models.plan import parse_duration
from inspectorctl.models.rule import FRAMEWORKS, Rule
from inspectorctl.report.csvout import Column, path, render_csv
from inspectorctl.report.jsondoc import dumps, envelope
from inspectorctl.report.registry import Formats
from inspectorctl.report.summary import add_fitting_columns, cell, framework_compliance
from inspectorctl.store.db import Store

#: the severities in the order they are shown (most severe first)
SEVERITIES: tuple[Severity, ...] = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM,
                                    Severity.LOW, Severity.INFORMATIONAL)

#: ``--since`` when not given
DEFAULT_SINCE = timedelta(days=90)


class FrameworkPosture(Frozen):
    framework: str
    requirements: int
    compliant: int
    non_compliant: int
    unknown: int
    #: compliant / requirements, in percent (one decimal)
    percent: float


class RunPosture(Frozen):
    run_id: str
    started_at: datetime
    targets: dict[str, Any]
    hosts: int
    results: int
    #: FAIL results per severity (every severity present)
    failed: dict[Severity, int]
    errors: int
    frameworks: list[FrameworkPosture]
    #: packs whose rules could not be loaded for this run (their rules count in no framework)
    notes: list[str] = Field(default_factory=list)


class SkippedRun(Frozen):
    run_id: str
    reason: str


class Posture(Frozen):
    #: the oldest start time included (None: every run)
    since: datetime | None
    #: the one framework asked for (None: every framework)
    framework: str | None
    runs: list[RunPosture]
    skipped: list[SkippedRun] = Field(default_factory=list)


RulesFor = Callable[[RunRecord], tuple[list[Rule], list[str]]]


def since_from(text: str | None, now: datetime) -> datetime | None:
    """``--since 90d`` as the oldest start time (``all``: None)."""
    if text is None:
        return now - DEFAULT_SINCE
    if text.strip() == "all":
        return None
    try:
        return now - parse_duration(text)
    except ValueError as e:
        raise InputError(f"--since {text!r}: {e} (or 'all')") from e


def run_posture(run: RunRecord, results: Sequence[RuleResult], rules: Sequence[Rule],
                frameworks: Sequence[str], notes: Sequence[str] = ()) -> RunPosture:
    """One run's posture (pure)."""
    assessed = {r.rule_id for r in results}
    mapped = [r for r in rules if r.id in assessed]
    fws = []
    for fw in frameworks:
        rows = framework_compliance(results, mapped, fw)
        if not rows:
            continue
        states = [r["state"] for r in rows]
        ok = states.count("compliant")
        fws.append(FrameworkPosture(
            framework=fw, requirements=len(rows), compliant=ok,
            non_compliant=states.count("non-compliant"), unknown=states.count("unknown"),
            percent=round(100.0 * ok / len(rows), 1)))
    fails = [r for r in results if r.status is Status.FAIL]
    return RunPosture(
        run_id=run.id, started_at=run.started_at, targets=run.targets,
        hosts=len({r.host for r in results}) or run.counts.hosts, results=len(results),
        failed={s: sum(1 for r in fails if r.severity is s) for s in SEVERITIES},
        errors=sum(1 for r in results if r.status is Status.ERROR), frameworks=fws,
        notes=list(notes))


def pack_rules(run: RunRecord) -> tuple[list[Rule], list[str]]:
    """The rules of the packs ``run`` used, and a note per pack that does not load now."""
    from inspectorctl.rules.loader import load_pack, resolve_pack

    rules: list[Rule] = []
    notes: list[str] = []
    for ref in run.packs:
        try:
            rules.extend(load_pack(resolve_pack(ref)).rules)
        except InputError as e:
            notes.append(f"pack {ref} not loaded ({e}); its rules count in no framework")
    return rules, notes


def compute_posture(store: Store, *, framework: str | None = None,
                    since: datetime | None = None, rules_for: RulesFor | None = None,
                    limit: int = 1000) -> Posture:
    """Posture of the assessment runs started at or after ``since`` (every run when None),
    oldest first, at most the newest ``limit``; ``framework`` keeps one framework."""
    if framework is not None and framework not in FRAMEWORKS:
        raise InputError(f"unknown framework {framework!r}; valid: {', '.join(FRAMEWORKS)}")
    frameworks = [framework] if framework else list(FRAMEWORKS)
    load = rules_for or _cached(pack_rules)
    runs = [r for r in store.runs(limit) if r.kind == "assess"
            and (since is None or r.started_at >= since)]
    out, skipped = [], []
    for run in reversed(runs):
        if run.pruned_at is not None:
            skipped.append(SkippedRun(run_id=run.id, reason=(
                f"pruned on {run.pruned_at:%Y-%m-%d}: only part of its results are kept")))
            continue
        rules, notes = load(run)
        out.append(run_posture(run, store.results(run.id), rules, frameworks, notes))
    return Posture(since=since, framework=framework, runs=out, skipped=skipped)


def _cached(fn: RulesFor) -> RulesFor:
    memo: dict[tuple[str, ...], tuple[list[Rule], list[str]]] = {}

    def get(run: RunRecord) -> tuple[list[Rule], list[str]]:
        key = tuple(run.packs)
        if key not in memo:
            memo[key] = fn(run)
        return memo[key]

    return get


# ------------------------------------------------------------------------------- renderers


def _frameworks_shown(p: Posture) -> list[str]:
    seen = {f.framework for r in p.runs for f in r.frameworks}
    return [fw for fw in FRAMEWORKS if fw in seen]


def render_posture_table(console: Console, p: Posture) -> None:
    since = f"since {p.since:%Y-%m-%d %H:%M}" if p.since else "all runs"
    console.print(f"Posture {since}: {len(p.runs)} assessment run(s)"
                  + (f", framework {p.framework}" if p.framework else ""), highlight=False)
    for s in p.skipped:
        console.print(f"skipped {s.run_id}: {s.reason}", highlight=False)
    if not p.runs:
        return
    fws = _frameworks_shown(p)
    headers = ("Run", "Started", "Hosts", "Crit", "High", "Med", "Low", "Info", "Err", *fws)
    rows = []
    for r in p.runs:
        by = {f.framework: f for f in r.frameworks}
        rows.append((
            r.run_id, r.started_at.strftime("%Y-%m-%d %H:%M"), str(r.hosts),
            *(str(r.failed[s]) for s in SEVERITIES), str(r.errors),
            *(f"{by[fw].compliant}/{by[fw].requirements} {by[fw].percent:g}%" if fw in by
              else "-" for fw in fws)))
    t = Table(show_edge=False, pad_edge=False, box=None, header_style="bold",
              padding=(0, 1, 0, 0))
    add_fitting_columns(t, headers, rows)
    for row in rows:
        t.add_row(*(cell(c) for c in row))
    console.print(t)
    for r in p.runs:
        for n in r.notes:
            console.print(f"note: {r.run_id}: {n}", highlight=False)
    if fws:
        console.print("Framework cells: compliant/assessed requirements (percent); failed "
                      "results by severity", highlight=False)


def render_posture_json(p: Posture) -> str:
    return dumps(envelope("posture", p.model_dump(mode="json")))


def _fw(fw: str, field: str) -> Callable[[Any], object]:
    def get(doc: Any) -> object:
        for f in doc.get("frameworks", []):
            if f["framework"] == fw:
                return f[field]
        return None
    return get


#: one row per run; every framework gets its compliant, requirements and percent columns
POSTURE_COLUMNS: list[Column] = [
    ("run_id", path("run_id")), ("started_at", path("started_at")), ("hosts", path("hosts")),
    ("results", path("results")),
    *((f"failed_{s.value}", path(f"failed.{s.value}")) for s in SEVERITIES),
    ("errors", path("errors")),
    *((f"{fw}_{field}", _fw(fw, field)) for fw in FRAMEWORKS
      for field in ("compliant", "requirements", "percent")),
]


def render_posture_csv(p: Posture) -> str:
    return render_csv(POSTURE_COLUMNS, (r.model_dump(mode="json") for r in p.runs))


#: ``posture --format`` (the table: ``render_posture_table``)
POSTURE: Formats[Posture] = Formats("posture", {
    "json": render_posture_json,
    "csv": render_posture_csv,
})
