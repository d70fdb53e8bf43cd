"""``inspectorctl lab demo``, and the way it tells a newcomer to continue, followed to the letter.

The demo brings up its weak and hardened hosts in the session lab, assesses them and prints
"What next". This test runs the plan, approve and apply commands exactly as printed (with a
database, a plan path and a name of its own): they must work, and the fixes must be verified.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.lab import Lab

pytestmark = pytest.mark.lab


def _printed(out: str, command: str) -> list[str]:
    """The arguments of the "What next" line that starts with ``inspectorctl COMMAND``."""
    line = next(ln.strip() for ln in out.splitlines()
                if ln.strip().startswith(f"inspectorctl {command} "))
    return shlex.split(line.split("  ")[0])[1:]  # the command, without its description


def test_the_demo_and_the_way_it_says_to_continue(lab: Lab, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("INSPECTORCTL_DB", "INSPECTORCTL_LAB_DIR", "INSPECTORCTL_LAB_NETNS_PREFIX"):
        monkeypatch.delenv(var, raising=False)  # the session lab's, as the test names them
    runner = CliRunner()
    db = str(tmp_path / "demo.db")
    res = runner.invoke(app, ["lab", "--state-dir", str(lab.state_dir), "--netns-prefix",
                              lab.netns_prefix, "demo", "--db", db])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert {"demo-weak-1", "demo-hardened-1"} <= {h.name for h in lab.status()}
    assert "Host             Pass  Fail  Error  N/A" in out
    mine = {"plan.json": str(tmp_path / "plan.json"), "YOUR-NAME": "alice"}

    def follow(command: str) -> str:
        args = [mine.get(a, a) for a in _printed(out, command)]
        step = runner.invoke(app, [*args, "--db", db])
        assert step.exit_code == 0, (args, step.output)
        return step.stdout

    planned = follow("plan")
    # root login is the one fix the lab cannot take over its own root connection: the plan
    # says so instead of an apply that fails on it
    assert ("ssh-permit-root-login on demo-weak-1: lockout: PermitRootLogin no would lock out "
            "the connection that applies it") in planned
    follow("approve")
    applied = follow("apply")
    assert "failed" not in applied.split("Re-assessed")[0]
    verified = next(ln for ln in applied.splitlines() if ln.startswith("Re-assessed"))
    assert "still failing 0, regressed 0, not verified 0" in verified, applied
