"""Vulnerability findings through the approval gate: the ``package_upgrade`` remediation.

Each vulnerability finding with a fixed version becomes one item of the ``package_upgrade``
playbook: ``{package, fixed_version, binaries}`` (the package the advisory names, Debian's
and Ubuntu's source package; the version that fixes it; the installed binary packages built
from it). The item is read from the evidence the plan's source run stored for the finding
(``vuln_assess.result_of`` writes it; the plan's evidence digest binds it), so what the plan
carries is what that assessment recorded, even after a later run; ``plan`` and the gate both
derive it here, so an item that no stored finding gives (a forged package, a lowered fixed
version, an extra package) is a difference the gate refuses.

Names and versions come from hosts and advisory files: they are checked against Debian's
grammars (``inspectorctl.vulns.pkgnames``) before an item is made, and the playbook checks
them again. The playbook reports what it upgrades (in check mode: would upgrade) and what the
repositories offer (the facts ``inspectorctl_package_upgrades``, ``inspectorctl_package_offers``);
the executor keeps them as the host's message (``upgrade NAME OLD -> NEW; repository offers:
NAME=VERSION, ...``: the preview's and the journal's), from which the verify step says
"repository offers X, fixed in Y" for a finding still failing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from inspectorctl.models.finding import Evidence, Finding
from inspectorctl.remediate.planner import VULN_PACK
from inspectorctl.store.db import Store
from inspectorctl.vulns import pkgnames

if TYPE_CHECKING:
    from inspectorctl.vuln_assess import VulnFinding

#: the fact the playbook sets: binary package -> the version its repositories offer, or "none"
OFFERS_FACT = "inspectorctl_package_offers"
UPGRADES_FACT = "inspectorctl_package_upgrades"
UPGRADE_PREFIX = "upgrade "
OFFERS_PREFIX = "repository offers: "
#: at most this many packages are reported per host
MAX_OFFERS = 2000
#: the ecosystems whose hosts upgrade with apt
APT_ECOSYSTEMS = ("Debian", "Ubuntu")

#: finding id -> its item, or why it cannot be planned
VulnItems = dict[str, dict[str, Any] | str]


#: ``result_of``'s evidence of a vulnerability with a fix (``inspectorctl/vuln_assess.py``)
_EXPECTED = re.compile(r"(?P<package>\S+) at or above (?P<fixed>\S+) \((?P<eco>[^()]+)\)")
_FOUND = re.compile(r"(?P<package>\S+) (?P<installed>\S+) installed \((?P<bins>[^()]*)\); "
                    r"(?P<state>[a-z-]+), ")


def item_for(rule_id: str, evidence: Evidence | None, details: VulnFinding | None
             ) -> dict[str, Any] | str:
    """The ``package_upgrade`` item of one vulnerability finding, or the reason it is not
    planned. The item comes from the evidence the run stored (what the plan's evidence digest
    binds: package, fixed version, ecosystem, installed binaries); whether the package is the
    running kernel from the finding's stored details."""
    from inspectorctl.vulns.match import VulnState, is_kernel_source

    exp = _EXPECTED.fullmatch(evidence.expected) if evidence is not None else None
    found = _FOUND.match(evidence.found) if evidence is not None else None
    if found is not None and found["state"] != VulnState.AFFECTED_FIX.value:
        return (f"no fixed version to upgrade to ({found['state']}): nothing a package upgrade "
                "can fix yet; assess again when the advisory names a fix")
    if exp is None or found is None:
        return ("its stored evidence is not what `inspectorctl vulns assess` writes (package, "
                "fixed version, installed binaries): assess again and plan from that run")
    base = exp["eco"].split(":", 1)[0]
    if base not in APT_ECOSYSTEMS:
        return (f"package upgrades are built for apt hosts ({', '.join(APT_ECOSYSTEMS)}) "
                f"only, not {exp['eco']}: upgrade {exp['package']} with the host's package "
                "manager and assess again")
    try:
        package = pkgnames.debian_name(exp["package"])
        fixed = pkgnames.debian_version(exp["fixed"])
        pairs = [b.split(" ") for b in found["bins"].split(", ")] if found["bins"] else []
        if any(len(p) != 2 for p in pairs):
            raise pkgnames.PackageNameError(f"{found['bins'][:60]!r} is not a list of "
                                            "installed binary packages")
        binaries = sorted({pkgnames.debian_name(n) for n, _ in pairs})
        for _, v in pairs:
            pkgnames.debian_version(v)
    except pkgnames.PackageNameError as e:
        return (f"refused: {e}; names and versions from hosts and advisory data are checked "
                "before they reach apt")
    if found["package"] != package or not rule_id.endswith(f":{package}"):
        return (f"its evidence names {found['package']!r}, not the package of {rule_id}: "
                "assess again and plan from that run")
    if not binaries:
        return "no installed binary package of it is recorded: nothing to upgrade"
    kernel = details.kernel if details is not None else is_kernel_source(package, binaries)
    if kernel:
        return ("the running kernel: a package upgrade does not replace it (install the fixed "
                "kernel package and reboot the host), so it is not planned")
    return {"package": package, "fixed_version": fixed, "binaries": binaries}


def plan_items(store: Store, findings: Iterable[Finding]) -> VulnItems:
    """The item (or the reason there is none) of each vulnerability finding of ``findings``
    (their ``evidence`` must be that of the run the plan is made from)."""
    from inspectorctl.vuln_assess import stored_details

    vulns = [f for f in findings if f.pack == VULN_PACK]
    if not vulns:
        return {}
    details = stored_details(store, [f.id for f in vulns])
    return {f.id: item_for(f.rule_id, f.evidence, details.get(f.id)) for f in vulns}


# ---------------------------------------------------------------------------------------------
# What the repositories offer: from the playbook's fact, through the journal, to verify
# ---------------------------------------------------------------------------------------------


def _version(value: Any) -> str:
    return "none" if value == "none" else pkgnames.debian_version(value)


def offers_message(offers: Any, upgrades: Any = None) -> str:
    """The journal's text for the playbook's facts (values from the host: only names and
    versions that fit Debian's grammars are kept): ``upgrade NAME OLD -> NEW, ...;
    repository offers: NAME=VERSION, ...``, or ''. In check mode the upgrades are the versions
    it would install."""
    done = []
    if isinstance(upgrades, list):
        for row in upgrades[:MAX_OFFERS]:
            if not (isinstance(row, list) and len(row) == 4):
                continue
            try:
                done.append(f"{pkgnames.debian_name(row[0])} {_version(row[2])} -> "
                            f"{_version(row[3])}")
            except pkgnames.PackageNameError:
                continue
    parts = []
    if isinstance(offers, Mapping):
        for name, version in list(offers.items())[:MAX_OFFERS]:
            try:
                parts.append(f"{pkgnames.debian_name(name)}={_version(version)}")
            except pkgnames.PackageNameError:
                continue
    text = (UPGRADE_PREFIX + ", ".join(sorted(done)) + "; ") if done else ""
    return text + OFFERS_PREFIX + ", ".join(sorted(parts)) if parts else text.rstrip("; ")


def parse_offers(message: str) -> dict[str, str]:
    """``offers_message``'s text back to ``{binary: version or 'none'}`` ({} otherwise)."""
    _, sep, listed = message.partition(OFFERS_PREFIX)
    if not sep:
        return {}
    out: dict[str, str] = {}
    for part in listed.split(", "):
        name, sep, version = part.partition("=")
        if not sep:
            return {}
        try:
            out[pkgnames.debian_name(name)] = _version(version)
        except pkgnames.PackageNameError:
            return {}
    return out


def still_failing_detail(fixed_version: str | None, binaries: Sequence[str],
                         offers: Mapping[str, str]) -> str | None:
    """"repository offers X, fixed in Y" for a finding the upgrade did not fix, or None when
    the apply reported nothing about its packages."""
    offered = {b: offers[b] for b in binaries if b in offers}
    if not offered or not fixed_version:
        return None
    versions = set(offered.values())
    if len(versions) == 1:
        what = versions.pop()
    else:
        what = ", ".join(f"{b} {v}" for b, v in sorted(offered.items()))
    return f"repository offers {what}, fixed in {fixed_version}"
