"""Assessing 10 lab hosts through Ansible vs plain ``ansible -m setup`` on the same hosts.

Target (issue 3): the full assessment (every shipped rule, probe through ansible-runner over
SSH, evaluation, SQLite) in <= 1.3x the wall time of ``ansible all -m setup`` (full fact
gathering, the usual first step of any Ansible run) on the same 10 hosts with the same forks.

    python benchmarks/bench_lab_assess.py [--hosts 10] [--runs 3] [--profile baseline]

Runs as root; brings up its own lab in a temporary state dir (own netns prefix) and takes it
down at the end. Prints each run's two wall times and their ratio.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inspectorctl.lab import Lab

#: rules whose facts dominate the probe's time: filesystem walks and the upgrade simulation
HEAVY_RULES = ("world-writable-files", "world-writable-directories-sticky", "unowned-files",
               "security-updates-applied")


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # assess exits 1 only with --fail-on
        sys.exit(f"{argv[0]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}"
                 f"\n{proc.stderr[-2000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", default="baseline")
    args = ap.parse_args()
    bindir = Path(sys.executable).parent
    ansible = str(bindir / "ansible") if (bindir / "ansible").exists() else shutil.which(
        "ansible")
    if ansible is None:
        sys.exit("ansible is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="ictl-bench-"))
    lab = Lab(tmp / "lab", netns_prefix=f"ictlb{secrets.token_hex(2)}-")
    try:
        lab.up(args.hosts, [args.profile], "bench")
        inv = str(lab.inventory_path)
        forks = str(args.hosts)
        env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
                   INSPECTORCTL_DB=str(tmp / "bench.db"), ANSIBLE_PIPELINING="True")
        setup = [ansible, "-i", inv, "bench-*", "-m", "ansible.builtin.setup", "-f", forks]
        assess = [str(bindir / "inspectorctl"), "assess", "-i", inv, "--limit", "bench-*",
                  "--forks", forks, "--format", "json", "--output", str(tmp / "out.json")]
        # the same without the whole-filesystem walks and the apt/dnf upgrade simulation:
        # what the transport and the rest of the probe cost
        light = [*assess, *(f"--exclude={r}" for r in HEAVY_RULES)]
        timed(setup, env)  # warm the page cache and ssh control masters alike for both
        print(f"{args.hosts} lab hosts ({args.profile}), forks {forks}, "
              f"{os.cpu_count()} cores")
        ratios: dict[str, list[float]] = {"all rules": [], "without walks/updates": []}
        for i in range(args.runs):
            t_setup = timed(setup, env)
            t_assess = timed(assess, env)
            t_light = timed(light, env)
            ratios["all rules"].append(t_assess / t_setup)
            ratios["without walks/updates"].append(t_light / t_setup)
            print(f"run {i + 1}: ansible -m setup {t_setup:.2f} s, inspectorctl assess "
                  f"{t_assess:.2f} s (ratio {t_assess / t_setup:.2f}), without walks/updates "
                  f"{t_light:.2f} s (ratio {t_light / t_setup:.2f})")
        for label, values in ratios.items():
            print(f"median ratio, {label}: {statistics.median(values):.2f} (target <= 1.3)")
    finally:
        lab.down()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
