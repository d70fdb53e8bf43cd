"""Which hosts a collection or a remediation reaches (used by the transports and executors)."""

from __future__ import annotations

from pathlib import Path

from inspectorctl.models.aws import SsmTargets
from inspectorctl.models.common import Frozen


class Targets(Frozen):
    """Which hosts a collection reaches. No inventory means this machine (localhost)."""

    inventory: Path | None = None
    limit: str | None = None
    become: bool = False
    forks: int = 20
    timeout: int = 30  # seconds per host connection / task
    #: managed instances reached through SSM (the ssm transport and executor)
    ssm: SsmTargets | None = None
