"""Evaluation engine at fleet scale: N saved snapshots x every shipped rule.

Target (issue 2): 10,000 snapshots x all shipped rules in <= 20 s on a 2-core machine and
<= 500 MB RSS. The base snapshot is this machine's, collected with the local probe for every
shipped rule (so the package list, sockets, files ... are real); the N variants differ in host
name and in a few values so both PASS and FAIL paths run.

    python benchmarks/bench_evaluate.py [--hosts 10000] [--keep-dir DIR]

Prints: snapshot generation time, then for evaluation in one process, evaluation on every core
(the engine `assess --from-snapshots` uses for large sets), and the full offline assessment into
a fresh SQLite database: wall seconds, rules x hosts evaluated per second, and the peak RSS of
the largest process (main or worker) that did it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inspectorctl.assess import (
    AssessOptions,
    evaluate_snapshots_parallel,
    iter_snapshots,
    run_assessment,
    select,
    snapshot_files,
)
from inspectorctl.rules.engine import evaluate_host
from inspectorctl.rules.facts import probe_request
from inspectorctl.store.db import Store


def base_snapshot() -> dict[str, object]:
    from inspectorctl.collect import get_collector
    from inspectorctl.collect.interface import Targets
    from inspectorctl.models.snapshot import HostSnapshot

    sel = select(AssessOptions())
    req = probe_request(sel.rule_list, walk_max_seconds=5)
    (res,) = get_collector("local").collect(req, Targets())
    assert isinstance(res, HostSnapshot), res
    return res.model_dump(mode="json")


def make_snapshots(n: int, out: Path) -> None:
    base = base_snapshot()
    for i in range(n):
        snap = json.loads(json.dumps(base))
        snap["host"]["name"] = f"host-{i:05d}"
        sshd = snap.get("sshd") or {}
        cfg = sshd.get("config") or {}
        if cfg:
            cfg["permitrootlogin"] = ["yes" if i % 3 == 0 else "no"]
            cfg["maxauthtries"] = [str(2 + i % 6)]
        sysctl = snap.get("sysctl") or {}
        rt = sysctl.get("runtime") or {}
        if "net.ipv4.ip_forward" in rt:
            rt["net.ipv4.ip_forward"] = str(i % 2)
        (out / f"host-{i:05d}.json").write_text(json.dumps(snap))


def phase(mode: str, snaps: Path) -> None:
    """Run one measured phase in this process and print a JSON line."""
    opts = AssessOptions(from_snapshots=snaps)
    t0 = time.perf_counter()
    if mode == "evaluate-1cpu":
        sel = select(opts)
        per_host = [len(evaluate_host(snap, sel)) for snap in iter_snapshots(snaps)]
        hosts, evaluated, rules = len(per_host), sum(per_host), len(sel)
    elif mode == "evaluate":
        sel = select(opts)
        workers = os.cpu_count() or 1
        per_host = [len(rows.rows) for rows in evaluate_snapshots_parallel(
            opts, sel, snapshot_files(snaps), workers)]
        hosts, evaluated, rules = len(per_host), sum(per_host), len(sel)
    else:
        with tempfile.TemporaryDirectory() as d, Store(Path(d) / "bench.db") as store:
            res = run_assessment(opts, store, keep="none")
            hosts, rules = res.run.counts.hosts, res.run.counts.rules
            evaluated = sum(res.status_counts.values())
    wall = time.perf_counter() - t0
    rss_mb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                 resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(json.dumps({"mode": mode, "hosts": hosts, "rules": rules, "evaluated": evaluated,
                      "seconds": round(wall, 2), "per_second": round(evaluated / wall),
                      "peak_rss_mb": round(rss_mb)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10_000)
    ap.add_argument("--keep-dir", type=Path)
    ap.add_argument("--phase", choices=["evaluate-1cpu", "evaluate", "assess"])
    ap.add_argument("--snaps", type=Path)
    args = ap.parse_args()
    if args.phase:
        phase(args.phase, args.snaps)
        return
    tmp = tempfile.TemporaryDirectory()
    snaps = args.keep_dir or Path(tmp.name)
    snaps.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    make_snapshots(args.hosts, snaps)
    size = sum(p.stat().st_size for p in snaps.glob("*.json")) / 1e6
    print(f"generated {args.hosts} snapshots ({size:.0f} MB) in {time.perf_counter() - t0:.1f} s")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    for mode in ("evaluate-1cpu", "evaluate", "assess"):
        out = subprocess.run(
            [sys.executable, __file__, "--phase", mode, "--snaps", str(snaps)],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        r = json.loads(out.splitlines()[-1])
        label = {"evaluate-1cpu": "evaluation, one process",
                 "evaluate": "evaluation, all cores",
                 "assess": "assess --from-snapshots + SQLite"}
        print(f"{label[mode]:<34} {r['hosts']} hosts x {r['rules']} rules = {r['evaluated']} "
              f"results in {r['seconds']} s ({r['per_second']}/s), peak RSS "
              f"{r['peak_rss_mb']} MB")
    tmp.cleanup()


if __name__ == "__main__":
    main()
