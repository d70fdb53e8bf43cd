"""Which facts a rule reads, and the probe request for a set of rules."""

from __future__ import annotations

from collections.abc import Iterable

from inspectorctl.models.rule import Rule
from inspectorctl.models.snapshot import FileRequest, ProbeRequest
from inspectorctl.rules.checks import KINDS
from inspectorctl.rules.platform import platform_facts


def facts_for(rule: Rule) -> tuple[str, ...]:
    """The facts ``rule`` reads: ``os``, its check kind's (see ``rules.checks.check_kind``),
    the rule's own, and what its platform conditions need."""
    kind = KINDS[rule.check.kind]
    facts: list[str] = ["os", *kind.facts, *rule.facts]
    if kind.extra_facts is not None:
        facts.extend(kind.extra_facts(rule.check))
    facts.extend(platform_facts(rule.platform))
    return tuple(dict.fromkeys(facts))


def probe_request(rules: Iterable[Rule], *, walk_max_seconds: float = 20.0) -> ProbeRequest:
    """The smallest probe request that lets every rule be evaluated."""
    facts: dict[str, None] = {}
    files: dict[str, tuple[bool, set[str]]] = {}
    sysctl_keys: dict[str, None] = {}
    modules: dict[str, None] = {}
    walks: dict[str, None] = {}
    for rule in rules:
        facts.update(dict.fromkeys(facts_for(rule)))
        c = rule.check
        if c.kind in ("file_permissions", "file_exists"):
            files.setdefault(c.path, (False, set()))
        elif c.kind == "file_content":
            files.setdefault(c.path, (False, set()))[1].add(c.pattern)
        elif c.kind == "sysctl":
            sysctl_keys[c.key] = None
        elif c.kind == "kernel_module_disabled":
            modules[c.module] = None
        elif c.kind == "walk_empty":
            walks[c.walk] = None
    return ProbeRequest(
        facts=tuple(sorted(facts)),
        files=tuple(
            FileRequest(path=p, sha256=h, patterns=tuple(sorted(pats)))
            for p, (h, pats) in sorted(files.items())
        ),
        sysctl_keys=tuple(sysctl_keys),
        modules=tuple(modules),
        walks=tuple(walks),
        walk_max_seconds=walk_max_seconds,
    )
