"""Vulnerability findings through the approval gate: the ``package_upgrade`` remediation.

Each vulnerability finding with a fixed version becomes one item of the ``package_upgrade``
playbook: ``{package, fixed_version, binaries}`` (the package the advisory names, Debian's
and Ubuntu's source package; the version that fixes it; the installed binary packages built
from it). The item is derived from the finding's stored details (``vuln_details``) and only
when those details render exactly the evidence of the run's stored result, so what the plan
carries is what the assessment recorded; ``plan`` and the gate both derive it here, so an item
that no stored finding gives (a forged package, a lowered fixed version, an extra package) is
a difference the gate refuses.

Names and versions come from hosts and advisory files: they are checked against Debian's
grammars (``inspectorctl.vulns.pkgnames``) before an item is made, and the playbook checks
them again. The playbook reports what it upgrades (in check mode: would upgrade) and what the
repositories offer (the facts ``inspectorctl_package_upgrades``, ``inspectorctl_package_offers``);
the executor keeps them as the host's message (``upgrade NAME OLD -> NEW; repository offers:
NAME=VERSION, ...``: the preview's and the journal's), from which the verify step says
"repository offers X, fixed in Y" for a finding still failing.
"""

from __future__ import annotations

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


def item_for(details: VulnFinding, evidence: Evidence | None) -> dict[str, Any] | str:
    """The ``package_upgrade`` item of one vulnerability finding (its stored details), or the
    reason it is not planned."""
    from inspectorctl.vuln_assess import result_of
    from inspectorctl.vulns.match import VulnState

    d = details
    if d.state is not VulnState.AFFECTED_FIX or not d.fixed_version:
        return (f"no fixed version to upgrade to ({d.state.value}): nothing a package upgrade "
                "can fix yet; assess again when the advisory names a fix")
    if d.kernel:
        return ("the running kernel: a package upgrade does not replace it (install the fixed "
                "kernel package and reboot the host), so it is not planned")
    base = d.ecosystem.split(":", 1)[0]
    if base not in APT_ECOSYSTEMS:
        return (f"package upgrades are built for apt hosts ({', '.join(APT_ECOSYSTEMS)}) "
                f"only, not {d.ecosystem}: upgrade {d.package} with the host's package "
                "manager and assess again")
    try:
        package = pkgnames.debian_name(d.package)
        fixed = pkgnames.debian_version(d.fixed_version)
        binaries = sorted(pkgnames.debian_name(b) for b in d.binaries)
    except pkgnames.PackageNameError as e:
        return (f"refused: {e}; names and versions from hosts and advisory data are checked "
                "before they reach apt")
    if not binaries:
        return "no installed binary package of it is recorded: nothing to upgrade"
    if evidence is None or result_of(d, True).evidence != evidence:
        return ("its stored vulnerability details are not those of this run's result (a "
                "later assessment replaced them): assess again and plan from that run")
    return {"package": package, "fixed_version": fixed, "binaries": binaries}


def plan_items(store: Store, findings: Iterable[Finding]) -> VulnItems:
    """The item (or the reason there is none) of each vulnerability finding of ``findings``."""
    from inspectorctl.vuln_assess import stored_details

    vulns = [f for f in findings if f.pack == VULN_PACK]
    if not vulns:
        return {}
    details = stored_details(store, [f.id for f in vulns])
    out: VulnItems = {}
    for f in vulns:
        d = details.get(f.id)
        out[f.id] = (item_for(d, f.evidence) if d is not None else
                     "no vulnerability details are stored for it: assess again with "
                     "`inspectorctl vulns assess` and plan from that run")
    return out


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
