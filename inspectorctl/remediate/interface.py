"""The Executor seam: run one remediation on some hosts, return per-host outcomes as data.

One implementation per transport (``ansible.py`` now; an SSM executor would be ``ssm.py``).
A host that fails or cannot be reached is not an exception: it is a ``HostOutcome``. An
``ExecutorError`` means the executor could not run at all (tool missing, bad inventory...).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field

from inspectorctl.collect.interface import Targets
from inspectorctl.errors import InspectorctlError
from inspectorctl.models.common import Frozen


class ExecutorError(InspectorctlError):
    """The executor could not run the remediation at all."""


class HostStatus(enum.StrEnum):
    CHANGED = "changed"
    OK = "ok"
    FAILED = "failed"
    UNREACHABLE = "unreachable"


class HostOutcome(Frozen):
    host: str
    status: HostStatus
    #: per-host task counts as the engine reports them (ok, changed, failures, dark...)
    stats: dict[str, int] = Field(default_factory=dict)
    message: str = ""
    #: unified diff of what changed (or would change, in check mode)
    diff: str = ""


class ExecRequest(Frozen):
    playbook: str
    hosts: list[str]
    items: list[dict[str, Any]]
    #: the apply run the change belongs to (backups land under it on the host)
    run_id: str
    targets: Targets
    check: bool = False
    diff: bool = False
    #: run the playbook from this copy of the playbooks tree (``<root>/<id>/playbook.yml``,
    #: ``<root>/roles``) instead of the catalogue: the approved, digest-checked private copy
    playbooks_root: Path | None = None
    #: host -> the machine-id it had when assessed: the executor refuses (fails) a host whose
    #: machine answers with another one, before the playbook touches it
    machine_ids: dict[str, str] = Field(default_factory=dict)
    #: host -> the ``SHA256:`` fingerprints of its SSH host keys when assessed: the executor
    #: refuses (fails) a host whose keys are others, before the playbook touches it
    host_keys: dict[str, list[str]] = Field(default_factory=dict)


class ExecResult(Frozen):
    status: str  # the engine's overall status (successful, failed, timeout...)
    rc: int | None
    hosts: dict[str, HostOutcome]
    #: wall time of the engine itself (what the orchestrator's overhead is measured against)
    seconds: float
    #: hosts this action did not reach in a run of several actions (the host failed an
    #: earlier one, or the run stopped at the error threshold): not run, so not in ``hosts``
    not_reached: list[str] = Field(default_factory=list)


#: progress: (host, event) with event in started | changed | ok | failed | unreachable
ExecProgress = Callable[[str, str], None]


class Executor(Protocol):
    name: str

    def run(self, request: ExecRequest, progress: ExecProgress | None = None) -> ExecResult: ...
