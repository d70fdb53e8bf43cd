"""Collection speed on this machine: the probe alone, the local transport, and ansible-runner.

Target (issue 2): a full assessment of localhost with every shipped rule in <= 3 s wall,
ansible-runner start included; the probe's own time is reported separately.

    python benchmarks/bench_collect.py [--runs 5] [--walk-max-seconds 20]

Prints, for each configuration, the wall seconds per run (min / median / max) and the probe's
own ``probe_seconds``; then the per-fact split of the probe's time (``fact_seconds``). The
"all facts" request asks for every fact and every walk kind over the whole filesystem, which
is more than any rule selection asks for. The first run of a walk may be slower (cold page
cache); the figures are for the warm runs as well as the first.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from inspectorctl.collect._result import host_python, shipped_probe
from inspectorctl.collect.ansible import AnsibleCollector
from inspectorctl.collect.interface import HostResult, Targets
from inspectorctl.collect.local import LocalCollector
from inspectorctl.models.snapshot import FACT_NAMES, HostSnapshot, ProbeRequest
from inspectorctl.probe.walk import WALK_KINDS


def all_facts(walk_max_seconds: float) -> ProbeRequest:
    return ProbeRequest(
        facts=tuple(sorted(FACT_NAMES)),
        sysctl_keys=(
            "net.ipv4.ip_forward",
            "net.ipv4.conf.all.rp_filter",
            "kernel.randomize_va_space",
            "fs.suid_dumpable",
        ),
        modules=("cramfs", "squashfs", "udf", "usb-storage"),
        walks=WALK_KINDS,
        walk_max_seconds=walk_max_seconds,
        walk_max_results=10_000,
    )


def no_walks(request: ProbeRequest) -> ProbeRequest:
    return request.model_copy(
        update={"facts": tuple(f for f in request.facts if f != "walks"), "walks": ()}
    )


def machine() -> str:
    mem = 0
    try:
        with open("/proc/meminfo") as fh:
            mem = int(fh.readline().split()[1]) // 1024 // 1024
    except (OSError, ValueError, IndexError):
        pass
    distro = "unknown"
    try:
        with open("/etc/os-release") as fh:
            for line in fh:
                if line.startswith("PRETTY_NAME="):
                    distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {mem} GiB RAM, {distro}, kernel {platform.release()}"


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


#: where the shipped probe is written for the "probe alone" runs (as the local transport does)
PROBE_DIR = Path(tempfile.mkdtemp(prefix="inspectorctl-bench-probe-"))
atexit.register(shutil.rmtree, PROBE_DIR, True)

Run = tuple[float, float, HostSnapshot]  # wall, CPU (this process + children), snapshot


def probe_alone(request: ProbeRequest) -> Run:
    program = PROBE_DIR / "inspectorctl_probe.py"
    program.write_bytes(shipped_probe().source)
    c0 = children_cpu() + self_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [host_python(), str(program)],
        input=request.model_dump_json(),
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t0
    cpu = children_cpu() + self_cpu() - c0
    return wall, cpu, HostSnapshot.model_validate(json.loads(proc.stdout))


def through(collect: Callable[[], list[HostResult]]) -> Run:
    c0 = children_cpu() + self_cpu()
    t0 = time.perf_counter()
    (res,) = collect()
    wall = time.perf_counter() - t0
    cpu = children_cpu() + self_cpu() - c0
    if not isinstance(res, HostSnapshot):
        raise SystemExit(f"collection failed: {res}")
    return wall, cpu, res


def full_assessment() -> Run:
    """``inspectorctl assess`` of localhost through the library: rules loaded, probe request
    built from every shipped rule, ansible transport, evaluation; no store."""
    from inspectorctl.assess import AssessOptions, run_assessment

    c0 = children_cpu() + self_cpu()
    t0 = time.perf_counter()
    result = run_assessment(AssessOptions(), None)
    wall = time.perf_counter() - t0
    cpu = children_cpu() + self_cpu() - c0
    if not result.snapshots:
        raise SystemExit(f"assessment collected nothing: {result.failures}")
    return wall, cpu, result.snapshots[0]


def report(label: str, runs: list[Run]) -> None:
    walls = [w for w, _, _ in runs]
    cpus = [c for _, c, _ in runs]
    probes = [s.probe_seconds for _, _, s in runs]
    print(
        f"{label:<40} wall min {min(walls):5.2f} median {statistics.median(walls):5.2f} "
        f"max {max(walls):5.2f} | probe median {statistics.median(probes):5.2f} | "
        f"CPU median {statistics.median(cpus):5.2f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--walk-max-seconds", type=float, default=20.0)
    ap.add_argument("--no-assess", action="store_true", help="skip the full-assessment runs")
    args = ap.parse_args()
    os.environ.setdefault("INSPECTORCTL_PROBE_NO_IMDS", "1")

    full = all_facts(args.walk_max_seconds)
    light = no_walks(full)
    print(
        f"machine: {machine()}; probe interpreter {host_python()}; python {sys.version.split()[0]}"
    )
    print(f"runs per configuration: {args.runs}; load average {os.getloadavg()}")
    print("CPU = user+sys seconds of this process and its children (ansible, probe, apt):")
    print("on a quiet machine with 2 cores the wall time approaches max(walk, apt) + the rest.\n")

    configs: list[tuple[str, Callable[[], Run]]] = [
        ("probe alone, all facts + all walks", lambda: probe_alone(full)),
        ("probe alone, all facts, no walks", lambda: probe_alone(light)),
        (
            "local transport, all facts + all walks",
            lambda: through(lambda: list(LocalCollector().collect(full, Targets()))),
        ),
        (
            "ansible-runner localhost, all + walks",
            lambda: through(lambda: list(AnsibleCollector().collect(full, Targets()))),
        ),
        (
            "ansible-runner localhost, no walks",
            lambda: through(lambda: list(AnsibleCollector().collect(light, Targets()))),
        ),
    ]
    last: HostSnapshot | None = None
    for label, fn in configs:
        runs = [fn() for _ in range(args.runs)]
        report(label, runs)
        last = runs[-1][2] if label.startswith("probe alone, all facts +") else last
    if not args.no_assess:
        assess_runs = [full_assessment() for _ in range(args.runs)]
        report("full assessment, every shipped rule", assess_runs)
        _, _, snap = assess_runs[-1]
        print(f"  (request: {', '.join(snap.requested)}; walks: {', '.join(snap.walks or {})})")
    print(f"\nload average after: {os.getloadavg()}")
    if last is not None:
        print("\nper-fact probe seconds (last 'probe alone, all facts + all walks' run):")
        for fact, secs in sorted(last.fact_seconds.items(), key=lambda kv: -kv[1]):
            print(f"  {fact:<16} {secs:6.3f}")
        if last.walks:
            w = next(iter(last.walks.values()))
            print(f"  walk scanned {w.scanned} entries; truncated={w.truncated} {w.reason or ''}")
        if last.packages:
            print(f"  packages: {len(last.packages.items)} ({last.packages.manager})")
        if last.updates:
            print(
                f"  updates: {len(last.updates.pending)} pending, "
                f"{len(last.updates.security)} security ({last.updates.manager})"
            )


if __name__ == "__main__":
    main()
