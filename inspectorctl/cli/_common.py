"""Helpers shared by the CLI commands: the only place that prints errors and exits."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from inspectorctl.errors import InspectorctlError

P = ParamSpec("P")
R = TypeVar("R")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def abort(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err_console.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn inspectorctl errors raised by a command into one message and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InspectorctlError as exc:
            abort(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("interrupted", markup=False)
            sys.exit(130)

    return wrapper
