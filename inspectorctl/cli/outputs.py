"""``schema``, ``findings diff`` and ``posture``: the published JSON Schemas, and findings
over time."""

from __future__ import annotations

from typing import Annotated

import typer

from inspectorctl.cli._common import guarded
from inspectorctl.report.jsondoc import SCHEMAS_DIR, schema_names


def register(app: typer.Typer, findings: typer.Typer) -> None:
    app.command("schema")(schema)


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
