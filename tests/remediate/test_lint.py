"""Every playbook, role and molecule scenario of the catalogue passes ansible-lint's production
profile (configured in ``.ansible-lint`` at the repository root; nothing is excluded from
``playbooks/``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inspectorctl.remediate import catalog

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install -e '.[dev]')", pytrace=False)
    return found


@pytest.mark.slow
def test_playbooks_pass_ansible_lint_production_profile() -> None:
    playbooks = catalog.playbooks_root()
    assert (REPO / ".ansible-lint").is_file()
    env = {**os.environ, "NO_COLOR": "1", "ANSIBLE_ROLES_PATH": str(playbooks / "roles")}
    proc = subprocess.run(
        [_tool("ansible-lint"), "--offline", "--profile", "production", "--nocolor",
         str(playbooks.relative_to(REPO))],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    assert "Profile 'production' was required, and it passed" in out
