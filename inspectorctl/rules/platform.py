"""Platform conditions of a rule (``Rule.platform``), in one place: which hosts a rule applies
to (OS family and id, not in a container, systemd running, cloud provider, one of some packages
installed), the facts those conditions read, and the outcome for a host they exclude."""

from __future__ import annotations

from inspectorctl.models.common import Status
from inspectorctl.models.rule import Platform
from inspectorctl.models.snapshot import HostSnapshot
from inspectorctl.rules.checks import (
    CONTAINER_CLOUD_REASON,
    EvalContext,
    Outcome,
    UnknownFact,
    _package_index,
    error,
)


def platform_facts(p: Platform) -> tuple[str, ...]:
    """Facts the conditions read beyond ``os`` (which every evaluation reads)."""
    facts: list[str] = []
    if p.packages_any:
        facts.append("packages")
    if p.cloud:
        facts.append("cloud")
    return tuple(facts)


def platform_outcome(p: Platform, s: HostSnapshot, ctx: EvalContext) -> Outcome | None:
    """None when the rule applies; otherwise NOT_APPLICABLE (or ERROR when unknowable)."""
    if not (p.families or p.os_ids or p.packages_any or p.not_in_container or p.cloud
            or p.systemd_running):
        return None
    if s.os is None:
        return error(f"cannot tell the platform: {s.unknown.get('os', 'os not collected')}")
    os_ = s.os
    if p.families and os_.family not in p.families:
        return Outcome(Status.NOT_APPLICABLE,
                       reason=f"applies to {'/'.join(p.families)} family; host is "
                              f"{os_.id} {os_.version_id or ''}".rstrip())
    if p.os_ids and os_.id not in p.os_ids:
        return Outcome(Status.NOT_APPLICABLE,
                       reason=f"applies to {'/'.join(p.os_ids)}; host is {os_.id}")
    if p.not_in_container and os_.container:
        return Outcome(Status.NOT_APPLICABLE,
                       reason="not applicable inside a container (owned by the container host)")
    if p.systemd_running and not os_.systemd_running:
        return Outcome(Status.NOT_APPLICABLE,
                       reason="systemd is not the running init (PID 1) on this host: the units "
                              "only systemd starts cannot run here")
    if p.cloud:
        cloud = s.cloud
        wanted = "/".join(p.cloud)
        if cloud is None:
            return error(f"cannot tell whether the host runs on {wanted}: "
                         f"{s.unknown.get('cloud', 'cloud not collected')}")
        if cloud.provider == "unknown" and os_.container:
            return Outcome(Status.NOT_APPLICABLE, reason=CONTAINER_CLOUD_REASON)
        if cloud.provider == "unknown":
            return error(f"cannot tell whether the host runs on {wanted}: "
                         f"{cloud.error or 'the cloud provider could not be determined'}")
        if cloud.provider not in p.cloud:
            return Outcome(Status.NOT_APPLICABLE,
                           reason=f"applies to hosts on {wanted}; this host is not "
                                  f"(DMI vendor: {cloud.dmi_vendor or 'unknown'})")
    if p.packages_any:
        try:
            index = _package_index(s, ctx)
        except UnknownFact as e:
            return error(str(e))
        if not any(n in index for n in p.packages_any):
            return Outcome(Status.NOT_APPLICABLE,
                           reason=f"none of {', '.join(p.packages_any)} is installed")
    return None
