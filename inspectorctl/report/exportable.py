"""What the SIEM and Security Hub exports read from the store: a run's findings, each with its
rule (title, description, references, remediation), its vulnerability details when it is one,
and when it last changed.

One function, :func:`load`, shared by ``export securityhub`` and ``export ocsf``; the formats
(``report/asff.py``, ``report/ocsf.py``) are pure functions of what it returns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from inspectorctl.errors import InputError
from inspectorctl.models.common import Frozen
from inspectorctl.models.finding import Finding, RunRecord
from inspectorctl.models.rule import Rule
from inspectorctl.store import audit as audit_rows
from inspectorctl.store.db import Store
from inspectorctl.vuln_assess import PACK as VULN_PACK
from inspectorctl.vuln_assess import VulnFinding, stored_details


class ExportItem(Frozen):
    """One finding as the exports see it."""

    finding: Finding
    #: the rule that produced it (None: a vulnerability, or a pack no longer readable)
    rule: Rule | None = None
    #: the vulnerability details (None: a configuration finding)
    vuln: VulnFinding | None = None
    #: when the finding last changed: its newest observation, closing, suppression change, or
    #: the run that could not re-check it
    updated_at: datetime

    @property
    def is_vulnerability(self) -> bool:
        return self.finding.pack == VULN_PACK


class Exportable(Frozen):
    run: RunRecord
    items: tuple[ExportItem, ...]


def load(store: Store, run_id: str | None = None) -> Exportable:
    """The findings a run evaluated (default: the newest run), in every state."""
    if run_id is not None:
        run = store.run(run_id)
        if run is None:
            raise InputError(f"no run {run_id!r} in {store.path}; see `inspectorctl runs list`")
    else:
        run = store.latest_run()
        if run is None:
            raise InputError(f"no assessment recorded in {store.path}: run `inspectorctl "
                             "assess` (or `inspectorctl vulns assess`) first")
    return Exportable(run=run, items=items_of(store, store.findings(run_id=run.id), run))


def items_of(store: Store, findings: Sequence[Finding], run: RunRecord | None
             ) -> tuple[ExportItem, ...]:
    """``findings`` as the exports see them; their rules come from the shipped packs and the
    packs ``run`` used (``findings list`` passes the newest run)."""
    rules = _rules(run, findings)
    vulns = stored_details(store, [f.id for f in findings if f.pack == VULN_PACK])
    changed = _suppression_changes(store)
    unchecked_at: dict[str, datetime | None] = {}
    for rid in {f.unchecked_run for f in findings if f.unchecked_run}:
        r = store.run(rid)
        unchecked_at[rid] = (r.ended_at or r.started_at) if r is not None else None
    items = []
    for f in sorted(findings, key=lambda x: (x.host, x.rule_id)):
        # an ERROR result changes no finding's status, but it does change what it says (not
        # re-checked since ...): that run is a change too
        stamps = [f.last_seen, *(d for d in (f.closed_at, changed.get(f.id),
                                             unchecked_at.get(f.unchecked_run or ""))
                                 if d)]
        items.append(ExportItem(finding=f, rule=rules.get((f.pack, f.rule_id)),
                                vuln=vulns.get(f.id), updated_at=max(stamps)))
    return tuple(items)


def _rules(run: RunRecord | None, findings: Sequence[Finding]) -> dict[tuple[str, str], Rule]:
    """(pack, rule id) -> rule, from the shipped packs and the packs the run used; a pack file
    that is gone or broken leaves its findings without rule metadata (never an error: the
    finding itself is what is exported)."""
    from inspectorctl.rules.loader import load_pack, resolve_pack, shipped_pack_ids

    wanted = {f.pack for f in findings if f.pack != VULN_PACK}
    out: dict[tuple[str, str], Rule] = {}
    shipped = shipped_pack_ids()
    refs: list[str] = [str(shipped[p]) for p in sorted(wanted) if p in shipped]
    refs += [r for r in (run.packs if run is not None else ()) if r not in shipped]
    for ref in refs:
        try:
            pack = load_pack(resolve_pack(ref))
        except (InputError, OSError):
            continue
        if pack.id in wanted:
            for r in pack.rules:
                out.setdefault((pack.id, r.id), r)
    return out


def _suppression_changes(store: Store) -> dict[str, datetime]:
    """finding id -> the newest suppress/unsuppress entry of the audit log naming it (read
    here from the store, not through ``remediate.audit``: reports do not import the remediation
    layer)."""
    out: dict[str, datetime] = {}
    rows = audit_rows.of_events(store, ("suppress", "unsuppress"))
    for row in rows:
        try:
            at = datetime.fromisoformat(row["at"])
            detail = json.loads(row["detail"])
        except (TypeError, ValueError):
            continue  # `audit verify` reports a damaged entry; the export does not need it
        ids: Iterable[object] = detail.get("findings") or () if isinstance(detail, dict) else ()
        for fid in ids:
            if isinstance(fid, str):
                out[fid] = max(out.get(fid, at), at)
    return out
