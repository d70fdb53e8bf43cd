"""CycloneDX SBOM of a host's packages (cyclonedx-python-lib), with purls, and optionally the
vulnerabilities found on it with their states (VEX-style ``analysis``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.impact_analysis import ImpactAnalysisResponse, ImpactAnalysisState
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from inspectorctl.models.common import Severity
from inspectorctl.vuln_assess import VulnFinding
from inspectorctl.vulns.match import HostInventory, VulnState

_PURL_TYPE = {"dpkg": "deb", "rpm": "rpm", "apk": "apk"}

_STATE: dict[VulnState, tuple[ImpactAnalysisState, tuple[ImpactAnalysisResponse, ...]]] = {
    VulnState.AFFECTED_FIX: (ImpactAnalysisState.EXPLOITABLE, (ImpactAnalysisResponse.UPDATE,)),
    VulnState.AFFECTED_NO_FIX: (ImpactAnalysisState.EXPLOITABLE,
                                (ImpactAnalysisResponse.CAN_NOT_FIX,)),
    VulnState.FIX_DEFERRED: (ImpactAnalysisState.EXPLOITABLE,
                             (ImpactAnalysisResponse.CAN_NOT_FIX,)),
    VulnState.WILL_NOT_FIX: (ImpactAnalysisState.EXPLOITABLE,
                             (ImpactAnalysisResponse.WILL_NOT_FIX,)),
    VulnState.UNIMPORTANT: (ImpactAnalysisState.IN_TRIAGE, ()),
    VulnState.PROBABLY_FIXED: (ImpactAnalysisState.RESOLVED, ()),
    VulnState.NOT_AFFECTED: (ImpactAnalysisState.NOT_AFFECTED, ()),
    VulnState.FIXED: (ImpactAnalysisState.RESOLVED, ()),
}

_SEVERITY = {Severity.CRITICAL: VulnerabilitySeverity.CRITICAL,
             Severity.HIGH: VulnerabilitySeverity.HIGH,
             Severity.MEDIUM: VulnerabilitySeverity.MEDIUM,
             Severity.LOW: VulnerabilitySeverity.LOW,
             Severity.INFORMATIONAL: VulnerabilitySeverity.INFO}


def _distro(inv: HostInventory) -> tuple[str, str | None]:
    eco = inv.ecosystem or ""
    base, _, rel = eco.partition(":")
    ns = {"Debian": "debian", "Ubuntu": "ubuntu", "Alpine": "alpine", "AlmaLinux": "almalinux",
          "Rocky Linux": "rocky", "Amazon Linux": "amzn"}.get(base, base.lower() or "unknown")
    return ns, (f"{ns}-{rel.lstrip('v')}" if rel else None)


def purl(inv: HostInventory, name: str, version: str, arch: str | None,
         source: str | None) -> PackageURL:
    ns, distro = _distro(inv)
    q: dict[str, str] = {}
    if arch:
        q["arch"] = arch
    if distro:
        q["distro"] = distro
    if source and source != name:
        q["upstream" if inv.manager == "dpkg" else "source"] = source
    return PackageURL(type=_PURL_TYPE[inv.manager], namespace=ns, name=name, version=version,
                      qualifiers=q)


def build(inv: HostInventory, findings: Sequence[VulnFinding] = (), *, vex: bool = False,
          run_id: str | None = None) -> str:
    """The SBOM as CycloneDX 1.6 JSON."""
    bom = Bom()
    host = Component(name=inv.host, type=ComponentType.OPERATING_SYSTEM,
                     version=inv.ecosystem or None, bom_ref=f"host:{inv.host}")
    bom.metadata.component = host
    if run_id:
        bom.metadata.properties.add(Property(name="inspectorctl:run", value=run_id))
    refs: dict[str, str] = {}
    for p in sorted(inv.packages, key=lambda p: (p.name, p.arch or "")):
        u = purl(inv, p.name, p.version, p.arch, p.source)
        ref = u.to_string()
        refs.setdefault(p.name, ref)
        c = Component(name=p.name, version=p.version, type=ComponentType.LIBRARY, purl=u,
                      bom_ref=ref)
        if p.source != p.name or p.source_version != p.version:
            c.properties.add(Property(name="inspectorctl:source", value=p.source))
            c.properties.add(Property(name="inspectorctl:source_version",
                                      value=p.source_version))
        bom.components.add(c)
        bom.register_dependency(host, [c])
    if vex:
        for f in findings:
            state, responses = _STATE[f.state]
            targets = [BomTarget(ref=refs[b]) for b in sorted(f.binaries) if b in refs]
            ratings = []
            if f.score.base_vector:
                ratings.append(VulnerabilityRating(
                    score=Decimal(str(f.score.base)), vector=f.score.base_vector,
                    method=VulnerabilityScoreSource.CVSS_V3_1
                    if f.score.base_vector.startswith("CVSS:3.1") else
                    VulnerabilityScoreSource.CVSS_V3,
                    severity=_SEVERITY[_band(f.score.base)]))
            ratings.append(VulnerabilityRating(
                score=Decimal(str(f.score.adjusted)), method=VulnerabilityScoreSource.OTHER,
                severity=_SEVERITY[f.score.severity],
                justification="inspectorctl adjusted score: " + "; ".join(
                    a.reason for a in f.score.adjustments) if f.score.adjustments else
                "inspectorctl adjusted score (no adjustment)"))
            detail = f.reason or f.state.value
            if f.fixed_version:
                detail = f"{detail}; fixed in {f.package} {f.fixed_version}"
            v = Vulnerability(
                bom_ref=f"{f.vuln_id}/{f.package}", id=f.vuln_id,
                source=VulnerabilitySource(name=f.source), ratings=ratings,
                description=f.summary, affects=targets,
                recommendation=(f"upgrade {f.package} to {f.fixed_version} or later"
                                if f.fixed_version else None),
                analysis=VulnerabilityAnalysis(state=state, responses=responses,
                                               detail=detail))
            for a in f.aliases:
                v.properties.add(Property(name="inspectorctl:alias", value=a))
            if f.score.kev:
                v.properties.add(Property(name="inspectorctl:kev", value="true"))
            bom.vulnerabilities.add(v)
    text: str = JsonV1Dot6(bom).output_as_string(indent=2)
    json.loads(text)  # the library's output is JSON; fail here rather than downstream
    return text


def _band(score: float) -> Severity:
    from inspectorctl.vulns.score import band

    return band(score)
