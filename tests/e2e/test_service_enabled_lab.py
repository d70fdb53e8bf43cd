"""service_enabled on a lab host that lacks the service: one clear error naming the missing
unit and what to do, and nothing changed (before: systemctl's "System has not been booted
with systemd")."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspectorctl.lab import Lab
from inspectorctl.models.targets import Targets
from inspectorctl.remediate.ansible import AnsibleExecutor
from inspectorctl.remediate.interface import ExecRequest, HostStatus

pytestmark = [pytest.mark.lab]

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


def test_a_service_that_is_not_installed_is_refused_clearly(lab: Lab) -> None:
    (host,) = lab.up(1, ["baseline"], "svcmiss")
    h = host.name
    before = lab.exec(h, ["sh", "-c", "ls -R /etc/systemd/system /var/backups 2>&1 | sha256sum"])
    assert before.returncode == 0, before.stderr
    result = AnsibleExecutor().run(ExecRequest(
        playbook="service_enabled", hosts=[h],
        items=[{"name": "inspectorctl-no-such"}, {"name": "ssh"}], run_id="a-svcmiss",
        targets=Targets(inventory=lab.inventory_path), playbooks_root=PLAYBOOKS))
    outcome = result.hosts[h]
    assert outcome.status is HostStatus.FAILED, outcome
    assert outcome.message.startswith(
        "task 'Refuse services that are not installed': not installed on this host (no "
        "unit file inspectorctl-no-such.service in "
        "/etc/systemd/system, /run/systemd/system, "), outcome.message
    assert "ssh.service" not in outcome.message  # installed: not named
    assert outcome.message.endswith(
        "install the package that provides it first (the package_present remediation, or "
        "your distribution's package); nothing was changed"), outcome.message
    after = lab.exec(h, ["sh", "-c", "ls -R /etc/systemd/system /var/backups 2>&1 | sha256sum"])
    assert after.stdout == before.stdout
