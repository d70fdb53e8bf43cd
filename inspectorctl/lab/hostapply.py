"""Applies profile steps inside a lab host. Standard library only: runs on the host's python3.

The lab runs it as ``python3 -I -S -c <this file>`` inside the host (as root, in the host's
namespaces and root) with a JSON document on stdin::

    {"steps": [{"profile": "weak", "index": 0, "step": {"kind": "file", ...}}, ...]}

and reads one JSON object back: ``{"ok": true, "applied": N}`` or ``{"ok": false, "profile":
..., "index": ..., "kind": ..., "error": ...}`` for the first step that failed (later steps are
not applied). The steps were validated by the lab's pydantic schema before they got here.
"""

from __future__ import annotations

import glob
import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
from typing import Any

BOOT_DIR = "/etc/inspectorctl-lab/boot.d"
RUN_DIR = "/run/inspectorctl-lab"
DPKG_STATUS = "/var/lib/dpkg/status"


class StepError(Exception):
    pass


def _uid(owner: str | None) -> int:
    if owner is None:
        return -1
    if owner.isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError as exc:
        raise StepError(f"no user {owner!r} on the host") from exc


def _gid(group: str | None) -> int:
    if group is None:
        return -1
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError as exc:
        raise StepError(f"no group {group!r} on the host") from exc


def _write_atomic(path: str, data: str, mode: int, uid: int, gid: int) -> None:
    parent = os.path.dirname(path) or "/"
    os.makedirs(parent, 0o755, exist_ok=True)
    tmp = f"{path}.inspectorctl-lab.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data.encode())
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def step_file(step: dict[str, Any]) -> None:
    _write_atomic(
        step["path"],
        step["content"],
        int(step["mode"], 8),
        _uid(step["owner"]),
        _gid(step["group"]),
    )


def ensure_line(
    path: str,
    line: str,
    match: str | None,
    create: bool,
    mode: str | None,
    unmatched: str = "append",
) -> None:
    try:
        st = os.stat(path)
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            lines = fh.read().splitlines()
        perm, uid, gid = st.st_mode & 0o7777, st.st_uid, st.st_gid
    except FileNotFoundError:
        if not create:
            raise StepError(f"{path} does not exist") from None
        lines, perm, uid, gid = [], 0o644, 0, 0
    if mode is not None:
        perm = int(mode, 8)
    rx = re.compile(match) if match else None
    out: list[str] = []
    placed = False
    for current in lines:
        hit = rx.search(current) if rx else current == line
        if hit:
            if not placed:
                out.append(line)
                placed = True
            continue
        out.append(current)
    if not placed:
        if unmatched == "skip":
            return
        if unmatched == "error":
            raise StepError(f"{path}: no line matches {match or line!r}")
        out.append(line)
    _write_atomic(path, "\n".join(out) + "\n", perm, uid, gid)


def step_line(step: dict[str, Any]) -> None:
    ensure_line(
        step["path"], step["line"], step["match"], step["create"], step["mode"], step["unmatched"]
    )


def _expand(patterns: list[str]) -> list[tuple[str, list[str]]]:
    out = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            out.append((pattern, sorted(glob.glob(pattern))))
        else:
            out.append((pattern, [pattern] if os.path.lexists(pattern) else []))
    return out


def step_perms(step: dict[str, Any]) -> None:
    uid, gid = _uid(step["owner"]), _gid(step["group"])
    for pattern, paths in _expand(step["paths"]):
        if not paths:
            if step["missing"] == "skip":
                continue
            raise StepError(f"{pattern}: no such file")
        for path in paths:
            if uid != -1 or gid != -1:
                os.chown(path, uid, gid)
            if step["mode"] is not None:
                os.chmod(path, int(step["mode"], 8))


def step_remove(step: dict[str, Any]) -> None:
    for _, paths in _expand(step["paths"]):
        for path in paths:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)


def step_mkdir(step: dict[str, Any]) -> None:
    os.makedirs(step["path"], 0o755, exist_ok=True)
    os.chown(step["path"], _uid(step["owner"]), _gid(step["group"]))
    os.chmod(step["path"], int(step["mode"], 8))


def step_sysctl(step: dict[str, Any]) -> None:
    key, value = step["key"], step["value"]
    if step["runtime"]:
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as fh:
                fh.write(value)
        except OSError as exc:
            raise StepError(f"cannot set {key} at runtime: {exc.strerror}") from exc
    if step["file"]:
        pattern = r"^\s*#?\s*" + re.escape(key) + r"\s*="
        ensure_line(step["file"], f"{key} = {value}", pattern, True, None)


def _run(argv: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise StepError(f"{argv[0]} not found on the host") from exc
    except subprocess.TimeoutExpired as exc:
        raise StepError(f"{' '.join(argv)} did not finish within {timeout:g}s") from exc


def _must(argv: list[str]) -> None:
    result = _run(argv)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-400:]
        raise StepError(f"{' '.join(argv)} exited with {result.returncode}: {detail}")


def step_account(step: dict[str, Any]) -> None:
    name, uid = step["name"], step["uid"]
    try:
        pwd.getpwnam(name)
        exists = True
    except KeyError:
        exists = False
    argv = ["usermod" if exists else "useradd", "-o", "-u", str(uid), "-s", step["shell"]]
    argv += ["-c", step["comment"]]
    gid = step["gid"]
    if gid is None and uid == 0:
        gid = 0
    if gid is not None:
        try:
            grp.getgrgid(gid)
        except KeyError:
            _must(["groupadd", "-g", str(gid), name])
        argv += ["-g", str(gid)]
    elif not exists:
        argv += ["-U"]
    if step["home"]:
        argv += ["-d", step["home"]]
    if not exists:
        argv += ["-m"] if step["create_home"] else ["-M"]
    _must([*argv, name])
    if step["password"] == "empty":
        _must(["passwd", "-d", name])
    else:
        _must(["passwd", "-l", name])


def _native_arch() -> str:
    result = _run(["dpkg", "--print-architecture"])
    if result.returncode != 0:
        raise StepError("dpkg --print-architecture failed")
    return result.stdout.strip()


def step_package(step: dict[str, Any]) -> None:
    arch = _native_arch() if step["architecture"] == "native" else step["architecture"]
    st = os.stat(DPKG_STATUS)
    with open(DPKG_STATUS, encoding="utf-8", errors="surrogateescape") as fh:
        stanzas = [s for s in fh.read().split("\n\n") if s.strip()]
    kept = [s for s in stanzas if not re.search(rf"(?m)^Package: {re.escape(step['name'])}$", s)]
    fields = [
        f"Package: {step['name']}",
        "Status: install ok installed",
        "Priority: optional",
        f"Section: {step['section']}",
        "Installed-Size: 1",
        "Maintainer: inspectorctl lab <lab@inspectorctl.invalid>",
        f"Architecture: {arch}",
    ]
    if step["source"]:
        fields.append(f"Source: {step['source']}")
    fields += [f"Version: {step['version']}", f"Description: {step['description']}"]
    kept.append("\n".join(fields))
    _write_atomic(
        DPKG_STATUS, "\n\n".join(s.strip("\n") for s in kept) + "\n", 0o644, st.st_uid, st.st_gid
    )
    info = f"/var/lib/dpkg/info/{step['name']}.list"
    if not os.path.exists(info):
        _write_atomic(info, "", 0o644, 0, 0)


def step_listen(step: dict[str, Any]) -> None:
    name, port, address = step["name"], step["port"], step["address"]
    udp = "-u " if step["protocol"] == "udp" else ""
    script = (
        "#!/bin/sh\n"
        f"# inspectorctl lab: a listener standing for the service {name!r}"
        f" ({step['protocol']} {address} port {port}).\n"
        f"mkdir -p {RUN_DIR}\n"
        f"nc -d -l -k {udp}{address} {port} </dev/null >/dev/null 2>&1 &\n"
        f"echo $! >{RUN_DIR}/{name}.pid\n"
    )
    _write_atomic(f"{BOOT_DIR}/60-listen-{name}", script, 0o755, 0, 0)


def step_command(step: dict[str, Any]) -> None:
    argv = step["argv"] if step["argv"] else ["/bin/sh", "-c", step["shell"]]
    result = _run(list(argv), step["timeout"])
    if result.returncode not in step["ok_codes"]:
        detail = (result.stderr or result.stdout).strip()[-400:]
        raise StepError(f"exited with {result.returncode}: {detail}")


HANDLERS = {
    "file": step_file,
    "line": step_line,
    "perms": step_perms,
    "remove": step_remove,
    "mkdir": step_mkdir,
    "sysctl": step_sysctl,
    "account": step_account,
    "package": step_package,
    "listen": step_listen,
    "command": step_command,
}


def main() -> None:
    request = json.load(sys.stdin)
    applied = 0
    for item in request["steps"]:
        step = item["step"]
        try:
            HANDLERS[step["kind"]](step)
        except (StepError, OSError, ValueError, re.error) as exc:
            error = (
                str(exc)
                if not isinstance(exc, OSError) or not exc.filename
                else (f"{exc.filename}: {exc.strerror}")
            )
            json.dump(
                {
                    "ok": False,
                    "profile": item["profile"],
                    "index": item["index"],
                    "kind": step["kind"],
                    "error": error,
                },
                sys.stdout,
            )
            return
        applied += 1
    json.dump({"ok": True, "applied": applied}, sys.stdout)


if __name__ == "__main__":
    main()
