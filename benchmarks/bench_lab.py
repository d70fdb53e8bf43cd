"""Benchmark of the lab: ``lab up --hosts 10``, RSS per idle host, ``lab down`` of 10 hosts.

Runs the real CLI (``inspectorctl lab ...`` in a subprocess, so interpreter start-up counts) in
a temporary state dir with a netns prefix of its own, as root. Targets (issue 3): up of 10
hosts <= 10 s, <= 30 MB RSS per idle host, down of 10 hosts <= 5 s.

    .venv/bin/python benchmarks/bench_lab.py [--runs 3] [--hosts 10] [--profile baseline]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inspectorctl.lab import Lab

CLI = [sys.executable, "-c", "from inspectorctl.cli.main import main; main()"]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0  # a kernel thread or a zombie


def host_rss_kib(init_pid: int) -> tuple[int, int]:
    """Sum of VmRSS of every process in the host's PID namespace, and how many there are."""
    ns = os.readlink(f"/proc/{init_pid}/ns/pid")
    total = count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                total += rss_kib(int(entry))
                count += 1
        except OSError:
            continue
    return total, count


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[3:])} failed ({result.returncode}): {result.stderr}")
    return elapsed


def one_run(hosts: int, profile: str, idle: float) -> tuple[float, list[tuple[int, int]], float]:
    with tempfile.TemporaryDirectory(prefix="ictl-bench-") as tmp:
        state = Path(tmp) / "lab"
        prefix = f"ictlb{secrets.token_hex(3)}-"
        env = dict(
            os.environ, INSPECTORCTL_LAB_DIR=str(state), INSPECTORCTL_LAB_NETNS_PREFIX=prefix
        )
        try:
            up = timed([*CLI, "lab", "up", "--hosts", str(hosts), "--profile", profile], env)
            time.sleep(idle)
            lab = Lab(state)
            per_host = []
            for host in lab.status():
                assert host.pid is not None, f"{host.name} is {host.state}"
                per_host.append(host_rss_kib(host.pid))
            down = timed([*CLI, "lab", "down"], env)
            left = Lab(state, netns_prefix=prefix).leftovers()
            if left:
                raise SystemExit(f"down left: {left}")
        finally:
            Lab(state, netns_prefix=prefix).down()
    return up, per_host, down


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--profile", default="baseline")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds idle before RSS")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the lab needs root")
    ups, downs, rss = [], [], []
    print(f"lab benchmark: {args.hosts} hosts, profile {args.profile}, {args.runs} runs")
    print(f"machine: {os.cpu_count()} cores, {os.uname().release}")
    for run in range(1, args.runs + 1):
        up, per_host, down = one_run(args.hosts, args.profile, args.idle)
        mib = [kib / 1024 for kib, _ in per_host]
        procs = [n for _, n in per_host]
        ups.append(up)
        downs.append(down)
        rss.extend(mib)
        print(
            f"run {run}: up {up:.2f} s; idle RSS per host mean {statistics.mean(mib):.1f} MiB, "
            f"max {max(mib):.1f} MiB ({min(procs)}-{max(procs)} processes); down {down:.2f} s"
        )
    print(
        f"median: up {statistics.median(ups):.2f} s, RSS/host {statistics.median(rss):.1f} MiB "
        f"(max {max(rss):.1f}), down {statistics.median(downs):.2f} s"
    )


if __name__ == "__main__":
    main()
