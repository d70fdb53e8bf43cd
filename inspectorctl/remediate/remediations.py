"""The planner's and the gate's view of the remediation catalogue (``catalog.py``).

``remediation_catalog()`` turns each playbook's metadata into a ``RemediationInfo`` (digest,
disruption, privilege, reversibility, check-mode support); ``current_digest(id)`` is what the
gate compares with the digest a plan recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inspectorctl.errors import InspectorctlError
from inspectorctl.models.plan import Disruption, Privilege
from inspectorctl.remediate import catalog
from inspectorctl.remediate.planner import RemediationInfo


class CatalogError(InspectorctlError):
    """The remediation catalogue cannot be read or names an unknown disruption/privilege."""


def _value(meta: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        if isinstance(meta, Mapping) and n in meta:
            return meta[n]
        if hasattr(meta, n):
            return getattr(meta, n)
    return default


def _enum_value(v: Any) -> str:
    return str(getattr(v, "value", v))


def info_from_meta(playbook: str, meta: Any, digest: str) -> RemediationInfo:
    disruption = _enum_value(_value(meta, "disruption", default="none"))
    privilege = _value(meta, "privilege", default=None)
    if privilege is None:
        become = _value(meta, "become", default=True)
        privilege = Privilege.ROOT if become else Privilege.USER
    try:
        return RemediationInfo(
            id=playbook,
            digest=digest,
            disruption=Disruption(disruption),
            privilege=Privilege(_enum_value(privilege)),
            reversible=bool(_value(meta, "reversible", default=False)),
            check_mode_supported=bool(_value(meta, "check_mode_supported", "check_mode",
                                             default=True)),
            description=str(_value(meta, "description", "title", default="") or ""),
        )
    except ValueError as e:
        raise CatalogError(f"playbook {playbook}: metadata not understood: {e}") from e


def remediation_catalog() -> dict[str, RemediationInfo]:
    loader = getattr(catalog, "load_catalog", None)
    digest_of = getattr(catalog, "playbook_digest", None)
    if loader is None or digest_of is None:
        raise CatalogError("the remediation catalogue (inspectorctl.remediate.catalog."
                           "load_catalog / playbook_digest) is not available in this build")
    metas = loader()
    items = metas.items() if isinstance(metas, Mapping) else (
        (_value(m, "id", "name"), m) for m in metas)
    return {str(pid): info_from_meta(str(pid), meta, str(digest_of(str(pid))))
            for pid, meta in items if not str(pid).startswith("_")}


def rollback_info() -> RemediationInfo:
    return remediation_info("_rollback")


def remediation_info(playbook: str) -> RemediationInfo:
    loader = getattr(catalog, "load_catalog", None)
    digest_of = getattr(catalog, "playbook_digest", None)
    if loader is None or digest_of is None:
        raise CatalogError("the remediation catalogue is not available in this build")
    metas = loader()
    meta = metas.get(playbook) if isinstance(metas, Mapping) else None
    if meta is None:
        raise CatalogError(f"playbook {playbook} is not in the remediation catalogue")
    return info_from_meta(playbook, meta, str(digest_of(playbook)))


def current_digest(playbook: str) -> str | None:
    """The playbook's digest now, or None when it no longer exists."""
    digest_of = getattr(catalog, "playbook_digest", None)
    if digest_of is None:
        raise CatalogError("the remediation catalogue is not available in this build")
    if not (catalog.playbooks_root() / playbook / "playbook.yml").is_file():
        return None
    try:
        return str(digest_of(playbook))
    except (KeyError, FileNotFoundError):
        return None
