"""Which output formats each listing command writes, and the renderer of each.

One registry per command (``Formats``): a format name maps to a renderer ``(data) -> str``,
and ``table`` (the human view, drawn by the CLI on its console) is always there. Adding a
format to a command is one entry: ``ASSESS.add("ocsf", render_ocsf)`` (or one line in the
registry's dict where it is built, in ``report/formats.py`` and ``report/listings.py``). A
format a command does not write is refused with the list of those it does (exit 2), never
ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from inspectorctl.errors import InputError

T = TypeVar("T")

#: the human view every command writes; the CLI draws it on its console
TABLE = "table"

Renderer = Callable[[T], str]


class UnsupportedFormat(InputError):
    """``--format X`` on a command that does not write X (exit 2)."""


class Formats(Generic[T]):
    """The formats of one command: ``table`` first, then the renderers in the order added."""

    def __init__(self, command: str, renderers: dict[str, Renderer[T]] | None = None, *,
                 elsewhere: dict[str, str] | None = None) -> None:
        self.command = command
        #: format -> the command that writes it instead (said when it is asked for here)
        self.elsewhere = dict(elsewhere or {})
        self._renderers: dict[str, Renderer[T]] = {}
        for name, fn in (renderers or {}).items():
            self.add(name, fn)

    def add(self, name: str, renderer: Renderer[T]) -> None:
        if name == TABLE or name in self._renderers:
            raise ValueError(f"{self.command}: format {name!r} is registered already")
        self._renderers[name] = renderer

    @property
    def names(self) -> tuple[str, ...]:
        return (TABLE, *self._renderers)

    def check(self, fmt: str) -> str:
        """``fmt`` when this command writes it; else UnsupportedFormat naming those it does."""
        if fmt != TABLE and fmt not in self._renderers:
            hint = f" ({self.elsewhere[fmt]})" if fmt in self.elsewhere else ""
            raise UnsupportedFormat(
                f"{self.command} does not write --format {fmt}; it supports: "
                f"{', '.join(self.names)}{hint}")
        return fmt

    def render(self, fmt: str, data: T) -> str:
        """The machine-readable rendering (every format but ``table``)."""
        self.check(fmt)
        if fmt == TABLE:
            raise ValueError("the table is drawn by the CLI on its console")
        return self._renderers[fmt](data)

    def metavar(self) -> str:
        return "[" + "|".join(self.names) + "]"
