"""The ``inspectorctl`` command."""

from __future__ import annotations

import typer

from inspectorctl import __version__
from inspectorctl.cli import assess, demo, lab, remediate, ssm_docs

app = typer.Typer(
    name="inspectorctl",
    help="Assess Linux fleets, plan fixes, apply only what was approved, prove the fix.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"inspectorctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """Assess Linux fleets, plan fixes, apply only what was approved, prove the fix."""


assess.register(app)
lab.app.command("demo")(demo.demo)
app.add_typer(lab.app, name="lab")
remediate.register(app)
app.add_typer(ssm_docs.app, name="ssm-docs")


def main() -> None:
    app()
