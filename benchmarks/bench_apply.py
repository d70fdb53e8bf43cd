"""Applying a weak lab host's whole plan, and its sysctl action alone.

Targets (issue 11): a weak host's full plan in <= 30 s, the sysctl action in <= 5 s.

    python benchmarks/bench_apply.py [--runs 2]

Runs as root; brings up its own one-host lab (weak profile) in a temporary state dir (own
netns prefix) and takes it down at the end. Each run brings up a fresh weak host (an applied
host is weak no more), then assess, plan, approve, `apply --no-verify`, and prints the
apply's wall time and, from the journal, each action's ansible-runner seconds.

Lab hosts have no network, so apt cannot download what the plan's package_present action
installs: it fails after apt's own retries (about 9 s of back-off), which measures apt, not
inspectorctl. So, as a host with a reachable mirror would, the host gets the packages
in its apt cache first: this machine downloads them (`apt-get install --download-only`, through
apt as configured here) and they are copied into the host's /var/cache/apt/archives; apt
then installs them without fetching. ``--no-package-cache``: leave the host without them.
"""

from __future__ import annotations

import argparse
import base64
import json
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
from inspectorctl.store import journal
from inspectorctl.store.db import Store


def run(argv: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> str:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if proc.returncode not in ok:
        sys.exit(f"{' '.join(argv[:3])} failed ({proc.returncode}):\n{proc.stdout[-3000:]}"
                 f"\n{proc.stderr[-3000:]}")
    return proc.stdout


def fetch_packages(names: list[str], dest: Path) -> list[Path]:
    """The .deb files apt on this machine would install for ``names`` (dependencies too),
    downloaded into ``dest``; an empty list (and a note) when apt cannot fetch them."""
    (dest / "partial").mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["apt-get", "install", "-y", "-q", "--download-only", "--no-install-recommends",
         "-o", f"Dir::Cache::archives={dest}", *names],
        capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        print(f"note: apt-get could not download {', '.join(names)} "
              f"({proc.stderr.strip().splitlines()[-1:]}); package_present will fail")
        return []
    return sorted(dest.glob("*.deb"))


def seed_apt_cache(lab: Lab, host: str, debs: list[Path]) -> None:
    for deb in debs:
        proc = lab.exec(host, ["sh", "-c", 'base64 -d > "/var/cache/apt/archives/$1"', "sh",
                               deb.name], input=base64.b64encode(deb.read_bytes()).decode())
        if proc.returncode != 0:
            sys.exit(f"could not copy {deb.name} into {host}: {proc.stderr}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--no-package-cache", action="store_true",
                    help="do not put the packages package_present installs into the host's "
                         "apt cache (the action then fails: lab hosts have no network)")
    args = ap.parse_args()
    ictl = str(Path(sys.executable).parent / "inspectorctl")
    totals: list[float] = []
    per_playbook: dict[str, list[float]] = {}
    for i in range(args.runs):
        tmp = Path(tempfile.mkdtemp(prefix="ictl-bench-apply-"))
        lab = Lab(tmp / "lab", netns_prefix=f"ictla{secrets.token_hex(2)}-")
        try:
            lab.up(1, ["weak"], "bench")
            inv = str(lab.inventory_path)
            db = tmp / "bench.db"
            env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
                       INSPECTORCTL_DB=str(db), NO_COLOR="1")
            run([ictl, "assess", "-i", inv, "--limit", "bench-1"], env)
            plan = tmp / "plan.json"
            run([ictl, "plan", "-o", str(plan)], env)
            run([ictl, "approve", str(plan), "--by", "bench"], env)
            wanted = sorted({str(it["name"]) for a in json.loads(plan.read_text())["actions"]
                             if a["playbook"] == "package_present" for it in a["items"]})
            if wanted and not args.no_package_cache:
                debs = fetch_packages(wanted, tmp / "debs")
                seed_apt_cache(lab, "bench-1", debs)
                if i == 0 and debs:
                    print(f"apt cache of bench-1: {', '.join(d.name for d in debs)}")
            t0 = time.perf_counter()
            # every action runs even where one fails (package_present needs a network)
            run([ictl, "apply", str(plan), "--no-verify", "--by", "bench", "--max-errors",
                 "100%"], env, ok=(0, 1))
            wall = time.perf_counter() - t0
            with Store(db) as store:
                (apply_run,) = journal.apply_runs(store)
                rows = journal.entries(store, apply_run.id)
            actions = len(json.loads(plan.read_text())["actions"])
            states: dict[str, int] = {}
            for e in rows:
                states[e.state.value] = states.get(e.state.value, 0) + 1
                per_playbook.setdefault(e.playbook, []).append(e.ansible_seconds or 0.0)
            totals.append(wall)
            sysctl = [e.ansible_seconds or 0.0 for e in rows if e.playbook == "sysctl"]
            print(f"run {i + 1}: {actions} actions, apply {wall:.1f} s "
                  f"({', '.join(f'{k} {v}' for k, v in sorted(states.items()))}); sysctl "
                  f"action {sysctl[0] if sysctl else float('nan'):.1f} s")
        finally:
            lab.down()
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"median full plan apply: {statistics.median(totals):.1f} s (target <= 30 s)")
    for pb, secs in sorted(per_playbook.items()):
        print(f"  {pb}: median {statistics.median(secs):.1f} s"
              + (" (target <= 5 s)" if pb == "sysctl" else ""))


if __name__ == "__main__":
    main()
