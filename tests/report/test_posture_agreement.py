"""The HTML report's trend (``reportdata.run_postures``) and ``posture.compute_posture``
compute the same thing for the same runs: failed results per severity and, per framework,
requirements assessed, compliant, non-compliant and unknown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.report.posture import compute_posture
from inspectorctl.report.reportdata import load_rules, run_postures
from inspectorctl.store.db import Store
from tests.fixtures import snapshot_dict, write_mini

runner = CliRunner()


def _no_sshd(name: str) -> dict[str, Any]:
    """A snapshot whose sshd facts were not collected: the SSH rules are ERRORs."""
    data = snapshot_dict(name)
    del data["sshd"]
    data["requested"] = [r for r in data["requested"] if r != "sshd"]
    return data


FLEETS: list[dict[str, dict[str, Any]]] = [
    {"a": snapshot_dict("a", root_login="yes", tries="6"), "b": snapshot_dict("b")},
    {"a": snapshot_dict("a"), "b": snapshot_dict("b", forward="1")},
    {"a": _no_sshd("a"), "b": snapshot_dict("b")},
    {"a": _no_sshd("a"), "b": snapshot_dict("b", tries="9")},
    {"a": snapshot_dict("a"), "b": snapshot_dict("b")},
]


def _views(store: Store) -> tuple[dict[str, Any], dict[str, Any]]:
    posture = compute_posture(store)
    runs = [store.run(p.run_id) for p in posture.runs]
    trend = run_postures(store, [r for r in runs if r is not None],
                         load_rules(r for r in runs if r is not None))
    library = {p.run_id: ({s.value: n for s, n in p.failed.items()},
                          {f.framework: (f.requirements, f.compliant, f.non_compliant,
                                         f.unknown) for f in p.frameworks})
               for p in posture.runs}
    report = {t.run.id: ({s.value: n for s, n in t.failed.items()},
                         {fw: (s.requirements, s.compliant, s.non_compliant, s.unknown)
                          for fw, s in t.frameworks.items()})
              for t in trend}
    return library, report


def test_trend_and_compute_posture_agree(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    for i, fleet in enumerate(FLEETS):
        (tmp_path / f"r{i}").mkdir()
        pack, snaps = write_mini(tmp_path / f"r{i}", fleet)
        res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps),
                                  "--db", str(db), "-f", "json"])
        assert res.exit_code == 0, res.output
    statuses = {r["status"] for r in json.loads(res.stdout)["results"]}
    assert statuses == {"PASS"}
    with Store(db) as store:
        library, report = _views(store)
        errors = [p.errors for p in compute_posture(store).runs]
    assert len(library) == len(FLEETS)
    assert errors[2] == errors[3] == 2  # the data holds unknown requirements too
    assert any(fw[3] for _, fws in library.values() for fw in fws.values())
    assert any(fw[2] for _, fws in library.values() for fw in fws.values())
    assert library == report


def test_they_differ_on_pruned_runs(tmp_path: Path) -> None:
    """Where they part: a pruned run (part of its results deleted) is skipped and named by
    ``compute_posture`` and counted from what is left by the report's trend. This is why the
    report keeps its own query (and its one grouped SQL query over every trend run)."""
    db = tmp_path / "f.db"
    for i, fleet in enumerate(FLEETS):
        (tmp_path / f"r{i}").mkdir()
        pack, snaps = write_mini(tmp_path / f"r{i}", fleet)
        res = runner.invoke(app, ["assess", "--pack", str(pack), "--from-snapshots", str(snaps),
                                  "--db", str(db)])
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["runs", "prune", "--keep", "2", "--by", "ops", "--db", str(db)])
    assert res.exit_code == 0, res.output
    with Store(db) as store:
        posture = compute_posture(store)
        pruned = [s.run_id for s in posture.skipped]
        runs = [r for r in store.runs(100) if r.kind == "assess"]
        trend = {t.run.id for t in run_postures(store, runs, load_rules(runs))}
    assert len(pruned) == 3
    assert len(posture.runs) == 2
    assert set(pruned) <= trend and len(trend) == 5
