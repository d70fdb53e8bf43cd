"""The planner's and the gate's view of the remediation catalogue (``catalog.py``).

``remediation_catalog()`` turns each playbook's ``meta.yml`` into a ``RemediationInfo`` (digest,
disruption, privilege, reversibility, check-mode support); ``current_digest(id)`` is what the
gate compares with the digest a plan recorded.
"""

from __future__ import annotations

from collections.abc import Iterable

from inspectorctl.remediate import catalog
from inspectorctl.remediate.catalog import CatalogError, PlaybookMeta
from inspectorctl.remediate.planner import RemediationInfo

__all__ = ["CatalogError", "current_digest", "remediation_catalog", "remediation_info"]


def info_from_meta(meta: PlaybookMeta, digest: str) -> RemediationInfo:
    return RemediationInfo(
        id=meta.id, digest=digest, disruption=meta.disruption, privilege=meta.privilege,
        reversible=meta.reversible, check_mode_supported=meta.check_mode,
        description=meta.title,
    )


def remediation_catalog(only: Iterable[str] | None = None) -> dict[str, RemediationInfo]:
    """Every remediation playbook (not the internal ones such as ``_rollback``), or only those
    of ``only`` that exist (digests are computed only for what is asked)."""
    ids = catalog.available_playbooks()
    if only is not None:
        ids &= set(only)
    return {pid: remediation_info(pid) for pid in sorted(ids)}


def remediation_info(playbook: str) -> RemediationInfo:
    return info_from_meta(catalog.load_meta(playbook), catalog.playbook_digest(playbook))


def current_digest(playbook: str) -> str | None:
    """The playbook's digest now, or None when it no longer exists."""
    if not (catalog.playbooks_root() / playbook / "playbook.yml").is_file():
        return None
    return catalog.playbook_digest(playbook)
