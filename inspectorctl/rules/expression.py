"""The ``expression`` check kind: Jinja2 expressions in a sandbox, over snapshot data."""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from inspectorctl.errors import InputError
from inspectorctl.models.snapshot import FACT_NAMES, HostSnapshot

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class ExpressionError(InputError):
    """An expression that does not compile."""


class ExpressionRuntimeError(Exception):
    """An expression failed on a snapshot (undefined name, type error, sandbox refusal)."""


@functools.lru_cache(maxsize=4096)
def compile_expression(expr: str) -> Any:
    try:
        return _ENV.compile_expression(expr, undefined_to_none=False)
    except TemplateError as e:
        raise ExpressionError(f"invalid expression {expr!r}: {e}") from e


def evaluate_expression(expr: str, scope: dict[str, Any]) -> Any:
    fn = compile_expression(expr)
    try:
        return fn(**scope)
    except (TemplateError, TypeError, ValueError, KeyError, AttributeError, IndexError,
            ZeroDivisionError) as e:
        raise ExpressionRuntimeError(f"expression {expr!r} failed: {e}") from e


def snapshot_context(snapshot: HostSnapshot) -> dict[str, Any]:
    """Facts as plain data, the names an expression may use (plus ``host``)."""
    data = snapshot.model_dump(mode="json", include=set(FACT_NAMES) | {"host"})
    return data
