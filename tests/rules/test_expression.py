"""The expression check kind: a Jinja2 sandbox over snapshot data."""

from __future__ import annotations

import re
from typing import Any

import pytest

from inspectorctl.models.common import Status
from inspectorctl.models.rule import Rule
from inspectorctl.models.snapshot import HostSnapshot
from inspectorctl.rules.checks import EvalContext
from inspectorctl.rules.engine import evaluate_rule
from inspectorctl.rules.expression import (
    ExpressionError,
    ExpressionRuntimeError,
    compile_expression,
    evaluate_expression,
    expression_names,
    snapshot_context,
)

SNAPSHOT = HostSnapshot.model_validate({
    "host": {"name": "h1"},
    "collected_at": "2026-01-01T00:00:00+00:00",
    "probe_uid": 0,
    "os": {"id": "debian", "family": "debian", "kernel": "6.1.0", "arch": "x86_64"},
    "sshd": {"installed": True, "config": {"maxauthtries": ["6"]}},
    "packages": {"manager": "dpkg", "items": [
        {"name": "openssh-server", "source": "openssh", "version": "1:9.2p1-2+deb12u6"}]},
})


def outcome(expr: str, facts: list[str] | None = None, **check: Any) -> tuple[Status, str]:
    rule = Rule.model_validate({
        "id": "t-expr", "title": "t", "description": "d", "rationale": "r",
        "severity": "low", "facts": facts or ["sshd"],
        "check": {"kind": "expression", "expr": expr, **check},
    })
    out = evaluate_rule(rule, SNAPSHOT, EvalContext(variables={"limit": 4}))
    text = out.reason if out.reason is not None else (out.evidence.found if out.evidence else "")
    return out.status, text


@pytest.mark.parametrize("expr", [
    "().__class__.__mro__",
    "().__class__",
    "''.__class__.__mro__[1].__subclasses__()",
    "sshd.__class__.__init__.__globals__",
    "cycler.__init__.__globals__",
    "lipsum.__globals__['os'].system('id')",
    "packages['items'].append(1)",
    "sshd.config.update({'maxauthtries': ['1']})",
    "sshd.config.pop('maxauthtries')",
])
def test_sandbox_refuses_escapes_and_mutation(expr: str) -> None:
    status, reason = outcome(expr, facts=["sshd", "packages"])
    assert status is Status.ERROR
    assert reason.startswith(f"expression {expr!r} failed: ")
    assert "unsafe" in reason or "undefined" in reason or "no attribute" in reason
    # and nothing was changed
    assert SNAPSHOT.sshd is not None and SNAPSHOT.sshd.config["maxauthtries"] == ("6",)


@pytest.mark.parametrize(("expr", "why"), [
    ("range(10 ** 6) | list | length", "Range too big"),
    ("2 ** (2 ** 20)", "exponent"),
    ("'x' * 10 ** 7", "repetition"),
    ("[0] * 10 ** 7", "repetition"),
])
def test_sandbox_refuses_runaway_computations(expr: str, why: str) -> None:
    status, reason = outcome(expr)
    assert status is Status.ERROR
    assert why in reason


def test_undefined_name_is_error_with_the_reason() -> None:
    status, reason = outcome("nosuch.thing > 1")
    assert status is Status.ERROR
    assert reason == "expression 'nosuch.thing > 1' failed: 'nosuch' is undefined"
    # a bare undefined name too (it comes back as an Undefined value that fails when used)
    status, reason = outcome("nosuch")
    assert status is Status.ERROR
    assert "'nosuch' is undefined" in reason


def test_undefined_key_of_a_fact_is_error() -> None:
    status, reason = outcome("sshd.config['permitrootlogin'][0] == 'no'")
    assert status is Status.ERROR
    assert "permitrootlogin" in reason


def test_facts_variables_and_evidence() -> None:
    assert outcome("sshd.config['maxauthtries'][0] | int <= vars.limit")[0] is Status.FAIL
    assert outcome("sshd.config['maxauthtries'][0] | int > vars.limit")[0] is Status.PASS
    status, found = outcome("true", evidence="'MaxAuthTries ' ~ sshd.config['maxauthtries'][0]")
    assert (status, found) == (Status.PASS, "MaxAuthTries 6")


def test_failing_evidence_or_not_applicable_if_is_error() -> None:
    assert outcome("true", evidence="nosuch")[0] is Status.ERROR
    assert outcome("true", not_applicable_if="nosuch")[0] is Status.ERROR


def test_fail_reports_its_reason() -> None:
    status, reason = outcome("sshd.installed and fail('cannot tell: ' ~ sshd.config | length)")
    assert (status, reason) == (Status.ERROR, "cannot tell: 1")


def test_context_holds_facts_and_host_only() -> None:
    ctx = snapshot_context(SNAPSHOT)
    assert ctx["host"]["name"] == "h1"
    assert ctx["sshd"]["config"] == {"maxauthtries": ["6"]}
    assert ctx["packages"]["items"][0]["name"] == "openssh-server"
    assert "probe_uid" not in ctx and "unknown" not in ctx
    with pytest.raises(ExpressionRuntimeError, match="'probe_uid' is undefined"):
        evaluate_expression("probe_uid == 0", ctx)


def test_items_is_the_dict_method_use_the_key() -> None:
    ctx = snapshot_context(SNAPSHOT)
    assert evaluate_expression("packages['items'] | length", ctx) == 1
    with pytest.raises(ExpressionRuntimeError):
        evaluate_expression("packages.items | length", ctx)


def test_syntax_errors_fail_at_compile_time() -> None:
    with pytest.raises(ExpressionError, match=re.escape("invalid expression 'sshd.config['")):
        compile_expression("sshd.config[")


def test_names_an_expression_reads() -> None:
    assert expression_names("sshd.config['x'] and vars.limit > host.name | length") == {
        "sshd", "vars", "host"}
    assert expression_names("packages['items'] | selectattr('name', 'equalto', n) | list") == {
        "packages", "n"}
    with pytest.raises(ExpressionError):
        expression_names("sshd.(")


def test_only_facts_the_selection_declared_are_visible() -> None:
    rule = Rule.model_validate({
        "id": "t-expr", "title": "t", "description": "d", "rationale": "r",
        "severity": "low", "facts": ["sshd"],
        "check": {"kind": "expression", "expr": "packages['items'] | length > 0",
                  "expected": "x"},
    })
    # the selection's expressions declared only sshd: packages stays undefined (ERROR), and
    # the cached dump of sshd made for a first rule does not change that
    cache: dict[str, Any] = {"expr_facts": frozenset({"sshd"})}
    ctx = EvalContext(variables={}, cache=cache)
    assert evaluate_rule(rule.model_copy(update={"check": rule.check.model_copy(
        update={"expr": "sshd.installed"})}), SNAPSHOT, ctx).status is Status.PASS
    out = evaluate_rule(rule, SNAPSHOT, ctx)
    assert out.status is Status.ERROR and "'packages' is undefined" in (out.reason or "")
    # declared: visible
    ctx = EvalContext(variables={}, cache={"expr_facts": frozenset({"sshd", "packages"})})
    assert evaluate_rule(rule, SNAPSHOT, ctx).status is Status.PASS
