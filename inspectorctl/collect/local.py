"""LocalCollector: run the probe on this machine, as a child process of the host's python3.

The shipped probe (one file, see ``inspectorctl.probe.bundle``) is written to a private temp
directory and run from there; the request goes to it on stdin, the snapshot comes back as JSON on
stdout. No Ansible, no SSH: the fastest way to assess the machine inspectorctl runs on.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from inspectorctl.collect._result import (
    host_python,
    probe_budget,
    request_json,
    shipped_probe,
    snapshot_from_probe,
)
from inspectorctl.collect.interface import (
    CollectError,
    CollectionFailure,
    HostResult,
    ProgressCallback,
    Targets,
)
from inspectorctl.models.snapshot import ProbeRequest

HOST_NAME = "localhost"


class LocalCollector:
    """Probe this machine.

    ``python``: interpreter to run the probe with (default: the host's ``/usr/bin/python3``,
    else ``python3`` on PATH, else the running interpreter). ``root``: read files under this
    prefix instead of ``/`` (tests point it at a fake tree). With ``Targets.become`` and a
    non-root user the probe runs through ``sudo -n``.
    """

    name = "local"

    def __init__(self, python: str | None = None, root: str = "/") -> None:
        self.python = python or host_python()
        self.root = root

    def argv(self, targets: Targets, probe: Path) -> list[str]:
        """The command that runs the probe file ``probe``."""
        argv = [self.python, str(probe)]
        if self.root != "/":
            argv += ["--root", self.root]
        if targets.become and os.geteuid() != 0:
            argv = ["sudo", "-n", "--", *argv]
        return argv

    def collect(
        self,
        request: ProbeRequest,
        targets: Targets,
        progress: ProgressCallback | None = None,
    ) -> Sequence[HostResult]:
        if targets.inventory is not None:
            raise CollectError(
                f"the local transport probes only this machine; it cannot use the inventory "
                f"{targets.inventory} (use the ansible transport)"
            )
        source = shipped_probe().source
        if progress is not None:
            progress(HOST_NAME, "started")
        with tempfile.TemporaryDirectory(prefix="inspectorctl-probe-") as tmp:
            probe = Path(tmp) / "inspectorctl_probe.py"
            probe.write_bytes(source)
            result = self._run(request, targets, probe)
        if progress is not None:
            progress(HOST_NAME, "ok" if not isinstance(result, CollectionFailure) else "failed")
        return [result]

    def _run(self, request: ProbeRequest, targets: Targets, probe: Path) -> HostResult:
        budget = probe_budget(request, targets)
        argv = self.argv(targets, probe)
        env = dict(os.environ, LC_ALL="C", PYTHONDONTWRITEBYTECODE="1")
        env.pop("PYTHONPATH", None)
        try:
            proc = subprocess.run(
                argv,
                input=request_json(request),
                capture_output=True,
                text=True,
                timeout=budget,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return CollectionFailure(host=HOST_NAME, reason=f"probe timed out after {budget}s")
        except OSError as e:
            return CollectionFailure(
                host=HOST_NAME, reason=f"cannot run the probe with {argv[0]}: {e.strerror or e}"
            )
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln]
            detail = lines[-1] if lines else "no output"
            return CollectionFailure(
                host=HOST_NAME, reason=f"probe exited with {proc.returncode}: {detail}"
            )
        return snapshot_from_probe(proc.stdout, name=HOST_NAME, transport="local")
