"""Offline evaluation of many snapshots on every core gives exactly the serial results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspectorctl.assess import (
    PARALLEL_MIN_FILES,
    AssessOptions,
    evaluate_snapshots_parallel,
    iter_snapshots,
    run_assessment,
    select,
    snapshot_files,
)
from inspectorctl.errors import InputError
from inspectorctl.rules.engine import evaluate_host
from inspectorctl.store.db import Store
from tests.fixtures import snapshot_dict, write_mini


def _fleet(tmp_path: Path, n: int) -> tuple[Path, Path]:
    hosts = {f"h{i:03d}": snapshot_dict(f"h{i:03d}", root_login="yes" if i % 3 else "no",
                                        tries=str(2 + i % 5), forward=str(i % 2))
             for i in range(n)}
    return write_mini(tmp_path, hosts)


def test_parallel_equals_serial(tmp_path: Path) -> None:
    pack, snaps = _fleet(tmp_path, 40)
    opts = AssessOptions(packs=(str(pack),), from_snapshots=snaps)
    sel = select(opts)
    serial = [r for s in iter_snapshots(snaps) for r in evaluate_host(s, sel)]
    parallel = [r for rows in evaluate_snapshots_parallel(
        opts, sel, snapshot_files(snaps), 2) for r in rows.results(sel)]
    assert [r.model_dump() for r in parallel] == [r.model_dump() for r in serial]
    assert {r.status.value for r in serial} == {"PASS", "FAIL"}


def _dump(store: Store, run_id: str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    results = [r.model_dump() for r in store.results(run_id)]
    findings = [f.model_dump(exclude={"first_seen", "last_seen", "first_run", "last_run"})
                for f in store.findings()]
    return results, findings


def test_large_offline_run_uses_workers_and_records_what_a_serial_run_does(
        tmp_path: Path) -> None:
    pack, snaps = _fleet(tmp_path, PARALLEL_MIN_FILES + 6)
    opts = AssessOptions(packs=(str(pack),), from_snapshots=snaps)
    with Store(tmp_path / "f.db") as store:
        res = run_assessment(opts, store, keep="problems")  # on the workers
        assert res.timings["evaluate"] > 0
        assert res.run.counts.hosts == PARALLEL_MIN_FILES + 6
        assert len(store.results(res.run.id)) == 3 * (PARALLEL_MIN_FILES + 6)
        parallel = _dump(store, res.run.id)
    with Store(tmp_path / "s.db") as store:
        serial_res = run_assessment(opts, store, keep="all")  # keep=all: in this process
        serial = _dump(store, serial_res.run.id)
    assert parallel == serial
    assert parallel[1], "the fleet has failing rules: findings must be recorded"
    problems = [r for r in serial_res.results if r.status.value in ("FAIL", "ERROR")]
    assert [r.model_dump() for r in res.results] == [r.model_dump() for r in problems]
    assert res.status_counts == serial_res.status_counts
    assert res.host_counts == serial_res.host_counts
    assert res.run.counts == serial_res.run.counts


def test_bad_file_in_a_large_set_names_it_and_records_nothing(tmp_path: Path) -> None:
    pack, snaps = _fleet(tmp_path, PARALLEL_MIN_FILES + 2)
    bad = snaps / "h050.json"
    data = json.loads(bad.read_text())
    del data["collected_at"]
    bad.write_text(json.dumps(data))
    opts = AssessOptions(packs=(str(pack),), from_snapshots=snaps)
    with Store(tmp_path / "f.db") as store:
        with pytest.raises(InputError) as caught:
            run_assessment(opts, store, keep="problems")
        assert str(caught.value) == f"{bad}: not a valid snapshot: collected_at: Field required"
        assert store.runs() == []
