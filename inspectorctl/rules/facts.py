"""Which facts a rule reads, and the probe request for a set of rules."""

from __future__ import annotations

from collections.abc import Iterable

from inspectorctl.models.rule import Rule
from inspectorctl.models.snapshot import FileRequest, ProbeRequest

#: facts each check kind reads (beyond ``os``, which every evaluation uses)
KIND_FACTS: dict[str, tuple[str, ...]] = {
    "sshd_option": ("sshd", "packages"),
    "sysctl": ("sysctl",),
    "file_permissions": ("files",),
    "file_exists": ("files",),
    "file_content": ("files",),
    "package": ("packages",),
    "service": ("services",),
    "kernel_module_disabled": ("kernel_modules",),
    "mount": ("mounts",),
    "account": ("accounts",),
    "setting": (),  # depends on the source, see below
    "limit": ("limits",),
    "rsyslog": ("rsyslog",),
    "pam_module": ("pam",),
    "not_listening": ("sockets",),
    "walk_empty": ("walks",),
    "no_security_updates": ("updates",),
    "aws_imds": ("cloud",),
    "expression": (),
}

_SETTING_FACT = {"login_defs": "login_defs", "pwquality": "pam", "faillock": "pam",
                 "journald": "systemd_conf", "coredump": "systemd_conf"}


def facts_for(rule: Rule) -> tuple[str, ...]:
    facts: list[str] = ["os", *KIND_FACTS[rule.check.kind], *rule.facts]
    check = rule.check
    if check.kind == "setting":
        facts.append(_SETTING_FACT[check.source])
    if check.kind == "account":
        facts.append("login_defs")
    if rule.platform.packages_any:
        facts.append("packages")
    if rule.platform.cloud:
        facts.append("cloud")
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
