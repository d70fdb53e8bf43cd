"""``schema``, ``findings diff`` and ``posture``: the published JSON Schemas, and findings
over time."""

from __future__ import annotations

from typing import Annotated

import typer

from inspectorctl.cli._common import console, guarded
from inspectorctl.cli.assess import DbOpt, emit, format_option, open_store
from inspectorctl.report.diff import DIFF, diff_lines, diff_runs
from inspectorctl.report.jsondoc import SCHEMAS_DIR, schema_names

DiffFormatOpt = Annotated[str, format_option(DIFF.names)]


def register(app: typer.Typer, findings: typer.Typer) -> None:
    app.command("schema")(schema)
    findings.command("diff")(findings_diff)


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
