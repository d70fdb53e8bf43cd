"""Helpers shared by the CLI commands: the only place that prints errors and exits."""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console, ConsoleDimensions
from rich.text import Text

from inspectorctl.errors import InputError, InspectorctlError
from inspectorctl.textsafe import escape_controls

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

    def render_str(self, text: str, **kwargs: Any) -> Text:
        """Every string printed (a message, a table cell) with its control characters shown
        as escapes: data from hosts and users never reaches the terminal raw. Markup is off
        for these consoles (user data is text, never markup)."""
        return super().render_str(escape_controls(text), **kwargs)


console = _Console(soft_wrap=True, markup=False, emoji=False)
err_console = _Console(stderr=True, highlight=False, soft_wrap=True, markup=False,
                       emoji=False)


class Verbosity:
    """How much the CLI says on stderr besides errors and warnings (``-q``, ``-v``): -1 quiet
    (no progress, no info lines), 0 the default, 1 and more (``-v``, ``-vv``) also what is
    being done, with the time since the command started."""

    level = 0
    started = time.monotonic()


def set_output(quiet: bool, verbose: int, no_color: bool) -> None:
    """The global output options: ``-q``, ``-v`` (repeatable), ``--no-color`` / NO_COLOR."""
    if quiet and verbose:
        raise InputError("-q/--quiet and -v/--verbose contradict each other: give one")
    Verbosity.level = -1 if quiet else verbose
    Verbosity.started = time.monotonic()
    colorless = no_color or bool(os.environ.get("NO_COLOR"))  # https://no-color.org
    console.no_color = colorless
    err_console.no_color = colorless


def quiet() -> bool:
    return Verbosity.level < 0


def info(message: str) -> None:
    """An information line on stderr (``wrote FILE``, a summary): not with ``-q``."""
    if Verbosity.level >= 0:
        err_console.print(message, highlight=False, markup=False, soft_wrap=True)


def verbose(message: str, level: int = 1) -> None:
    """What is being done, on stderr, with ``-v`` (``level`` 2: with ``-vv``)."""
    if Verbosity.level >= level:
        elapsed = time.monotonic() - Verbosity.started
        err_console.print(f"[{elapsed:7.2f}s] {message}", highlight=False, markup=False,
                          soft_wrap=True)


def abort(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err_console.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def describe_os_error(exc: OSError) -> str:
    """``cannot write FILE: File too large (errno EFBIG)``: an environment error in words."""
    what = exc.strerror or str(exc)
    name = errno.errorcode.get(exc.errno or 0)
    code = f" ({name})" if name else ""
    where = f" {exc.filename}" if exc.filename else ""
    hint = ""
    if exc.errno in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
        hint = "; free some space (or raise the file size limit, ulimit -f) and run it again"
    return f"system error on{where or ' a file'}: {what}{code}{hint}"


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn inspectorctl errors raised by a command into one message and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InspectorctlError as exc:
            abort(str(exc), exc.exit_code)
        except sqlite3.Error as exc:
            # the store turns database errors into StoreError; this is the last line
            abort(f"database error: {exc} (the database may be corrupt, locked or on a full "
                  "disk; move it aside or use another --db)", 1)
        except OSError as exc:
            abort(describe_os_error(exc), 1)
        except KeyboardInterrupt:
            err_console.print("interrupted", markup=False)
            sys.exit(130)

    return wrapper
