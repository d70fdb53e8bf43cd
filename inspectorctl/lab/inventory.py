"""The lab's Ansible inventory and SSH options: everything needed to reach a host.

Every host is ``root@127.0.0.1:22`` *inside its own network namespace*; ssh gets there through
``ProxyCommand=ip netns exec NETNS nc 127.0.0.1 22``. Since all hosts share that address, each
gets its own ``HostKeyAlias`` (its host key is checked against the lab's known_hosts, strictly)
and its own ``ControlPath`` (so Ansible's connection sharing never sends one host's commands
down another host's connection). ``-F /dev/null`` keeps the user's ssh config out of it; with
``StrictHostKeyChecking=yes`` and the lab's own known_hosts, ssh writes nothing under ``~/.ssh``.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from inspectorctl.lab.models import HostRecord
from inspectorctl.lab.requirements import HOST_PYTHON


def ssh_options(
    record: HostRecord,
    *,
    ip: str,
    nc: str,
    known_hosts: Path,
    control_dir: Path | None,
) -> list[str]:
    """ssh arguments (options only) that reach ``record`` and verify its host key.

    ``control_dir`` None: no connection sharing (``ControlPath=none``).
    """
    control = "none" if control_dir is None else str(control_dir / control_socket_name(record.name))
    proxy = f"{ip} netns exec {record.netns} {nc} 127.0.0.1 22"
    return [
        "-F",
        "/dev/null",
        "-o",
        f"ProxyCommand={proxy}",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"HostKeyAlias={record.name}",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"ControlPath={control}",
    ]


def control_socket_name(host: str) -> str:
    """A short, per-host socket name: a Unix socket path is limited to 107 bytes, and ssh
    appends 17 characters to it while it creates the socket."""
    return hashlib.sha256(host.encode()).hexdigest()[:10]


def group_name(profile: str) -> str:
    """An Ansible-safe group name for a profile (letters, digits, underscores)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", profile)


def inventory_document(
    records: Sequence[HostRecord],
    *,
    ip: str,
    nc: str,
    private_key: Path,
    known_hosts: Path,
    control_dir: Path,
) -> dict[str, Any]:
    hosts: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for record in records:
        options = ssh_options(
            record, ip=ip, nc=nc, known_hosts=known_hosts, control_dir=control_dir
        )
        hosts[record.name] = {
            "ansible_host": "127.0.0.1",
            "ansible_port": 22,
            "ansible_user": "root",
            "ansible_connection": "ssh",
            "ansible_ssh_private_key_file": str(private_key),
            "ansible_ssh_common_args": shlex.join(options),
            "ansible_ssh_pipelining": True,
            "ansible_python_interpreter": HOST_PYTHON,
            "inspectorctl_instance_id": record.instance_id,
            "inspectorctl_machine_id": record.machine_id,
            "inspectorctl_tags": dict(record.tags),
            "inspectorctl_lab_profiles": list(record.profiles),
            "inspectorctl_lab_netns": record.netns,
        }
        for profile in record.profiles:
            groups.setdefault(group_name(profile), {"hosts": {}})["hosts"][record.name] = None
    children: dict[str, Any] = {"lab": {"hosts": hosts}}
    for name in sorted(groups):
        if name != "lab":
            children[name] = groups[name]
    return {"all": {"children": children}}


def inventory_yaml(records: Sequence[HostRecord], **kwargs: Any) -> str:
    header = "# inspectorctl lab inventory, rewritten by `inspectorctl lab` on every change.\n"
    body = yaml.safe_dump(
        inventory_document(records, **kwargs), sort_keys=False, default_flow_style=False, width=1000
    )
    return header + body
