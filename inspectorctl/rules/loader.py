"""Load and validate rulepacks (YAML files under ``rulepacks/`` or given by path)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel, ValidationError

from inspectorctl.errors import InputError
from inspectorctl.models.rule import (
    CHECK_KINDS,
    RemediationNames,
    RemediationRef,
    Rule,
    RulePack,
    VarRef,
)
from inspectorctl.paths import data_dir, playbook_ids, ssm_document_names
from inspectorctl.rules.facts import facts_for
from inspectorctl.yamlfile import YamlDocument, describe_validation_error, read_yaml


class RulepackError(InputError):
    """A rulepack is malformed or inconsistent."""


def shipped_pack_files() -> list[Path]:
    root = data_dir("rulepacks")
    return sorted(p for p in root.glob("*.y*ml") if p.suffix in (".yml", ".yaml"))


def shipped_pack_ids() -> dict[str, Path]:
    """Pack id -> file, for the packs that ship with inspectorctl (file stem = pack id)."""
    return {p.stem: p for p in shipped_pack_files()}


DEFAULT_PACKS: tuple[str, ...] = ("cis-linux", "aws-best-practices")


def resolve_pack(name: str) -> Path:
    """A shipped pack id or a path to a YAML file."""
    p = Path(name)
    if p.suffix in (".yml", ".yaml") or "/" in name:
        if not p.is_file():
            raise RulepackError(f"{name}: no such rulepack file")
        return p
    shipped = shipped_pack_ids()
    if name not in shipped:
        raise RulepackError(
            f"unknown rulepack {name!r}; shipped packs: {', '.join(sorted(shipped)) or '(none)'}"
            " (or give a path to a .yml file)"
        )
    return shipped[name]


def shipped_remediation_names() -> RemediationNames:
    """The playbooks and SSM documents that ship with inspectorctl (what a rule may name when
    the caller gives no other set)."""
    return RemediationNames(
        playbooks=frozenset(playbook_ids(data_dir("playbooks"))),
        ssm_documents=frozenset(ssm_document_names(data_dir("ssm_documents"))),
    )


def load_pack(path: Path, remediations: RemediationNames | None = None) -> RulePack:
    """Load and check one pack; a rule's remediation must be one of ``remediations`` (default:
    the shipped ones)."""
    doc = read_yaml(path)
    return _pack_from_doc(
        doc, shipped_remediation_names() if remediations is None else remediations
    )


def _pack_from_doc(doc: YamlDocument, remediations: RemediationNames) -> RulePack:
    data = doc.data
    path = doc.path
    if not isinstance(data, dict):
        raise RulepackError(f"{path}:1: a rulepack is a mapping with id, version, title, "
                            "description, variables and rules")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RulepackError(
            f"{path}:{doc.line_of(['rules']) or 1}: rules: expected a non-empty list of rules"
        )
    pack_id = str(data.get("id", ""))
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        rid = raw.get("id") if isinstance(raw, dict) else None
        ctx = f"rule {rid}" if rid else f"rule #{i + 1}"
        if not isinstance(raw, dict):
            raise RulepackError(f"{path}:{doc.line_of(['rules', i])}: {ctx}: expected a mapping")
        try:
            rule = Rule.model_validate({**raw, "pack": pack_id})
        except ValidationError as e:
            raise RulepackError(
                describe_validation_error(doc, e, ctx, prefix=["rules", i],
                                          union_tags=CHECK_KINDS)
            ) from e
        if rule.id in seen:
            raise RulepackError(
                f"{path}:{doc.line_of(['rules', i, 'id'])}: rule {rule.id}: id: duplicate rule id "
                f"(first defined at line {doc.line_of(['rules', seen[rule.id], 'id'])})"
            )
        seen[rule.id] = i  # index; the line is looked up only for an error
        rules.append(rule)
    header = {k: v for k, v in data.items() if k != "rules"}
    try:
        pack = RulePack.model_validate({**header, "rules": [], "source": str(path)})
    except ValidationError as e:
        raise RulepackError(describe_validation_error(doc, e, f"pack {pack_id}")) from e
    pack = pack.model_copy(update={"rules": rules})
    _check_consistency(pack, doc, remediations)
    return pack


def _var_refs(value: Any) -> Iterable[str]:
    if isinstance(value, VarRef):
        yield value.var
    elif isinstance(value, dict):
        for v in value.values():
            yield from _var_refs(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _var_refs(v)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _var_refs(getattr(value, name))


def _check_consistency(
    pack: RulePack, doc: YamlDocument, remediations: RemediationNames
) -> None:
    playbooks = remediations.playbooks
    documents = remediations.ssm_documents
    for i, rule in enumerate(pack.rules):
        for var in _var_refs(rule.check):
            if var not in pack.variables:
                _fail(doc, _var_location(doc, ["rules", i, "check"], var), rule.id,
                      f"check uses variable {var!r}, which the pack does not define "
                      f"(defined: {', '.join(sorted(pack.variables)) or 'none'})")
        if rule.check.kind == "expression":
            if not rule.facts:
                _fail(doc, ["rules", i, "check"], rule.id,
                      "an expression check must declare the facts it reads in 'facts'")
            _check_expressions(doc, i, rule)
        rem = rule.remediation
        if rem is not None:
            _check_remediation(doc, i, rule.id, rem, pack, playbooks, documents)
        facts_for(rule)  # raises on a fact name the check cannot derive


def _check_expressions(doc: YamlDocument, i: int, rule: Rule) -> None:
    """Compile an expression check's expressions now, so a typo fails loading, not a run."""
    from inspectorctl.rules.expression import ExpressionError, compile_expression

    check = rule.check
    assert check.kind == "expression"
    for name in ("expr", "evidence", "not_applicable_if"):
        text = getattr(check, name)
        if text is None:
            continue
        try:
            compile_expression(text)
        except ExpressionError as e:
            _fail(doc, ["rules", i, "check", name], rule.id, str(e))


def _check_remediation(
    doc: YamlDocument,
    i: int,
    rule_id: str,
    rem: RemediationRef,
    pack: RulePack,
    playbooks: frozenset[str],
    documents: frozenset[str],
) -> None:
    if rem.playbook and rem.playbook not in playbooks:
        _fail(doc, ["rules", i, "remediation", "playbook"], rule_id,
              f"remediation playbook {rem.playbook!r} does not exist; available: "
              f"{', '.join(sorted(playbooks)) or 'none'}")
    if rem.ssm_document and rem.ssm_document not in documents:
        _fail(doc, ["rules", i, "remediation", "ssm_document"], rule_id,
              f"SSM document {rem.ssm_document!r} does not exist; available: "
              f"{', '.join(sorted(documents)) or 'none'}")
    for var in _var_refs(rem.params):
        if var not in pack.variables:
            _fail(doc, _var_location(doc, ["rules", i, "remediation", "params"], var), rule_id,
                  f"remediation uses variable {var!r}, which the pack does not define")


def _var_location(doc: YamlDocument, base: list[str | int], var: str) -> list[str | int]:
    """Where ``{var: NAME}`` is written under ``base`` (``base`` itself if not found)."""
    node: Any = doc.data
    for key in base:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return base

    def walk(value: Any, path: list[str | int]) -> list[str | int] | None:
        if isinstance(value, dict):
            if set(value) == {"var"} and value["var"] == var:
                return path
            items: Iterable[tuple[str | int, Any]] = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            return None
        for k, v in items:
            found = walk(v, [*path, k])
            if found is not None:
                return found
        return None

    return walk(node, list(base)) or base


def _fail(doc: YamlDocument, loc: Sequence[str | int], rule_id: str, msg: str) -> NoReturn:
    line = doc.line_of(loc)
    field = ".".join(str(p) for p in loc[2:])
    raise RulepackError(f"{doc.path}:{line}: rule {rule_id}: {field}: {msg}")


def load_packs(
    names: Sequence[str], remediations: RemediationNames | None = None
) -> list[RulePack]:
    """Load packs by shipped id or path; rule ids must be unique across them."""
    known = shipped_remediation_names() if remediations is None else remediations
    packs = [load_pack(resolve_pack(n), known) for n in names]
    owner: dict[str, str] = {}
    for pack in packs:
        for rule in pack.rules:
            if rule.id in owner:
                raise RulepackError(
                    f"{pack.source}: rule {rule.id}: duplicate rule id, also defined in "
                    f"{owner[rule.id]}"
                )
            owner[rule.id] = pack.source
    return packs
