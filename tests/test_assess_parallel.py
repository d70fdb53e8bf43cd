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
    parallel = [r for _h, _p, rs in evaluate_snapshots_parallel(
        opts, sel, snapshot_files(snaps), 2) for r in rs]
    assert [r.model_dump() for r in parallel] == [r.model_dump() for r in serial]
    assert {r.status.value for r in serial} == {"PASS", "FAIL"}


def test_large_offline_run_uses_workers_and_records_everything(tmp_path: Path) -> None:
    pack, snaps = _fleet(tmp_path, PARALLEL_MIN_FILES + 6)
    opts = AssessOptions(packs=(str(pack),), from_snapshots=snaps)
    with Store(tmp_path / "f.db") as store:
        res = run_assessment(opts, store, keep="problems")
        assert res.run.counts.hosts == PARALLEL_MIN_FILES + 6
        assert len(store.results(res.run.id)) == 3 * (PARALLEL_MIN_FILES + 6)
    assert all(r.status.value in ("FAIL", "ERROR") for r in res.results)


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
