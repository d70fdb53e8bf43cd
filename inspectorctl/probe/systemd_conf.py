"""The ``systemd_conf`` fact: journald.conf and coredump.conf as systemd reads them."""

import os
from typing import Any, Dict, List, Optional, Tuple

from .context import Fact, Gatherer, ProbeContext, _listdir, _read_each

#: systemd daemons whose configuration the probe reads: name -> the section their keys live in
SYSTEMD_CONFS = {"journald": "Journal", "coredump": "Coredump"}


#: where systemd looks for ``NAME.conf`` and ``NAME.conf.d/*.conf``, most important first
SYSTEMD_CONF_DIRS = ("/etc/systemd", "/run/systemd", "/usr/local/lib/systemd", "/usr/lib/systemd")


def parse_systemd_conf(text: str, section: str) -> Dict[str, Tuple[str, int]]:
    """Assignments of ``section`` in a systemd configuration file (systemd.syntax(7)): ``[Section]``
    headers, ``Key=Value`` lines, ``#``/``;`` comments, a trailing backslash continues a line.
    The last assignment of a key wins; an empty value resets it (the key is dropped).
    Returns ``{key: (value, line number)}``."""
    values: Dict[str, Tuple[str, int]] = {}
    current: Optional[str] = None
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if pending:
            line = pending + " " + raw.strip()
        else:
            line = raw.strip()
            start = number
        if line.endswith("\\") and not line.startswith(("#", ";")):
            pending = line[:-1].rstrip()
            continue
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        if not sep or current != section:
            continue
        key, value = key.strip(), value.strip()
        if value:
            values[key] = (value, start)
        else:
            values.pop(key, None)
    return values


def systemd_conf_files(ctx: "ProbeContext", name: str) -> List[str]:
    """The files systemd reads for ``NAME.conf``, in the order they apply: the main file (the
    first of SYSTEMD_CONF_DIRS that has one), then every ``NAME.conf.d/*.conf`` sorted by file
    name, a name in a more important directory masking the same name in the others."""
    files: List[str] = []
    for directory in SYSTEMD_CONF_DIRS:
        main = "%s/%s.conf" % (directory, name)
        if os.path.isfile(ctx.path(main)):
            files.append(main)
            break
    dropins: Dict[str, str] = {}
    for directory in SYSTEMD_CONF_DIRS:
        folder = "%s/%s.conf.d" % (directory, name)
        for entry in _listdir(ctx, folder):
            if entry.endswith(".conf") and entry not in dropins:
                dropins[entry] = folder + "/" + entry
    return files + [dropins[n] for n in sorted(dropins)]


def fact_systemd_conf(g: Gatherer) -> Dict[str, Any]:
    """journald.conf and coredump.conf as systemd reads them: main file, then drop-ins;
    for each key the last assignment (value, file, line). An unreadable file is an error:
    it could hold the assignment that wins."""
    ctx = g.ctx
    out: Dict[str, Any] = {}
    for name, section in sorted(SYSTEMD_CONFS.items()):
        files = systemd_conf_files(ctx, name)
        values: Dict[str, Dict[str, Any]] = {}
        errors: Dict[str, str] = {}
        for host_file, text in _read_each(ctx, files, errors):
            for key, (value, line) in parse_systemd_conf(text, section).items():
                values[key] = {"value": value, "file": host_file, "line": line}
        out[name] = {"files": files, "values": values, "errors": errors}
    return out


SYSTEMD_CONF_FACT = Fact("systemd_conf", fact_systemd_conf)
