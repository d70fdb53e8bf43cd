"""``schema``, ``findings diff`` and ``posture``: the published JSON Schemas, and findings
over time (the work is in ``report/diff.py`` and ``report/posture.py``)."""

from __future__ import annotations

from typing import Annotated

import typer

from inspectorctl.cli._common import console, guarded
from inspectorctl.cli.assess import DbOpt, emit, format_option, open_store
from inspectorctl.models.rule import FRAMEWORKS
from inspectorctl.report.diff import DIFF, diff_lines, diff_runs
from inspectorctl.report.jsondoc import SCHEMAS_DIR, schema_names
from inspectorctl.report.posture import (
    POSTURE,
    compute_posture,
    render_posture_table,
    since_from,
)
from inspectorctl.store.db import now

DiffFormatOpt = Annotated[str, format_option(DIFF.names)]
PostureFormatOpt = Annotated[str, format_option(POSTURE.names)]


def register(app: typer.Typer, findings: typer.Typer) -> None:
    app.command("schema")(schema)
    findings.command("diff")(findings_diff)
    app.command("posture")(posture)


@guarded
def schema(
    kind: Annotated[str | None, typer.Argument(
        metavar="KIND", help="assessment, findings, runs, audit, journal, ... or sarif; "
        "without it, the list.")] = None,
) -> None:
    """Print the JSON Schema of a JSON output (``--format json`` of a command, or SARIF)."""
    from inspectorctl.report.jsondoc import load_schema

    if kind is None:
        for name in schema_names():
            typer.echo(name)
        return
    load_schema(kind)  # an unknown kind: one error listing the known
    typer.echo((SCHEMAS_DIR / f"{kind}.json").read_text("utf-8"), nl=False)


@guarded
def findings_diff(
    run_a: Annotated[str | None, typer.Argument(metavar="RUN_A", help="The earlier run.")
                     ] = None,
    run_b: Annotated[str | None, typer.Argument(metavar="RUN_B", help="The later run.")
                     ] = None,
    fmt: DiffFormatOpt = "table",
    db: DbOpt = None,
) -> None:
    """What changed between two assessments: new, regressed, changed evidence, still
    failing, fixed, not re-checked [default: the last two runs of the same targets]."""
    DIFF.check(fmt)
    with open_store(db) as store:
        d = diff_runs(store, run_a, run_b)
    if fmt != "table":
        emit(DIFF.render(fmt, d))
        return
    for line in diff_lines(d):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


@guarded
def posture(
    framework: Annotated[str | None, typer.Option(
        "--framework", help=f"One framework: {', '.join(FRAMEWORKS)} [default: all].")
    ] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="DURATION",
        help="Runs started within this long: 90d, 12h, 1d12h, or 'all' [default: 90d].")
    ] = None,
    fmt: PostureFormatOpt = "table",
    db: DbOpt = None,
) -> None:
    """Posture over time: per assessment run, the compliant share of each framework's
    requirements and the failed results by severity, oldest run first."""
    POSTURE.check(fmt)
    start = since_from(since, now())
    with open_store(db) as store:
        p = compute_posture(store, framework=framework, since=start)
    if fmt == "table":
        render_posture_table(console, p)
    else:
        emit(POSTURE.render(fmt, p))
