from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from inspectorctl.errors import InputError
from inspectorctl.models.rule import VarRef
from inspectorctl.remediate.planner import resolve_params
from inspectorctl.rules.engine import Selection, coerce_tailoring
from inspectorctl.rules.loader import load_packs


def test_text_values_take_the_type_of_the_default() -> None:
    assert coerce_tailoring("n", "90", 365) == 90
    assert coerce_tailoring("f", "1.5", 2.0) == 1.5
    assert coerce_tailoring("b", "no", True) is False
    assert coerce_tailoring("l", "a, b,,c", ["x"]) == ["a", "b", "c"]
    assert coerce_tailoring("s", "027", "022") == "027"
    assert coerce_tailoring("n", 90, 365) == 90  # already typed (YAML templates)
    with pytest.raises(InputError, match=r"tailoring value n='ninety': expected int like "
                                         r"the default 365"):
        coerce_tailoring("n", "ninety", 365)


def test_selection_applies_tailoring_per_pack_and_globally() -> None:
    (pack,) = load_packs(["cis-linux"])
    sel = Selection([pack], {"pass_max_days": "90", "cis-linux.pw_minlen": "16"})
    _, values = sel.rules[0]
    assert values["pass_max_days"] == 90 and values["pw_minlen"] == 16
    assert pack.defaults()["pass_max_days"] != 90  # the pack itself is untouched


def test_formatted_var_renders_remediation_lines_from_tailoring() -> None:
    (pack,) = load_packs(["cis-linux"])
    rule = next(r for r in pack.rules if r.id == "login-defs-pass-max-days")
    assert rule.remediation is not None
    sel = Selection([pack], {"pass_max_days": "60"}, include=[rule.id])
    (_, values), = sel.rules
    params = resolve_params(rule.remediation.params, values)
    assert params["line"] == "PASS_MAX_DAYS\t60"


def test_format_needs_exactly_one_slot() -> None:
    assert VarRef(var="x", format="a {} b").render({"x": 3}) == "a 3 b"
    for bad in ("no slot", "{} and {}", "{0}", "{x}"):
        with pytest.raises(ValidationError):
            VarRef(var="x", format=bad)


@pytest.mark.parametrize(("value", "default", "message"), [
    (["{{ lookup('pipe', 'id') }}"], 4, "expected int like the default 4, got list"),
    (True, 4, "expected int like the default 4, got bool"),
    ({"a": 1}, "x", "expected str like the default 'x', got dict"),
    (["a"], "x", "expected str like the default 'x', got list"),
    (1.5, 4, "expected int like the default 4, got float"),
    ([["a"]], ["b"], "n[0]=['a']: expected str like the default 'b', got list"),
    (3, ["b"], "expected list like the default ['b'], got int"),
    ("yes", 1.5, "expected float like the default 1.5"),
])
def test_values_of_another_type_are_refused(value: object, default: object,
                                            message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        coerce_tailoring("n", value, default)


def test_typed_values_are_kept_or_converted() -> None:
    assert coerce_tailoring("n", 2, 1.5) == 2.0
    assert coerce_tailoring("s", 22, "x") == 22  # a text variable takes any scalar
    assert coerce_tailoring("l", ["a", 1], ["x"]) == ["a", 1]
    assert coerce_tailoring("l", ["1", 2], [1]) == [1, 2]
