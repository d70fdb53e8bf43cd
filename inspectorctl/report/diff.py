"""What changed between two assessments: ``inspectorctl findings diff RUN_A RUN_B``.

Each (rule, host) pair that failed in either run is one entry, in exactly one category:

- ``new``: FAIL in B, and A did not fail or pass it (not assessed, not applicable, an error);
- ``regressed``: PASS in A, FAIL in B;
- ``changed_evidence``: FAIL in both, and what was found (or where) differs;
- ``still_failing``: FAIL in both with the same evidence;
- ``fixed``: FAIL in A, PASS or NOT_APPLICABLE in B;
- ``not_rechecked``: FAIL in A, and B could not check it (ERROR) or did not assess it: never
  called fixed for something not seen.

``diff_results`` is pure; ``diff_runs`` reads the runs from the store (default: the newest
assessment and the newest earlier one of the same targets).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from inspectorctl.errors import InputError
from inspectorctl.models.common import Frozen, Severity, Status
from inspectorctl.models.finding import RuleResult, RunRecord
from inspectorctl.report.csvout import Column, columns, render_csv
from inspectorctl.report.jsondoc import dumps, envelope
from inspectorctl.report.registry import Formats
from inspectorctl.store.db import Store


class Change(enum.StrEnum):
    NEW = "new"
    REGRESSED = "regressed"
    CHANGED_EVIDENCE = "changed_evidence"
    STILL_FAILING = "still_failing"
    FIXED = "fixed"
    NOT_RECHECKED = "not_rechecked"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Change.NEW: "new", Change.REGRESSED: "regressed",
    Change.CHANGED_EVIDENCE: "changed evidence", Change.STILL_FAILING: "still failing",
    Change.FIXED: "fixed", Change.NOT_RECHECKED: "not re-checked",
}


class Side(Frozen):
    """One run's result for the pair (absent when that run did not assess it)."""

    status: Status
    expected: str | None = None
    found: str | None = None
    source: str | None = None
    reason: str | None = None

    @classmethod
    def of(cls, r: RuleResult) -> Side:
        ev = r.evidence
        return cls(status=r.status, expected=ev.expected if ev else None,
                   found=ev.found if ev else None, source=ev.source if ev else None,
                   reason=r.reason)


class DiffEntry(Frozen):
    change: Change
    finding_id: str
    rule_id: str
    pack: str
    host: str
    severity: Severity
    title: str
    before: Side | None
    after: Side | None


class RunRef(Frozen):
    id: str
    started_at: datetime
    targets: dict[str, Any]


class FindingsDiff(Frozen):
    run_a: RunRef
    run_b: RunRef
    #: entries per category, every category present
    counts: dict[Change, int]
    entries: list[DiffEntry]


def _ref(run: RunRecord) -> RunRef:
    return RunRef(id=run.id, started_at=run.started_at, targets=run.targets)


def _classify(a: RuleResult | None, b: RuleResult | None) -> Change | None:
    sa = a.status if a else None
    sb = b.status if b else None
    if sb is Status.FAIL:
        if sa is Status.FAIL:
            assert a is not None and b is not None
            return (Change.STILL_FAILING if a.evidence == b.evidence
                    else Change.CHANGED_EVIDENCE)
        return Change.REGRESSED if sa is Status.PASS else Change.NEW
    if sa is Status.FAIL:
        if sb in (Status.PASS, Status.NOT_APPLICABLE):
            return Change.FIXED
        return Change.NOT_RECHECKED
    return None


def diff_results(run_a: RunRecord, a: Sequence[RuleResult], run_b: RunRecord,
                 b: Sequence[RuleResult]) -> FindingsDiff:
    before = {(r.rule_id, r.host): r for r in a}
    after = {(r.rule_id, r.host): r for r in b}
    entries = []
    for key in before.keys() | after.keys():
        ra, rb = before.get(key), after.get(key)
        change = _classify(ra, rb)
        if change is None:
            continue
        cur = rb if rb is not None else ra
        assert cur is not None
        entries.append(DiffEntry(
            change=change, finding_id=cur.finding_id, rule_id=cur.rule_id, pack=cur.pack,
            host=cur.host, severity=cur.severity, title=cur.title,
            before=Side.of(ra) if ra else None, after=Side.of(rb) if rb else None))
    order = list(Change)
    entries.sort(key=lambda e: (order.index(e.change), -e.severity.rank, e.host, e.rule_id))
    counts = {c: sum(1 for e in entries if e.change is c) for c in Change}
    return FindingsDiff(run_a=_ref(run_a), run_b=_ref(run_b), counts=counts, entries=entries)


def diff_runs(store: Store, run_a: str | None = None, run_b: str | None = None
              ) -> FindingsDiff:
    """The diff of two stored runs; without ids, the newest assessment against the newest
    earlier run of the same kind and targets."""
    if (run_a is None) != (run_b is None):
        raise InputError("findings diff takes two runs (RUN_A RUN_B) or none (the last two "
                         "runs of the same targets)")
    if run_a is None or run_b is None:
        b = store.latest_run()
        if b is None:
            raise InputError(f"no assessment in {store.path}: nothing to compare")
        a = store.previous_run(b)
        if a is None:
            raise InputError(
                f"run {b.id} is the only assessment of its targets in {store.path}; assess "
                "them again, or name two runs: inspectorctl findings diff RUN_A RUN_B "
                "(see `inspectorctl runs list`)")
    else:
        a, b = _stored(store, run_a), _stored(store, run_b)
    return diff_results(a, store.results(a.id), b, store.results(b.id))


def _stored(store: Store, run_id: str) -> RunRecord:
    run = store.run(run_id)
    if run is None:
        raise InputError(f"no run {run_id!r} in {store.path}; see `inspectorctl runs list`")
    if run.pruned_at is not None:
        raise InputError(
            f"run {run_id} was pruned on {run.pruned_at:%Y-%m-%d}: only some of its results "
            "are kept, so a diff against it would be wrong; compare runs that were not pruned")
    return run


# ------------------------------------------------------------------------------- renderers


def diff_lines(d: FindingsDiff) -> list[str]:
    """The table view: a summary line, then each non-empty category with one line per
    finding (control characters in values are escaped by the console that prints them)."""
    lines = [f"Findings diff {d.run_a.id} -> {d.run_b.id}",
             ", ".join(f"{c.label} {d.counts[c]}" for c in Change)]
    for c in Change:
        rows = [e for e in d.entries if e.change is c]
        if not rows:
            continue
        lines.append(f"{c.label.capitalize()} ({len(rows)}):")
        lines.extend(f"  {e.severity.value:<13} {e.finding_id} {e.rule_id} on {e.host}: "
                     f"{_what(e)}" for e in rows)
    return lines


def _found(s: Side) -> str:
    if s.status in (Status.PASS, Status.FAIL) and s.found is not None:
        return f"found {s.found}"
    return f"{s.status.value}" + (f" ({s.reason})" if s.reason else "")


def _what(e: DiffEntry) -> str:
    a, b = e.before, e.after
    if e.change in (Change.NEW, Change.REGRESSED, Change.STILL_FAILING):
        assert b is not None
        was = f" (was {_found(a)})" if e.change is Change.REGRESSED and a else ""
        return _found(b) + was
    if e.change is Change.CHANGED_EVIDENCE:
        assert a is not None and b is not None
        if a.found == b.found:
            return f"found {b.found} in {b.source} (was in {a.source})"
        return f"found {b.found} (was {a.found})"
    assert a is not None
    if e.change is Change.FIXED:
        assert b is not None
        return f"now {b.status.value}, {_found(b)} (was {_found(a)})" if b.found else (
            f"now {_found(b)} (was {_found(a)})")
    why = f"{b.reason or 'error'}" if b is not None else "not assessed in this run"
    return f"{why}; was {_found(a)}"


def render_diff_json(d: FindingsDiff) -> str:
    return dumps(envelope("findings-diff", d.model_dump(mode="json")))


DIFF_COLUMNS: list[Column] = columns(
    "change", "finding_id", "host", "pack", "rule_id", "title", "severity", "before.status",
    "before.found", "before.source", "before.reason", "after.status", "after.found",
    "after.source", "after.reason")


def render_diff_csv(d: FindingsDiff) -> str:
    return render_csv(DIFF_COLUMNS, (e.model_dump(mode="json") for e in d.entries))


#: ``findings diff --format``
DIFF: Formats[FindingsDiff] = Formats("findings diff", {
    "json": render_diff_json,
    "csv": render_diff_csv,
})
