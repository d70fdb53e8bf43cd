"""Value objects of the lab: what a host is, what the lab keeps on disk, what teardown did."""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from inspectorctl.models.common import Frozen

#: ``mi-`` followed by 17 hex digits: an SSM managed-instance id (what SSM's API accepts for a
#: non-EC2 machine), so lab hosts are addressable through the lab's SSM endpoint.
INSTANCE_ID_PATTERN = r"^mi-[0-9a-f]{17}$"
#: what labs made before the SSM endpoint recorded (read and replaced by the derived id)
LEGACY_INSTANCE_ID_PATTERN = r"^i-lab[0-9a-f]{17}$"


def instance_id_for(machine_id: str) -> str:
    """A host's managed-instance id, derived from its machine-id (stable across restarts)."""
    return "mi-" + hashlib.sha256(f"inspectorctl-lab:{machine_id}".encode()).hexdigest()[:17]
#: A host name: a valid hostname label (it is the host's hostname too).
HOST_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
#: A netns prefix: letters and digits then one dash, so no prefix is the start of another.
NETNS_PREFIX_PATTERN = r"^[a-z][a-z0-9]{1,15}-$"


class HostState(enum.StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    #: its processes or its network namespace are gone without ``lab stop`` (crash, kill...)
    BROKEN = "broken"


class DesiredState(enum.StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


class LabHost(Frozen):
    """One lab host as ``status()`` sees it."""

    name: str = Field(pattern=HOST_NAME_PATTERN)
    profiles: tuple[str, ...]
    state: HostState
    netns: str
    instance_id: str = Field(pattern=INSTANCE_ID_PATTERN)
    machine_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    hostname: str
    tags: dict[str, str]
    #: PID 1 of the host, as the machine numbers it; None when the host is not running.
    pid: int | None = None


class HostRecord(Frozen):
    """What the lab keeps about a host in ``hosts/NAME/host.json``."""

    name: str = Field(pattern=HOST_NAME_PATTERN)
    profiles: tuple[str, ...]
    netns: str
    instance_id: str = Field(pattern=INSTANCE_ID_PATTERN)
    machine_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    hostname: str
    tags: dict[str, str]
    #: ``ssh-ed25519 AAAA...`` of the host key the lab generated for it
    host_key: str
    desired: DesiredState
    pid: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_instance_id(cls, data: Any) -> Any:
        """Records written before hosts had ``mi-`` ids carry ``i-lab...``: derive the id."""
        if (
            isinstance(data, dict)
            and isinstance(data.get("instance_id"), str)
            and data["instance_id"].startswith("i-lab")
            and isinstance(data.get("machine_id"), str)
        ):
            return {**data, "instance_id": instance_id_for(data["machine_id"])}
        return data

    #: field 22 of /proc/PID/stat when it started, so a reused pid is not taken for the host
    starttime: int | None = None
    created_at: datetime


class LabRecord(Frozen):
    """``lab.json``: the lab as a whole."""

    version: int = 1
    netns_prefix: str = Field(pattern=NETNS_PREFIX_PATTERN)
    #: the ``Lab`` tag of every host
    lab_id: str
    created_at: datetime
    #: how ``/run/netns`` was before the lab's first ``ip netns add`` (teardown restores it
    #: once no namespace is left in it)
    run_netns_existed: bool = True
    run_netns_was_mount: bool = True
    #: folders above the state dir that the lab created (removed with it when left empty)
    created_parents: tuple[str, ...] = ()


class TeardownReport(Frozen):
    """What ``down()`` removed."""

    hosts: tuple[str, ...] = ()
    #: network namespaces with the lab's prefix that no host record claimed (a crashed lab)
    orphan_namespaces: tuple[str, ...] = ()
    #: processes killed: hosts' PID 1s and whatever still ran in the lab's namespaces
    processes_killed: int = 0
    state_dir_removed: bool = False
