"""The Collector seam: every transport turns a ProbeRequest into one result per host.

``CollectionFailure``, ``HostResult`` and ``Targets`` live in ``models/`` (evaluation and
remediation use them without depending on the transports); they are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from inspectorctl.errors import InspectorctlError
from inspectorctl.models.snapshot import CollectionFailure, HostResult, ProbeRequest
from inspectorctl.models.targets import Targets


class CollectError(InspectorctlError):
    """Collection as a whole could not run (bad inventory, ansible missing, ...).

    A single unreachable or failing host is *not* an exception: it is a CollectionFailure.
    """


class InventoryError(CollectError):
    """The inventory file is malformed or names no host."""

    exit_code = 2


#: progress callback: (host, event) where event is "started", "ok", "failed", "unreachable"
ProgressCallback = Callable[[str, str], None]


class Collector(Protocol):
    """One implementation per transport: local.py, ansible.py, ssm.py."""

    name: str

    def collect(
        self,
        request: ProbeRequest,
        targets: Targets,
        progress: ProgressCallback | None = None,
    ) -> Sequence[HostResult]: ...


__all__ = [
    "CollectError",
    "CollectionFailure",
    "Collector",
    "HostResult",
    "InventoryError",
    "ProgressCallback",
    "Targets",
]
