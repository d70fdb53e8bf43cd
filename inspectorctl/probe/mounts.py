"""The ``mounts`` fact: the mount table and fstab."""

import re
from typing import Any, Dict, List

from .context import Fact, Gatherer
from .parsers import unescape_mount_field


def parse_fstab(text: str) -> List[Dict[str, Any]]:
    """``/etc/fstab``: same field layout as /proc/mounts, with comments."""
    out: List[Dict[str, Any]] = []
    for line in text.split("\n"):
        stripped = line.strip(" \t\r")
        if not stripped or stripped.startswith("#"):
            continue
        parts = [p for p in re.split(r"[ \t]+", stripped) if p]
        if len(parts) < 3:
            continue
        options = parts[3] if len(parts) > 3 else "defaults"
        out.append(
            {
                "device": unescape_mount_field(parts[0]),
                "mountpoint": unescape_mount_field(parts[1]),
                "fstype": unescape_mount_field(parts[2]),
                "options": [unescape_mount_field(o) for o in options.split(",") if o],
            }
        )
    return out


def fact_mounts(g: Gatherer) -> Dict[str, Any]:
    mounts = g.ctx.mounts()
    try:
        fstab = parse_fstab(g.ctx.read("/etc/fstab"))
    except OSError:
        fstab = []
    return {"mounts": mounts, "fstab": fstab}


MOUNTS_FACT = Fact("mounts", fact_mounts)
