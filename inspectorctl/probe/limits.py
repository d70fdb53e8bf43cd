"""The ``limits`` fact: pam_limits entries of limits.conf and limits.d."""

import os
from typing import Any, Dict, List, Tuple

from .context import Fact, Gatherer, ProbeContext, _listdir, _read_each

#: pam_limits' files (limits.conf(5)): the main file, then ``limits.d/*.conf`` in name order
LIMITS_CONF = "/etc/security/limits.conf"


LIMITS_D = "/etc/security/limits.d"


def parse_limits_conf(text: str) -> List[Tuple[str, str, str, str, int]]:
    """The entries of a limits.conf(5) file as pam_limits reads them: ``#`` starts a comment,
    the first four blank-separated fields are ``<domain> <type> <item> <value>`` (more are
    ignored; type, item and value are case-insensitive), and a two-field ``<domain> -`` line
    means "no limits" for that domain (returned with item and value ``""``). Any other line is
    skipped, as pam_limits skips it. Returns (domain, type, item, value, line number)."""
    entries: List[Tuple[str, str, str, str, int]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split("#", 1)[0].split()
        if len(fields) >= 4:
            domain, kind, item, value = fields[:4]
            entries.append((domain, kind.lower(), item.lower(), value.lower(), number))
        elif len(fields) == 2 and fields[1].startswith("-"):
            entries.append((fields[0], "-", "", "", number))
    return entries


def limits_files(ctx: "ProbeContext") -> List[str]:
    """limits.conf, then the ``*.conf`` files of limits.d sorted by name: pam_limits' order."""
    files = [LIMITS_CONF] if os.path.isfile(ctx.path(LIMITS_CONF)) else []
    return files + [LIMITS_D + "/" + n for n in sorted(_listdir(ctx, LIMITS_D))
                    if n.endswith(".conf") and not n.startswith(".")]


def fact_limits(g: Gatherer) -> Dict[str, Any]:
    """Every entry of pam_limits' files, in the order pam_limits reads them. An unreadable
    file is an error: it could hold the entry that decides."""
    ctx = g.ctx
    files = limits_files(ctx)
    entries: List[Dict[str, Any]] = []
    errors: Dict[str, str] = {}
    for host_file, text in _read_each(ctx, files, errors):
        for domain, kind, item, value, line in parse_limits_conf(text):
            entries.append({"domain": domain, "type": kind, "item": item, "value": value,
                            "file": host_file, "line": line})
    return {"files": files, "entries": entries, "errors": errors}


LIMITS_FACT = Fact("limits", fact_limits)
