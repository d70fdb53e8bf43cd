"""docs/rules.md stays true: every YAML example in it loads (packs and rules through the
rulepack loader, the template through the template model), and every check kind has one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from inspectorctl.models.rule import CHECK_KINDS
from inspectorctl.models.template import AssessmentTemplate
from inspectorctl.rules.loader import load_pack, validate_pack

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)


def _blocks() -> list[Any]:
    return [yaml.safe_load(b) for b in _BLOCK.findall(DOC.read_text(encoding="utf-8"))]


def test_every_yaml_example_of_the_rules_doc_loads(tmp_path: Path) -> None:
    blocks = _blocks()
    packs = [b for b in blocks if isinstance(b, dict) and "rules" in b and "id" in b]
    rules = [r for b in blocks if isinstance(b, list) for r in b]
    templates = [b for b in blocks if isinstance(b, dict) and "name" in b]
    assert len(packs) == 1 and len(templates) == 1
    assert len(packs) + len(templates) + sum(isinstance(b, list) for b in blocks) == len(blocks)
    # the example pack as it is
    f = tmp_path / "acme.yml"
    f.write_text(yaml.safe_dump(packs[0]), encoding="utf-8")
    assert validate_pack(f) == []
    assert [r.id for r in load_pack(f).rules] == ["acme-ssh-max-auth-tries"]
    # every rule example, in a pack with the example pack's header and variables
    header = {k: v for k, v in packs[0].items() if k != "rules"}
    for rule in rules:
        g = tmp_path / f"{rule['id']}.yml"
        g.write_text(yaml.safe_dump({**header, "rules": [rule]}), encoding="utf-8")
        assert validate_pack(g) == [], rule["id"]
    kinds = {r["check"]["kind"] for r in rules} | {
        r["check"]["kind"] for p in packs for r in p["rules"]}
    assert kinds == set(CHECK_KINDS)
    tpl = AssessmentTemplate.model_validate(templates[0])
    assert tpl.tailoring == {"max_tries": 3}
