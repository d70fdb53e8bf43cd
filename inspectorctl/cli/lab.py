"""``inspectorctl lab``: the local practice fleet."""

from __future__ import annotations

import typer

app = typer.Typer(help="A local practice fleet of isolated Linux hosts over real SSH.",
                  no_args_is_help=True)
