"""The ``inspectorctl`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import typer.core

from inspectorctl import __version__
from inspectorctl.cli import (
    _common,
    assess,
    config,
    demo,
    export,
    lab,
    outputs,
    remediate,
    report,
    ssm_docs,
    vulns,
)
from inspectorctl.cli._common import abort, set_output
from inspectorctl.errors import InspectorctlError

_typer_argument_type = typer.core.TyperArgument.display_type_rich


def _argument_type(self: typer.core.TyperArgument, ctx: Any) -> str | None:
    """Typer prints an argument's Python type after its name (``ID... <list[str]>``); an
    argument with a metavar (``ID...``, ``FILE...``) says what it takes already."""
    if self.metavar is not None:
        return None
    result: str | None = _typer_argument_type(self, ctx)
    return result


typer.core.TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign,assignment]

app = typer.Typer(
    name="inspectorctl",
    help="Assess Linux fleets, plan fixes, apply only what was approved, prove the fix.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"inspectorctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
    config_file: Path | None = typer.Option(
        None, "--config", metavar="FILE", show_default=False,
        help="Configuration file [default: $INSPECTORCTL_CONFIG, ./inspectorctl.toml, "
        "$XDG_CONFIG_HOME/inspectorctl/config.toml]."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="No progress or information lines (errors, warnings and "
                               "the output asked for still print)."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, show_default=False,
                                help="Say what is being done, with timings (repeatable)."),
    no_color: bool = typer.Option(False, "--no-color",
                                  help="No colours (also when NO_COLOR is set)."),
) -> None:
    """Assess Linux fleets, plan fixes, apply only what was approved, prove the fix."""
    try:
        set_output(quiet, verbose, no_color)
        config.install(ctx, config_file)
        if config_file is not None or ctx.meta[config.META_KEY].path is not None:
            cfg = ctx.meta[config.META_KEY]
            _common.verbose(f"configuration: {cfg.path} ({config.FILE_SOURCES[cfg.path_source]})")
    except InspectorctlError as exc:
        abort(str(exc), exc.exit_code)


findings = assess.register(app)
outputs.register(app, findings)
lab.app.command("demo")(demo.demo)
app.add_typer(lab.app, name="lab")
remediate.register(app)
app.add_typer(ssm_docs.app, name="ssm-docs")
vulns.register(app)
export.register(app)
report.register(app)
app.add_typer(config.app, name="config")


def main() -> None:
    app()
