"""HTML report benchmark: a temporary store with RUNS runs of every shipped rule on HOSTS hosts
(synthetic results: each host fails a fixed share of the rules, a few results are errors, a
little changes between runs), then the time of ``inspectorctl report --html``'s two steps:
reading the report's data (``collect_report``: the run's results, posture per framework, the
trend's grouped query, each problem's history) and rendering the page (``render_html``), and
the file's size.

    .venv/bin/python benchmarks/bench_report_html.py --hosts 100 --runs 10 [--out report.html]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from inspectorctl.models.common import Status
from inspectorctl.models.finding import Evidence, RuleResult, RunCounts, RunRecord
from inspectorctl.report.html import render_html, write_report
from inspectorctl.report.reportdata import collect_report
from inspectorctl.rules.loader import DEFAULT_PACKS, load_packs
from inspectorctl.store.db import Store


def seed(store: Store, hosts: int, runs: int) -> None:
    packs = load_packs(list(DEFAULT_PACKS))
    rules = [(p.id, r) for p in packs for r in p.rules]
    rng = random.Random(15)
    start = datetime.now(UTC) - timedelta(days=runs)
    for n in range(runs):
        results = []
        for h in range(hosts):
            host = f"host-{h:05d}.example.internal"
            for pack, rule in rules:
                x = rng.random()
                status = (Status.FAIL if x < 0.25 - 0.01 * n else Status.ERROR if x < 0.27
                          else Status.NOT_APPLICABLE if x < 0.4 else Status.PASS)
                ev = (Evidence(expected="as the benchmark says", found=f"value {x:.3f}",
                               source="/etc/example.conf:12")
                      if status in (Status.PASS, Status.FAIL) else None)
                results.append(RuleResult(
                    rule_id=rule.id, pack=pack, host=host, status=status,
                    severity=rule.severity, title=rule.title, evidence=ev,
                    reason="fact unreadable" if status is Status.ERROR else None))
        store.record_run(RunRecord(
            id=f"r-bench{n:04d}", started_at=start + timedelta(days=n),
            ended_at=start + timedelta(days=n, minutes=5), packs=list(DEFAULT_PACKS),
            counts=RunCounts(hosts=hosts, rules=len(rules))), results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, help="keep the last report here (e.g. to open it)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "findings.db"
        t0 = time.perf_counter()
        with Store(db) as store:
            seed(store, args.hosts, args.runs)
        print(f"seeded {args.runs} run(s) x {args.hosts} host(s) in "
              f"{time.perf_counter() - t0:.1f} s")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            with Store(db) as store:
                data = collect_report(store, run_id=None, since=None, now=datetime.now(UTC))
            t1 = time.perf_counter()
            text = render_html(data)
            t2 = time.perf_counter()
            out = args.out or Path(tmp) / "report.html"
            write_report(out, text)
            t3 = time.perf_counter()
            print(f"collect {t1 - t0:.2f} s, render {t2 - t1:.2f} s, write {t3 - t2:.2f} s; "
                  f"{data.results} results, {len(data.findings)} findings shown "
                  f"({data.findings_left_out} left out), {len(data.trend)} runs in the trend; "
                  f"{out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
