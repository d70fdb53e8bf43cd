"""The evaluation engine: ``(snapshot, rules, tailoring) -> results``. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from inspectorctl.errors import InputError
from inspectorctl.models.common import Status, trusted
from inspectorctl.models.finding import Evidence, RuleResult
from inspectorctl.models.rule import Rule, RulePack
from inspectorctl.models.snapshot import CollectionFailure, HostResult, HostSnapshot
from inspectorctl.rules.checks import (
    CHECKS,
    CheckUndecidable,
    EvalContext,
    Outcome,
    error,
)
from inspectorctl.rules.expression import ExpressionError, ExpressionRuntimeError
from inspectorctl.rules.facts import facts_for
from inspectorctl.rules.platform import platform_outcome


def _wrong_type(name: str, value: Any, default: Any) -> InputError:
    return InputError(
        f"tailoring value {name}={value!r}: expected {type(default).__name__} like the "
        f"default {default!r}, got {type(value).__name__}")


def coerce_tailoring(name: str, value: Any, default: Any) -> Any:
    """A tailoring value in the type of its default (the variable's declared type): text
    (``--set``, YAML strings) is parsed; any other value must already have that type (a list is
    not an int, a mapping is never a value). A text variable takes any scalar; list elements
    are coerced to the type of the default's elements."""
    if isinstance(value, list) and isinstance(default, list):
        elem = default[0] if default else ""
        return [coerce_tailoring(f"{name}[{i}]", x, elem) for i, x in enumerate(value)]
    if isinstance(default, str):
        # a text variable takes any scalar (YAML reads `no` as false, `22` as a number)
        if isinstance(value, str | bool | int | float):
            return value
        raise _wrong_type(name, value, default)
    if not isinstance(value, str):
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = False  # a list default takes a list (above) or comma-separated text
        if not ok:
            raise _wrong_type(name, value, default)
        return float(value) if isinstance(default, float) else value
    text = value.strip()
    try:
        if isinstance(default, bool):
            if text.lower() in ("true", "yes", "1", "on"):
                return True
            if text.lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, list):
            return [x.strip() for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise InputError(
            f"tailoring value {name}={value!r}: expected {type(default).__name__} like the "
            f"default {default!r}"
        ) from e
    return value


class Selection:
    """Rules selected from packs, each with its pack's effective tailoring values."""

    def __init__(
        self,
        packs: Sequence[RulePack],
        tailoring: Mapping[str, Any] | None = None,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        framework: str | None = None,
    ) -> None:
        import fnmatch

        inc, exc = list(include), list(exclude)
        self.packs = list(packs)
        self.rules: list[tuple[Rule, dict[str, Any]]] = []
        tailoring = dict(tailoring or {})
        for pack in packs:
            values = pack.defaults()
            for k, v in tailoring.items():
                # "pack.var" targets one pack; a bare name every pack defining it
                if "." in k:
                    p, _, var = k.partition(".")
                    if p == pack.id and var in values:
                        values[var] = coerce_tailoring(k, v, values[var])
                elif k in values:
                    values[k] = coerce_tailoring(k, v, values[k])
            for rule in pack.rules:
                if inc and not any(fnmatch.fnmatch(rule.id, g) for g in inc):
                    continue
                if any(fnmatch.fnmatch(rule.id, g) for g in exc):
                    continue
                if framework and not rule.references.framework_ids(framework):
                    continue
                self.rules.append((rule, values))
        #: facts per rule id, and the facts expression checks read (precomputed: hot path)
        self.facts: dict[str, tuple[str, ...]] = {r.id: facts_for(r) for r, _ in self.rules}
        self.expression_facts: frozenset[str] = frozenset(
            f for r, _ in self.rules if r.check.kind == "expression" for f in r.facts)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def rule_list(self) -> list[Rule]:
        return [r for r, _ in self.rules]


def evaluate_rule(
    rule: Rule, snapshot: HostSnapshot, ctx: EvalContext, facts: tuple[str, ...] | None = None
) -> Outcome:
    for name in facts if facts is not None else facts_for(rule):
        if name in snapshot.unknown:
            return error(f"fact '{name}' could not be collected: {snapshot.unknown[name]}")
    if rule.check.kind == "expression":
        # an expression would read a missing fact as null and could PASS on it
        for name in rule.facts:
            if getattr(snapshot, name) is None:
                return error(f"fact '{name}' is unknown: not collected")
    try:
        out = platform_outcome(rule.platform, snapshot, ctx)
        if out is not None:
            return out
        return CHECKS[rule.check.kind](rule.check, snapshot, ctx)
    except CheckUndecidable as e:
        return error(str(e))
    except (ExpressionRuntimeError, ExpressionError) as e:
        return error(str(e))


def _result(rule: Rule, host: str, out: Outcome) -> RuleResult:
    # internal values are already valid: skip re-validation on this hot path
    return trusted(RuleResult, {
        "rule_id": rule.id,
        "pack": rule.pack,
        "host": host,
        "status": out.status,
        "severity": rule.severity,
        "title": rule.title,
        "evidence": out.evidence,
        "reason": out.reason,
    })


def evaluate_outcomes(snapshot: HostSnapshot, selection: Selection) -> list[Outcome]:
    """The outcome of every selected rule on one host, in selection order (the hot path: the
    offline workers turn these straight into rows, without building RuleResult objects)."""
    contexts: dict[int, EvalContext] = {}
    shared: dict[str, Any] = {"expr_facts": selection.expression_facts}
    outcomes = []
    facts = selection.facts
    for rule, values in selection.rules:
        ctx = contexts.get(id(values))
        if ctx is None:
            ctx = contexts[id(values)] = EvalContext(variables=values, cache=shared)
        outcomes.append(evaluate_rule(rule, snapshot, ctx, facts[rule.id]))
    return outcomes


def evaluate_host(result: HostResult, selection: Selection) -> list[RuleResult]:
    """Every selected rule on one host; a host that could not be probed is ERROR throughout."""
    if isinstance(result, CollectionFailure):
        out = Outcome(Status.ERROR, reason=f"host could not be assessed: {result.reason}")
        return [_result(rule, result.host, out) for rule, _ in selection.rules]
    host = result.host.name
    return [_result(rule, host, out) for (rule, _), out in
            zip(selection.rules, evaluate_outcomes(result, selection), strict=True)]


__all__ = ["Evidence", "Selection", "evaluate_host", "evaluate_outcomes", "evaluate_rule"]
