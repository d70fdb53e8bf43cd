"""Shared by the transports: the probe they ship, its time budget, and turning its JSON output
into a ``HostSnapshot`` under the identity the transport knows the host by."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from inspectorctl.collect.interface import CollectError, CollectionFailure, HostResult, Targets
from inspectorctl.models.snapshot import HostIdentity, HostSnapshot, ProbeRequest
from inspectorctl.probe import bundle
from inspectorctl.probe.bundle import ProbeBuildError, ShippedProbe


def shipped_probe() -> ShippedProbe:
    """The one file every transport ships to hosts (built from ``inspectorctl/probe/``), and
    its sha256; a checkout whose probe modules cannot be bundled is a ``CollectError``."""
    try:
        return bundle.shipped_probe()
    except ProbeBuildError as e:
        raise CollectError(f"cannot build the probe: {e}") from e


#: seconds allowed for pending-update computation (apt-get -s / dnf -C) on top of the rest
UPDATES_ALLOWANCE = 120


def probe_budget(request: ProbeRequest, targets: Targets) -> int:
    """Seconds one probe run may take on one host before it is abandoned."""
    budget = float(targets.timeout)
    if request.walks:
        budget += request.walk_max_seconds
    if "updates" in request.facts:
        budget += UPDATES_ALLOWANCE
    return int(budget) + 1


def host_python() -> str:
    """The host's own python3 (the probe targets it), else whatever runs inspectorctl."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("python3") or sys.executable


def request_json(request: ProbeRequest) -> str:
    return request.model_dump_json()


def _validation_reason(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    more = f" (+{e.error_count() - 3} more)" if e.error_count() > 3 else ""
    return "probe output does not match the snapshot schema: " + "; ".join(parts) + more


def tags_from(value: Any) -> dict[str, str]:
    """``inspectorctl_tags`` as a dict: a mapping, a list of ``k=v`` strings, or ``"k=v,k2=v2"``."""
    if isinstance(value, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    items: list[str]
    if isinstance(value, str):
        items = [p for p in value.split(",") if p.strip()]
    elif isinstance(value, list | tuple):
        items = [str(p) for p in value]
    else:
        return {}
    out: dict[str, str] = {}
    for item in items:
        key, _, val = item.partition("=")
        if key.strip():
            out[key.strip()] = val.strip()
    return out


#: the ``ansible_connection`` values that reach a host over SSH (unset means ssh)
SSH_CONNECTIONS = frozenset({"ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh",
                             "ansible.builtin.paramiko_ssh", "ansible.legacy.ssh"})
_KEY_TYPE = re.compile(r"^[a-z0-9@.-]{1,64}$")
_MAX_HOST_KEYS = 16


def ssh_fingerprint(blob_b64: str) -> str | None:
    """OpenSSH's ``SHA256:...`` fingerprint of a public key (its base64 blob), or None when it
    is not base64 (a value from a host: checked, never trusted)."""
    try:
        blob = base64.b64decode(blob_b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not blob:
        return None
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def host_key_fingerprints(reported: Any) -> tuple[str, ...]:
    """The fingerprints (sorted, unique) of the host keys the probe read (``TYPE BASE64``
    strings); anything else is dropped."""
    if not isinstance(reported, list):
        return ()
    out: set[str] = set()
    for line in reported[:_MAX_HOST_KEYS]:
        if not isinstance(line, str) or len(line) > 16384:
            continue
        fields = line.split()
        if len(fields) != 2 or not _KEY_TYPE.match(fields[0]):
            continue
        fp = ssh_fingerprint(fields[1])
        if fp is not None:
            out.add(fp)
    return tuple(sorted(out))


def reached_over_ssh(transport: str, hostvars: Mapping[str, Any]) -> bool:
    """Is this host reached through SSH (Ansible with an ssh connection)?"""
    return transport == "ansible" and str(
        hostvars.get("ansible_connection") or "ssh") in SSH_CONNECTIONS


def snapshot_from_probe(
    data: Any,
    *,
    name: str,
    transport: str,
    hostvars: Mapping[str, Any] | None = None,
) -> HostResult:
    """Validate the probe's JSON object and give it the transport's identity.

    ``hostvars`` (inventory variables) may carry ``inspectorctl_instance_id`` and
    ``inspectorctl_tags``; otherwise the instance id the probe found (cloud fact) is kept.
    """
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as e:
            return CollectionFailure(host=name, reason=f"probe output is not JSON: {e}")
    if not isinstance(data, dict):
        return CollectionFailure(host=name, reason="probe output is not a JSON object")
    host_block = data.get("host")
    reported: dict[str, Any] = host_block if isinstance(host_block, dict) else {}
    hv = hostvars or {}
    instance_id = hv.get("inspectorctl_instance_id") or reported.get("instance_id")
    try:
        identity = HostIdentity(
            name=name,
            hostname=reported.get("hostname"),
            machine_id=reported.get("machine_id"),
            instance_id=str(instance_id) if instance_id else None,
            tags=tags_from(hv.get("inspectorctl_tags")),
            transport=transport,
            # the keys a host presents over SSH: recorded only when it is reached that way
            ssh_host_keys=(host_key_fingerprints(reported.get("ssh_host_keys"))
                           if reached_over_ssh(transport, hv) else ()),
        )
        return HostSnapshot.model_validate({**data, "host": identity.model_dump()})
    except ValidationError as e:
        return CollectionFailure(host=name, reason=_validation_reason(e))
