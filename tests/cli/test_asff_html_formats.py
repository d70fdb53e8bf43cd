"""``--format asff`` on ``assess`` and ``findings list`` (what ``export securityhub`` would send,
checked against botocore's Security Hub model) and ``assess --format html`` (the page
``report --html`` writes for that run)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from inspectorctl.models.finding import finding_id
from inspectorctl.report import asff
from inspectorctl.report.exportable import load
from inspectorctl.store.db import Store
from tests.fixtures import snapshot_dict, write_mini

runner = CliRunner()

NOTE_ACCOUNT = ("note: --format asff: no --account-id, the findings name account 000000000000 "
                "(Security Hub imports only the calling account's; give --account-id to send "
                "them)")
NOTE_REGION = ("note: --format asff: no --region (nor $AWS_REGION), the findings name region "
               "us-east-1")


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "findings.db"))
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


def _base(tmp_path: Path) -> list[str]:
    pack, snaps = write_mini(tmp_path, {
        "web-1": snapshot_dict("web-1", root_login="yes", tries="6"),
        "web-2": snapshot_dict("web-2", forward="1"),
    })
    # --no-vulns: no advisory database, and no note saying so on stderr
    return ["assess", "--pack", str(pack), "--from-snapshots", str(snaps), "--no-vulns"]


def _sent(tmp_path: Path, target: asff.AsffTarget) -> list[dict[str, object]]:
    """What ``export securityhub`` would send for the newest run."""
    with Store(tmp_path / "findings.db") as store:
        ready, refused = asff.prepare(load(store).items, target)
    assert refused == []
    return ready


def test_assess_asff_is_what_export_securityhub_sends(tmp_path: Path) -> None:
    res = runner.invoke(app, [*_base(tmp_path), "-f", "asff", "--account-id", "123456789012",
                              "--region", "eu-west-1"])
    assert (res.exit_code, res.stderr) == (0, ""), res.output
    doc = json.loads(res.stdout)
    assert isinstance(doc, list) and len(doc) == 3
    for finding in doc:
        assert asff.problems(finding) == []  # botocore's AwsSecurityFinding shape
        assert finding["ProductArn"] == ("arn:aws:securityhub:eu-west-1:123456789012:"
                                         "product/123456789012/default")
    assert doc == _sent(tmp_path, asff.AsffTarget(account_id="123456789012",
                                                  region="eu-west-1"))


def test_asff_without_account_or_region_says_so(tmp_path: Path) -> None:
    out = tmp_path / "f.asff.json"
    res = runner.invoke(app, [*_base(tmp_path), "-f", "asff", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines() == [NOTE_ACCOUNT, NOTE_REGION, f"wrote {out}"]
    doc = json.loads(out.read_text())
    assert {f["AwsAccountId"] for f in doc} == {"000000000000"}
    assert all(asff.problems(f) == [] for f in doc)


@pytest.mark.parametrize(("args", "error"), [
    (["-f", "asff", "--account-id", "12345"],
     "error: --account-id: '12345' is not an AWS account id (12 digits)"),
    (["-f", "asff", "--account-id", "123456789012", "--region", "Mars-1"],
     "error: --region 'Mars-1' is not an AWS region name (e.g. eu-west-1)"),
    (["-f", "json", "--account-id", "123456789012"], "error: --account-id is for --format asff"),
    (["-f", "asff", "--no-store", "--account-id", "123456789012"],
     "error: --format asff is made from the stored run: drop --no-store"),
    (["-f", "html"], "error: --format html writes one file: give -o FILE (as `inspectorctl "
     "report --html FILE` does)"),
])
def test_assess_asff_html_bad_input(tmp_path: Path, args: list[str], error: str) -> None:
    res = runner.invoke(app, [*_base(tmp_path), *args])
    assert (res.exit_code, res.stdout, res.stderr) == (2, "", error + "\n")
    assert not (tmp_path / "findings.db").exists()  # refused before anything ran


def test_findings_list_asff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, _base(tmp_path)).exit_code == 0
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    res = runner.invoke(app, ["findings", "list", "-f", "asff", "--account-id", "210987654321"])
    assert (res.exit_code, res.stderr) == (0, ""), res.output
    doc = json.loads(res.stdout)
    assert doc == _sent(tmp_path, asff.AsffTarget(account_id="210987654321",
                                                  region="ap-south-1"))
    res = runner.invoke(app, ["findings", "list", "-f", "asff", "--host", "web-2",
                              "--account-id", "210987654321"])
    assert [f["Resources"][0]["Id"] for f in json.loads(res.stdout)] == ["web-2"]
    res = runner.invoke(app, ["findings", "list", "--region", "eu-west-1"])
    assert (res.exit_code, res.stderr) == (
        2, "error: --account-id and --region are for --format asff\n")


def _normalised(page: str) -> str:
    """The page without its generation time (the only thing two renderings differ in)."""
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page,
                  re.S)
    assert m
    at = datetime.fromisoformat(json.loads(m.group(1))["generated_at"])
    # only the generation time: the run's own start can read the same to the second (when the
    # page is written by the assessment itself), and must stay
    page = re.sub(r'"generated_at":\s*"[^"]*"', '"generated_at": "GEN"', page)
    shown = f"; generated {at:%Y-%m-%d %H:%M:%S %Z} by "
    assert page.count(shown) == 1
    return page.replace(shown, "; generated GEN by ")


def test_assess_html_is_the_report_of_that_run(tmp_path: Path) -> None:
    out, again = tmp_path / "a.html", tmp_path / "b.html"
    res = runner.invoke(app, [*_base(tmp_path), "-f", "html", "-o", str(out)])
    assert (res.exit_code, res.stderr) == (0, f"wrote {out}\n"), res.output
    assert res.stdout == ""
    assert out.stat().st_mode & 0o777 == 0o600
    with Store(tmp_path / "findings.db") as store:
        run = store.latest_run()
    assert run is not None
    res = runner.invoke(app, ["report", "--html", str(again), "--run", run.id])
    assert res.exit_code == 0, res.output
    page = out.read_text()
    assert run.id in page and "web-1" in page
    assert _normalised(page) == _normalised(again.read_text())


def test_a_finding_that_would_not_conform_is_left_out_and_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``asff.prepare`` refuses what does not fit Security Hub's model; the output holds the
    rest, each refused finding is one error line and the exit is 1."""
    real = asff.prepare

    def refuse_web_2(items: Any, target: asff.AsffTarget) -> Any:
        keep = [i for i in items if i.finding.host != "web-2"]
        ready, _ = real(keep, target)
        return ready, [(i, "too big") for i in items if i.finding.host == "web-2"]

    monkeypatch.setattr(asff, "prepare", refuse_web_2)
    res = runner.invoke(app, [*_base(tmp_path), "-f", "asff", "--account-id", "123456789012",
                              "--region", "eu-west-1"])
    assert res.exit_code == 1
    assert [f["Resources"][0]["Id"] for f in json.loads(res.stdout)] == ["web-1", "web-1"]
    assert res.stderr == (f"error: inspectorctl/{finding_id('mini-ip-forward', 'web-2')} "
                          "(mini-ip-forward on web-2) left out of the ASFF output: too big\n")
