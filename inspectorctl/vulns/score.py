"""Base and Inspector-style adjusted scores, each adjustment with its reason.

Base: the vendor record's own CVSS v3.x vector, else NVD's (another record of the same CVE
that carries one, e.g. the Debian/OSV record, whose vectors are NVD's), computed with the
``cvss`` library; the vendor's severity word when no vector exists at all.

Adjustments (Amazon Inspector's idea of the environment):
- network attack vector lowered (environmental ``MAV:L``) when the package owns no socket
  listening beyond loopback: the host listens on nothing beyond loopback, or every socket that
  does belongs to another package (the probe names each listener's executable and its dpkg
  package; an owner it cannot name keeps the vector as it is);
- raised to the top of its band when the CVE is in CISA's KEV catalog (exploit available).
Bands: 0 informational, 0.1-3.9 low, 4-6.9 medium, 7-8.9 high, 9-10 critical.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Collection, Sequence

from cvss import CVSS3
from cvss.exceptions import CVSSError

from inspectorctl.models.common import Frozen, Severity
from inspectorctl.models.snapshot import Socket

_VENDOR_WORDS = {
    "critical": 9.5, "important": 7.5, "high": 7.5, "moderate": 5.0, "medium": 5.0,
    "low": 2.5, "negligible": 0.0, "unimportant": 0.0,
}
#: no vector and no vendor word: Inspector says "untriaged"; shown in the middle band
UNTRIAGED_SCORE = 5.0


class Adjustment(Frozen):
    name: str  # "network-unreachable", "kev"
    before: float
    after: float
    reason: str


class Score(Frozen):
    base: float
    base_vector: str | None = None
    #: where the base came from: "vendor record <source>", "NVD via <source>", "vendor
    #: severity <word>", "untriaged"
    base_source: str
    adjusted: float
    adjusted_vector: str | None = None
    severity: Severity
    adjustments: tuple[Adjustment, ...] = ()
    kev: bool = False


def band(score: float) -> Severity:
    if score <= 0.0:
        return Severity.INFORMATIONAL
    if score < 4.0:
        return Severity.LOW
    if score < 7.0:
        return Severity.MEDIUM
    if score < 9.0:
        return Severity.HIGH
    return Severity.CRITICAL


_BAND_TOP = {Severity.INFORMATIONAL: 0.0, Severity.LOW: 3.9, Severity.MEDIUM: 6.9,
             Severity.HIGH: 8.9, Severity.CRITICAL: 10.0}


@functools.lru_cache(maxsize=4096)
def _cvss3(vector: str) -> CVSS3:
    """``CVSS3(vector)``, parsed once per vector (a host's findings share a few hundred);
    an invalid one raises ``CVSSError`` every time (exceptions are not cached)."""
    return CVSS3(vector)


def _v3(vectors: Sequence[str]) -> str | None:
    """The first parsable CVSS v3.x vector."""
    for v in vectors:
        if v.startswith(("CVSS:3.1/", "CVSS:3.0/")):
            try:
                _cvss3(v)
            except CVSSError:
                continue
            return v
    return None


def exposed_sockets(sockets: Sequence[Socket] | None) -> list[Socket] | None:
    """Listening sockets bound beyond loopback; None when the host's sockets are unknown."""
    if sockets is None:
        return None
    out = []
    for s in sockets:
        try:
            if ipaddress.ip_address(s.address.split("%")[0]).is_loopback:
                continue
        except ValueError:
            pass
        out.append(s)
    return out


def _unreachable(sockets: Sequence[Socket] | None, packages: Collection[str]) -> str | None:
    """Why the network cannot reach ``packages`` on the host, or None when it may (or the
    host's sockets, or who owns them, are not known)."""
    exposed = exposed_sockets(sockets)
    if exposed is None:
        return None
    if not exposed:
        return "no socket on the host listens beyond loopback"
    owners = {s.package for s in exposed}
    if None in owners or not packages or owners & set(packages):
        return None
    return (f"the sockets listening beyond loopback belong to "
            f"{', '.join(sorted(o for o in owners if o))}, none to "
            f"{', '.join(sorted(packages))}")


def score(vendor_vectors: Sequence[str], vendor_source: str, nvd_vectors: Sequence[str],
          vendor_severity: str | None, *, kev: bool,
          sockets: Sequence[Socket] | None, packages: Collection[str] = ()) -> Score:
    """``packages``: the installed packages the vulnerability is in (binary names)."""
    vec = _v3(vendor_vectors)
    source = f"vendor record {vendor_source}"
    if vec is None:
        vec = _v3(nvd_vectors)
        source = "NVD (through another record of the same CVE)"
    adjustments: list[Adjustment] = []
    adj_vec: str | None = None
    if vec is not None:
        c = _cvss3(vec)
        base = float(c.base_score)
        adjusted = base
        why = _unreachable(sockets, packages) if c.metrics.get("AV") == "N" else None
        if why is not None:
            adj_vec = vec + "/MAV:L"
            after = float(_cvss3(adj_vec).environmental_score)
            adjustments.append(Adjustment(
                name="network-unreachable", before=adjusted, after=after,
                reason=f"attack vector is the network, but {why}: scored as local (MAV:L)"))
            adjusted = after
    elif vendor_severity and vendor_severity.lower() in _VENDOR_WORDS:
        base = adjusted = _VENDOR_WORDS[vendor_severity.lower()]
        source = f"vendor severity {vendor_severity.lower()} (no CVSS vector)"
    else:
        base = adjusted = UNTRIAGED_SCORE
        source = "untriaged: no CVSS vector and no vendor severity in the data"
    if kev:
        top = _BAND_TOP[band(adjusted)] if adjusted > 0 else _BAND_TOP[Severity.LOW]
        if top > adjusted:
            adjustments.append(Adjustment(
                name="kev", before=adjusted, after=top,
                reason="in CISA's Known Exploited Vulnerabilities catalog (exploit "
                       "available): raised to the top of its band"))
            adjusted = top
    return Score(base=base, base_vector=vec, base_source=source, adjusted=adjusted,
                 adjusted_vector=adj_vec, severity=band(adjusted),
                 adjustments=tuple(adjustments), kev=kev)
