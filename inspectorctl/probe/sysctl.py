"""The ``sysctl`` fact: runtime values of the requested kernel parameters and every assignment in
the sysctl.d files."""

import errno
import os
from typing import Any, Dict, List, Tuple

from .context import Fact, Gatherer, ProbeContext, conf_d_files


def normalise_sysctl_key(key: str) -> str:
    """``net/ipv4/ip_forward`` and ``net.ipv4.ip_forward`` are the same key (sysctl.d(5))."""
    key = key.strip()
    if "/" in key:
        key = key.replace("/", ".")
    return key


def normalise_sysctl_value(value: str) -> str:
    return " ".join(value.split())


def parse_sysctl_conf(
    text: str, filename: str
) -> Tuple[List[Tuple[str, Dict[str, Any]]], List[str]]:
    """One sysctl.d(5) file: ``key = value`` assignments in file order.

    Comments start with ``#`` or ``;``; a leading ``-`` on the key (ignore failures) is dropped;
    keys are normalised to the dotted form. Returns ``[(key, {file, line, value})]`` and a list
    of complaints for lines that are not assignments.
    """
    out: List[Tuple[str, Dict[str, Any]]] = []
    bad: List[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if key.startswith("-"):
            key = key[1:].strip()
        if not sep or not key:
            bad.append("%s:%d: not an assignment" % (filename, number))
            continue
        out.append(
            (
                normalise_sysctl_key(key),
                {"file": filename, "line": number, "value": normalise_sysctl_value(value)},
            )
        )
    return out, bad


def fact_sysctl(g: Gatherer) -> Dict[str, Any]:
    ctx = g.ctx
    runtime: Dict[str, str] = {}
    missing: List[str] = []
    errors: Dict[str, str] = {}
    for key in g.request.get("sysctl_keys") or []:
        key = normalise_sysctl_key(key)
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            runtime[key] = normalise_sysctl_value(ctx.read(path))
        except OSError as e:
            if e.errno == errno.ENOENT:
                missing.append(key)
            else:
                errors[key] = ctx.reason(e, path)
    configured: Dict[str, List[Dict[str, Any]]] = {}
    for host_file in sysctl_files(ctx):
        try:
            text = ctx.read(host_file)
        except OSError as e:
            errors[host_file] = ctx.reason(e, host_file)
            continue
        assignments, bad = parse_sysctl_conf(text, host_file)
        for complaint in bad:
            errors.setdefault(host_file, complaint)
        for key, setting in assignments:
            configured.setdefault(key, []).append(setting)
    return {"runtime": runtime, "missing": missing, "configured": configured, "errors": errors}


def sysctl_files(ctx: ProbeContext) -> List[str]:
    """sysctl.d files in systemd-sysctl order, then /etc/sysctl.conf (as ``sysctl --system``),
    unless /etc/sysctl.conf was already read through a symlink (Debian's 99-sysctl.conf)."""
    files = conf_d_files(ctx, "sysctl.d", ".conf")
    reals = {os.path.realpath(ctx.path(f)) for f in files}
    conf = ctx.path("/etc/sysctl.conf")
    if os.path.exists(conf) and os.path.realpath(conf) not in reals:
        files.append("/etc/sysctl.conf")
    # a masked basename (symlink to /dev/null) is simply empty: reading it yields nothing
    return files


SYSCTL_FACT = Fact("sysctl", fact_sysctl)
