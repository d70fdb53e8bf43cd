"""What the input limits cost: the YAML event scan (depth, aliases) before the shipped
rulepacks are parsed, and the depth walk after a large plan file's JSON is parsed.

Prints the best of N runs of each, and the overhead in per cent:

    .venv/bin/python benchmarks/bench_input_limits.py [--runs 5]
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from inspectorctl.rules.loader import shipped_pack_files
from inspectorctl.yamlfile import _FAST_LOADER, check_depth, check_yaml


def best(fn: Callable[[], object], runs: int) -> float:
    out = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    for path in shipped_pack_files():
        text = path.read_text()
        scan = best(functools.partial(check_yaml, text, path), args.runs)
        load = best(functools.partial(yaml.load, text, Loader=_FAST_LOADER), args.runs)
        print(f"{path.name}: {len(text) / 1e3:.0f} kB, YAML load {load * 1e3:.0f} ms, limit "
              f"scan {scan * 1e3:.0f} ms (+{scan / load * 100:.0f}%)")
    # a plan-sized JSON document: 10,000 hosts x 20 actions' worth of findings
    doc = {"actions": [{"hosts": [f"h-{i}" for i in range(500)],
                        "findings": [{"id": f"f-{i}", "rule_id": "r", "host": f"h-{i}"}
                                     for i in range(500)]} for _ in range(20)]}
    text = json.dumps(doc)
    data = json.loads(text)
    parse = best(functools.partial(json.loads, text), args.runs)
    walk = best(functools.partial(check_depth, data, Path("plan.json")), args.runs)
    print(f"plan JSON: {len(text) / 1e6:.1f} MB, parse {parse * 1e3:.0f} ms, depth walk "
          f"{walk * 1e3:.0f} ms (+{walk / parse * 100:.0f}%)")


if __name__ == "__main__":
    main()
