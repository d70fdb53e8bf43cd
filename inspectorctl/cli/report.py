"""``report``: a report of stored runs for people (one self-contained HTML file)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from inspectorctl.cli._common import guarded, info
from inspectorctl.errors import InputError
from inspectorctl.paths import default_db_path
from inspectorctl.report.html import render_html, write_report
from inspectorctl.report.reportdata import collect_report, parse_since
from inspectorctl.store.db import Store


def register(app: typer.Typer) -> None:
    app.command("report")(report)


@guarded
def report(
    html: Annotated[Path, typer.Option(
        "--html", metavar="OUT",
        help="Write the report to this HTML file (one self-contained file, written "
        "atomically, mode 0600).")],
    run: Annotated[str | None, typer.Option(
        "--run", metavar="ID",
        help="The run to report on, with the 30 days up to it as the trend [default: the "
        "newest assessment that is not a remediation's verification].")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="AGE",
        help="Report on the newest run of this window (12h, 30d, 6w), with every run of it as "
        "the trend.")] = None,
    db: Annotated[Path | None, typer.Option(
        "--db", help="SQLite database [default: $INSPECTORCTL_DB or "
        "$XDG_DATA_HOME/inspectorctl/findings.db]", show_default=False)] = None,
) -> None:
    """Write an HTML report of a run: posture per framework and requirement, severities, the
    trend over runs, hosts and rules, and every finding with its evidence, references, fix and
    history."""
    window = parse_since(since) if since is not None else None
    path = db or default_db_path()
    if not path.is_file():
        # opening it would create an empty database: nothing to report, and nothing to write
        raise InputError(f"no database at {path}: nothing to report; run `inspectorctl assess` "
                         "first (or give the right --db)")
    with Store(path) as store:
        data = collect_report(store, run_id=run, since=window, now=datetime.now(UTC))
    text = render_html(data)
    write_report(html, text)
    info(f"wrote {html}: run {data.scope.run.id}, {len(data.hosts)} host(s), "
         f"{len(data.findings)} finding(s), {len(data.scope.trend)} run(s) in the trend")
