"""The ``expression`` check kind: Jinja2 expressions in a sandbox, over snapshot data.

Names: the snapshot's facts as plain data (``sshd``, ``packages`` ...; use ``packages['items']``,
since ``packages.items`` is the dict method), ``host``, ``vars`` (tailoring values) and
``fail(reason)``, which makes the rule ERROR with that reason when the data cannot decide.
"""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from inspectorctl.errors import InputError
from inspectorctl.models.snapshot import FACT_NAMES, HostSnapshot

#: limits on the arithmetic a rule may ask for (``10 ** 10 ** 10`` would never return)
_MAX_EXPONENT = 256
_MAX_REPEAT = 100_000


class _Env(ImmutableSandboxedEnvironment):
    """The sandbox, also refusing huge powers and sequence repetitions."""

    intercepted_binops = frozenset({"**", "*"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > _MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is larger than {_MAX_EXPONENT}")
            return left**right
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if (isinstance(seq, (str, list, tuple)) and isinstance(n, int)
                        and len(seq) * n > _MAX_REPEAT):
                    raise SecurityError(f"repetition longer than {_MAX_REPEAT} items")
            return left * right
        return super().call_binop(context, operator, left, right)


class ExpressionFailed(Exception):
    """Raised by ``fail(reason)`` inside an expression: the rule is ERROR with that reason."""


def _fail(reason: object) -> None:
    raise ExpressionFailed(str(reason))


_ENV = _Env(undefined=StrictUndefined, autoescape=False)
#: ``fail('reason')`` lets an expression say it cannot decide, e.g.
#: ``sshd.error is none or fail('sshd -T failed: ' ~ sshd.error)``
_ENV.globals["fail"] = _fail


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


@functools.lru_cache(maxsize=4096)
def expression_names(expr: str) -> frozenset[str]:
    """The names ``expr`` reads from its scope (so only those facts need to be dumped)."""
    from jinja2 import meta

    try:
        return frozenset(meta.find_undeclared_variables(_ENV.parse("{{ (" + expr + ") }}")))
    except TemplateError as e:
        raise ExpressionError(f"invalid expression {expr!r}: {e}") from e


def evaluate_expression(expr: str, scope: dict[str, Any]) -> Any:
    """The value of ``expr``; any failure (an undefined name, a refused attribute, a type
    error...) is an ExpressionRuntimeError naming the expression and the reason."""
    fn = compile_expression(expr)
    try:
        value = fn(**scope)
        if isinstance(value, Undefined):
            # a bare undefined name or a refused attribute comes back as an Undefined value
            # that raises only when used; use it here so the reason is reported
            bool(value)
        return value
    except ExpressionFailed as e:
        raise ExpressionRuntimeError(str(e)) from e
    except Exception as e:  # whatever a rule's expression does wrong is an ERROR
        raise ExpressionRuntimeError(f"expression {expr!r} failed: {e}") from e


def snapshot_context(
    snapshot: HostSnapshot, facts: frozenset[str] | set[str] | None = None
) -> dict[str, Any]:
    """Facts as plain data, the names an expression may use (plus ``host``).

    ``facts`` limits the dump to what the selected expressions declared (the rest is absent,
    which an expression sees as an undefined name: ERROR, never a silent PASS).
    """
    wanted = set(FACT_NAMES if facts is None else facts) | {"host"}
    data: dict[str, Any] = snapshot.model_dump(mode="json", include=wanted)
    return data
