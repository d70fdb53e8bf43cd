"""The driver: the table of every fact the probe gathers, and ``run_probe``, which gathers what a
request asks for into one HostSnapshot document."""

import os
import socket
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Set

from .accounts import ACCOUNTS_FACT, LOGIN_DEFS_FACT
from .cloud import CLOUD_FACT
from .context import SCHEMA_VERSION, Gatherer, ProbeContext
from .files import FILES_FACT
from .kernel_modules import KERNEL_MODULES_FACT
from .limits import LIMITS_FACT
from .mounts import MOUNTS_FACT
from .osinfo import OS_FACT
from .packages import PACKAGE_CHANGELOGS_FACT, PACKAGES_FACT
from .pam import PAM_FACT
from .rsyslog import RSYSLOG_FACT
from .services import SERVICES_FACT
from .sockets import SOCKETS_FACT
from .sshd import SSHD_FACT
from .sysctl import SYSCTL_FACT
from .systemd_conf import SYSTEMD_CONF_FACT
from .updates import UPDATES_FACT
from .walk import WALKS_FACT

#: every fact the probe gathers, in this order in ``FACTS`` and in messages; a new fact is a
#: module declaring its ``Fact`` and one line here (and its model in ``models/snapshot.py``)
FACT_TABLE = (
    OS_FACT,
    PACKAGES_FACT,
    SERVICES_FACT,
    SSHD_FACT,
    SYSCTL_FACT,
    FILES_FACT,
    WALKS_FACT,
    MOUNTS_FACT,
    KERNEL_MODULES_FACT,
    ACCOUNTS_FACT,
    LOGIN_DEFS_FACT,
    PAM_FACT,
    SYSTEMD_CONF_FACT,
    LIMITS_FACT,
    RSYSLOG_FACT,
    SOCKETS_FACT,
    UPDATES_FACT,
    CLOUD_FACT,
    PACKAGE_CHANGELOGS_FACT,
)
FACTS = tuple(f.name for f in FACT_TABLE)
_FACT_BY_NAME = {f.name: f for f in FACT_TABLE}


def start_background(gatherer: Gatherer) -> None:
    """Start the slow commands (apt, sshd -T, systemctl, rpm) of the requested facts."""
    for fact in FACT_TABLE:
        if fact.start is not None and fact.name in gatherer.facts:
            fact.start(gatherer)


def waiting_facts(gatherer: Gatherer) -> Set[str]:
    """Facts whose gatherer waits for a background command."""
    return {f.name for f in FACT_TABLE if any(job in gatherer.bg for job in f.jobs)}


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def run_probe(
    request: Dict[str, Any], root: str = "/", ctx: Optional[ProbeContext] = None
) -> Dict[str, Any]:
    """Gather what ``request`` (a ProbeRequest as a dict) asks for; return a HostSnapshot dict."""
    started = time.monotonic()
    collected_at = _now_iso()
    ctx = ctx or ProbeContext(root)
    facts: List[str] = []
    for fact in request.get("facts") or []:
        if fact not in facts:
            facts.append(fact)
    gatherer = Gatherer(ctx, dict(request, facts=facts))
    snapshot: Dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "collected_at": collected_at,
        "probe_uid": ctx.euid,
        "requested": facts,
        "unknown": {},
    }
    unknown: Dict[str, str] = snapshot["unknown"]
    timings: Dict[str, float] = {}
    start_background(gatherer)
    # Facts that wait for a background command come last, after the walk, so the walk (CPU in
    # this process) overlaps with apt/dnf/sshd/systemctl/rpm (CPU in theirs).
    waiting = waiting_facts(gatherer)
    order = (
        [f for f in facts if f != "walks" and f not in waiting]
        + [f for f in facts if f == "walks"]
        + [f for f in facts if f in waiting]
    )
    for fact in order:
        t0 = time.monotonic()
        if fact not in FACTS:
            unknown[fact] = "not a fact this probe gathers (known: %s)" % ", ".join(FACTS)
            continue
        try:
            snapshot[fact] = _FACT_BY_NAME[fact].gather(gatherer)
        except OSError as e:
            if e.filename:
                unknown[fact] = ctx.reason(e, ctx.host_path(str(e.filename)))
            else:
                unknown[fact] = str(e.strerror or e)
        except Exception as e:  # a gatherer bug must not cost the other facts
            unknown[fact] = "%s: %s" % (type(e).__name__, e)
        timings[fact] = round(time.monotonic() - t0, 4)
    snapshot["host"] = _identity(ctx, snapshot.get("cloud"))
    snapshot["probe_seconds"] = round(time.monotonic() - started, 4)
    snapshot["fact_seconds"] = timings
    return snapshot


def _identity(ctx: ProbeContext, cloud: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    hostname: Optional[str] = None
    if ctx.root == "/":
        hostname = socket.gethostname()
    else:
        try:
            hostname = ctx.read("/etc/hostname").strip() or None
        except OSError:
            hostname = None
    machine_id: Optional[str] = None
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            machine_id = ctx.read(candidate).strip() or None
        except OSError:
            continue
        if machine_id:
            break
    out: Dict[str, Any] = {
        "name": hostname or "localhost",
        "hostname": hostname,
        "machine_id": machine_id,
        "transport": "local",
    }
    if cloud and cloud.get("instance_id"):
        out["instance_id"] = cloud["instance_id"]
    keys = _ssh_host_keys(ctx)
    if keys:
        out["ssh_host_keys"] = keys
    return out


#: at most this many host key files, each read up to this many bytes
_MAX_HOST_KEYS = 16
_MAX_HOST_KEY_BYTES = 16384


def _ssh_host_keys(ctx: ProbeContext) -> List[str]:
    """``TYPE BASE64`` of the first line of every ``/etc/ssh/ssh_host_*_key.pub`` (public
    keys only), in name order: the controller fingerprints them and ``apply`` checks them."""
    try:
        names = sorted(os.listdir(ctx.path("/etc/ssh")))
    except OSError:
        return []
    out: List[str] = []
    for name in names:
        if not (name.startswith("ssh_host_") and name.endswith("_key.pub")):
            continue
        try:
            first = ctx.read("/etc/ssh/" + name, _MAX_HOST_KEY_BYTES).split("\n", 1)[0]
        except OSError:
            continue
        fields = first.split()
        if len(fields) >= 2:
            out.append(fields[0] + " " + fields[1])
        if len(out) >= _MAX_HOST_KEYS:
            break
    return out
