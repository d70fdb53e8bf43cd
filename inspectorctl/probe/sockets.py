"""The ``sockets`` fact: listening TCP/UDP sockets and the processes that own them."""

import errno
import os
import socket
from typing import Any, Dict, List, Optional, Set, Tuple

from .context import Fact, Gatherer, ProbeContext


def _hex_ip(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    if len(raw) == 16:
        swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        return socket.inet_ntop(socket.AF_INET6, swapped)
    raise ValueError("bad address length: %r" % hexaddr)


def parse_proc_net(text: str, proto: str) -> List[Dict[str, Any]]:
    """``/proc/net/{tcp,tcp6,udp,udp6}``: one dict per socket (address, port, remote_address,
    remote_port, state (int), uid, inode). Use :func:`is_listening` to keep listeners."""
    out: List[Dict[str, Any]] = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10:
            continue
        try:
            local, remote = parts[1], parts[2]
            laddr, _, lport = local.partition(":")
            raddr, _, rport = remote.partition(":")
            out.append(
                {
                    "proto": proto,
                    "address": _hex_ip(laddr),
                    "port": int(lport, 16),
                    "remote_address": _hex_ip(raddr),
                    "remote_port": int(rport, 16),
                    "state": int(parts[3], 16),
                    "uid": int(parts[7]),
                    "inode": int(parts[9]),
                }
            )
        except ValueError:
            continue
    return out


_TCP_LISTEN = 0x0A


_TCP_CLOSE = 0x07


def is_listening(entry: Dict[str, Any]) -> bool:
    """TCP: state LISTEN. UDP: bound and unconnected (state CLOSE, no remote peer)."""
    if entry["proto"].startswith("tcp"):
        return bool(entry["state"] == _TCP_LISTEN)
    return bool(
        entry["state"] == _TCP_CLOSE
        and entry["remote_port"] == 0
        and entry["remote_address"] in ("0.0.0.0", "::")
    )


def fact_sockets(g: Gatherer) -> List[Dict[str, Any]]:
    ctx = g.ctx
    entries: List[Dict[str, Any]] = []
    readable = 0
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            text = ctx.read("/proc/net/" + proto)
        except OSError:
            continue
        readable += 1
        entries.extend(e for e in parse_proc_net(text, proto) if is_listening(e))
    if not readable:
        raise OSError(errno.ENOENT, "/proc/net/{tcp,tcp6,udp,udp6} not readable")
    owners = _socket_owners(ctx, {e["inode"] for e in entries}) if entries else {}
    out: List[Dict[str, Any]] = []
    seen: Set[Tuple[Any, ...]] = set()
    for e in entries:
        key = (e["proto"], e["address"], e["port"], e["inode"])
        if key in seen:
            continue
        seen.add(key)
        pid, comm = owners.get(e["inode"], (None, None))
        out.append(
            {
                "proto": e["proto"],
                "address": e["address"],
                "port": e["port"],
                "pid": pid,
                "process": comm,
            }
        )
    out.sort(key=lambda s: (s["proto"], s["port"], s["address"]))
    return out


def _socket_owners(ctx: ProbeContext, inodes: Set[int]) -> Dict[int, Tuple[int, Optional[str]]]:
    owners: Dict[int, Tuple[int, Optional[str]]] = {}
    proc = ctx.path("/proc")
    for entry in ctx.processes():
        fd_dir = os.path.join(proc, str(entry["pid"]), "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                try:
                    inode = int(target[8:-1])
                except ValueError:
                    continue
                if inode in inodes and inode not in owners:
                    owners[inode] = (entry["pid"], entry["comm"])
    return owners


SOCKETS_FACT = Fact("sockets", fact_sockets)
