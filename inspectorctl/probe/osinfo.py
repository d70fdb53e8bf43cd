"""The ``os`` fact: os-release, kernel, architecture, container and virtualisation."""

import errno
import os
import re
from typing import Any, Dict, Iterable, Optional

from .context import Fact, Gatherer, ProbeContext


def parse_os_release(text: str) -> Dict[str, str]:
    """``/etc/os-release``: KEY=value lines, values optionally quoted (shell-like)."""
    out: Dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r'\\(["\\$`])', r"\1", value[1:-1])
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def os_family(os_id: str, id_like: Iterable[str]) -> str:
    ids = [os_id.lower()] + [i.lower() for i in id_like]
    for i in ids:
        if i in ("debian", "ubuntu", "raspbian", "linuxmint", "kali"):
            return "debian"
        if i in ("rhel", "fedora", "centos", "amzn", "almalinux", "rocky", "ol", "redhat"):
            return "rhel"
        if i in ("suse", "sles", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "sled"):
            return "suse"
        if i == "alpine":
            return "alpine"
        if i in ("arch", "archlinux", "manjaro"):
            return "arch"
    return "unknown"


def _read_dmi(ctx: ProbeContext) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for field in (
        "sys_vendor",
        "product_name",
        "board_vendor",
        "board_asset_tag",
        "bios_vendor",
        "bios_version",
        "product_version",
    ):
        try:
            out[field] = ctx.read("/sys/class/dmi/id/" + field).strip()
        except OSError:
            continue
    return out


def _container_kind(ctx: ProbeContext) -> Optional[str]:
    try:
        kind = ctx.read("/run/systemd/container").strip()
        if kind:
            return kind
    except OSError:
        pass
    try:
        env = ctx.read("/proc/1/environ").split("\0")
        for item in env:
            if item.startswith("container="):
                return item.split("=", 1)[1] or "container"
    except OSError:
        pass
    if os.path.exists(ctx.path("/.dockerenv")):
        return "docker"
    if os.path.exists(ctx.path("/run/.containerenv")):
        return "podman"
    try:
        cgroup = ctx.read("/proc/1/cgroup")
        for marker, kind in (
            ("docker", "docker"),
            ("kubepods", "kubernetes"),
            ("lxc", "lxc"),
            ("libpod", "podman"),
            ("containerd", "containerd"),
        ):
            if marker in cgroup:
                return kind
    except OSError:
        pass
    return None


def _vm_kind(ctx: ProbeContext, dmi: Dict[str, str]) -> Optional[str]:
    vendor = " ".join(
        dmi.get(k, "")
        for k in ("sys_vendor", "product_name", "board_vendor", "bios_vendor", "bios_version")
    ).lower()
    for marker, kind in (
        ("amazon ec2", "amazon"),
        ("amazon", "amazon"),
        ("qemu", "qemu"),
        ("kvm", "kvm"),
        ("vmware", "vmware"),
        ("virtualbox", "oracle"),
        ("innotek", "oracle"),
        ("microsoft corporation", "microsoft"),
        ("xen", "xen"),
        ("google", "google"),
        ("openstack", "kvm"),
        ("bochs", "bochs"),
        ("parallels", "parallels"),
    ):
        if marker in vendor:
            return kind
    try:
        if ctx.read("/sys/hypervisor/type").strip() == "xen":
            return "xen"
    except OSError:
        pass
    try:
        cpuinfo = ctx.read("/proc/cpuinfo", limit=1 << 16)
    except OSError:
        return None
    flags = re.search(r"^flags\s*:(.*)$", cpuinfo, re.MULTILINE)
    if flags is None:
        return None  # not x86: no hypervisor flag to look at
    if "hypervisor" in flags.group(1).split():
        return None  # virtualised, but DMI does not say by what
    return "none"


def gather_os(ctx: ProbeContext) -> Dict[str, Any]:
    text = None
    for candidate in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = ctx.read(candidate)
            break
        except OSError:
            continue
    if text is None:
        raise OSError(errno.ENOENT, "neither /etc/os-release nor /usr/lib/os-release")
    rel = parse_os_release(text)
    os_id = rel.get("ID", "linux") or "linux"
    id_like = tuple(rel.get("ID_LIKE", "").split())
    uname = os.uname()
    container = _container_kind(ctx)
    dmi = _read_dmi(ctx)
    virt = container if container else _vm_kind(ctx, dmi)
    return {
        "id": os_id,
        "id_like": list(id_like),
        "version_id": rel.get("VERSION_ID"),
        "pretty_name": rel.get("PRETTY_NAME"),
        "family": os_family(os_id, id_like),
        "kernel": uname.release,
        "arch": uname.machine,
        "virtualization": virt,
        "container": container is not None,
        "systemd_running": _systemd_running(ctx),
    }


def _systemd_running(ctx: ProbeContext) -> bool:
    if not os.path.isdir(ctx.path("/run/systemd/system")):
        return False
    try:
        return ctx.read("/proc/1/comm").strip() == "systemd"
    except OSError:
        return False


def fact_os(g: Gatherer) -> Dict[str, Any]:
    return gather_os(g.ctx)


OS_FACT = Fact("os", fact_os)
