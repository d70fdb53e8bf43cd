"""Every remediation's molecule scenario, run against the session lab's ``mol-1``.

One test per scenario (``molecule test`` in ``playbooks/<id>``): prepare seeds the weak state
the playbook fixes, converge applies it, molecule's idempotence step fails the scenario when a
second run changes anything, and verify re-assesses the fixed rules with ``inspectorctl assess``
(every one must be PASS). Scenarios change ``mol-1`` only; each prepares its own starting state,
so they do not depend on their order.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inspectorctl.lab import Lab
from inspectorctl.remediate import catalog

MOLECULE_HOST = "mol-1"
STEPS = ("prepare", "converge", "idempotence", "verify")
SCENARIOS = sorted(catalog.available_playbooks())
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\\\")


def _bin_dir() -> Path:
    return Path(sys.executable).parent


def _molecule() -> str:
    here = _bin_dir() / "molecule"
    found = str(here) if here.is_file() else shutil.which("molecule")
    if found is None:
        pytest.fail("molecule is not installed (pip install -e '.[dev]')", pytrace=False)
    return found


def molecule_env(lab: Lab, inventory: Path, ephemeral: Path) -> dict[str, str]:
    """The environment a scenario runs in: the lab's inventory and state dir, mol-1."""
    return {
        **os.environ,
        "PATH": f"{_bin_dir()}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "INSPECTORCTL_LAB_INVENTORY": str(inventory),
        "INSPECTORCTL_MOLECULE_HOST": MOLECULE_HOST,
        "INSPECTORCTL_LAB_DIR": str(lab.state_dir),
        "MOLECULE_EPHEMERAL_DIRECTORY": str(ephemeral),
        "ANSIBLE_ROLES_PATH": str(catalog.roles_root()),
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PY_COLORS": "0",
    }


@pytest.mark.lab
@pytest.mark.slow
@pytest.mark.parametrize("pid", SCENARIOS)
def test_molecule_scenario(pid: str, lab: Lab, lab_inventory: Path, tmp_path: Path) -> None:
    assert lab.host(MOLECULE_HOST).state.value == "running"
    t0 = time.monotonic()
    proc = subprocess.run(
        [_molecule(), "test"],
        cwd=catalog.playbooks_root() / pid,
        env=molecule_env(lab, lab_inventory, tmp_path / "molecule"),
        capture_output=True, text=True, timeout=900, check=False,
    )
    out = _ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, f"molecule test of {pid} failed:\n{out[-12000:]}"
    for step in STEPS:
        assert f"default > {step}: Executed: Successful" in out, (
            f"{step} did not run successfully:\n{out[-4000:]}")
    print(f"{pid}: {time.monotonic() - t0:.1f}s")
