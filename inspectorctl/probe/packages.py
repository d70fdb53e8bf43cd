"""The ``packages`` fact: the package database (dpkg status, rpm, apk)."""

import os
import re
import shutil
from typing import Any, Dict, List, Optional

from .context import _SUBPROCESS_ENV, Fact, Gatherer, ProbeContext, _Background
from .parsers import deb822_paragraphs


def parse_dpkg_status(text: str) -> List[Dict[str, Any]]:
    """``/var/lib/dpkg/status``: installed packages (current state ``installed``).

    ``Status: install ok installed`` and ``hold ok installed`` both count: a held package is
    installed. The version is taken as written (dpkg writes the epoch into it). ``Source:`` may
    carry its own version in parentheses, which is dropped.
    """
    items: List[Dict[str, Any]] = []
    for fields in deb822_paragraphs(text):
        status = fields.get("Status", "").split()
        if len(status) != 3 or status[2] != "installed":
            continue
        name = fields.get("Package")
        version = fields.get("Version")
        if not name or not version:
            continue
        source = fields.get("Source", "").split("(")[0].strip() or name
        items.append(
            {
                "name": name,
                "source": source,
                "version": version,
                "arch": fields.get("Architecture") or None,
            }
        )
    return items


def _rpm_source_name(sourcerpm: str) -> Optional[str]:
    if not sourcerpm or sourcerpm == "(none)":
        return None
    base = sourcerpm
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    parts = base.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else None


def parse_rpm_qa(text: str) -> List[Dict[str, Any]]:
    """Output of ``rpm -qa --qf '%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t
    %{SOURCERPM}\\n'``. The version is ``[epoch:]version-release``."""
    items: List[Dict[str, Any]] = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 6:
            continue
        name, epoch, version, release, arch, sourcerpm = parts
        if not name:
            continue
        evr = version + "-" + release if release and release != "(none)" else version
        if epoch and epoch != "(none)":
            evr = epoch + ":" + evr
        items.append(
            {
                "name": name,
                "source": _rpm_source_name(sourcerpm) or name,
                "version": evr,
                "arch": arch if arch and arch != "(none)" else None,
            }
        )
    return items


def parse_apk_installed(text: str) -> List[Dict[str, Any]]:
    """``/lib/apk/db/installed``: blocks of ``X:value`` lines (P name, V version, A arch,
    o origin = source package)."""
    items: List[Dict[str, Any]] = []
    for block in re.split(r"\n\s*\n", text):
        fields: Dict[str, str] = {}
        for line in block.splitlines():
            if len(line) >= 2 and line[1] == ":" and line[0] not in fields:
                fields[line[0]] = line[2:]
        if "P" in fields and "V" in fields:
            items.append(
                {
                    "name": fields["P"],
                    "source": fields.get("o") or fields["P"],
                    "version": fields["V"],
                    "arch": fields.get("A") or None,
                }
            )
    return items


def fact_packages(g: Gatherer) -> Dict[str, Any]:
    ctx = g.ctx
    if os.path.exists(ctx.path("/var/lib/dpkg/status")):
        items = parse_dpkg_status(ctx.read("/var/lib/dpkg/status"))
        return {"manager": "dpkg", "items": items}
    if "rpm" in g.bg:
        job = g.bg["rpm"].wait()
        if job.error or job.returncode != 0:
            raise RuntimeError(job.failure())
        return {"manager": "rpm", "items": parse_rpm_qa(job.stdout)}
    if os.path.exists(ctx.path("/lib/apk/db/installed")):
        items = parse_apk_installed(ctx.read("/lib/apk/db/installed"))
        return {"manager": "apk", "items": items}
    raise LookupError("no package database found (dpkg status, rpm, apk)")


def _rpm_db_present(ctx: ProbeContext) -> bool:
    return any(os.path.isdir(ctx.path(p)) for p in ("/var/lib/rpm", "/usr/lib/sysimage/rpm"))


def start_packages(g: Gatherer) -> None:
    ctx = g.ctx
    if os.path.exists(ctx.path("/var/lib/dpkg/status")):
        return
    rpm = shutil.which("rpm", path=_SUBPROCESS_ENV["PATH"])
    if rpm and _rpm_db_present(ctx):
        argv = [rpm]
        if ctx.root != "/":
            argv += ["--root", ctx.root]
        argv += [
            "-qa",
            "--qf",
            "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n",
        ]
        g.bg["rpm"] = _Background(argv, 120)


PACKAGES_FACT = Fact("packages", fact_packages, start=start_packages, jobs=("rpm",))
