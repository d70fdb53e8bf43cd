"""Helpers shared by the CLI commands: the only place that prints errors and exits."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console, ConsoleDimensions

from inspectorctl.errors import InspectorctlError

P = ParamSpec("P")
R = TypeVar("R")

#: the width of output that goes to a pipe or a file (a CI log): wide enough that tables keep
#: rule ids, hosts and titles on one line
PIPE_WIDTH = 200


class _Console(Console):
    """rich's console, except that output that is not a terminal is not wrapped at rich's 80
    columns but at PIPE_WIDTH; COLUMNS, when set, decides as usual."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is None and "COLUMNS" not in os.environ and not self.is_terminal:
            return ConsoleDimensions(PIPE_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


console = _Console(soft_wrap=True)
err_console = _Console(stderr=True, highlight=False, soft_wrap=True)


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
