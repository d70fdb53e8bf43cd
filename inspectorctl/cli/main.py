"""The ``inspectorctl`` command."""

from __future__ import annotations

import typer

from inspectorctl.cli import lab

app = typer.Typer(
    name="inspectorctl",
    help="Assess Linux fleets, plan fixes, apply only what was approved, prove the fix.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(lab.app, name="lab")


def main() -> None:
    app()
