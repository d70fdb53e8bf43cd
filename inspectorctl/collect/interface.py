"""The Collector seam: every transport turns a ProbeRequest into one result per host."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from inspectorctl.aws.targets import SsmTargets
from inspectorctl.errors import InspectorctlError
from inspectorctl.models.common import Frozen
from inspectorctl.models.snapshot import HostSnapshot, ProbeRequest


class CollectError(InspectorctlError):
    """Collection as a whole could not run (bad inventory, ansible missing, ...).

    A single unreachable or failing host is *not* an exception: it is a CollectionFailure.
    """


class InventoryError(CollectError):
    """The inventory file is malformed or names no host."""

    exit_code = 2


class CollectionFailure(Frozen):
    """A host that could not be probed: every rule on it becomes ERROR with this reason."""

    host: str
    reason: str
    unreachable: bool = False


HostResult = HostSnapshot | CollectionFailure


class Targets(Frozen):
    """Which hosts a collection reaches. No inventory means this machine (localhost)."""

    inventory: Path | None = None
    limit: str | None = None
    become: bool = False
    forks: int = 20
    timeout: int = 30  # seconds per host connection / task
    #: managed instances reached through SSM (the ssm transport and executor)
    ssm: SsmTargets | None = None


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
