"""The ``services`` fact: service states from systemctl, or from unit files when systemd is not
PID 1, OpenRC or SysV init."""

import os
import re
import shutil
from typing import Any, Dict, List, Optional, Set

from .context import _SUBPROCESS_ENV, Fact, Gatherer, ProbeContext, _Background, _listdir
from .osinfo import _systemd_running


def parse_unit_file(text: str) -> Dict[str, Dict[str, List[str]]]:
    """A systemd unit (or drop-in): section -> key -> values in order (empty value kept: it
    resets list settings such as ExecStart)."""
    sections: Dict[str, Dict[str, List[str]]] = {}
    current: Optional[Dict[str, List[str]]] = None
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def parse_systemctl_unit_files(text: str) -> Dict[str, str]:
    """``systemctl list-unit-files --type=service --no-legend``: ``UNIT STATE [PRESET]``."""
    out: Dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(".service"):
            out[parts[0][: -len(".service")]] = parts[1]
    return out


def parse_systemctl_units(text: str) -> Dict[str, str]:
    """``systemctl list-units --type=service --all --no-legend --plain``:
    ``UNIT LOAD ACTIVE SUB DESCRIPTION`` -> unit -> ACTIVE state."""
    out: Dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] in ("●", "*"):
            parts = parts[1:]
        if len(parts) >= 4 and parts[0].endswith(".service"):
            out[parts[0][: -len(".service")]] = parts[2]
    return out


def exec_start_binary(exec_start: str) -> Optional[str]:
    """The program an ``ExecStart=`` line runs, or None when it cannot be told (a shell or an
    interpreter running a script given inline)."""
    value = exec_start.strip()
    while value and value[0] in "-@:+!":
        value = value[1:]
    parts = value.split()
    if not parts:
        return None
    prog = parts[0]
    if os.path.basename(prog) == "env":
        rest = [p for p in parts[1:] if "=" not in p and not p.startswith("-")]
        prog = rest[0] if rest else ""
    base = os.path.basename(prog)
    if not prog or base in ("sh", "bash", "dash", "zsh", "busybox", "true", "false"):
        return None
    if re.match(r"^(python[0-9.]*|perl|ruby|node|java)$", base):
        return None
    return prog


def fact_services(g: Gatherer) -> Dict[str, Any]:
    ctx = g.ctx
    if "unit_files" in g.bg:
        files_job = g.bg["unit_files"].wait()
        units_job = g.bg["units"].wait()
        if files_job.error or files_job.returncode != 0:
            raise RuntimeError(files_job.failure())
        states = parse_systemctl_unit_files(files_job.stdout)
        active: Dict[str, str] = {}
        if not (units_job.error or units_job.returncode != 0):
            active = parse_systemctl_units(units_job.stdout)
        items: Dict[str, Any] = {}
        for name in sorted(set(states) | set(active)):
            state = states.get(name)
            items[name] = {
                "name": name,
                "unit_file_state": state,
                "enabled": _enabled_from_state(state),
                "active": (active[name] in ("active", "reloading"))
                if name in active
                else (False if units_job.returncode == 0 else None),
                "active_source": "systemctl" if units_job.returncode == 0 else "unknown",
            }
        return {"manager": "systemd", "items": items}
    if any(os.path.isdir(ctx.path(d)) for d in _UNIT_DIRS):
        return {"manager": "systemd", "items": services_from_unit_files(ctx)}
    if os.path.isdir(ctx.path("/etc/runlevels")):
        return {"manager": "openrc", "items": services_openrc(ctx)}
    if os.path.isdir(ctx.path("/etc/init.d")):
        return {"manager": "sysv", "items": services_sysv(ctx)}
    return {"manager": "none", "items": {}}


_UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)


def _enabled_from_state(state: Optional[str]) -> Optional[bool]:
    """enabled/enabled-runtime: True. disabled, masked, static (no [Install] section: it cannot
    be enabled) and indirect: False. generated, transient, alias (resolved to its target later)
    and unknown states: None."""
    if state in ("enabled", "enabled-runtime"):
        return True
    if state in ("disabled", "masked", "masked-runtime", "static", "indirect"):
        return False
    return None


def services_from_unit_files(ctx: ProbeContext) -> Dict[str, Any]:
    """Service states from unit files when systemd is not PID 1 (containers, lab hosts).

    ``enabled``: a symlink in /etc/systemd/system/*.wants or *.requires (or the /run
    equivalents: enabled-runtime); masked: the unit resolves to /dev/null. ``active``: a running
    process whose executable is the unit's ExecStart program; None when that cannot be told
    (shell one-liners, oneshot units without a process).
    """
    # name.service -> host paths of every occurrence, highest precedence first
    occurrences: Dict[str, List[str]] = {}
    seen_dirs: Set[str] = set()
    for directory in _UNIT_DIRS:
        real = os.path.realpath(ctx.path(directory))
        if real in seen_dirs:
            continue
        seen_dirs.add(real)
        for name in _listdir(ctx, directory):
            if name.endswith(".service"):
                occurrences.setdefault(name, []).append(directory + "/" + name)
    units = {n: paths[0] for n, paths in occurrences.items()}
    wants: Dict[str, str] = {}
    for directory, how in (
        ("/etc/systemd/system", "enabled"),
        ("/run/systemd/system", "enabled-runtime"),
    ):
        for sub in _listdir(ctx, directory):
            if not sub.endswith((".wants", ".requires")):
                continue
            for name in _listdir(ctx, directory + "/" + sub):
                if name.endswith(".service"):
                    wants.setdefault(name, how)
                    if "@" in name:  # an instance enables its template
                        wants.setdefault(name.split("@", 1)[0] + "@.service", how)
    running = ctx.processes()
    items: Dict[str, Any] = {}
    for unit_name in sorted(units):
        host_path = units[unit_name]
        real_path = ctx.path(host_path)
        name = unit_name[: -len(".service")]
        state: Optional[str] = None
        target = None
        if os.path.islink(real_path):
            try:
                target = os.readlink(real_path)
            except OSError:
                target = None
        masked = target == "/dev/null" or os.path.realpath(real_path) == "/dev/null"
        sections: Dict[str, Dict[str, List[str]]] = {}
        for candidate in occurrences[unit_name]:
            # a masked unit: its ExecStart comes from the vendor file the mask hides
            if os.path.realpath(ctx.path(candidate)) == "/dev/null":
                continue
            sections = _read_unit(ctx, candidate)
            break
        exec_start: List[str] = []
        for value in sections.get("Service", {}).get("ExecStart", []):
            exec_start = [*exec_start, value] if value else []
        for dropin in _dropins(ctx, unit_name):
            try:
                extra = parse_unit_file(ctx.read(dropin))
            except OSError:
                continue
            for value in extra.get("Service", {}).get("ExecStart", []):
                exec_start = [*exec_start, value] if value else []
        is_alias = (
            target is not None
            and os.path.basename(target) != unit_name
            and os.path.basename(target).endswith(".service")
        )
        install = sections.get("Install", {})
        if masked:
            state = "masked-runtime" if host_path.startswith("/run/") else "masked"
        elif is_alias:
            state = "alias"
        elif unit_name in wants:
            state = wants[unit_name]
        elif not install:
            state = "static"
        elif not any(install.get(k) for k in ("WantedBy", "RequiredBy", "Alias", "UpheldBy")):
            state = "indirect"
        else:
            state = "disabled"
            for alias in " ".join(install.get("Alias", [])).split():
                if alias in wants:
                    state = wants[alias]
        service_type = (sections.get("Service", {}).get("Type") or ["simple"])[-1]
        active: Optional[bool] = None
        if "@" not in unit_name:
            binaries = [b for b in (exec_start_binary(v) for v in exec_start) if b]
            active = _process_active(running, binaries)
            if not active and (not binaries or service_type == "oneshot"):
                active = None
        items[name] = {
            "name": name,
            "unit_file_state": state,
            "enabled": _enabled_from_state(state),
            "active": active,
            "active_source": "process" if active is not None else "unknown",
        }
    # an alias follows its target
    for name, item in items.items():
        if item["unit_file_state"] == "alias":
            try:
                target_name = os.path.basename(os.readlink(ctx.path(units[name + ".service"])))
            except OSError:
                continue
            target_item = items.get(target_name[: -len(".service")])
            if target_item is not None:
                item["enabled"] = target_item["enabled"]
                item["active"] = target_item["active"]
                item["active_source"] = target_item["active_source"]
    return items


def _read_unit(ctx: ProbeContext, host_path: str) -> Dict[str, Dict[str, List[str]]]:
    try:
        return parse_unit_file(ctx.read(host_path))
    except OSError:
        return {}


def _dropins(ctx: ProbeContext, unit_name: str) -> List[str]:
    chosen: Dict[str, str] = {}
    for directory in _UNIT_DIRS:
        d = directory + "/" + unit_name + ".d"
        for name in _listdir(ctx, d):
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = d + "/" + name
    return [chosen[n] for n in sorted(chosen)]


def _process_active(running: List[Dict[str, Any]], binaries: List[str]) -> Optional[bool]:
    if not binaries:
        return False
    wanted_paths: Set[str] = set()
    wanted_names: Set[str] = set()
    for b in binaries:
        if b.startswith("/"):
            wanted_paths.add(b)
            wanted_paths.add(os.path.realpath(b))
            # merged /usr: /sbin/x and /usr/sbin/x are one file
            if b.startswith(("/bin/", "/sbin/", "/lib/")):
                wanted_paths.add("/usr" + b)
            elif b.startswith(("/usr/bin/", "/usr/sbin/", "/usr/lib/")):
                wanted_paths.add(b[4:])
        else:
            wanted_names.add(os.path.basename(b))
    for proc in running:
        exe = proc.get("exe")
        argv0 = proc.get("argv0") or ""
        if exe and exe in wanted_paths:
            return True
        if argv0 and (
            argv0 in wanted_paths or (argv0.split()[0] if argv0.split() else "") in wanted_paths
        ):
            return True
        if wanted_names and (
            (exe and os.path.basename(exe) in wanted_names)
            or os.path.basename(argv0) in wanted_names
        ):
            return True
    return False


def services_openrc(ctx: ProbeContext) -> Dict[str, Any]:
    items: Dict[str, Any] = {}
    enabled: Set[str] = set()
    for level in _listdir(ctx, "/etc/runlevels"):
        enabled.update(_listdir(ctx, "/etc/runlevels/" + level))
    started = set(_listdir(ctx, "/run/openrc/started"))
    have_state = os.path.isdir(ctx.path("/run/openrc"))
    for name in sorted(_listdir(ctx, "/etc/init.d")):
        if name.startswith(".") or name in ("functions.sh",):
            continue
        items[name] = {
            "name": name,
            "unit_file_state": "enabled" if name in enabled else "disabled",
            "enabled": name in enabled,
            "active": (name in started) if have_state else None,
            "active_source": "openrc" if have_state else "unknown",
        }
    return items


def services_sysv(ctx: ProbeContext) -> Dict[str, Any]:
    items: Dict[str, Any] = {}
    enabled: Set[str] = set()
    for level in ("2", "3", "4", "5"):
        for link in _listdir(ctx, "/etc/rc%s.d" % level):
            if link.startswith("S") and len(link) > 3:
                enabled.add(link[3:])
    for name in sorted(_listdir(ctx, "/etc/init.d")):
        if name.startswith(".") or name in ("README", "skeleton", "rc", "rcS", "functions"):
            continue
        items[name] = {
            "name": name,
            "unit_file_state": "enabled" if name in enabled else "disabled",
            "enabled": name in enabled,
            "active": None,
            "active_source": "unknown",
        }
    return items


def start_services(g: Gatherer) -> None:
    ctx = g.ctx
    if ctx.root != "/" or not _systemd_running(ctx):
        return
    systemctl = shutil.which("systemctl", path=_SUBPROCESS_ENV["PATH"])
    if systemctl:
        g.bg["unit_files"] = _Background(
            [systemctl, "list-unit-files", "--type=service", "--no-legend", "--no-pager"],
            30,
        )
        g.bg["units"] = _Background(
            [
                systemctl,
                "list-units",
                "--type=service",
                "--all",
                "--no-legend",
                "--no-pager",
                "--plain",
            ],
            30,
        )


SERVICES_FACT = Fact("services", fact_services, start=start_services, jobs=("unit_files", "units"))
