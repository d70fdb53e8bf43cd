"""The formats of the listing commands whose rows the CLI gathers as JSON-ready documents:
``runs list``, ``audit list`` and ``journal``.

Each registry maps a format name to a renderer of a ``Listing``; adding a format to one of
these commands is one entry in its dict below (or ``RUNS.add(name, renderer)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inspectorctl.report.csvout import Column, columns, path, render_csv
from inspectorctl.report.jsondoc import dumps, envelope
from inspectorctl.report.registry import Formats


@dataclass(frozen=True)
class Listing:
    """The rows of a listing (``items``, each the JSON document of one row) under the name
    ``kind`` (``runs``, ``entries``, ``journal``), plus top-level fields (``extra``)."""

    kind: str
    key: str
    items: Sequence[Mapping[str, Any]]
    extra: Mapping[str, Any] = field(default_factory=dict)


def render_listing_json(v: Listing) -> str:
    return dumps(envelope(v.kind, {**v.extra, v.key: list(v.items)}))


def _first(*dotted: str) -> Any:
    getters = [path(d) for d in dotted]

    def get(doc: Any) -> object:
        for g in getters:
            value = g(doc)
            if value is not None:
                return value
        return None

    return get


#: runs list: one row per run, assessments and applies alike (stable order; new columns last)
RUN_COLUMNS: list[Column] = [
    *columns("id", "kind", "started_at", "ended_at"),
    ("status", path("status")),
    ("targets", path("targets")),
    ("framework", path("targets.framework")),
    ("hosts", _first("counts.hosts", "hosts")),
    *columns("counts.passed", "counts.failed", "counts.errors", "counts.not_applicable",
             "counts.new", "counts.reopened", "counts.closed", "plan_id", "rollback_of",
             "pruned_at"),
]

#: audit list: one row per entry
AUDIT_COLUMNS: list[Column] = columns(
    "seq", "at", "event", "actor", "plan_id", "plan_digest", "run_id", "detail", "digest")

#: journal: one row per host x action
JOURNAL_COLUMNS: list[Column] = columns(
    "run_id", "seq", "phase", "action_id", "playbook", "host", "state", "attempts", "rc",
    "started_at", "ended_at", "message")


def _csv(cols: list[Column]) -> Any:
    def render(v: Listing) -> str:
        return render_csv(cols, v.items)
    return render


#: ``runs list --format``
RUNS: Formats[Listing] = Formats("runs list", {
    "json": render_listing_json,
    "csv": _csv(RUN_COLUMNS),
})

#: ``audit list --format``
AUDIT: Formats[Listing] = Formats("audit list", {
    "json": render_listing_json,
    "csv": _csv(AUDIT_COLUMNS),
})

#: ``journal --format``
JOURNAL: Formats[Listing] = Formats("journal", {
    "json": render_listing_json,
    "csv": _csv(JOURNAL_COLUMNS),
})
