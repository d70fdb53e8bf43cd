"""The ``rsyslog`` fact: rsyslog.conf and its includes (file modes, omfile actions, network
inputs)."""

import glob
import os
import re
from typing import Any, Dict, List, Tuple

from .context import Fact, Gatherer, ProbeContext, _listdir, _read_each

RSYSLOG_CONF = "/etc/rsyslog.conf"


#: input modules that listen on the network
RSYSLOG_REMOTE_INPUTS = ("imtcp", "imudp", "imptcp", "imrelp", "imgssapi")


#: legacy directives that start a network listener: lower-case name -> (name, module)
_RSYSLOG_LEGACY_LISTENERS = {
    "$inputtcpserverrun": ("$InputTCPServerRun", "imtcp"),
    "$udpserverrun": ("$UDPServerRun", "imudp"),
    "$inputptcpserverrun": ("$InputPTCPServerRun", "imptcp"),
    "$inputrelpserverrun": ("$InputRELPServerRun", "imrelp"),
}


_RSYSLOG_LEGACY_LINE = re.compile(r"([ \t]*\$[^#\n]*)[^\n]*")


_RSYSLOG_LEGACY = re.compile(r"^\s*\$(\w+)[ \t]*(.*?)\s*$")


_RSYSLOG_STATEMENT = re.compile(r"\b(module|input|action|include)\s*\(", re.I)


_RSYSLOG_PARAM = re.compile(
    r"([A-Za-z][\w.]*)\s*=\s*(?:\"((?:[^\"\\\\]|\\\\.)*)\"|([^\s\"()]+))")


def strip_rsyslog_comments(text: str) -> str:
    """``text`` with rsyslog comments blanked out (``#`` to the end of the line and ``/* */``
    blocks, outside double quotes), line numbers kept. A legacy ``$Directive`` line is one
    token to rsyslog: only a ``#`` ends it (``$IncludeConfig /etc/rsyslog.d/*.conf``)."""
    out: List[str] = []
    i, n = 0, len(text)
    quoted = block = False
    while i < n:
        ch = text[i]
        if not (block or quoted) and (i == 0 or text[i - 1] == "\n"):
            m = _RSYSLOG_LEGACY_LINE.match(text, i)
            if m:
                out.append(m.group(1) + " " * (m.end() - m.end(1)))
                i = m.end()
                continue
        if block:
            if text.startswith("*/", i):
                block = False
                out.append("  ")
                i += 2
                continue
            out.append("\n" if ch == "\n" else " ")
        elif quoted:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif ch == '"' or ch == "\n":
                quoted = False
        elif ch == '"':
            quoted = True
            out.append(ch)
        elif ch == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
            continue
        elif text.startswith("/*", i):
            block = True
            out.append("  ")
            i += 2
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def parse_rsyslog_conf(text: str) -> List[Tuple[str, str, Dict[str, str], int]]:
    """The statements of an rsyslog configuration that matter to the probe, in order:
    ``("legacy", "$Directive", {"value": ...}, line)`` for legacy directives and
    ``("module"|"input"|"action"|"include", "", {param: value}, line)`` for RainerScript
    statements (parameter names lower-cased; a statement may span lines)."""
    clean = strip_rsyslog_comments(text)
    found: List[Tuple[int, str, str, Dict[str, str], int]] = []
    for number, line in enumerate(clean.split("\n"), 1):
        m = _RSYSLOG_LEGACY.match(line)
        if m:
            found.append((0, "legacy", "$" + m.group(1).lower(), {"value": m.group(2)}, number))
    offset = 0
    for m in _RSYSLOG_STATEMENT.finditer(clean):
        if m.start() < offset:
            continue
        # the statement's parameters: up to the closing parenthesis outside quotes
        j, quoted = m.end(), False
        while j < len(clean) and (quoted or clean[j] != ")"):
            if clean[j] == "\\" and quoted:
                j += 1
            elif clean[j] == '"':
                quoted = not quoted
            j += 1
        params = {k.lower(): quoted_value or bare
                  for k, quoted_value, bare in _RSYSLOG_PARAM.findall(clean[m.end():j])}
        lineno = clean.count("\n", 0, m.start()) + 1
        found.append((m.start(), m.group(1).lower(), "", params, lineno))
        offset = j
    # legacy directives by line; statements by position (both in file order)
    found.sort(key=lambda t: (t[4], t[0]))
    return [(kind, name, params, line) for _, kind, name, params, line in found]


def _rsyslog_include(ctx: "ProbeContext", pattern: str) -> List[str]:
    """The host paths an include names: a glob, or every file of a directory, sorted."""
    if pattern.endswith("/"):
        return [pattern + n for n in sorted(_listdir(ctx, pattern))
                if os.path.isfile(ctx.path(pattern + n))]
    return sorted(ctx.host_path(p) for p in glob.glob(ctx.path(pattern))
                  if os.path.isfile(p))


def fact_rsyslog(g: Gatherer) -> Dict[str, Any]:
    """rsyslog.conf with its includes ($IncludeConfig, include(file=...)) followed where
    they stand: where log files' modes are set, omfile actions that take the default, and
    network inputs. An unreadable file is an error: it could hold what decides."""
    ctx = g.ctx
    files: List[str] = []
    errors: Dict[str, str] = {}
    modes: List[Dict[str, Any]] = []
    default_actions: List[Dict[str, Any]] = []
    inputs: List[Dict[str, Any]] = []

    def visit(host_file: str, depth: int) -> None:
        if host_file in files or depth > 8:
            return
        files.append(host_file)
        for _, text in _read_each(ctx, [host_file], errors):
            for kind, name, params, line in parse_rsyslog_conf(text):
                at = {"file": host_file, "line": line}
                value = params.get("value", "").split()
                if kind == "legacy" and name == "$includeconfig" and value:
                    for inc in _rsyslog_include(ctx, value[0]):
                        visit(inc, depth + 1)
                elif kind == "include" and params.get("file"):
                    for inc in _rsyslog_include(ctx, params["file"]):
                        visit(inc, depth + 1)
                elif kind == "legacy" and name == "$filecreatemode" and value:
                    modes.append(dict(at, value=value[0], set_by="$FileCreateMode"))
                elif kind == "legacy" and name == "$modload" and value and (
                        value[0] in RSYSLOG_REMOTE_INPUTS):
                    inputs.append(dict(at, module=value[0], how="$ModLoad"))
                elif kind == "legacy" and name in _RSYSLOG_LEGACY_LISTENERS:
                    directive, module = _RSYSLOG_LEGACY_LISTENERS[name]
                    inputs.append(dict(at, module=module, how=directive))
                elif kind in ("module", "input"):
                    module = params.get("load" if kind == "module" else "type", "")
                    if module in RSYSLOG_REMOTE_INPUTS:
                        inputs.append(dict(at, module=module, how="%s()" % kind))
                    if kind == "module" and module == "builtin:omfile" and (
                            "filecreatemode" in params):
                        modes.append(dict(at, value=params["filecreatemode"],
                                          set_by="module(builtin:omfile)"))
                elif kind == "action" and params.get("type", "").lower() == "omfile":
                    if "filecreatemode" in params:
                        modes.append(dict(at, value=params["filecreatemode"],
                                          set_by="action(omfile)"))
                    else:
                        default_actions.append(at)

    if os.path.isfile(ctx.path(RSYSLOG_CONF)):
        visit(RSYSLOG_CONF, 0)
    return {"files": files, "errors": errors, "file_create_modes": modes,
            "default_mode_actions": default_actions, "remote_inputs": inputs}


RSYSLOG_FACT = Fact("rsyslog", fact_rsyslog)
