"""SQLite store: the ``Store`` facade callers open.

The store owns every table, migration and SQL statement of the findings database, one
repository module per record type:

- ``schema.py``: every migration, in one explicit ordered list (``MIGRATIONS``);
- ``base.py``: the connection (``Database``: open, migrate, transactions, errors);
- ``runs.py``: runs and their per-rule results; ``findings.py``: findings and suppressions;
- ``plans.py``, ``approvals.py``, ``audit.py``, ``journal.py`` (apply runs and their journal),
  ``meta.py`` (the remediation side's settings) and ``vulns.py`` (vulnerability details and
  package inventories).

``Store`` is a ``Database`` with the runs' and findings' operations as methods (what most
callers use); the other repositories are functions taking the store. A run is recorded in one
transaction: either all of it or none.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from inspectorctl.models.common import Severity, Status
from inspectorctl.models.finding import Finding, FindingState, RuleResult, RunRecord
from inspectorctl.store import findings as _findings
from inspectorctl.store import runs as _runs
from inspectorctl.store.base import AuditWrite, Database, Rows, StoreError, now
from inspectorctl.store.findings import FindingChanges, ResultRow, Suppression
from inspectorctl.store.runs import PruneReport, RunRecorder, prune_results
from inspectorctl.store.schema import MIGRATIONS, Migration, run_script

__all__ = [
    "MIGRATIONS",
    "AuditWrite",
    "FindingChanges",
    "Migration",
    "PruneReport",
    "ResultRow",
    "Rows",
    "RunRecorder",
    "Store",
    "StoreError",
    "Suppression",
    "now",
    "prune_results",
    "run_script",
]


class Store(Database):
    # --------------------------------------------------------------------------------- runs

    def record_run(self, run: RunRecord, results: Iterable[RuleResult]) -> RunRecord:
        """Store a run and its results, update the findings lifecycle; one transaction."""
        return _runs.record_run(self, run, results)

    @contextmanager
    def recording(self, run: RunRecord) -> Iterator[RunRecorder]:
        """Record a run host by host inside ONE transaction (see ``runs.recording``)."""
        with _runs.recording(self, run) as rec:
            yield rec

    def runs(self, limit: int = 50) -> list[RunRecord]:
        return _runs.runs(self, limit)

    def run(self, run_id: str) -> RunRecord | None:
        return _runs.run(self, run_id)

    def latest_run(self, kind: str = "assess") -> RunRecord | None:
        return _runs.latest_run(self, kind)

    def previous_run(self, run: RunRecord) -> RunRecord | None:
        return _runs.previous_run(self, run)

    def results(self, run_id: str) -> list[RuleResult]:
        return _runs.results(self, run_id)

    def prune(
        self, keep: int, at: datetime, *, audit: Callable[[sqlite3.Connection, PruneReport], None]
        | None = None,
    ) -> PruneReport:
        return _runs.prune(self, keep, at, audit=audit)

    # ----------------------------------------------------------------------------- findings

    def findings(
        self,
        *,
        hosts: Sequence[str] = (),
        rules: Sequence[str] = (),
        min_severity: Severity | None = None,
        statuses: Sequence[Status] = (),
        states: Sequence[FindingState] = (),
        run_id: str | None = None,
        ids: Sequence[str] = (),
    ) -> list[Finding]:
        return _findings.select(self, hosts=hosts, rules=rules, min_severity=min_severity,
                                statuses=statuses, states=states, run_id=run_id, ids=ids)

    def finding(self, fid: str) -> Finding | None:
        return _findings.finding(self, fid)

    def suppress(
        self,
        ids: Sequence[str],
        *,
        by: str,
        reason: str,
        until: datetime | None,
        audit: AuditWrite | None = None,
    ) -> list[Finding]:
        return _findings.suppress(self, ids, by=by, reason=reason, until=until, audit=audit)

    def unsuppress(self, ids: Sequence[str], *, audit: AuditWrite | None = None) -> list[Finding]:
        return _findings.unsuppress(self, ids, audit=audit)

    def sync_suppressions(
        self,
        suppress: Sequence[Suppression],
        lift: Sequence[str],
        *,
        audit: AuditWrite | None = None,
    ) -> None:
        _findings.sync_suppressions(self, suppress, lift, audit=audit)
