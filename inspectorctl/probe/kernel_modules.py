"""The ``kernel_modules`` fact: loaded modules, modprobe.d blacklists and install commands, and
the modules the running kernel has."""

import errno
import os
import re
from typing import Any, Dict, List, Optional, Set, Tuple

from .context import Fact, Gatherer, ProbeContext, conf_d_files


def parse_modprobe_conf(text: str) -> Tuple[List[str], List[Tuple[str, str]]]:
    """modprobe.d(5): ``blacklist NAME`` and ``install NAME COMMAND...`` lines (backslash
    continuation). Module names are normalised (``-`` -> ``_``)."""
    blacklist: List[str] = []
    install: List[Tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if parts[0] == "blacklist" and len(parts) >= 2:
            blacklist.append(parts[1].replace("-", "_"))
        elif parts[0] == "install" and len(parts) >= 3:
            install.append((parts[1].replace("-", "_"), parts[2].strip()))
    return blacklist, install


def fact_kernel_modules(g: Gatherer) -> Dict[str, Any]:
    ctx = g.ctx
    try:
        text = ctx.read("/proc/modules")
        loaded = sorted({line.split()[0] for line in text.splitlines() if line.split()})
    except OSError as e:
        if e.errno != errno.ENOENT or not os.path.isdir(ctx.path("/proc/sys")):
            raise
        loaded = []  # a kernel built without module support has no /proc/modules
    blacklisted: List[str] = []
    install: Dict[str, str] = {}
    for host_file in conf_d_files(ctx, "modprobe.d", ".conf"):
        try:
            bl, inst = parse_modprobe_conf(ctx.read(host_file))
        except OSError:
            continue
        for name in bl:
            if name not in blacklisted:
                blacklisted.append(name)
        for name, command in inst:
            install.setdefault(name, command)  # modprobe uses the first install command
    # keyed by the name as requested; looked up normalised ("usb-storage" = "usb_storage")
    available: Dict[str, Optional[bool]] = {}
    wanted = list(g.request.get("modules") or [])
    if wanted:
        known = _module_files(ctx)
        for name in wanted:
            available[name] = None if known is None else name.replace("-", "_") in known
    return {
        "loaded": loaded,
        "blacklisted": blacklisted,
        "install": install,
        "available": available,
    }


def _module_files(ctx: ProbeContext) -> Optional[Set[str]]:
    """Module names available for the running kernel (modules.dep + modules.builtin), or None
    when /lib/modules/<release> is not visible."""
    base = "/lib/modules/" + os.uname().release
    if not os.path.isdir(ctx.path(base)):
        return None
    names: Set[str] = set()
    found = False
    for index in ("modules.dep", "modules.builtin"):
        try:
            text = ctx.read(base + "/" + index)
        except OSError:
            continue
        found = True
        for line in text.splitlines():
            path = line.split(":", 1)[0].strip()
            if not path:
                continue
            name = os.path.basename(path)
            name = re.sub(r"\.ko(\.(xz|gz|zst))?$", "", name)
            names.add(name.replace("-", "_"))
    return names if found else None


KERNEL_MODULES_FACT = Fact("kernel_modules", fact_kernel_modules)
