from __future__ import annotations

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
