"""Hatch build hook: put the shipped probe, built from ``inspectorctl/probe/``, into the wheel.

The wheel carries it as ``inspectorctl/_data/probe/inspectorctl_probe.py``, where
``inspectorctl.probe.bundle.shipped_probe`` finds it, so an installed inspectorctl ships the file
its release was built with. An editable install gets nothing: in a checkout the probe is built
from the modules on first use (so an edited module ships at once). The file is never committed.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

WHEEL_PATH = "inspectorctl/_data/probe/inspectorctl_probe.py"


class ProbeBundleHook(BuildHookInterface[Any]):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        sys.path.insert(0, self.root)
        try:
            from inspectorctl.probe.bundle import build
        finally:
            sys.path.remove(self.root)
        self._tmp = Path(tempfile.mkdtemp(prefix="inspectorctl-probe-build-"))
        out = self._tmp / "inspectorctl_probe.py"
        out.write_bytes(build(Path(self.root) / "inspectorctl" / "probe"))
        build_data["force_include"][str(out)] = WHEEL_PATH

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
