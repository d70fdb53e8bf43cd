"""The ``pam`` fact: PAM service stacks, pwquality and faillock settings."""

import errno
import os
from typing import Any, Dict, List, Set

from .context import Fact, Gatherer, _listdir
from .parsers import parse_keyvalue_conf


def _pam_tokens(line: str) -> List[str]:
    """Split a PAM line on whitespace, keeping ``[...]`` groups (``\\]`` escapes) as one token."""
    tokens: List[str] = []
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            break
        if line[i] == "#":
            break  # a comment starts at a token boundary
        start = i
        if line[i] == "[":
            i += 1
            while i < n and line[i] != "]":
                i += 2 if line[i] == "\\" and i + 1 < n else 1
            i += 1
            while i < n and line[i] not in " \t":
                i += 1
        else:
            while i < n and line[i] not in " \t":
                if line[i] == "[":
                    i += 1
                    while i < n and line[i] != "]":
                        i += 2 if line[i] == "\\" and i + 1 < n else 1
                i += 1
        tokens.append(line[start:i])
    return tokens


def parse_pam(text: str) -> List[Dict[str, Any]]:
    """One /etc/pam.d file: ``[-]type control module [args...]`` lines (backslash continues a
    line). ``@include NAME`` is kept as type ``@include`` with module NAME. The module is reduced
    to its basename (``/lib/security/pam_unix.so`` -> ``pam_unix.so``)."""
    out: List[Dict[str, Any]] = []
    pending = ""
    pending_line = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            pending_line = number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line = pending + raw
        pending = ""
        tokens = _pam_tokens(line)
        if not tokens:
            continue
        if tokens[0] == "@include":
            if len(tokens) >= 2:
                out.append(
                    {
                        "type": "@include",
                        "control": "",
                        "module": tokens[1],
                        "args": [],
                        "line": pending_line,
                    }
                )
            continue
        if len(tokens) < 3:
            continue
        ptype = tokens[0].lstrip("-").lower()
        out.append(
            {
                "type": ptype,
                "control": tokens[1],
                "module": os.path.basename(tokens[2]) if ptype else tokens[2],
                "args": tokens[3:],
                "line": pending_line,
            }
        )
    return out


def fact_pam(g: Gatherer) -> Dict[str, Any]:
    ctx = g.ctx
    services: Dict[str, List[Dict[str, Any]]] = {}
    errors: Dict[str, str] = {}
    seen: Set[str] = set()
    found_dir = False
    for directory in ("/etc/pam.d", "/usr/lib/pam.d", "/lib/pam.d"):
        try:
            names = sorted(os.listdir(ctx.path(directory)))
        except OSError:
            continue
        found_dir = True
        for name in names:
            if (
                name in seen
                or name.startswith(".")
                or name.endswith(("~", ".dpkg-old", ".dpkg-dist", ".rpmnew", ".rpmsave"))
            ):
                continue
            host_file = directory + "/" + name
            if not os.path.isfile(ctx.path(host_file)):
                continue
            seen.add(name)
            try:
                services[name] = parse_pam(ctx.read(host_file))
            except OSError as e:
                errors[name] = ctx.reason(e, host_file)
    if not found_dir:
        raise OSError(errno.ENOENT, "no /etc/pam.d")
    pwquality: Dict[str, str] = {}
    dropins = sorted(
        "/etc/security/pwquality.conf.d/" + n
        for n in _listdir(ctx, "/etc/security/pwquality.conf.d")
        if n.endswith(".conf")
    )
    for host_file in ["/etc/security/pwquality.conf", *dropins]:
        try:
            pwquality.update(parse_keyvalue_conf(ctx.read(host_file)))
        except OSError as e:
            if e.errno != errno.ENOENT:
                errors[host_file] = ctx.reason(e, host_file)
    faillock: Dict[str, str] = {}
    try:
        faillock = parse_keyvalue_conf(ctx.read("/etc/security/faillock.conf"))
    except OSError as e:
        if e.errno != errno.ENOENT:
            errors["/etc/security/faillock.conf"] = ctx.reason(e, "faillock.conf")
    return {
        "services": services,
        "pwquality": pwquality,
        "faillock": faillock,
        "errors": errors,
    }


PAM_FACT = Fact("pam", fact_pam)
