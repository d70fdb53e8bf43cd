"""Remediation benchmarks.

1. Planning: N synthetic FAIL findings (shipped rules that have a playbook, on many hosts) in a
   temporary store; time ``make_plan`` (load the packs, the catalogue and its digests, read the
   findings, group them, digest the plan, record it), ``build_plan`` alone, and the gate's
   ``check_integrity`` of that plan (signature, playbook digests, the plan recomputed from the
   store and the catalogue, identities, staleness), which ``approve`` and ``apply`` run.
2. Orchestrator overhead per host action against the Ansible time, read from the journal of the
   apply runs in a database (``--journal-db``; e.g. the one the lab e2e test or a manual lab run
   left): per executor call, ``overhead_seconds`` (journal writes, bookkeeping) against
   ``ansible_seconds`` (the ansible-runner call), and per run the wall time outside Ansible.

    .venv/bin/python benchmarks/bench_plan.py --findings 10000 --runs 3
    .venv/bin/python benchmarks/bench_plan.py --journal-db /path/to/findings.db
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from inspectorctl.models.common import Status
from inspectorctl.models.finding import Evidence, FindingState, RuleResult, RunRecord
from inspectorctl.remediate.approval import check_integrity
from inspectorctl.remediate.planner import build_plan
from inspectorctl.remediate.plans import PlanOptions, _rule_index, _source, make_plan
from inspectorctl.remediate.remediations import remediation_catalog
from inspectorctl.rules.loader import DEFAULT_PACKS, load_packs
from inspectorctl.store.db import Store


def seed(store: Store, findings: int) -> str:
    packs = load_packs(list(DEFAULT_PACKS))
    rules = [r for p in packs for r in p.rules if r.remediation and r.remediation.playbook]
    per_host = min(len(rules), 25)
    hosts = -(-findings // per_host)
    results: list[RuleResult] = []
    for h in range(hosts):
        # a different window of rules per host class: many distinct item lists, many actions
        start = (h % 16) * 5
        for r in [rules[(start + i) % len(rules)] for i in range(per_host)]:
            if len(results) == findings:
                break
            results.append(RuleResult(
                rule_id=r.id, pack=r.pack, host=f"host-{h:05d}", status=Status.FAIL,
                severity=r.severity, title=r.title,
                evidence=Evidence(expected="x", found=f"y{h % 3}")))
    run = RunRecord(id="r-bench", started_at=datetime.now(UTC),
                    targets={"transport": "ansible", "inventory": "/inv.yml"},
                    packs=list(DEFAULT_PACKS))
    store.record_run(run, results)
    return run.id


def bench_planning(findings: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        t = time.perf_counter()
        run_id = seed(store, findings)
        print(f"seeded {findings} findings in {time.perf_counter() - t:.2f} s")
        full, pure, gate = [], [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            plan = make_plan(store, PlanOptions(run_id=run_id), datetime.now(UTC))
            full.append(time.perf_counter() - t0)
            rules = _rule_index(list(DEFAULT_PACKS), {}, None)
            catalog = remediation_catalog()
            run = store.run(run_id)
            assert run is not None
            fs = store.findings(run_id=run_id, states=[FindingState.ACTIVE])
            t1 = time.perf_counter()
            build_plan(fs, rules, catalog, source=_source(run, list(DEFAULT_PACKS), {}),
                       plan_id="p-bench", created_at=datetime.now(UTC))
            pure.append(time.perf_counter() - t1)
            t2 = time.perf_counter()
            problems = check_integrity(plan, store)
            gate.append(time.perf_counter() - t2)
            assert not problems, problems
        n = sum(len(a.findings) for a in plan.actions)
        print(f"plan: {len(plan.actions)} actions, {n} findings in actions, "
              f"{len(plan.hosts)} hosts")
        print(f"make_plan (packs + catalogue digests + store + grouping + digest + record): "
              f"{', '.join(f'{x:.2f}' for x in full)} s (median "
              f"{statistics.median(full):.2f} s; target <= 2 s)")
        print(f"build_plan alone: {', '.join(f'{x:.3f}' for x in pure)} s")
        print(f"gate integrity check (signature, digests, recompute, identities, staleness): "
              f"{', '.join(f'{x:.2f}' for x in gate)} s")
        store.close()


def bench_overhead(db_path: Path) -> None:
    db = sqlite3.connect(db_path)
    calls = db.execute(
        "SELECT run_id, action_id, MIN(ansible_seconds), MIN(overhead_seconds), COUNT(*)"
        " FROM journal WHERE ansible_seconds IS NOT NULL GROUP BY run_id, action_id, started_at"
    ).fetchall()
    if not calls:
        print(f"{db_path}: no journaled executor call")
        return
    ratios = [o / a for _, _, a, o, _ in calls if a]
    host_actions = sum(c for *_, c in calls)
    print(f"{len(calls)} executor calls, {host_actions} host actions")
    print(f"ansible per call: median {statistics.median(a for _, _, a, _, _ in calls):.2f} s")
    print(f"orchestrator per call: median "
          f"{statistics.median(o for _, _, _, o, _ in calls) * 1000:.1f} ms, max "
          f"{max(o for _, _, _, o, _ in calls) * 1000:.1f} ms")
    print(f"overhead / ansible: median {statistics.median(ratios) * 100:.2f} %, max "
          f"{max(ratios) * 100:.2f} % (target <= 10 %)")
    for run_id, started, ended in db.execute(
            "SELECT id, started_at, ended_at FROM apply_runs WHERE ended_at IS NOT NULL"):
        wall = (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
        ans = sum(a for r, _, a, _, _ in calls if r == run_id)
        if ans:
            print(f"run {run_id}: wall {wall:.1f} s, ansible {ans:.1f} s, outside ansible "
                  f"{max(0.0, wall - ans):.2f} s ({max(0.0, wall - ans) / ans * 100:.1f} %)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--journal-db", type=Path)
    args = ap.parse_args()
    if args.journal_db:
        bench_overhead(args.journal_db)
    else:
        bench_planning(args.findings, args.runs)


if __name__ == "__main__":
    main()
