"""Export benchmarks: N synthetic FAIL findings of the shipped packs (many hosts) in a
temporary store, then, timed separately:

- ``load``: read the run's findings, their rules and details from the store
  (``report.exportable.load``);
- ``asff``: map each to ASFF and fit it to 240 KB (``report.asff.to_asff`` + ``fit``);
- ``check``: hold each to botocore's Security Hub model (``report.asff.problems``);
- ``batch``: cut them into BatchImportFindings requests (``aws.securityhub.batches``);
- ``import``: ``aws.securityhub.import_findings`` against a client that accepts every
  finding at once, with the real rate limiter on a simulated clock: the figure is the time
  the 10-calls-per-second quota makes an import take, plus the CPU time of the calls;
- ``ocsf``: the OCSF JSON lines of the same findings.

    .venv/bin/python benchmarks/bench_export.py --findings 10000 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspectorctl.aws.securityhub import RateLimiter, batches, import_findings
from inspectorctl.models.common import Status
from inspectorctl.models.finding import Evidence, RuleResult, RunRecord
from inspectorctl.report import asff, ocsf
from inspectorctl.report.exportable import load
from inspectorctl.rules.loader import DEFAULT_PACKS, load_packs
from inspectorctl.store.db import Store


class SimClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class AcceptAll:
    def __init__(self) -> None:
        self.calls = 0

    def batch_import_findings(self, Findings: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        return {"FailedCount": 0, "SuccessCount": len(Findings), "FailedFindings": []}


def seed(store: Store, findings: int) -> None:
    rules = [r for p in load_packs(list(DEFAULT_PACKS)) for r in p.rules]
    per_host = 25
    results = []
    for i in range(findings):
        r = rules[i % len(rules)]
        results.append(RuleResult(
            rule_id=r.id, pack=r.pack, host=f"i-{i // per_host:017x}", status=Status.FAIL,
            severity=r.severity, title=r.title,
            evidence=Evidence(expected="a hardened value", found=f"value {i}",
                              source="/etc/example.conf:12")))
    at = datetime(2026, 12, 1, tzinfo=UTC)
    store.record_run(RunRecord(id="r-bench", started_at=at, ended_at=at,
                               packs=list(DEFAULT_PACKS)), results)


def once(db: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    t = time.perf_counter()
    with Store(db) as store:
        data = load(store, "r-bench")
    out["load"] = time.perf_counter() - t
    target = asff.AsffTarget(account_id="123456789012", region="eu-west-1")
    t = time.perf_counter()
    found = [asff.fit(asff.to_asff(i, target)) for i in data.items]
    out["asff"] = time.perf_counter() - t
    t = time.perf_counter()
    bad = sum(1 for f in found if asff.problems(f))
    out["check"] = time.perf_counter() - t
    assert bad == 0, bad
    t = time.perf_counter()
    groups = batches(found)
    out["batch"] = time.perf_counter() - t
    clock = SimClock()
    client = AcceptAll()
    t = time.perf_counter()
    report = import_findings(client, found, limiter=RateLimiter(clock=clock))
    cpu = time.perf_counter() - t
    assert len(report.imported) == len(found) and client.calls == len(groups)
    out["import_cpu"] = cpu
    out["import_wall"] = clock.now + cpu
    out["calls"] = float(client.calls)
    t = time.perf_counter()
    n = sum(1 for _ in ocsf.export_lines(data.items, data.run))
    out["ocsf"] = time.perf_counter() - t
    assert n == len(found)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "findings.db"
        with Store(db) as store:
            seed(store, args.findings)
        rows = [once(db) for _ in range(args.runs)]
    print(f"{args.findings} findings, {args.runs} run(s); median (min-max) seconds")
    for key in ("load", "asff", "check", "batch", "import_cpu", "import_wall", "ocsf"):
        vals = [r[key] for r in rows]
        print(f"  {key:12} {statistics.median(vals):7.2f} ({min(vals):.2f}-{max(vals):.2f})")
    print(f"  calls        {int(rows[0]['calls'])}")


if __name__ == "__main__":
    main()
