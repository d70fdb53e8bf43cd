"""Small fixtures shared by unit tests: a tiny rulepack and hand-made snapshots."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspectorctl.models.snapshot import HostSnapshot

MINI_PACK = """\
id: mini
version: "1.0"
title: Mini pack
description: A tiny pack for tests.
variables:
  max_tries:
    default: 4
    description: MaxAuthTries limit
rules:
  - id: mini-ssh-root
    title: SSH root login is disabled
    description: d
    rationale: r
    severity: high
    references: {pci_dss: ["2.2.6", "8.2.2"], hipaa: ["164.312(a)(1)"]}
    check: {kind: sshd_option, option: PermitRootLogin, expect: {op: eq, value: "no"}}
  - id: mini-ssh-tries
    title: SSH MaxAuthTries is limited
    description: d
    rationale: r
    severity: medium
    references: {pci_dss: ["2.2.6"]}
    check:
      kind: sshd_option
      option: maxauthtries
      expect: {op: le, value: {var: max_tries}}
  - id: mini-ip-forward
    title: IP forwarding is disabled
    description: d
    rationale: r
    severity: low
    check: {kind: sysctl, key: net.ipv4.ip_forward, expect: {value: 0}}
"""


def snapshot_dict(
    name: str, *, root_login: str = "no", tries: str = "3", forward: str = "0"
) -> dict[str, Any]:
    return {
        "host": {"name": name, "transport": "snapshot"},
        "collected_at": "2026-11-27T20:00:00+00:00",
        "requested": ["os", "sshd", "sysctl", "packages"],
        "os": {"id": "debian", "version_id": "12", "family": "debian", "kernel": "6.1.0",
               "arch": "x86_64"},
        "sshd": {"installed": True,
                 "config": {"permitrootlogin": [root_login], "maxauthtries": [tries]}},
        "sysctl": {
            "runtime": {"net.ipv4.ip_forward": forward},
            "configured": {"net.ipv4.ip_forward": [
                {"file": "/etc/sysctl.d/60-x.conf", "line": 1, "value": forward}]},
        },
        "packages": {"manager": "dpkg", "items": [
            {"name": "openssh-server", "source": "openssh", "version": "1:9.2p1-2+deb12u6"}]},
    }


def write_mini(tmp: Path, hosts: dict[str, dict[str, Any]]) -> tuple[Path, Path]:
    """Write the mini pack and one snapshot file per host; returns (pack, snapshot dir)."""
    pack = tmp / "mini.yml"
    pack.write_text(MINI_PACK)
    snaps = tmp / "snaps"
    snaps.mkdir(exist_ok=True)
    for name, data in hosts.items():
        HostSnapshot.model_validate(data)  # the fixture itself must be valid
        (snaps / f"{name}.json").write_text(json.dumps(data))
    return pack, snaps


def now() -> datetime:
    return datetime.now(UTC)
